"""kill -9 in the middle of a load, on a real server process (issue #16, item 8), on SQLite and PostgreSQL.

Distinct referrals are posted by a few clients to `voorzorg-adapter serve` (uvicorn, a process of its
own); the process is SIGKILLed at a random moment and started again on the same data. Then:

- every referral answered 200 is stored, none answered otherwise is, and none is stored in part (the
  decision, the Task and every resource the referral names are there with its ServiceRequest);
- every stored resource is named by a committed change's AuditEvent;
- a resend of each referral that got no answer is taken in (200), with the ids stored before it;
- the keyed audit chain verifies (as `voorzorg-adapter audit verify` does it).

Bounded: a few seconds per backend. The seed of the random moment is in every failure message.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from adapter.composition import compose
from adapter.config import Settings
from adapter.mapping.ids import guidance_id, referral_task_id
from adapter.store.engine import Store
from bench.referrals import bsns, variant
from tests.conftest import FHIR_JSON_HEADERS, bearer

CLI = str(Path(sys.executable).parent / "voorzorg-adapter")
REFERRALS = 12
CLIENTS = 3
SR_SYSTEM = "urn:oid:2.16.528.1.1007.3.3.1234567.1"


@dataclass
class Load:
    """What the clients were told: referral number -> HTTP status (absent: no answer)."""

    answers: dict[str, int] = field(default_factory=dict)
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    first_answer: threading.Event = field(default_factory=threading.Event)


class Server:
    """`voorzorg-adapter serve` as its own process, on a free port."""

    def __init__(self, settings: Settings, store: Store, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "VOORZORG_DATA_DIR": str(settings.data_dir),
            "VOORZORG_BASE_URL": settings.base_url,
            "VOORZORG_DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [CLI, "serve", "--port", str(self.port)], env=self.env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server died at start:\n{self.log.read_text()[-2000:]}"
            try:
                if requests.get(f"{self.url}/metadata", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}/", data=json.dumps(body), headers=headers, timeout=20)


def _client(url: str, headers: dict[str, str], todo: queue.Queue[str], load: Load) -> None:
    while True:
        try:
            number = todo.get_nowait()
        except queue.Empty:
            return
        try:
            status = _post(url, headers, load.bodies[number]).status_code
        except requests.RequestException:
            return  # the server is gone: this one, and the rest of this client's, got no answer
        with load.lock:
            load.answers[number] = status
        load.first_answer.set()


def _run_load(server: Server, headers: dict[str, str], load: Load, rnd: random.Random) -> float:
    """Post every referral from CLIENTS threads; SIGKILL the server a random moment after the first
    answer. The moment (seconds after the first answer)."""
    todo: queue.Queue[str] = queue.Queue()
    for number in load.bodies:
        todo.put(number)
    clients = [
        threading.Thread(target=_client, args=(server.url, headers, todo, load)) for _ in range(CLIENTS)
    ]
    for c in clients:
        c.start()
    assert load.first_answer.wait(30), "no referral was answered"
    moment = rnd.uniform(0.0, 0.8)
    time.sleep(moment)
    server.kill()
    for c in clients:
        c.join(30)
    return moment


def _stored(store: Store) -> tuple[dict[str, dict[str, Any]], dict[str, str], dict[str, str]]:
    """Every current resource by reference; ServiceRequest id by referral number; Patient id by BSN."""
    with store.engine.connect() as conn:
        resources = {
            f"{r.res_type}/{r.res_id}": json.loads(r.content)
            for r in conn.execute(text("SELECT res_type, res_id, content FROM resource WHERE NOT deleted"))
        }
        keys = list(conn.execute(text("SELECT res_type, value, res_id FROM business_key")))
    referrals = {k.value: k.res_id for k in keys if k.res_type == "ServiceRequest"}
    patients = {k.value: k.res_id for k in keys if k.res_type == "Patient"}
    return resources, referrals, patients


def _half_stored(resources: dict[str, dict[str, Any]], sr_id: str) -> list[str]:
    """What a stored referral lacks (nothing: an empty list)."""
    sr = resources[f"ServiceRequest/{sr_id}"]
    needed = [
        sr["subject"]["reference"],
        f"Task/{referral_task_id(sr_id)}",
        f"GuidanceResponse/{guidance_id(sr_id)}",
        *(i["reference"] for i in sr.get("supportingInfo", [])),
    ]
    return [ref for ref in needed if ref not in resources]


def _audited(store: Store) -> set[str]:
    """Every reference a committed change's AuditEvent names."""
    named: set[str] = set()
    with store.engine.connect() as conn:
        for (content,) in conn.execute(text("SELECT content FROM audit_event")):
            event = json.loads(content)
            if str(event.get("outcomeDesc", "")).startswith("committed"):
                named |= {e["what"]["reference"] for e in event.get("entity", []) if "what" in e}
    return named


