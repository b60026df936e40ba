"""The simulator's broker processes and the backhaul relay, on real sockets."""

import socket
import time

import pytest

from simulator.broker import Backhaul, Broker, BrokerError, wait_listening


@pytest.mark.parametrize("kind", ["mosquitto", "amqtt"])
def test_broker_starts_stops_restarts_on_the_same_port(tmp_path, kind):
    b = Broker(prefer=kind, workdir=tmp_path)
    assert b.port != 1883 and b.mqtt_versions == ((5, 3) if kind == "mosquitto" else (3,))
    b.start()
    assert b.running and wait_listening(b.port, 1)
    b.stop()
    assert not b.running and not wait_listening(b.port, 0.3)
    b.start()
    assert wait_listening(b.port, 1)
    b.close()


def test_unknown_broker_kind():
    with pytest.raises(BrokerError):
        Broker(prefer="emqx")


def test_backhaul_relays_and_cuts(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    bh = Backhaul(server.getsockname()[1])
    c = socket.create_connection(("127.0.0.1", bh.port))
    s, _ = server.accept()
    c.sendall(b"ping")
    assert s.recv(10) == b"ping"
    bh.down()
    c.settimeout(2)
    assert c.recv(10) == b""  # the link is cut
    refused = socket.create_connection(("127.0.0.1", bh.port))
    refused.settimeout(2)
    assert refused.recv(10) == b""  # no new connection while down
    bh.up()
    c2 = socket.create_connection(("127.0.0.1", bh.port))
    s2, _ = server.accept()
    c2.sendall(b"back")
    assert s2.recv(10) == b"back"
    bh.close()
    for x in (c, refused, c2, s, s2, server):
        x.close()
    time.sleep(0)


def test_backhaul_without_relay_is_the_broker_itself():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    bh = Backhaul(port, relay=False)
    assert bh.port == port and bh.url == "mqtt://127.0.0.1:%d" % port and bh.is_up
    with pytest.raises(RuntimeError):
        bh.down()  # a scenario that cuts the backhaul must get the relay
    bh.close()
    server.close()
