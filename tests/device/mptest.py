# A test runner small enough for the MicroPython VM; the same test modules run under pytest on CPython.
# Test modules in tests/device/ define plain test_* functions and use raises() and tmpdir() from here.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"
_tmp_counter = [0]


class _Raises:
    def __init__(self, exc_type):
        self.exc_type = exc_type
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("did not raise " + self.exc_type.__name__)
        if not issubclass(exc_type, self.exc_type):
            return False
        self.value = exc
        return True


def raises(exc_type):
    """Context manager: the block must raise exc_type (or a subclass); the exception is in .value."""
    return _Raises(exc_type)


def tmpdir(prefix="t"):
    """A new empty directory: under /tmp of the VM's in-memory filesystem, or a host temp dir."""
    if IS_MICROPYTHON:
        import os

        _tmp_counter[0] += 1
        path = "/tmp/%s-%d" % (prefix, _tmp_counter[0])
        os.mkdir(path)
        return path
    import tempfile

    return tempfile.mkdtemp(prefix=prefix + "-")


def read_json(path):
    import json

    with open(path) as f:
        return json.load(f)


def _format_exc(e):
    if IS_MICROPYTHON:
        import io

        buf = io.StringIO()
        sys.print_exception(e, buf)
        return buf.getvalue()
    import traceback

    return "".join(traceback.format_exception(e))


def run(module_name):
    """Run every test_* function of module_name; print one '@@MPTEST {json}' result line."""
    import json

    mod = __import__(module_name, None, None, ["*"])
    names = sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n)))
    passed = []
    failed = []
    for name in names:
        try:
            getattr(mod, name)()
            passed.append(name)
        except Exception as e:
            failed.append({"name": name, "error": _format_exc(e)})
    print("@@MPTEST " + json.dumps({"module": module_name, "passed": passed, "failed": failed, "error": None}))
