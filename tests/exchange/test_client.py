"""The outbound FHIR client against real HTTP servers that misbehave (pytest-httpserver): connection
refused, timeouts, 5xx then success, 429 with Retry-After, 412, 400, and OAuth2 tokens (client secret
and SMART Backend Services assertions, verified by the adapter's own assertion check)."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from adapter.exchange.auth import ClientCredentials
from adapter.exchange.client import FhirClient, PeerError, PreconditionFailed, RetryPolicy
from adapter.exchange.peers import Peer
from adapter.security.clients import RegisteredClient, verify_assertion
from adapter.security.tokens import IssuerKey
from adapter.store.engine import Store
from tests.exchange.conftest import free_port

PATIENT = {"resourceType": "Patient", "id": "1", "meta": {"versionId": "3"}}


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(base: str, retries: int = 3, timeout: float = 5.0, **kw: Any) -> tuple[FhirClient, Sleeps]:
    sleeps = Sleeps()
    c = FhirClient(
        base, retry=RetryPolicy(retries=retries, base=0.5, cap=30), timeout=timeout, sleep=sleeps, **kw
    )
    return c, sleeps


def test_connection_refused_is_retried_with_growing_jittered_waits_then_a_transient_error() -> None:
    c, sleeps = client(f"http://127.0.0.1:{free_port()}", retries=3, rand=lambda: 1.0)
    with pytest.raises(PeerError) as e:
        c.read("Patient", "1")
    assert e.value.transient and e.value.status is None and "ConnectionError" in str(e.value)
    assert sleeps == [0.5, 1.0, 2.0]  # base * 2**n, times the jitter draw (here its maximum)


def test_a_timeout_is_retried_and_then_reported_transient() -> None:
    release = threading.Event()

    def slow(_: Request) -> Response:
        release.wait(5)
        return Response("{}", content_type="application/fhir+json")

    server = HTTPServer(threaded=True)  # its own server: the stalled answers must not reach other tests
    server.start()
    try:
        server.expect_request("/Patient/1").respond_with_handler(slow)
        c, sleeps = client(server.url_for("/"), retries=1, timeout=0.05)
        with pytest.raises(PeerError) as e:
            c.read("Patient", "1")
        assert e.value.transient and "Timeout" in str(e.value)
        assert len(sleeps) == 1
    finally:
        release.set()
        server.clear()
        server.stop()


def test_500_then_200_succeeds_after_one_backoff(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/Patient/1").respond_with_json(
        {"resourceType": "OperationOutcome"}, 500
    )
    httpserver.expect_ordered_request("/Patient/1").respond_with_json(PATIENT, headers={"ETag": 'W/"3"'})
    c, sleeps = client(httpserver.url_for("/"))
    body, version = c.read("Patient", "1")
    assert body["id"] == "1" and version == "3"
    assert len(sleeps) == 1 and len(httpserver.log) == 2


def test_429_waits_as_long_as_retry_after_says(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/Patient/1").respond_with_data(
        "busy", 429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/Patient/1").respond_with_json(PATIENT)
    c, sleeps = client(httpserver.url_for("/"))
    assert c.read("Patient", "1")[1] == "3"  # meta.versionId when there is no ETag
    assert sleeps == [7.0]


def test_a_retry_after_longer_than_a_call_may_wait_ends_the_call_and_tells_the_outbox(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/Patient/1").respond_with_data("busy", 503, headers={"Retry-After": "120"})
    c, sleeps = client(httpserver.url_for("/"))
    with pytest.raises(PeerError) as e:
        c.read("Patient", "1")
    assert e.value.transient and e.value.status == 503 and e.value.retry_after == 120.0
    assert sleeps == [] and len(httpserver.log) == 1


def test_412_is_not_retried_and_has_its_own_type(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/Patient/1", method="PUT").respond_with_json(
        {"resourceType": "OperationOutcome", "issue": [{"details": {"text": "Precondition Failed"}}]}, 412
    )
    c, sleeps = client(httpserver.url_for("/"))
    with pytest.raises(PreconditionFailed) as e:
        c.request("PUT", "Patient/1", body=PATIENT, headers={"If-Match": 'W/"2"'})
    assert e.value.status == 412 and "Precondition Failed" in str(e.value)
    assert sleeps == [] and len(httpserver.log) == 1
    assert httpserver.log[0][0].headers["If-Match"] == 'W/"2"'


def test_400_is_never_retried_blindly_and_is_not_transient(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_json(
        {"resourceType": "OperationOutcome", "issue": [{"diagnostics": "Bundle.entry[0]: bad"}]}, 400
    )
    c, sleeps = client(httpserver.url_for("/"))
    with pytest.raises(PeerError) as e:
        c.transaction({"resourceType": "Bundle", "type": "transaction"})
    assert not e.value.transient and e.value.status == 400 and "Bundle.entry[0]: bad" in str(e.value)
    assert sleeps == [] and len(httpserver.log) == 1
    request = httpserver.log[0][0]
    assert request.headers["Content-Type"] == "application/fhir+json"


# --- tokens --------------------------------------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _peer(httpserver: HTTPServer, **kw: Any) -> Peer:
    return Peer(
        name="dossier",
        base_url=httpserver.url_for("/fhir"),
        token_url=httpserver.url_for("/token"),
        client_id="voorzorg-adapter",
        scope="system/*.cruds",
        **kw,
    )


def test_client_credentials_token_is_fetched_once_cached_until_expiry_and_renewed_on_401(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOSSIER_SECRET", "s3cret")
    issued: list[str] = []

    def token(request: Request) -> Response:
        assert (
            request.headers["Authorization"]
            == "Basic " + base64.b64encode(b"voorzorg-adapter:s3cret").decode()
        )
        assert request.form["grant_type"] == "client_credentials"
        assert request.form["scope"] == "system/*.cruds"
        issued.append(f"tok-{len(issued) + 1}")
        return Response(
            f'{{"access_token":"{issued[-1]}","expires_in":300}}', content_type="application/json"
        )

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    seen: list[str] = []

    def fhir(request: Request) -> Response:
        seen.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") == "Bearer tok-2" and len(seen) == 3:
            return Response("", 401)  # revoked at the peer: one fresh token, then it works
        return Response('{"resourceType":"Patient","id":"1"}', content_type="application/fhir+json")

    httpserver.expect_request("/fhir/Patient/1").respond_with_handler(fhir)
    peer = _peer(httpserver, auth="client-credentials", client_secret_env="DOSSIER_SECRET")
    clock = Clock()
    auth = ClientCredentials(peer, clock=clock)
    c, sleeps = client(peer.base_url, auth=auth)
    c.read("Patient", "1")
    c.read("Patient", "1")
    assert issued == ["tok-1"] and seen == ["Bearer tok-1", "Bearer tok-1"]
    clock.now += 300  # expired (renewed 30 s early)
    c.read("Patient", "1")
    assert issued == ["tok-1", "tok-2", "tok-3"]
    assert seen[2:] == ["Bearer tok-2", "Bearer tok-3"]
    assert sleeps == []  # a renewal is no backoff


def test_smart_backend_assertion_is_signed_with_our_key_and_verified_by_the_adapters_own_check(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    key_file = tmp_path / "peer-key.pem"
    peer = _peer(httpserver, auth="smart-backend", key_file=key_file)
    key = IssuerKey(key_file)  # created on first use, like the embedded issuer's
    registered = {
        "voorzorg-adapter": RegisteredClient("voorzorg-adapter", "jgz", None, "system/*.cruds", key.jwks())
    }
    store = Store(f"sqlite:///{tmp_path / 'peer.db'}")
    store.migrate()

    def token(request: Request) -> Response:
        assert (
            request.form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        client_ = verify_assertion(request.form["client_assertion"], peer.token_url or "", registered, store)
        assert client_.client_id == "voorzorg-adapter" and "Authorization" not in request.headers
        return Response('{"access_token":"smart-1","expires_in":300}', content_type="application/json")

    httpserver.expect_request("/token", method="POST").respond_with_handler(token)
    httpserver.expect_request(
        "/fhir/Patient/1", headers={"Authorization": "Bearer smart-1"}
    ).respond_with_json(PATIENT)
    c = FhirClient.for_peer(peer)
    assert c.read("Patient", "1")[0]["id"] == "1"
    store.dispose()


def test_a_refusing_token_endpoint_is_a_transient_peer_error(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_client", "error_description": "unknown key"}, 401
    )
    peer = _peer(httpserver, auth="smart-backend", key_file=tmp_path / "k.pem")
    with pytest.raises(PeerError) as e:
        FhirClient.for_peer(peer).read("Patient", "1")
    assert e.value.transient and "unknown key" in str(e.value)
