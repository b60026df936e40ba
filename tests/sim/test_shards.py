"""The fleet sharded over worker processes does what the fleet does in one process."""

import dataclasses

import pytest

from edge.clock import VirtualClock
from simulator import scenario
from simulator.environment import World
from simulator.modem.e5 import JOIN_ACCEPT_DELAY_MS, RX1_DELAY_MS
from simulator.modem.network import LoopbackNetwork
from simulator.nodes import Fleet, Wiring
from simulator.radio import RadioChannel
from simulator.runner import Runner
from simulator.shards import ShardedFleet


class _Later:
    """A modem the loopback network answers through: its downlinks wait until the tick of the
    receive window they are for, and are handed over just before that tick, as the runner does."""

    def __init__(self, queue, node, window_ms):
        self.queue, self.node, self.window_ms = queue, node, window_ms

    def deliver(self, phy, *rssi_snr):
        self.queue.append((self.window_ms, self.node, phy, rssi_snr))


def _run(fleet_cls, sc, workdir, pipelined=False, ahead=2, answer=False, **kw):
    """The fleet's readings, frames and losses over 16 minutes with faults; with answer, a loopback
    network server answers joins, and each node's first uplinks with a MAC command in RX1."""
    got = {"readings": [], "frames": [], "lost": []}
    clock = VirtualClock(unix_start=sc.start_unix)
    net = LoopbackNetwork(clock)
    for n in sc.nodes:
        net.register(bytes.fromhex(n.dev_eui), bytes.fromhex(n.app_key)).mac_queue += [bytes([0x02, 10, 1])] * 3
    downlinks = []

    def on_frame(node, phy, freq, sf, start_ms, seqs, tx):
        got["frames"].append((node, phy, freq, sf, start_ms, tx))
        if answer:
            delay = JOIN_ACCEPT_DELAY_MS if phy[0] >> 5 == 0 else RX1_DELAY_MS  # MHDR: join-request or data
            net(_Later(downlinks, node, start_ms + delay), phy, freq, 12 - sf, start_ms, 0)

    def deliver_due(until_ms):
        for d in [d for d in downlinks if d[0] <= until_ms]:
            downlinks.remove(d)
            fleet.by_name[d[1]].modem.deliver(d[2], *d[3])

    radio = RadioChannel(sc.radio, sc.nodes, sc.concentrators, sc.seed)
    wiring = Wiring(
        World(sc.environment, sc.seed),
        radio.sf,
        workdir,
        lambda node, seq, t, values: got["readings"].append((node, seq, t, values)),
        on_frame,
        lambda node, seqs, reason: got["lost"].append((node, tuple(seqs), reason)),
    )
    fleet = fleet_cls(sc, clock, wiring, **kw, **({"ahead": ahead} if pipelined else {}))
    faults = {400_000: lambda: fleet.power("air-2", False),  # after its first reading, batch not yet on flash
              450_000: lambda: fleet.sensor_fault("noise-1", "dnms", "absent"),
              500_000: lambda: fleet.power("air-2", True)}  # fmt: skip
    last = 16 * 60 * 1000
    begun_until = [0]

    def begin_ahead(done):  # up to `ahead` ticks begun after the one to done, a fault's tick only
        start = max(begun_until[0], done)  # after the one before it finished, faults before begin
        while start < last and start < done + ahead * 1000:
            if start + 1000 in faults and start > done:
                break
            faults.pop(start + 1000, lambda: None)()
            begun_until[0] = start + 1000
            fleet.begin(begun_until[0])
            start = begun_until[0]

    try:
        for ms in range(1000, last + 1, 1000):
            deliver_due(ms)
            if pipelined == "ahead":  # as the runner does: the next ticks begun in run_until's message
                fleet.run_until(ms, ahead=lambda ms=ms: begin_ahead(ms))
            elif pipelined:
                begin_ahead(ms - 1000)
                fleet.run_until(ms)
            else:
                faults.pop(ms, lambda: None)()
                fleet.run_until(ms)
            assert clock.monotonic_ms() == ms
    finally:
        getattr(fleet, "close", lambda: None)()
    return {k: sorted(v, key=repr) for k, v in got.items()}


def test_workers_see_what_one_process_sees(tmp_path):
    sc = scenario.load("demo")  # air, noise and counter nodes; nobody answers their joins here
    one = _run(Fleet, sc, tmp_path / "one")
    two = _run(ShardedFleet, sc, tmp_path / "two", workers=2)
    assert len(one["readings"]) >= 8 * 2 and one["frames"] and one["lost"]
    assert one == two
    # nodes waiting in a receive window (here: for join-accepts) run after the others
    assert one == _run(ShardedFleet, sc, tmp_path / "three", pipelined=True, workers=3)
    assert one == _run(ShardedFleet, sc, tmp_path / "ahead", pipelined="ahead", workers=2)
    # deeper: nodes deferred in several begun ticks catch up with them one by one
    assert one == _run(ShardedFleet, sc, tmp_path / "deep", pipelined="ahead", ahead=6, workers=2)


