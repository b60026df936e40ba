"""gateway.config: the TOML the installer writes, validated with messages that name key and fix."""

import tomllib

import pytest

from gateway import config


def write(tmp_path, text):
    p = tmp_path / "gateway.toml"
    p.write_text(text)
    return p


def test_rendered_template_loads_with_defaults(tmp_path):
    text = config.render({"gateway": {"id": "lamp-7"}, "udp": {"bind": "127.0.0.1:1701"}})
    cfg = config.load(write(tmp_path, text))
    assert cfg.gateway.id == "lamp-7" and cfg.udp.bind == "127.0.0.1:1701"
    assert cfg.mqtt.version == "5" and cfg.ingest.commit_deadline_ms == config.IngestSection().commit_deadline_ms
    # every key appears in the template with its help comment
    for name in ("commit_deadline_ms", "rx2_datr", "quota_mb", "password_file"):
        assert "# " + name + " = " in text


def test_default_bind_is_loopback():
    assert config.UdpSection().bind == "127.0.0.1:1700"


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path):
    cfg = config.load(write(tmp_path, '[gateway]\nid = "g"\n[storage]\ndata_dir = "data"\n'))
    assert cfg.data_dir == tmp_path.resolve() / "data"


def test_mqtts_implies_tls(tmp_path):
    cfg = config.load(write(tmp_path, '[gateway]\nid = "g"\n[mqtt]\nurl = "mqtts://broker.example:8883"\n'))
    assert cfg.mqtt.tls


@pytest.mark.parametrize(
    "text,words",
    [
        ("", ["missing key [gateway] id"]),
        ('[gateway]\nid = "g"\n[udp]\nbind = "localhost"\n', ["[udp] bind", "HOST:PORT"]),
        ('[gateway]\nid = "g"\n[udp]\nbind = "localhost:1700"\n', ["[udp] bind", "IP address"]),
        ('[gateway]\nid = "g"\n[udp]\nbnd = "127.0.0.1:1700"\n', ["unknown key [udp] bnd", "bind"]),
        ('[gateway]\nid = "g"\n[udpp]\n', ["unknown section [udpp]"]),
        ('[gateway]\nid = "g"\n[ingest]\ncommit_batch = "10"\n', ["[ingest] commit_batch must be an integer"]),
        ('[gateway]\nid = "g"\n[ingest]\ncommit_deadline_ms = 0\n', ["commit_deadline_ms", "between 1 and 1000"]),
        ('[gateway]\nid = "g"\n[mqtt]\nversion = "4"\n', ["[mqtt] version", "'5', '3.1.1'"]),
        ('[gateway]\nid = "g"\n[mqtt]\nurl = "http://x"\n', ["[mqtt] url", "mqtt://"]),
        ('[gateway]\nid = "a/b"\n', ["[gateway] id", "topic level"]),
        ('[gateway]\nid = "g"\n[lorawan]\nnet_id = "zz"\n', ["[lorawan] net_id", "6 hex digits"]),
        ('[gateway\nid = "g"\n', ["not valid TOML"]),
        ("gateway = 3\n", ["[gateway] must be a table"]),
    ],
)
def test_invalid_configs_name_the_key_and_the_fix(tmp_path, text, words):
    with pytest.raises(config.ConfigError) as e:
        config.load(write(tmp_path, text))
    for w in words:
        assert w in str(e.value)


def test_missing_file_says_how_to_create_it(tmp_path):
    with pytest.raises(config.ConfigError, match="edge gateway init"):
        config.load(tmp_path / "nope.toml")


def test_template_is_valid_toml_for_every_section():
    raw = tomllib.loads(config.render({"gateway": {"id": "x"}}))
    assert set(raw) == {
        "gateway", "udp", "storage", "ingest", "lorawan", "backfill", "mqtt", "buffer", "alerts", "local_sensors"
    }  # fmt: skip
