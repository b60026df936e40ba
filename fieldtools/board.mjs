// A virtual sensor board: the real MicroPython VM (WebAssembly port, npm package
// @micropython/micropython-webassembly-pyscript) behind stdin/stdout, which fieldtools/vboard.py
// connects to a pseudo-terminal.
//
//   node fieldtools/board.mjs --flash DIR [--heap BYTES]
//
// Bytes on stdin go to the VM's event-driven REPL one by one; everything the VM prints goes to stdout.
// The board's filesystem is the VM's root "/" (as on a real board; Emscripten's own /dev, /proc, /tmp
// and /home excepted); it is loaded from DIR at boot and written back to DIR after every command, so
// files survive a restart. What it does not model: no machine module (no pins, buses, sleep or reset cause),
// no main.py at boot, Ctrl-C cannot interrupt running code, and time runs at host speed.
//
// Found by experiment on MicroPython 1.27's event-driven REPL: the friendly and raw REPL work, Ctrl-D
// soft reset returns 256 from mp_js_repl_process_char (the port must restart), and raw-paste mode
// (Ctrl-E 'A' Ctrl-A) blocks reading stdin synchronously. So the bridge speaks raw-paste itself (the
// window size, flow-control grants, the end acknowledgement) and hands the received code to the VM's
// plain raw REPL, and performs soft resets itself with a fresh VM.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const VM_ROOT = "/";
const VM_OWN = new Set(["dev", "proc", "tmp", "home"]); // Emscripten's own directories: not flash
const BOOT_SCRIPT = fs.readFileSync(new URL("./vboard_boot.py", import.meta.url), "utf8");
const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n>";

function parseArgs(argv) {
  const opts = { flash: null, heap: 2 * 1024 * 1024 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--flash") opts.flash = argv[++i];
    else if (argv[i] === "--heap") opts.heap = parseInt(argv[++i], 10);
  }
  if (!opts.flash) {
    process.stderr.write("usage: board.mjs --flash DIR [--heap BYTES]\n");
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
fs.mkdirSync(opts.flash, { recursive: true, mode: 0o700 });

let mp = null;
let muted = false;
let raw = false;
let pasteState = 0; // bytes of the raw-paste request Ctrl-E 'A' Ctrl-A seen so far; 3: pasting
const PASTE_WINDOW = 256; // bytes the host may send per flow-control grant
let paste = []; // the code received in raw-paste mode
let sinceGrant = 0;
let skipOut = 0; // output bytes to drop: the "OK" of the plain raw REPL under a raw-paste
const synced = new Map(); // VM path -> "mtime:size" last written to the host
let held = null; // output kept back until the flash is synced: a host that saw the prompt sees the files

function emit(bytes) {
  let buf = Buffer.from(bytes);
  if (skipOut) {
    const n = Math.min(skipOut, buf.length);
    skipOut -= n;
    buf = buf.subarray(n);
  }
  if (muted || !buf.length) return;
  if (held) held.push(buf);
  else process.stdout.write(buf);
}

// ---- the flash directory ----

function vmPath(vmDir, name) {
  return vmDir === "/" ? "/" + name : vmDir + "/" + name;
}

function loadTree(hostDir, vmDir) {
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if ((vmDir === "/" && VM_OWN.has(entry.name)) || entry.name.endsWith(".vboard-tmp")) continue;
    const host = path.join(hostDir, entry.name);
    const vm = vmPath(vmDir, entry.name);
    if (entry.isDirectory()) {
      mp.FS.mkdir(vm);
      loadTree(host, vm);
    } else if (entry.isFile()) {
      mp.FS.writeFile(vm, fs.readFileSync(host));
      const st = mp.FS.stat(vm);
      synced.set(vm, st.mtime.getTime() + ":" + st.size);
    }
  }
}

function walk(vmDir, seen) {
  for (const name of mp.FS.readdir(vmDir)) {
    if (name === "." || name === ".." || (vmDir === "/" && VM_OWN.has(name))) continue;
    const vm = vmPath(vmDir, name);
    const st = mp.FS.stat(vm);
    seen.add(vm);
    if (mp.FS.isDir(st.mode)) walk(vm, seen);
  }
}

// Write what changed in the VM's /flash to the host directory, and remove what was deleted.
function syncFlash() {
  if (!mp) return;
  const seen = new Set();
  walk(VM_ROOT, seen);
  for (const vm of [...seen].sort()) {
    const host = path.join(opts.flash, vm);
    const st = mp.FS.stat(vm);
    if (mp.FS.isDir(st.mode)) {
      fs.mkdirSync(host, { recursive: true, mode: 0o700 });
      continue;
    }
    const stamp = st.mtime.getTime() + ":" + st.size;
    if (synced.get(vm) === stamp && fs.existsSync(host)) continue;
    const tmp = host + ".vboard-tmp";
    fs.writeFileSync(tmp, mp.FS.readFile(vm), { mode: 0o600 }); // config.json holds LoRaWAN keys
    fs.renameSync(tmp, host);
    synced.set(vm, stamp);
  }
  for (const vm of [...synced.keys()]) {
    if (!seen.has(vm)) {
      fs.rmSync(path.join(opts.flash, vm), { force: true });
      synced.delete(vm);
    }
  }
  removeDirsNotIn(opts.flash, VM_ROOT, seen);
}

function removeDirsNotIn(hostDir, vmDir, seen) {
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || (vmDir === "/" && VM_OWN.has(entry.name))) continue;
    const vm = vmPath(vmDir, entry.name);
    const host = path.join(hostDir, entry.name);
    if (!seen.has(vm)) fs.rmSync(host, { recursive: true, force: true });
    else removeDirsNotIn(host, vm, seen);
  }
}

