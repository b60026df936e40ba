"""The device metadata round trip through a real mosquitto: retained, changed, cleared."""

import json

from tests.inventory.helpers import DEV1, DEV2, edge, edge_cmd, gateway
from tests.mqtt_broker import MosquittoBroker, Subscriber

TOPIC = "edge/lamp-7/devices/"


def retained(broker, topic, timeout=10.0):
    """What a fresh subscriber gets for the topic right after subscribing: the retained message."""
    sub = Subscriber(broker, topic)
    try:
        if not sub.wait_for(lambda msgs: msgs, timeout=timeout):
            return None
        _, body, msg = sub.snapshot()[0]
        assert msg.retain
        return body
    finally:
        sub.close()


def test_metadata_is_retained_changed_and_cleared_on_the_broker(tmp_path):
    with MosquittoBroker(tmp_path) as broker:
        cfg = gateway(tmp_path, broker.url, register=(DEV1, DEV2))
        live = Subscriber(broker, TOPIC + "#")
        try:
            r = edge_cmd("gateway", "device", "meta", DEV1, "--config", cfg, "--lat", "48.13743", "--lon", "11.57549",
                     "--height", "6", "--installed", "2026-11-20", "--support", "pole", "--author", "ann")  # fmt: skip
            assert r.returncode == 0, r.stderr
            assert "published %s%s" % (TOPIC, DEV1) in r.stdout
            doc = json.loads(retained(broker, TOPIC + DEV1))
            assert doc == {"v": 1, "dev_eui": DEV1, "gateway_id": "lamp-7", "latitude": 48.13743,
                           "longitude": 11.57549, "height_m": 6.0, "installed": "2026-11-20", "support": "pole",
                           "photos": [], "updated_at": doc["updated_at"]}  # fmt: skip
            assert doc["updated_at"].endswith("Z")
            # a change replaces the retained message; an unchanged device is not published again
            r = edge("gateway", "device", "meta", DEV1, "--config", cfg, "--height", "7.5", "--author", "bob")
            assert r.returncode == 0, r.stderr
            assert json.loads(retained(broker, TOPIC + DEV1))["height_m"] == 7.5
            r = edge("gateway", "device", "publish", "--config", cfg)
            assert r.returncode == 0 and "published" not in r.stdout, r.stdout
            assert live.wait_for(lambda msgs: len(msgs) >= 2)
            assert [json.loads(b)["height_m"] for t, b, m in live.snapshot()] == [6.0, 7.5]
            # removing the device clears its retained message in the same step
            r = edge("gateway", "device", "remove", "--config", cfg, "--dev-eui", DEV1)
            assert r.returncode == 0, r.stderr
            assert "cleared %s%s" % (TOPIC, DEV1) in r.stdout
            assert live.wait_for(lambda msgs: len(msgs) >= 3)
            assert live.snapshot()[2][:2] == (TOPIC + DEV1, b"")
            assert retained(broker, TOPIC + DEV1, timeout=1.0) is None
            show = json.loads(edge("gateway", "device", "show", DEV1, "--config", cfg, "--json").stdout)
            assert show["registered"] is False and show["meta"] is None
            assert show["history"][-1]["field"] == "removed"
        finally:
            live.close()


def test_a_change_while_the_broker_is_down_is_kept_and_published_later(tmp_path):
    broker = MosquittoBroker(tmp_path)
    cfg = gateway(tmp_path, broker.url)
    r = edge("gateway", "device", "meta", DEV1, "--config", cfg, "--height", "5", "--timeout", "1")
    assert r.returncode == 1 and "saved but not published" in r.stderr and "edge gateway device publish" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    with broker:
        r = edge("gateway", "device", "publish", "--config", cfg)
        assert r.returncode == 0, r.stderr
        assert json.loads(retained(broker, TOPIC + DEV1))["height_m"] == 5.0
