// Runs edge's device code on the real MicroPython VM (WebAssembly port, 1.27) under Node.js.
//
//   node tests/mpvm/run.mjs [--root DIR] [--heap BYTES] test MODULE...   one fresh VM a module; JSON line each
//   node tests/mpvm/run.mjs [--root DIR] [--heap BYTES] script FILE.py   run one script, its stdout passed through
//
// The VM has no host filesystem: the project's Python and data files (edge/, drivers/, firmware/,
// simulator/, hw/, tests/, docs/ for specs the tests read) are copied into its in-memory filesystem under /proj, which goes on sys.path.
// Exit code: 0 when every module ran and passed, 1 when a test failed, 2 when the VM could not run.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const COPIED_DIRS = ["edge", "drivers", "firmware", "simulator", "hw", "tests", "docs"];
const COPIED_EXT = new Set([".py", ".json", ".toml", ".txt", ".csv", ".md"]);
const SKIPPED = new Set(["__pycache__", "node_modules", ".venv", ".git"]);

function parseArgs(argv) {
  const opts = { root: process.cwd(), heap: 4 * 1024 * 1024, mode: null, items: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--root") opts.root = argv[++i];
    else if (a === "--heap") opts.heap = parseInt(argv[++i], 10);
    else if (!opts.mode) opts.mode = a;
    else opts.items.push(a);
  }
  if (!["test", "script"].includes(opts.mode) || opts.items.length === 0) {
    console.error("usage: run.mjs [--root DIR] [--heap BYTES] (test MODULE... | script FILE.py)");
    process.exit(2);
  }
  return opts;
}

function copyTree(FS, hostDir, vmDir) {
  FS.mkdir(vmDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const host = path.join(hostDir, entry.name);
    const vm = vmDir + "/" + entry.name;
    if (entry.isDirectory()) copyTree(FS, host, vm);
    else if (entry.isFile() && COPIED_EXT.has(path.extname(entry.name))) FS.writeFile(vm, fs.readFileSync(host));
  }
}

async function freshVM(opts, out) {
  const mp = await loadMicroPython({
    heapsize: opts.heap,
    stdout: (line) => out.push(line),
    stderr: (line) => out.push(line),
  });
  mp.FS.mkdir("/proj");
  for (const d of COPIED_DIRS) {
    const host = path.join(opts.root, d);
    if (fs.existsSync(host)) copyTree(mp.FS, host, "/proj/" + d);
  }
  mp.runPython("import sys, os\nsys.path.insert(0, '/proj')\nos.chdir('/proj')\n");
  return mp;
}

async function runTest(opts, module) {
  const out = [];
  let result;
  try {
    const mp = await freshVM(opts, out);
    mp.runPython(`import tests.device.mptest as _t\n_t.run(${JSON.stringify(module)})\n`);
    const marker = out.filter((l) => l.startsWith("@@MPTEST ")).pop();
    result = marker ? JSON.parse(marker.slice(9)) : { module, error: "no result line from the VM" };
  } catch (e) {
    result = { module, error: `${e.name}: ${e.type || ""} ${e.message}` };
  }
  result.output = out.filter((l) => !l.startsWith("@@MPTEST ")).join("\n");
  return result;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.mode === "script") {
    const out = [];
    try {
      const mp = await freshVM(opts, out);
      mp.runPython(fs.readFileSync(opts.items[0], "utf8"));
      console.log(out.join("\n"));
    } catch (e) {
      console.log(out.join("\n"));
      console.error(`${e.name}: ${e.type || ""} ${e.message}`);
      process.exit(1);
    }
    return;
  }
  let code = 0;
  for (const module of opts.items) {
    const r = await runTest(opts, module);
    if (r.error) code = 2;
    else if (r.failed.length && code === 0) code = 1;
    console.log(JSON.stringify(r));
  }
  process.exit(code);
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