@pytest.mark.parametrize("ahead", [2, 6])
def test_workers_ahead_take_their_downlinks_as_one_process(tmp_path, ahead):
    """Joined nodes with downlinks handed over just before their receive window's tick: a node that
    waits for one must not run past its window in a tick begun ahead, however many are."""
    sc = scenario.load("demo")
    one = _run(Fleet, sc, tmp_path / "one", answer=True)
    assert sum(1 for f in one["frames"] if f[1][0] >> 5 in (2, 4)) >= 8  # data uplinks: the joins were answered
    assert one == _run(ShardedFleet, sc, tmp_path / "ahead", pipelined="ahead", ahead=ahead, answer=True, workers=2)


def test_skipped_modem_polls_change_nothing(tmp_path):
    """A node's modem polls that cannot find anything are skipped (simulator/nodes.py); stepping
    every poll gives the same readings, frames and losses."""
    sc = scenario.load("demo")
    every = _run(Fleet, sc, tmp_path / "every", skip_idle_polls=False)
    fleets = []
    skipped = _run(lambda *a: fleets.append(Fleet(*a)) or fleets[-1], sc, tmp_path / "skipped")
    assert fleets[0].polls_skipped > 100 and every["frames"]
    assert skipped == every


def _joined_run(sc, workdir, **kw):
    """The fleet with a loopback network server answering joins, and a MAC downlink (LinkCheckAns)
    in RX1 of each node's first uplinks: the sends' polls and receive windows, not only joins."""
    clock = VirtualClock(unix_start=sc.start_unix)
    net = LoopbackNetwork(clock)
    for n in sc.nodes:
        dev = net.register(bytes.fromhex(n.dev_eui), bytes.fromhex(n.app_key))
        dev.mac_queue += [bytes([0x02, 10, 1])] * 3
    got = {"readings": [], "frames": []}
    fleets = []

    def on_frame(node, phy, freq, sf, start_ms, seqs, tx):
        got["frames"].append((node, phy, freq, sf, start_ms, tx, tuple(seqs)))
        net(fleets[0].by_name[node].modem, phy, freq, 12 - sf, start_ms, 0)

    radio = RadioChannel(sc.radio, sc.nodes, sc.concentrators, sc.seed)
    wiring = Wiring(World(sc.environment, sc.seed), radio.sf, workdir,
                    lambda node, seq, t, values: got["readings"].append((node, seq, t, values)),
                    on_frame, lambda node, seqs, reason: None)  # fmt: skip
    fleets.append(Fleet(sc, clock, wiring, **kw))
    for ms in range(1000, 16 * 60 * 1000 + 1, 1000):
        fleets[0].run_until(ms)
    sent = sum(d.uplinks for d in net.devices.values())
    heard = sum(n.modem.session.fcnt_down for n in fleets[0].nodes if n.modem.session is not None)
    return got, fleets[0].polls_skipped, (sent, heard)


def test_skipped_polls_of_joined_nodes_change_nothing(tmp_path):
    sc = scenario.load("demo")
    every, none_skipped, sent = _joined_run(sc, tmp_path / "every", skip_idle_polls=False)
    skipped, n, sent_too = _joined_run(sc, tmp_path / "skipped")
    assert none_skipped == 0 and n > 100 and sent == sent_too
    assert sent[0] >= 8 and sent[1] >= 8  # uplinks, and downlinks the modems took
    assert skipped == every


def test_bad_worker_count_is_a_scenario_error():
    with pytest.raises(scenario.ScenarioError, match="pacing.workers"):
        scenario.parse({"duration": "5m", "nodes": [{"name": "a", "board": "pico-w", "sensors": ["sht3x"]}],
                        "concentrators": [{"name": "c", "eui": "0016c001ff10a001", "position": [0, 0]}],
                        "pacing": {"workers": -1}})  # fmt: skip


@pytest.mark.slow
def test_sharded_chain_delivers_everything(tmp_path):
    sc = scenario.load("demo")
    sc = dataclasses.replace(sc, duration_s=2 * 3600.0, pacing=dataclasses.replace(sc.pacing, workers=2))
    s = Runner(sc, tmp_path).run().summary
    assert s["ok"] and s["lost_unexplained"] == 0 and s["malformed_messages"] == 0 and s["wrong_values"] == 0
    assert s["generated"] >= 8 * 20 and s["delivered_unique"] == s["generated"] - s["lost_explained"]
    assert s["downlinks_delivered"] > 0 and s["time_mismatch"] == 0
