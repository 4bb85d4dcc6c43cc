"""`python -m bench`: the decision in-process, then intake and `$check-eligibility` over real HTTP."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from adapter.config import PROJECT_ROOT
from bench import decision
from bench.auth import TOKEN_ENV, token_source
from bench.load import LoadResult, probe, search_total, send_all
from bench.referrals import distinct, example
from bench.report import load_average, machine, summary, table
from bench.server import POSTGRES_URL, AdapterServer, postgres_schema, postgres_unreachable


@dataclass(frozen=True)
class Options:
    referrals: int
    concurrency: int
    decisions: int
    checks: int
    backends: tuple[str, ...]
    url: str | None


def parse(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (about 20 s): fewer of everything")
    p.add_argument("--referrals", type=int, help="distinct referrals sent per backend (default 300)")
    p.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--decisions", type=int, help="in-process decide() calls (default 20000)")
    p.add_argument("--checks", type=int, help="$check-eligibility requests over HTTP (default 300)")
    p.add_argument(
        "--backend", action="append", choices=("sqlite", "postgres"), help="only this backend (repeatable)"
    )
    p.add_argument(
        "--url",
        help="benchmark this running adapter (base URL) instead of starting one per backend; "
        f"its token comes from {TOKEN_ENV}",
    )
    a = p.parse_args(argv)
    quick = bool(a.quick)
    return Options(
        referrals=a.referrals or (60 if quick else 300),
        concurrency=max(1, a.concurrency),
        decisions=a.decisions or (2000 if quick else 20000),
        checks=a.checks or (60 if quick else 300),
        backends=tuple(a.backend or ("sqlite", "postgres")),
        url=a.url.rstrip("/") if a.url else None,
    )


def _row(r: LoadResult) -> list[object]:
    s = summary(r.latencies_s)
    errors = f"{len(r.errors)} ⚠" if r.errors else "0"
    return [r.name, r.concurrency, f"{r.ok}/{r.sent}", errors, r.per_second, s["p50"], s["p99"], s["max"]]


ACCEPTED = '"accepted"'  # the Task of every example-based referral ends accepted
HTTP_HEADERS = ["run", "client threads", "ok", "errors", "per s", "p50 ms", "p99 ms", "max ms"]


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        yield ""  # the adapter's default: SQLite under VOORZORG_DATA_DIR
    else:
        with postgres_schema() as url:
            yield url


def _intake(base: str, label: str, o: Options, run_id: str, log: Callable[[], str]) -> list[LoadResult]:
    """New referrals from `o.concurrency` clients and from one; then some of them again, both ways."""
    third, sixth = max(1, o.referrals // 3), max(1, o.referrals // 6)
    seed = zlib.crc32(f"{run_id}{label}".encode())
    bodies = distinct(o.referrals + sixth, f"{run_id}-{label}", seed=seed)
    fresh, fresh_alone = bodies[: o.referrals], bodies[o.referrals :]
    warm = distinct(10, f"{run_id}-{label}-warm", seed=seed + 1)
    before = search_total(base, "Task?status=accepted")
    send_all("warm-up", f"{base}/", warm, 1)
    url, c = f"{base}/", o.concurrency
    new = send_all(f"intake, new referral ({label})", url, fresh, c, ACCEPTED)
    results = [
        new,
        send_all(f"intake, new referral, one client ({label})", url, fresh_alone, 1, ACCEPTED),
        send_all(f"intake, same referral again ({label})", url, fresh[:third], c, ACCEPTED),
        send_all(
            f"intake, same referral again, one client ({label})",
            url,
            fresh[third : third + sixth],
            1,
            ACCEPTED,
        ),
    ]
    stored = search_total(base, "Task?status=accepted") - before
    expected = len(warm) + len(bodies)
    if stored != expected:
        new.errors.append(f"the adapter holds {stored} new accepted Tasks, expected {expected}")
    for r in results:
        if r.errors:
            print(f"\n> {r.name}: {len(r.errors)} errors, first: {r.errors[0]}", file=sys.stderr)
            print(log(), file=sys.stderr)
    return results


def _checks(base: str, o: Options) -> list[LoadResult]:
    body = json.dumps(example(), separators=(",", ":")).encode()
    url = f"{base}/$check-eligibility"
    send_all("warm-up", url, [body] * 10, 1)
    return [
        send_all("`$check-eligibility`", url, [body] * o.checks, o.concurrency, '"voorzorg"'),
        send_all("`$check-eligibility`, one client", url, [body] * (o.checks // 2 or 1), 1, '"voorzorg"'),
    ]


def _refused(base: str) -> str | None:
    """Why the adapter refuses the benchmark's credentials, or None when it lets it in."""
    status = probe(base, "Task?_count=1")
    if status in (401, 403):
        return (
            f"the adapter answered {status} to an authenticated search: set {TOKEN_ENV} to a bearer token "
            "it accepts (for a server this benchmark starts, its VOORZORG_* settings such as "
            "VOORZORG_TRUSTED_ISSUERS / VOORZORG_AUDIENCE come from this environment), or use --url"
        )
    return None


