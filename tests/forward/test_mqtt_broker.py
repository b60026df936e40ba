"""The test helper's Mosquitto: free port, restart on the same port, TLS with client certificates, passwords."""

import os
import ssl
import stat

import paho.mqtt.client as mqtt

from tests.mqtt_broker import MosquittoBroker, Subscriber


def connect(broker, *, username=None, password="", tls=True, client_cert=True):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username:
        c.username_pw_set(username, password)
    if broker.tls and tls:
        if client_cert:
            c.tls_set(broker.tls.ca_cert, broker.tls.client_cert, broker.tls.client_key)
        else:
            c.tls_set(broker.tls.ca_cert)
    codes = []
    c.on_connect = lambda cl, u, f, rc, p: codes.append(rc)
    try:
        c.connect(broker.host, broker.port)
    except (OSError, ssl.SSLError) as e:
        return c, e
    for _ in range(100):
        c.loop(0.05)
        if codes:
            break
    return c, codes[0] if codes else None


def test_publish_subscribe_and_restart_on_the_same_port(tmp_path):
    with MosquittoBroker(tmp_path) as broker:
        assert broker.port != 1883
        sub = Subscriber(broker, "t/#")
        pub, rc = connect(broker)
        assert rc == 0
        pub.publish("t/1", b"one", qos=1)
        assert sub.wait_for(lambda m: len(m) == 1)
        sub.close()
        port = broker.port
        broker.stop()
        assert not broker.running
        c, err = connect(broker)
        assert isinstance(err, ConnectionRefusedError)
        broker.start()
        assert broker.port == port and broker.running
        _, rc = connect(broker)
        assert rc == 0


def test_tls_requires_a_client_certificate_from_our_ca(tmp_path):
    with MosquittoBroker(tmp_path, tls=True) as broker:
        _, rc = connect(broker)
        assert rc == 0
        _, err = connect(broker, client_cert=False)
        assert err != 0  # not connected: an exception, or no CONNACK at all (None)
        _, err = connect(broker, tls=False)
        assert err != 0


def test_password_auth_refuses_a_wrong_password(tmp_path):
    with MosquittoBroker(tmp_path, users={"gw": "s3cret"}) as broker:
        _, rc = connect(broker, username="gw", password="s3cret")
        assert rc == 0
        _, rc = connect(broker, username="gw", password="wrong")
        assert rc is not None and rc != 0 and rc.is_failure


def test_key_files_are_private(tmp_path):
    broker = MosquittoBroker(tmp_path, tls=True)
    for path in (broker.tls.server_key, broker.tls.client_key):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