// ---- the VM ----

async function boot() {
  synced.clear();
  mp = await loadMicroPython({ heapsize: opts.heap, stdout: emit, stderr: emit, linebuffer: false });
  loadTree(opts.flash, VM_ROOT);
  muted = true;
  mp.runPython(BOOT_SCRIPT);
  mp.runPython(`import sys, os\nos.chdir('${VM_ROOT}')\nsys.path[:] = ['', '/lib', '.frozen']\n`);
  muted = false;
}

async function softReset() {
  syncFlash();
  emit(Buffer.from("MPY: soft reboot\r\n"));
  await boot();
  if (raw) {
    muted = true;
    mp.replInit();
    await mp.replProcessCharWithAsyncify(1);
    muted = false;
    emit(Buffer.from(RAW_BANNER));
  } else {
    mp.replInit();
  }
}

async function feed(byte) {
  if (raw && pasteState === 0 && byte === 0x05) {
    pasteState = 1;
    return;
  }
  if (pasteState === 1 && byte === 0x41) {
    pasteState = 2;
    return;
  }
  if (pasteState === 2 && byte === 0x01) {
    // raw-paste: answer as a board does, "R\x01" and the window size (u16 LE), then grant windows
    pasteState = 3;
    paste = [];
    sinceGrant = 0;
    emit(Buffer.from([0x52, 0x01, PASTE_WINDOW & 0xff, PASTE_WINDOW >> 8]));
    return;
  }
  if (pasteState === 3) {
    if (byte === 0x04) {
      // end of data: acknowledge, then run it through the VM's plain raw REPL, which answers
      // "OK" + stdout + \x04 + stderr + \x04 + ">"; a raw-paste answers the same without "OK"
      pasteState = 0;
      emit(Buffer.from([0x04]));
      skipOut = 2;
      for (const b of paste) await process1(b);
      paste = [];
      await process1(0x04);
      return;
    }
    if (byte === 0x03) {
      // Ctrl-C aborts the paste: a board answers with an abrupt end
      pasteState = 0;
      paste = [];
      emit(Buffer.from([0x04]));
      return;
    }
    paste.push(byte);
    if (++sinceGrant === PASTE_WINDOW) {
      sinceGrant = 0;
      emit(Buffer.from([0x01]));
    }
    return;
  }
  if (pasteState) {
    // not a raw-paste request after all: hand the held bytes over
    const held = pasteState === 1 ? [0x05] : [0x05, 0x41];
    pasteState = 0;
    for (const b of held) await process1(b);
  }
  await process1(byte);
}

async function process1(byte) {
  if (!raw && byte === 0x01) raw = true;
  else if (raw && byte === 0x02) raw = false;
  // Ctrl-D and Enter run code: what it printed (and the prompt after it) reaches the host only
  // once the files it wrote are on the host too
  const runs = byte === 0x04 || byte === 0x0d;
  if (runs) held = [];
  try {
    const ret = await mp.replProcessCharWithAsyncify(byte);
    if (ret === 256) {
      await softReset();
      return;
    }
    if (runs) syncFlash();
  } finally {
    if (runs) {
      const out = held;
      held = null;
      for (const buf of out) process.stdout.write(buf);
    }
  }
}

// ---- stdin, one byte at a time, in order ----

const queue = [];
let busy = false;

async function drain() {
  if (busy) return;
  busy = true;
  try {
    while (queue.length) {
      const chunk = queue.shift();
      for (const b of chunk) await feed(b);
    }
  } finally {
    busy = false;
  }
}

function shutdown(code) {
  try {
    syncFlash();
  } finally {
    process.exit(code);
  }
}

await boot();
mp.replInit();
process.stdin.on("data", (chunk) => {
  queue.push(chunk);
  drain().catch((e) => {
    process.stderr.write(`virtual board: ${e.stack || e}\n`);
    shutdown(1);
  });
});
process.stdin.on("end", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));
