"""docs/platform.md: its example consumer de-duplicates real packs to exactly the stored readings."""

import re
import zlib
from decimal import Decimal
from pathlib import Path

import cbor2

from gateway.forward import senml

DOC = Path(__file__).resolve().parents[2] / "docs" / "platform.md"


class Msg:
    def __init__(self, payload, topic="edge/gw1/up"):
        self.payload = payload
        self.topic = topic


def consumer():
    code = re.search(r"## Example consumer.*?```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    assert len(code.splitlines()) <= 36
    ns: dict = {}
    exec(code.split("c = mqtt.Client")[0], ns)  # everything but the network part
    return ns


def test_example_consumer_keeps_each_reading_once(capsys):
    ns = consumer()
    a = [(i, 1763800000 + 60 * i, {"pm2_5": (123 + i) / 10, "temperature": 21.37, "humidity": 48.5}) for i in range(30)]
    b = [(1, 1763800000, {"pressure": 101320.0, "count_in": 17.0, "laeq": 55.4})]
    packs = [senml.encode_pack([("70b3d57ed0000001", a[:20])]), senml.encode_pack([("70b3d57ed0000001", a[15:])])]
    packs.append(senml.encode_pack([("70b3d57ed0000002", b)]))
    for p in packs[:2] + packs[:1]:  # overlap and a full duplicate message
        ns["on_message"](None, None, Msg(p))
    ns["on_message"](None, None, Msg(zlib.compress(packs[2]), "edge/gw1/up/deflate"))  # [mqtt] compression
    seen = ns["seen"]
    want = {}
    for dev, rs in (("70b3d57ed0000001", a), ("70b3d57ed0000002", b)):
        for _, t, values in rs:
            for q, v in values.items():
                want[("urn:dev:mac:%s:%s" % (dev, q), t)] = Decimal(str(v))  # exactly the reading
    assert seen == want
    assert len(capsys.readouterr().out.splitlines()) == len(want)


def test_example_consumer_accepts_the_old_names_as_the_same_key():
    ns = consumer()
    old = cbor2.dumps([{-2: "urn:dev:eui:70b3d57ed0000001:temperature", -3: 1763800000, -4: "Cel", 2: 21.5}])
    new = senml.encode_pack([("70b3d57ed0000001", [(1, 1763800000, {"temperature": 21.5})])])
    ns["on_message"](None, None, Msg(old))
    ns["on_message"](None, None, Msg(new))
    assert ns["seen"] == {("urn:dev:mac:70b3d57ed0000001:temperature", 1763800000): Decimal("21.5")}