def _http(o: Options, run_id: str) -> tuple[list[LoadResult], list[str]]:
    results: list[LoadResult] = []
    notes: list[str] = []
    if o.url:
        if why := _refused(o.url):
            raise SystemExit(f"bench: {why}")
        results += _intake(o.url, "the server at --url", o, run_id, lambda: "(its log is its own)")
        return results + _checks(o.url, o), notes
    for backend in o.backends:
        if backend == "postgres" and (why := postgres_unreachable()):
            notes.append(f"PostgreSQL skipped: not reachable at {POSTGRES_URL} ({why})")
            continue
        with _database(backend) as url, AdapterServer(url) as server:
            if why := _refused(server.url):
                raise SystemExit(f"bench: {why}")
            results += _intake(server.url, server.backend, o, run_id, server.log_tail)
            if not any(r.name.startswith("`$check") for r in results):  # stores nothing: once is enough
                results += _checks(server.url, o)
    return results, notes


def _revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        git = ["git", "-C", str(PROJECT_ROOT)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "adapter", "mappings", "profiles"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "(not a git checkout)"
    state = " + uncommitted changes under adapter/, mappings/ or profiles/" if dirty.stdout.strip() else ""
    return f"commit {head.stdout.strip()}{state} ({PROJECT_ROOT})"


def main(argv: list[str] | None = None) -> int:
    o = parse(argv)
    started = time.perf_counter()
    run_id = time.strftime("%Y%m%d%H%M%S")
    print("# VoorZorg adapter benchmark\n")
    print(machine())
    print(f"- adapter: {_revision()}")
    print(
        f"- {time.strftime('%Y-%m-%d %H:%M %Z')}; referrals per backend: {o.referrals}, "
        f"client threads: {o.concurrency}\n"
    )

    print("## The decision, in-process (the example referral: VoorZorg, proven effective)\n")
    rates = decision.run(example(), o.decisions)
    print(
        table(
            ["what", "calls", "per s", "p50 µs", "p99 µs"],
            [[r.name, r.calls, r.per_second, r.p50_us, r.p99_us] for r in rates],
        )
    )

    where = f"the adapter at {o.url}" if o.url else "`voorzorg-adapter serve` (uvicorn, one process)"
    print(f"\n## Over HTTP: {where}, client on 127.0.0.1\n")
    results, notes = _http(o, run_id)
    for note in notes:
        print(f"> {note}\n")
    rows = [_row(r) for r in results]
    failed = any(r.errors for r in results)
    print(table(HTTP_HEADERS, rows))
    print(f"\nAuthentication: {token_source()}.")
    print(
        "\n`per s` = answered requests / wall time; latency measured at the client, including HTTP. "
        "Every new referral is distinct (its own elfproef-valid BSN and ServiceRequest identifier); "
        "'again' resends an already stored one (re-decided, nothing changes)."
    )
    took = time.perf_counter() - started
    print(f"\n_Run took {took:.0f} s; load average (1 min) at the end: {load_average()}._")
    return 1 if failed else 0