def test_kill_9_in_the_middle_of_a_load(store: Store, settings: Settings, tmp_path: Path) -> None:
    seed = int(os.environ.get("VOORZORG_FAULT_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    example = json.loads((Path(__file__).parents[1] / "examples" / "referral.json").read_text())
    gen = bsns(seed)
    load = Load()
    for i in range(REFERRALS):
        number = f"KILL-{seed}-{i:03d}"
        load.bodies[number] = variant(example, next(gen), number)
    headers = {**bearer(settings), **FHIR_JSON_HEADERS}
    server = Server(settings, store, tmp_path / "server.log")
    server.start()
    assert requests.get(f"{server.url}/Patient", headers=headers, timeout=20).status_code == 200  # warm
    try:
        moment = _run_load(server, headers, load, rnd)
        why = f"(seed {seed}, killed {moment:.2f} s after the first answer)"
        resources, referrals, patients = _stored(store)

        # answered 200 <=> stored, and nothing stored in part
        ok = {n for n, status in load.answers.items() if status == 200}
        assert set(load.answers.values()) <= {200}, f"answers other than 200 under load {why}"
        assert ok <= set(referrals), f"answered 200 but not stored: {sorted(ok - set(referrals))} {why}"
        for number, sr_id in referrals.items():
            assert _half_stored(resources, sr_id) == [], f"{number} is stored in part {why}"

        # every stored resource is named by a committed change's record
        unaudited = set(resources) - _audited(store)
        assert unaudited == set(), f"stored without an audit record: {sorted(unaudited)[:5]} {why}"

        # a resend of every unanswered referral: taken in, with the ids stored before
        server.start()
        unanswered = [n for n in load.bodies if n not in load.answers]
        with ThreadPoolExecutor(CLIENTS) as pool:
            resent = dict(
                zip(
                    unanswered,
                    pool.map(lambda n: _post(server.url, headers, load.bodies[n]), unanswered),
                    strict=True,
                )
            )
        for number, r in resent.items():
            body = load.bodies[number]
            assert r.status_code == 200, f"{number}: {r.status_code} {r.text[:300]} {why}"
            ids = {e["resource"]["resourceType"]: e["resource"]["id"] for e in r.json()["entry"]}
            if number in referrals:
                bsn = next(
                    e["resource"]["identifier"][0]["value"]
                    for e in body["entry"]
                    if e["resource"]["resourceType"] == "Patient"
                )
                assert ids["ServiceRequest"] == referrals[number], f"{number}: another referral id {why}"
                assert ids["Patient"] == patients[bsn], f"{number}: another client id {why}"
                assert ids["Task"] == referral_task_id(referrals[number]), f"{number}: another Task {why}"
        after, referrals_after, _ = _stored(store)
        assert set(referrals_after) == set(referrals) | set(unanswered), why
        assert set(after) - _audited(store) == set(), why

        count, problems = compose(settings, store).audit.verify()  # as `voorzorg-adapter audit verify`
        assert problems == [], f"{problems} {why}"
        assert count >= len(referrals_after)
        print(f"fault test {why}: {len(ok)} answered, {len(unanswered)} unanswered", file=sys.stderr)
    finally:
        server.stop()
