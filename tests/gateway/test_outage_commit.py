"""The group commit while the broker is away: its wait doubles with each commit that writes readings,
up to `[ingest] outage_commit_s`, and the broker's first acknowledgement brings it back to
`commit_deadline_ms`. Nothing is counted as received (and so acknowledged to a node) before it is
on disk, and an uplink that expects an answer in its receive windows keeps the short deadline.

The real agent's ingest, commit thread, registry and buffer, driven packet by packet on a made-up
monotonic clock so the deadlines are exact; the commit thread's disk writes run in real time."""

import socket
import time

import pytest

from gateway.agent import Agent
from gateway.gaps import Backfill
from gateway.udp.rxpk import parse_rxpk
from tests.gateway.harness import add_abp, make_config, uplink
from tests.gateway.pf import rxpk

GW = "aa555a0000000001"
DEVS = [("70b3d57ed0000d%02x" % i, "26011d%02x" % i) for i in range(4)]
T0 = int(time.time()) - 3_600


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reading(seq):
    return {"seq": seq, "t": T0 + 60 * seq, "pm2_5": 10.0 + seq / 10, "humidity": 48.5}


@pytest.fixture
def agent(tmp_path):
    cfg = make_config(
        tmp_path,
        ingest={"commit_deadline_ms": 100, "outage_commit_s": 0.8, "counter_deadline_s": 60},
        mqtt={"url": "mqtt://127.0.0.1:%d" % free_port()},  # a broker that is away: nothing listens there
        backfill={"enabled": False},
    )
    for eui, addr in DEVS:
        add_abp(cfg, eui, addr)
    a = Agent(cfg)  # its forwarder is not started: nothing acknowledges a reading but this test
    yield a
    a.ingest.finish()
    a.server.close()
    a.buffer.close()
    a.registry.close()


class Clock:
    """Feeds uplinks to the ingest at made-up monotonic times and polls it like the agent's loop."""

    def __init__(self, agent):
        self.a = agent
        self.now = 1000.0
        self.fcnt = {addr: 0 for _, addr in DEVS}
        self.commits: list[float] = []  # made-up times at which received_uplinks moved
        self.forwarded = 0  # readings the test acknowledged as the broker would

    def send(self, i, confirmed=False):
        addr = DEVS[i][1]
        n = self.fcnt[addr]
        self.fcnt[addr] = n + 1
        phy = uplink(addr, n, reading(n + 1), confirmed=confirmed)
        self.a.ingest.on_rxpk(GW, parse_rxpk(rxpk(phy)), self.now, time.time())

    def advance(self, seconds, step=0.01):
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now += step
            self.poll()

    def poll(self):
        before = self.a.metrics.get("received_uplinks")
        self.a.ingest.poll(self.now)
        deadline = time.monotonic() + 5
        while self.a.ingest.committer.inflight and time.monotonic() < deadline:  # let the write finish
            time.sleep(0.001)
            self.a.ingest.poll(self.now)
        if self.a.metrics.get("received_uplinks") != before:
            self.commits.append(round(self.now, 2))
        # counted means on disk (or at the broker): nothing received is missing from the buffer
        assert self.a.buffer.stats().pending_readings + self.forwarded == self.a.metrics.get("stored_readings")


def test_the_wait_doubles_up_to_the_outage_limit_and_the_broker_brings_it_back(agent):
    c = Clock(agent)
    for _ in range(40):  # 10 uplinks a second for 4 s, no broker
        c.send(0)
        c.advance(0.1)
    # a commit writes everything pending; the next batch's oldest uplink comes 0.1 s later and
    # waits 0.2 s, then 0.4, then 0.8 (the limit) and no longer
    gaps = [round(b - a - 0.1, 2) for a, b in zip(c.commits, c.commits[1:], strict=False)]
    assert c.commits[0] == pytest.approx(1000.1, abs=0.02)  # the first commit at the deadline
    assert gaps[:3] == pytest.approx([0.2, 0.4, 0.8], abs=0.02)
    assert all(g == pytest.approx(0.8, abs=0.02) for g in gaps[3:]) and len(gaps) >= 4
    assert agent.ingest.pending.wait_s == 0.8
    # the broker takes the backlog: its first PUBACK brings the commit deadline back
    claim = agent.buffer.claim(1000)
    assert claim is not None
    agent.buffer.ack(claim.ids)
    c.forwarded += claim.readings
    c.commits.clear()
    c.advance(0.05)  # what waited for the long commit is overdue under the short one: written now
    assert len(c.commits) == 1 and agent.metrics.get("received_uplinks") == 40
    c.commits.clear()
    c.send(1)
    start = c.now
    c.advance(0.3)
    assert c.commits and c.commits[0] - start == pytest.approx(0.1, abs=0.02)  # the commit deadline again


