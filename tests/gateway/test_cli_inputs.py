"""Bad input to `edge gateway ...` ends in one `error:` line and exit 2, never a traceback; init never
writes a config that run would refuse; keys can come from a file or stdin."""

import io
import os
import stat
import subprocess
import sys

import pytest

from cli.main import main
from gateway.registry import Registry
from tests.gateway.harness import NWK

DEV = "0004a30b001c0530"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err):
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err


def write_config(tmp_path, data_dir, extra=""):
    cfg = tmp_path / "gw.toml"
    cfg.write_text('[gateway]\nid = "gw1"\n[storage]\ndata_dir = "%s"\n%s' % (data_dir, extra))
    return cfg


@pytest.mark.parametrize(
    "flag,value",
    [("--mqtt-url", "mqtt://[::1"), ("--mqtt-url", "mqtt://broker:99999"), ("--mqtt-url", "mqtt://bro\nker:1883"),
     ("--gateway-id", "lamp\x1b[31m"), ("--data-dir", "/tmp/a\nb"), ("--data-dir", "/tmp/a\x00b"),
     ("--udp-bind", "127.0.0.1:99999"), ("--udp-bind", "\x07:1700")],
)  # fmt: skip
def test_init_refuses_what_run_would_refuse_with_one_error_line(tmp_path, capsys, flag, value):
    cfg = tmp_path / "gw.toml"
    args = {"--gateway-id": "gw1", flag: value}
    code, out, err = run(capsys, "gateway", "init", "--config", str(cfg), *[x for kv in args.items() for x in kv])
    assert code == 2 and one_error_line(err), err
    assert not cfg.exists()


def test_a_config_that_is_not_utf8_is_one_error_line(tmp_path, capsys):
    cfg = tmp_path / "gw.toml"
    cfg.write_bytes(b'[gateway]\nid = "gw\xff"\n')
    for cmd in ("run", "status"):
        code, _, err = run(capsys, "gateway", cmd, "--config", str(cfg))
        assert code == 2 and one_error_line(err) and "UTF-8" in err, err


def test_a_data_dir_that_is_a_file_is_one_error_line_without_a_chmod_hint(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    cfg = write_config(tmp_path, tmp_path / "afile")
    for argv in (("gateway", "run", "--config", str(cfg)), ("gateway", "device", "list", "--config", str(cfg))):
        code, _, err = run(capsys, *argv)
        assert code == 2 and one_error_line(err) and "not a directory" in err and "chmod" not in err, err


def test_an_unreadable_data_dir_is_one_error_line(tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir(mode=0)
    cfg = write_config(tmp_path, d / "sub")
    argv = ["gateway", "device", "list", "--config", str(cfg)]
    if os.geteuid() != 0:
        code, _, err = run(capsys, *argv)
    else:  # root reads every directory: run the command without the capabilities that bypass modes
        no_bypass = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
        main_call = "import sys; from cli.main import main; sys.exit(main(sys.argv[1:]))"
        p = subprocess.run(no_bypass + [sys.executable, "-c", main_call, *argv], capture_output=True, text=True)
        code, err = p.returncode, p.stderr
    assert code == 2 and one_error_line(err), err


def test_parents_of_the_data_dir_are_created_0755_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        Registry.open(tmp_path / "a" / "b" / "data").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "b" / "data").stat().st_mode) == 0o700


def test_check_fails_a_data_dir_that_run_refuses(tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    cfg = write_config(tmp_path, d)
    code, out, _ = run(capsys, "gateway", "check", "--config", str(cfg), "--timeout", "0.1")
    assert code == 1
    assert any(line.startswith("FAIL data directory") and "chmod 700" in line for line in out.splitlines()), out


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_keys_come_from_a_file_or_stdin(tmp_path, capsys, monkeypatch, source):
    cfg = write_config(tmp_path, tmp_path / "data")
    text = "# session keys\nnwkskey = %s\nappskey = %s\n" % (NWK.hex(), "00" * 16)
    if source == "file":
        keys = tmp_path / "keys.txt"
        keys.write_text(text)
        arg = str(keys)
    else:
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        arg = "-"
    code, out, err = run(capsys, "gateway", "device", "add", "--config", str(cfg), "--dev-eui", DEV, "--abp",
                         "--dev-addr", "26011bda", "--keys-file", arg)  # fmt: skip
    assert code == 0, err
    reg = Registry.open(tmp_path / "data")
    try:
        assert reg.session(DEV).nwkskey == NWK
    finally:
        reg.close()


def test_a_bad_keys_file_is_one_error_line(tmp_path, capsys):
    cfg = write_config(tmp_path, tmp_path / "data")
    keys = tmp_path / "keys.txt"
    keys.write_text("nwkskey: abc\n")
    code, _, err = run(capsys, "gateway", "device", "add", "--config", str(cfg), "--dev-eui", DEV, "--abp",
                       "--dev-addr", "26011bda", "--keys-file", str(keys))  # fmt: skip
    assert code == 2 and one_error_line(err), err
