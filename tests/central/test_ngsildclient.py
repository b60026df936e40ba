"""The API read by an independent NGSI-LD client (PyPI ngsildclient) as a user would."""

import pytest

from central.ngsi.api import Options
from tests.central import pg
from tests.central.test_ngsi_api import DEVICES, NOISE, SERIES

ngsildclient = pytest.importorskip("ngsildclient")


@pytest.fixture(scope="module")
def client():
    with pg.database() as dsn:
        pg.insert(dsn, DEVICES, SERIES)
        with pg.serving(dsn, options=Options(frozenset({NOISE}))) as srv:
            c = ngsildclient.Client(hostname="127.0.0.1", port=srv.server_address[1], verbose=False)
            yield c
            c.close()


def test_session(client):
    devices = client.query(type="Device")
    served = ["urn:ngsi-ld:Device:" + d["dev_eui"] for d in DEVICES if not d.get("removed")]
    assert sorted(e.id for e in devices) == served
    air = client.get("urn:ngsi-ld:AirQualityObserved:70b3d57ed0000001")
    assert air["pm25.value"] == 33.0 and air["refDevice.object"] == "urn:ngsi-ld:Device:70b3d57ed0000001"
    assert client.count(type="NoiseLevelObserved") == 1
    loud = client.query(type="NoiseLevelObserved", q="LAeq>60")
    assert [e.id for e in loud] == ["urn:ngsi-ld:NoiseLevelObserved:" + NOISE]
    assert client.query(type="NoiseLevelObserved", q="LAeq>70") == []
