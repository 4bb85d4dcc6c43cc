"""A full Bulk Data export of a region: time and peak memory (`python -m bench.export`).

`generate_region(store, clients, seed)` fills a fresh store with `clients` clients (10,000 by default, a
region's VoorZorg years): per client her Patient (BSN, name, address, birth date), the referral
(ServiceRequest), its Task, the EDD and parity Observations, the voluntariness Consent, her CarePlan and
two home visits (Encounter): 9 resources each. The rows go straight into the `resource` table (the
export reads only that; no search index is needed), so generating is quick and not what is measured.
(Another branch brings `bench/region.py` with a generator of the same name; this one is its stand-in.)

Then the export runs in a process of its own (`Exports.run`, the work the background thread does) so
its peak RSS is the export's: once identifiable, once pseudonymised. The figure to look at is the peak
RSS against the size of the files written: an export that held its output in memory would need at least
the files' size; this one reads a page of 500 resources at a time and writes line by line.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from adapter.config import Settings
from adapter.fhir.dates import now_instant
from adapter.store.engine import Store
from adapter.store.schema import resource as resource_table

GIVEN = ("Sanne", "Fenna", "Lotte", "Anouk", "Noor", "Eva", "Lisa", "Sara")
FAMILY = ("Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")
CITIES = ("Maastricht", "Heerlen", "Sittard-Geleen", "Kerkrade", "Landgraaf", "Brunssum")


def _client(rng: random.Random, n: int) -> list[dict[str, Any]]:
    pid, sr, plan = (str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3))
    me = {"reference": f"Patient/{pid}"}
    year = rng.randint(1995, 2007)
    patient = {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": f"{900000000 + n:09d}"}],
        "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
        "telecom": [{"system": "phone", "value": f"06{rng.randint(10000000, 99999999)}"}],
        "address": [{"line": [f"Kerkstraat {n}"], "postalCode": "6211AB", "city": rng.choice(CITIES)}],
        "gender": "female",
        "birthDate": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    }
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "3457005"}]}
    out = [
        patient,
        {
            "resourceType": "ServiceRequest",
            "id": sr,
            "status": "active",
            "intent": "order",
            "code": code,
            "subject": me,
            "identifier": [{"system": "urn:oid:2.16.528.1", "value": f"VZ-{n}"}],
        },
        {
            "resourceType": "Task",
            "id": str(uuid.uuid5(uuid.UUID(sr), "Task")),
            "status": "accepted",
            "intent": "order",
            "focus": {"reference": f"ServiceRequest/{sr}"},
            "for": me,
        },
        {
            "resourceType": "Consent",
            "id": str(uuid.uuid5(uuid.UUID(sr), "Consent")),
            "status": "active",
            "scope": code,
            "category": [code],
            "patient": me,
        },
        {
            "resourceType": "CarePlan",
            "id": plan,
            "status": "active",
            "intent": "plan",
            "subject": me,
            "basedOn": [{"reference": f"ServiceRequest/{sr}"}],
        },
    ]
    for name, value in (("edd", {"valueDateTime": "2026-09-01"}), ("parity", {"valueInteger": 0})):
        out.append(
            {
                "resourceType": "Observation",
                "id": str(uuid.uuid5(uuid.UUID(sr), name)),
                "status": "final",
                "code": {"text": name},
                "subject": me,
                **value,
            }
        )
    for visit in (1, 2):
        out.append(
            {
                "resourceType": "Encounter",
                "id": str(uuid.uuid5(uuid.UUID(plan), str(visit))),
                "status": "finished",
                "class": {"code": "HH"},
                "subject": me,
            }
        )
    return out


def generate_region(store: Store, clients: int = 10_000, seed: int = 17) -> int:
    """Fill `store` with `clients` generated clients; how many resources that made."""
    rng = random.Random(seed)
    made = 0
    batch: list[dict[str, Any]] = []
    for n in range(clients):
        stamp = now_instant()
        for res in _client(rng, n):
            res["meta"] = {"versionId": "1", "lastUpdated": stamp}
            batch.append(
                {
                    "res_type": res["resourceType"],
                    "res_id": res["id"],
                    "version_id": 1,
                    "last_updated": stamp,
                    "deleted": False,
                    "content": json.dumps(res, separators=(",", ":")),
                }
            )
        if len(batch) >= 5000 or n == clients - 1:
            with store.engine.begin() as conn:
                conn.execute(insert(resource_table), batch)
            made += len(batch)
            batch = []
    return made


def run_export(url: str, data_dir: str, pseudonymised: bool) -> dict[str, Any]:
    """In this process: one export job from kick-off to completed; time, peak RSS and what it wrote."""
    from adapter.composition import compose
    from adapter.data import export_rules, pseudonymisation_rules
    from adapter.store.export_jobs import ACCEPTED, Job

    settings = Settings(data_dir=Path(data_dir), database_url=url)
    adapter = compose(settings, migrate=False)
    types = pseudonymisation_rules()["types"] if pseudonymised else export_rules()["types"]
    job = Job(
        str(uuid.uuid4()),
        ACCEPTED,
        "bench",
        None,
        "jgz",
        "/$export",
        {"types": list(types), "pseudonymised": pseudonymised, "members": None},
        now_instant(),
    )
    adapter.store.write(lambda s: s.exports.add(job))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    adapter.exports.run(job.id)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with adapter.store.reading() as s:
        done = s.exports.get(job.id)
    assert done is not None and done.status == "completed", done
    files = sum(p.stat().st_size for p in adapter.exports.directory(job.id).iterdir())
    count = sum(int(o["count"]) for o in done.output or [])
    return {
        "seconds": round(took, 1),
        "resources": count,
        "file_mb": round(files / 2**20, 1),
        "rss_before_mb": round(before / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--database-url", help="default: SQLite in a temporary directory")
    p.add_argument("--run", nargs=3, metavar=("URL", "DATA_DIR", "PSEUDONYMISED"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.run:
        print(json.dumps(run_export(a.run[0], a.run[1], a.run[2] == "true")))
        return 0
    with tempfile.TemporaryDirectory(prefix="voorzorg-export-bench-") as tmp:
        url = a.database_url or f"sqlite:///{tmp}/voorzorg.db"
        store = Store(url)
        store.migrate()
        started = time.perf_counter()
        made = generate_region(store, a.clients)
        print(f"region: {a.clients} clients, {made} resources ({time.perf_counter() - started:.0f} s)")
        store.dispose()
        for variant in ("false", "true"):
            out = (
                subprocess.run(
                    [sys.executable, "-m", "bench.export", "--run", url, tmp, variant],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            r = json.loads(out)
            label = "pseudonymised" if variant == "true" else "identifiable"
            rate = r["resources"] / r["seconds"] if r["seconds"] else 0
            print(
                f"{label:14} {r['resources']} resources, {r['file_mb']} MB of NDJSON in {r['seconds']} s "
                f"({rate:,.0f}/s); RSS {r['rss_before_mb']} MB before, peak {r['peak_rss_mb']} MB"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
