"""No identifier in any log (issue #16, found 6): a real server process, as `voorzorg-adapter serve`
runs it, through a scripted session; then everything the process wrote (stdout, stderr, log files) is
scanned for the BSNs and names the session used.

uvicorn's access log printed every query string, so `GET /Patient?identifier=...bsn%7C180967927` put
the BSN in the log. The adapter now logs each request as its route (`/Patient/{resource_id}`), status
and duration, never the path or query string the client sent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text

from adapter.config import Settings
from tests.conftest import EXAMPLE_REFERRAL, POSTGRES_URL, _postgres_reason, bearer

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"
FIRST = {"bsn": "999911120", "family": "Jansen", "given": "Sanne", "number": "VZ-2026-0042"}
SECOND = {"bsn": "180967927", "family": "Vermeulen", "given": "Fatima", "number": "VZ-2026-0043"}
INVALID_BSN = "999911121"
SECRETS = (FIRST["bsn"], SECOND["bsn"], INVALID_BSN, "Jansen", "Sanne", "Vermeulen", "Fatima")
FHIR_JSON = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The server's database: SQLite in its data directory, or a schema of its own in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'voorzorg.db'}"
        return
    if reason := _postgres_reason():
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Server:
    """`voorzorg-adapter serve` in a process of its own, its stdout and stderr in files."""

    def __init__(self, workdir: Path, database_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.settings = Settings(data_dir=workdir / "data", base_url=self.url)
        self.env = {
            **os.environ,
            "VOORZORG_DATA_DIR": str(self.settings.data_dir),
            "VOORZORG_BASE_URL": self.url,
            "VOORZORG_DATABASE_URL": database_url,
        }
        self.out, self.err = workdir / "stdout.txt", workdir / "stderr.txt"

    def __enter__(self) -> Server:
        self.headers = bearer(self.settings)  # the embedded issuer's key, made before the server reads it
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [CLI, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.err.read_text()
            try:
                if requests.get(f"{self.url}/metadata", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or its first answer is slow
                time.sleep(0.2)
        raise AssertionError("the server did not start: " + self.err.read_text())

    def __exit__(self, *_: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def written(self) -> str:
        """Everything the process wrote: stdout, stderr and any log file in its working directory."""
        files = [self.out, self.err, *(p for p in self.workdir.rglob("*.log") if p.is_file())]
        return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def _referral(who: dict[str, str]) -> dict[str, Any]:
    text_ = EXAMPLE_REFERRAL.read_text(encoding="utf-8")
    for key, value in who.items():
        text_ = text_.replace(FIRST[key], value)
    data: dict[str, Any] = json.loads(text_)
    return data


def _session(server: Server) -> int:
    """What a day of an obstetric system and the JGZ looks like, the refusals included; the number of
    requests made."""
    s = requests.Session()
    s.headers.update(server.headers)
    url = server.url
    made = 0

    def call(method: str, path: str, expected: int, **kwargs: Any) -> Any:
        nonlocal made
        made += 1
        r = s.request(method, url + path, timeout=30, **kwargs)
        assert r.status_code == expected, (method, path, r.status_code, r.text[:300])
        return r

    for who in (FIRST, SECOND):
        call("POST", "/", 200, data=json.dumps(_referral(who)), headers=FHIR_JSON)
        call("POST", "/$check-eligibility", 200, data=json.dumps(_referral(who)), headers=FHIR_JSON)
        found = call("GET", f"/Patient?identifier={BSN_SYSTEM}%7C{who['bsn']}", 200).json()
        assert found["total"] == 1
        patient_id = found["entry"][0]["resource"]["id"]
        call("GET", f"/Patient?identifier={who['bsn']}&_count=5", 200)
        call("POST", "/Patient/_search", 200, data={"identifier": f"{BSN_SYSTEM}|{who['bsn']}"})
        call("GET", f"/Patient/{patient_id}", 200)
        call("GET", f"/ServiceRequest?identifier={who['number']}", 200)
        call("GET", f"/Task?patient=Patient/{patient_id}&status=accepted", 200)
    # refusals: each carries an identifier or a name somewhere a log could pick it up
    bad = _referral({**SECOND, "bsn": INVALID_BSN})
    call("POST", "/", 422, data=json.dumps(bad), headers=FHIR_JSON)
    call("GET", f"/Patient?name={SECOND['family']}", 400)
    call("GET", f"/Patient?identifier={BSN_SYSTEM}%7C{SECOND['bsn']}&_format=xml", 406)
    call("GET", f"/Patient/{FIRST['bsn']}", 404)
    call("GET", f"/{FIRST['bsn']}/{SECOND['family']}", 404)
    call("GET", f"/Patient?identifier={FIRST['bsn']}%00", 400)
    call("GET", f"/Patient?identifier={FIRST['bsn']}&_offset=" + "9" * 30, 400)
    call("GET", f"/Patient?identifier={FIRST['bsn']}", 401, headers={"Authorization": "Bearer x"})
    call(
        "POST",
        "/",
        400,
        data=b'{"resourceType": "Bundle", "x": "' + FIRST["family"].encode() + b'"',
        headers=FHIR_JSON,
    )
    return made


def test_a_session_against_a_real_server_leaves_no_bsn_or_name_in_anything_it_wrote(
    tmp_path: Path, database_url: str
) -> None:
    with Server(tmp_path, database_url) as server:
        made = _session(server)
    written = server.written()
    for secret in SECRETS:
        where = written.find(secret)
        assert where < 0, (
            f"{secret!r} in what the server wrote: ...{written[max(0, where - 300) : where + 100]}"
        )
    # the scan saw the server's own log: its start, and a line per request, by route
    assert "serving FHIR R4" in written
    access = [line for line in written.splitlines() if "voorzorg.access" in line]
    assert len(access) >= made, written[-3000:]
    assert any('"GET /Patient" 200' in line for line in access)
    assert any('"GET /Patient/{resource_id}" 404' in line for line in access)
    assert not any("?" in line for line in access)