def test_a_confirmed_uplink_keeps_the_commit_deadline_during_an_outage(agent):
    c = Clock(agent)
    for _ in range(16):
        c.send(0)
        c.advance(0.1)
    assert agent.ingest.pending.wait_s == 0.8
    c.advance(0.8)  # everything pending written
    c.commits.clear()
    start = c.now
    c.send(2)  # unconfirmed: waits for the outage commit
    c.advance(0.2)
    assert c.commits == []
    c.send(3, confirmed=True)  # its ACK must make RX1: written within the commit deadline, with the other
    before = agent.metrics.get("received_uplinks")
    c.advance(0.15)
    assert agent.metrics.get("received_uplinks") == before + 2
    assert c.commits[0] - start == pytest.approx(0.3, abs=0.02)


def test_counted_readings_are_on_disk_at_every_step_of_an_outage(agent):
    c = Clock(agent)
    sent = 0
    for _ in range(30):  # 4 devices, 20 uplinks a second
        for i in range(4):
            c.send(i)
            sent += 1
        c.advance(0.2, step=0.05)  # poll() checks counted == on disk after each step
    c.advance(1.0)
    assert agent.metrics.get("stored_readings") == sent
    assert agent.buffer.stats().pending_readings == sent


def test_without_a_broker_configured_the_wait_stays_at_the_commit_deadline(tmp_path):
    cfg = make_config(tmp_path, ingest={"commit_deadline_ms": 100, "outage_commit_s": 0.8}, backfill={"enabled": False})
    add_abp(cfg, *DEVS[0])
    a = Agent(cfg)
    try:
        c = Clock(a)
        for _ in range(20):
            c.send(0)
            c.advance(0.1)
        gaps = [b - a for a, b in zip(c.commits, c.commits[1:], strict=False)]
        assert a.ingest.pending.wait_s == 0.1 and max(gaps) < 0.25  # the deadline and the next uplink, no more
    finally:
        a.ingest.finish()
        a.server.close()
        a.buffer.close()
        a.registry.close()


def test_after_a_restart_no_ack_covers_readings_lost_before_they_were_written():
    # the registry saved seq 10; the agent then received 11..14 and lost them in a power cut
    # (never written, never acknowledged); after the restart it stores 15
    seeded = Backfill(retry_s=60, max_attempts=3, ack_interval_s=0)
    seeded.seed(DEVS[0][0], 10)
    seeded.on_stored(DEVS[0][0], [15])
    assert seeded.commands(DEVS[0][0], 0.0) == [("resend", 11, 4)]  # asked for again, no ack past 10
    seeded.on_stored(DEVS[0][0], [11, 12, 13, 14])  # the node sent them again
    assert seeded.commands(DEVS[0][0], 1.0) == [("ack", 15)]
    fresh = Backfill(retry_s=60, max_attempts=3, ack_interval_s=0)  # what an unseeded tracker would say
    fresh.on_stored(DEVS[0][0], [15])
    assert fresh.commands(DEVS[0][0], 0.0) == [("ack", 15)]


def test_the_agent_seeds_each_device_with_the_seq_its_registry_saved(agent):
    c = Clock(agent)
    c.send(0)
    c.advance(0.2)
    agent.ingest.finish()  # an orderly stop saves the counters: seq 1
    cfg = agent.cfg
    agent.server.close()
    agent.buffer.close()
    agent.registry.close()
    again = Agent(cfg)
    try:
        assert again.backfill.gaps(DEVS[0][0]) == []
        again.backfill.on_stored(DEVS[0][0], [3])
        assert again.backfill.gaps(DEVS[0][0]) == [(2, 2)]  # seq 2 never arrived: asked for
    finally:
        again.server.close()
        again.buffer.close()
        again.registry.close()
