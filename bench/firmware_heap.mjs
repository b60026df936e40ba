// Heap and flash of the node firmware on the MicroPython VM (1.27, WebAssembly), all sensors
// attached, 100 measurement intervals:   node bench/firmware_heap.mjs [INTERVALS [BATCH]]
//
// Why a Node.js driver and not `run.mjs script`: this VM's gc.collect() frees nothing while one
// runPython() call is running (the conservative stack scan keeps it all), but works at the start of
// the next call. So every step of the node loop is its own runPython() call:
//   gc.collect(); gc.disable(); node.step(); used = gc.mem_alloc() - baseline; gc.enable()
// `used` = what was live before the step + everything the step allocated (nothing is freed
// meanwhile), so its maximum bounds the peak heap from above. It includes the sensor emulators' and
// the modem stand-in's own allocations, which a board does not have. Flash: the bytes the datalog
// handed to file writes (records and the ack file), per reading.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const INTERVALS = parseInt(process.argv[2] || "100", 10);
const BATCH = process.argv[3] || "None"; // datalog batch; None: the config default
const DIRS = ["edge", "drivers", "firmware", "simulator", "hw", "tests"];
const EXT = new Set([".py", ".json"]);

function copyTree(FS, hostDir, vmDir) {
  FS.mkdir(vmDir);
  for (const e of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (e.name === "__pycache__") continue;
    const h = path.join(hostDir, e.name);
    if (e.isDirectory()) copyTree(FS, h, vmDir + "/" + e.name);
    else if (EXT.has(path.extname(e.name))) FS.writeFile(vmDir + "/" + e.name, fs.readFileSync(h));
  }
}

const out = [];
const mp = await loadMicroPython({ heapsize: 4 * 1024 * 1024, stdout: (l) => out.push(l), stderr: (l) => out.push(l) });
mp.FS.mkdir("/proj");
for (const d of DIRS) copyTree(mp.FS, path.join(ROOT, d), "/proj/" + d);
const py = (code) => {
  try {
    mp.runPython(code);
  } catch (e) {
    console.log(out.join("\n"));
    throw e;
  }
};
py("import sys, os, gc\nsys.path.insert(0, '/proj')\nos.chdir('/proj')\ngc.collect()\nbefore = gc.mem_alloc()\n");
py(`from tests.device.fw_kit import bench_node\nfrom tests.device.mptest import tmpdir\nnode, hal, emus = bench_node(tmpdir('heap'), None, ${BATCH})\n`);
// Hardware side: sensor reads (driver + emulator) and the modem stand-in's UART methods add what
// they allocate to hw[0], so the firmware's own share of each step can be told apart.
py(`
from firmware import sensors as _S
hw = [0]
def _wrap(cls, name):
    orig = getattr(cls, name)
    def f(self, *a):
        m = gc.mem_alloc()
        r = orig(self, *a)
        hw[0] += gc.mem_alloc() - m
        return r
    setattr(cls, name, f)
for _n in ("read", "wake", "sleep"):
    _wrap(_S.Sensor, _n)
_M = type(hal.uarts["modem"])
for _n in ("read", "write", "any"):
    _wrap(_M, _n)
`);
py("gc.collect()\nbase = gc.mem_alloc()\npeak = 0\npeak_at = None\nfw_peak = 0\nfw_at = None\nhw_max = 0\nsteps = 0\nacks = 0\nwarm = None\nwarm_fw_peak = 0\n");
const step = `
gc.collect()
if node.counters["intervals"] > acks and node.log.last_seq:
    hal.uarts["modem"].downlinks.append(b"\\x01" + node.log.last_seq.to_bytes(4, "little"))
    acks = node.counters["intervals"]
gc.collect()
if warm is None and node.counters["intervals"] >= 1:
    warm = gc.mem_alloc() - base  # every driver built, every table filled: the steady state starts
gc.disable()
hw[0] = 0
ms = node.step()
used = gc.mem_alloc() - base
gc.enable()
steps += 1
if used > peak:
    peak = used
    peak_at = (node.counters["intervals"], ms)
if used - hw[0] > fw_peak:
    fw_peak = used - hw[0]
    fw_at = (node.counters["intervals"], ms)
if hw[0] > hw_max:
    hw_max = hw[0]
if warm is not None and used - hw[0] - warm > warm_fw_peak:
    warm_fw_peak = used - hw[0] - warm
hal.clock.sleep_ms(ms)
done = node.counters["intervals"] >= ${INTERVALS}
`;
const t0 = Date.now();
for (;;) {
  py(step);
  if (mp.globals.get("done")) break;
}
py("gc.collect()\nretained = gc.mem_alloc() - base\n");  // a collection works at the start of a call
py(`
for e in emus.values():
    e.commands = []
hal.uarts["modem"].payloads = []
`);
py(`
gc.collect()
fw_retained = gc.mem_alloc() - base
n = node.log.last_seq
print("MicroPython %s, %d intervals, %d steps, %d readings, %d uplinks" % (sys.version, ${INTERVALS}, steps, n, node.counters["uplinks"]))
print("firmware + emulators after construction: %d bytes" % (base - before))
print("peak heap above baseline (upper bound): %d bytes (interval, next wait ms: %s)" % (peak, peak_at))
print("  of which sensor reads (driver + emulator) and modem stand-in, at most: %d bytes in a step" % hw_max)
print("peak heap above baseline without them (firmware's own, upper bound): %d bytes (interval, next wait ms: %s)" % (fw_peak, fw_at))
print("the same above the steady-state baseline (taken after the first interval, %d bytes higher): %d bytes" % (warm, warm_fw_peak))
print("live heap after the run minus baseline: %d bytes; without the emulators' command logs and the recorded payloads: %d bytes" % (retained, fw_retained))
print("flash: %d bytes for %d readings = %.1f bytes/reading (batch %d, %d records)" % (node.log.bytes_written, n, node.log.bytes_written / n, node.log.batch, node.log.records_written))
print("sensor faults: %s" % dict((s.type, s.faults) for s in node.sensors))
`);
console.log(out.join("\n"));
console.log("wall: %s s", ((Date.now() - t0) / 1000).toFixed(1));
