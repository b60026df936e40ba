"""Runs every module of tests/device/ on the real MicroPython VM (WebAssembly port under Node.js).

The same modules also run under pytest on CPython. This test never skips: if Node.js or the VM
package is missing, or the VM cannot start, the suite fails (run `npm ci` first; .ci/run does).
"""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "mpvm" / "run.mjs"
MODULES = sorted("tests.device." + p.stem for p in (ROOT / "tests" / "device").glob("test_*.py"))
VM_TIMEOUT_S = 600


@pytest.fixture(scope="session")
def vm_results():
    node = shutil.which("node")
    assert node, "Node.js is not installed: the MicroPython VM suite cannot run"
    assert (ROOT / "node_modules" / "@micropython" / "micropython-webassembly-pyscript").is_dir(), (
        "the MicroPython VM package is not installed: run `npm ci`"
    )
    r = subprocess.run(
        [node, str(RUNNER), "--root", str(ROOT), "test", *MODULES],
        cwd=ROOT, capture_output=True, text=True, timeout=VM_TIMEOUT_S,
    )  # fmt: skip
    results = {}
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
            results[res["module"]] = res
    assert results, "the MicroPython VM produced no results (exit %d): %s" % (r.returncode, r.stderr[-2000:])
    return results


def test_device_tests_exist():
    assert len(MODULES) >= 3


@pytest.mark.parametrize("module", MODULES)
def test_module_passes_on_micropython(module, vm_results):
    res = vm_results.get(module)
    assert res is not None, "no result for %s from the VM" % module
    assert res["error"] is None, "%s did not run on the VM: %s\n%s" % (module, res["error"], res.get("output"))
    failures = "\n".join("%s:\n%s" % (f["name"], f["error"]) for f in res["failed"])
    assert not res["failed"], "failed on MicroPython:\n" + failures
    mod = __import__(module, fromlist=["*"])
    expected = sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n)))
    assert res["passed"] == expected, "the VM ran a different set of tests than CPython collects"
