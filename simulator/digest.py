"""Fingerprints of a run, to prove two runs (two trees, two worker counts) gave the same results.

Three SHA-256 digests, each over a canonical text of sorted lines:

- ``generated``: every reading the firmware logged (node, seq, measurement time, values);
- ``delivered``: every value the platform received (node, quantity, time, value as decoded);
- ``frames``: every frame a node put on the air (node, start ms, frequency, SF, TXPower index, PHY bytes).

``lines()`` gives the texts themselves, so two runs that differ can be diffed line by line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

FrameRecord = tuple[str, int, int, int, int, bytes]  # node, start ms, Hz, SF, TXPower index, PHY


def lines(ledger: Any, frames: Iterable[FrameRecord]) -> dict[str, list[str]]:
    """The canonical lines of each digest (ledger: simulator.checker.Ledger, whose MQTT thread may
    still add arrivals: its dicts are copied first, which the GIL makes atomic)."""
    readings, arrivals, discarded = list(ledger.readings.values()), dict(ledger.arrivals), list(ledger.discarded)
    generated = [
        "%s %d %d %s" % (r.node, r.seq, r.t, " ".join("%s=%r" % kv for kv in sorted(r.values.items())))
        for r in readings
    ]
    generated += ["%s %d %d discarded:%s" % (r.node, r.seq, r.t, why) for r, why in discarded]
    delivered = ["%s %s %r %r" % (node, q, t, v) for (node, q, t), v in arrivals.items()]
    sent = ["%s %d %d %d %d %s" % (n, ms, hz, sf, tx, phy.hex()) for n, ms, hz, sf, tx, phy in frames]
    return {"generated": sorted(generated), "delivered": sorted(delivered), "frames": sorted(sent)}


def digests(ledger: Any, frames: Iterable[FrameRecord]) -> dict[str, Any]:
    """{name: sha256 hex} of each canonical text, and how many lines it holds."""
    out: dict[str, Any] = {}
    for name, ls in lines(ledger, frames).items():
        out[name] = hashlib.sha256("\n".join(ls).encode()).hexdigest()
        out[name + "_lines"] = len(ls)
    return out
