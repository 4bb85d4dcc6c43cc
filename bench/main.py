"""`python -m bench`: the decision and profile validation in-process, intake and `$check-eligibility` over
real HTTP, and what authentication + audit cost per request."""

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
from bench import careplan, decision, measures, outbox, request_overhead, security, validation, vsfloor
from bench.auth import TOKEN_ENV, token_source
from bench.decision import Rate
from bench.load import LoadResult, merged, probe, search_total, send_all
from bench.referrals import distinct, example
from bench.report import load_average, machine, summary, table
from bench.server import POSTGRES_URL, AdapterServer, postgres_schema, postgres_unreachable


@dataclass(frozen=True)
class Options:
    referrals: int
    concurrency: int
    decisions: int
    checks: int
    validations: int
    audits: int
    auth_referrals: int
    backends: tuple[str, ...]
    url: str | None
    outbox: int = 200
    workers: int = 2
    memory: int = 2000
    vs_floor_only: bool = False
    measures: int = 10_000


def parse(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a short run (about 40 s): fewer of everything")
    p.add_argument("--referrals", type=int, help="distinct referrals sent per backend (default 300)")
    p.add_argument("--concurrency", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--decisions", type=int, help="in-process decide() calls (default 20000)")
    p.add_argument("--checks", type=int, help="$check-eligibility requests over HTTP (default 300)")
    p.add_argument("--validations", type=int, help="in-process calls per validation row (default 300)")
    p.add_argument(
        "--audits", type=int, help="in-process audit appends per backend (default 300; token checks ×10)"
    )
    p.add_argument(
        "--auth-referrals",
        type=int,
        help="referrals per server, with and without auth, from all client threads (default 120; "
        "half as many again from one client)",
    )
    p.add_argument(
        "--backend", action="append", choices=("sqlite", "postgres"), help="only this backend (repeatable)"
    )
    p.add_argument(
        "--url",
        help="benchmark this running adapter (base URL) instead of starting one per backend; "
        f"its token comes from {TOKEN_ENV}",
    )
    p.add_argument("--outbox", type=int, help="outbox messages delivered per backend and run (default 200)")
    p.add_argument(
        "--workers", type=int, default=2, help="`serve --workers N` against the floor (default 2: the cores)"
    )
    p.add_argument(
        "--memory",
        type=int,
        help="more new referrals per backend before reading each server process's RSS (default 2000)",
    )
    p.add_argument(
        "--vs-floor-only", action="store_true", help="only the comparison with the floor (issue #19's table)"
    )
    p.add_argument(
        "--measures",
        type=int,
        help="clients of the generated region the measures are timed on (default 10000)",
    )
    a = p.parse_args(argv)
    quick = bool(a.quick)
    return Options(
        referrals=a.referrals or (60 if quick else 300),
        concurrency=max(1, a.concurrency),
        decisions=a.decisions or (2000 if quick else 20000),
        checks=a.checks or (60 if quick else 300),
        validations=a.validations or (50 if quick else 300),
        audits=a.audits or (60 if quick else 300),
        auth_referrals=a.auth_referrals or (30 if quick else 120),
        backends=tuple(a.backend or ("sqlite", "postgres")),
        url=a.url.rstrip("/") if a.url else None,
        outbox=a.outbox or (40 if quick else 200),
        workers=max(1, a.workers),
        memory=a.memory if a.memory is not None else (100 if quick else 2000),
        vs_floor_only=bool(a.vs_floor_only),
        measures=a.measures or (1000 if quick else 10_000),
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


def _refused(base: str, headers: dict[str, str] | None = None) -> str | None:
    """Why the adapter refuses the benchmark's credentials, or None when it lets it in."""
    status = probe(base, "Task?_count=1", headers)
    if status in (401, 403):
        return (
            f"the adapter answered {status} to an authenticated search: set {TOKEN_ENV} to a bearer token "
            "it accepts (for a server this benchmark starts, its VOORZORG_* settings such as "
            "VOORZORG_TRUSTED_ISSUERS / VOORZORG_AUDIENCE come from this environment), or use --url"
        )
    return None


def _backends(o: Options) -> tuple[list[str], list[str]]:
    """The backends to start servers on, and why any was left out."""
    backends: list[str] = []
    notes: list[str] = []
    for backend in o.backends:
        if backend == "postgres" and (why := postgres_unreachable()):
            notes.append(f"PostgreSQL skipped: not reachable at {POSTGRES_URL} ({why})")
            continue
        backends.append(backend)
    return backends, notes


def _http(o: Options, run_id: str, backends: list[str]) -> list[LoadResult]:
    results: list[LoadResult] = []
    if o.url:
        if why := _refused(o.url):
            raise SystemExit(f"bench: {why}")
        results += _intake(o.url, "the server at --url", o, run_id, lambda: "(its log is its own)")
        return results + _checks(o.url, o)
    for backend in backends:
        with _database(backend) as url, AdapterServer(url) as server:
            if why := _refused(server.url):
                raise SystemExit(f"bench: {why}")
            results += _intake(server.url, server.backend, o, run_id, server.log_tail)
            results += careplan.over_http(
                server.url, server.backend, max(10, o.referrals // 3), o.concurrency, run_id
            )
            if not any(r.name.startswith("`$check") for r in results):  # stores nothing: once is enough
                results += _checks(server.url, o)
    return results


# --- what authentication + audit cost ----------------------------------------------------------------
ROUNDS = 4  # the two servers take turns, so load from the rest of the machine falls on both alike
NO_AUTH = "`--insecure-dev-no-auth`"


@dataclass
class AuthPair:
    """Intake of the same referrals by a normal server and a `--insecure-dev-no-auth` one."""

    backend: str
    concurrency: int
    with_auth: LoadResult
    without: LoadResult


def _compare(o: Options, run_id: str, backend: str) -> list[AuthPair]:
    n_all, n_one = o.auth_referrals, max(ROUNDS, o.auth_referrals // 2)
    with (
        _database(backend) as url_a,
        _database(backend) as url_b,
        AdapterServer(url_a) as secure,
        AdapterServer(url_b, insecure=True) as insecure,
    ):
        label = secure.backend
        if why := _refused(secure.url, secure.headers):
            raise SystemExit(f"bench: {why}")
        if (status := probe(insecure.url, "Task?_count=1", {})) != 200:
            raise SystemExit(f"bench: {NO_AUTH} answered {status} to a search without a token")
        seed = zlib.crc32(f"{run_id}auth{label}".encode())
        bodies = distinct(n_all + n_one, f"{run_id}-auth-{label}", seed=seed)  # the same for both servers
        warm = distinct(10, f"{run_id}-auth-{label}-warm", seed=seed + 1)
        servers = (secure, insecure)
        for server in servers:
            send_all("warm-up", f"{server.url}/", warm, 1, headers=server.headers)
        parts: dict[tuple[int, int], list[LoadResult]] = {}
        for r in range(ROUNDS):
            for concurrency, chunk in (
                (o.concurrency, bodies[:n_all][r::ROUNDS]),
                (1, bodies[n_all:][r::ROUNDS]),
            ):
                for i in (0, 1) if r % 2 == 0 else (1, 0):
                    server = servers[i]
                    got = send_all("", f"{server.url}/", chunk, concurrency, ACCEPTED, headers=server.headers)
                    parts.setdefault((i, concurrency), []).append(got)
        pairs: list[AuthPair] = []
        for concurrency in dict.fromkeys((o.concurrency, 1)):
            one = " one client," if concurrency == 1 else ""
            a = merged(f"intake, new referral,{one} auth ({label})", parts[0, concurrency])
            b = merged(f"intake, new referral,{one} {NO_AUTH} ({label})", parts[1, concurrency])
            pairs.append(AuthPair(label, concurrency, a, b))
        for server, results in (
            (secure, [p.with_auth for p in pairs]),
            (insecure, [p.without for p in pairs]),
        ):
            stored = search_total(server.url, "Task?status=accepted", server.headers)
            if stored != len(warm) + len(bodies):
                results[0].errors.append(
                    f"{server.url} holds {stored} accepted Tasks, not {len(warm) + len(bodies)}"
                )
            for result in results:
                if result.errors:
                    print(
                        f"\n> {result.name}: {len(result.errors)} errors, first: {result.errors[0]}",
                        file=sys.stderr,
                    )
                    print(server.log_tail(), file=sys.stderr)
    return pairs


def _ms(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def _difference(with_auth: float, without: float) -> str:
    d = with_auth - without
    pct = f" ({d / without * 100:+.0f} %)" if without else ""
    return f"{'+' if d >= 0 else '−'}{_ms(abs(d))}{pct}"


def _cost_table(verify: Rate, audits: dict[str, Rate], pairs: list[AuthPair], labels: list[str]) -> str:
    rows: list[list[str]] = [
        ["token verification p50 µs (in-process, no database)", *[_ms(verify.p50_us) for _ in labels]],
        ["audit append p50 ms (in-process, one transaction)"]
        + [_ms(audits[b].p50_us / 1000) if b in audits else "—" for b in labels],
    ]
    by = {(p.backend, p.concurrency): p for p in pairs}
    for concurrency in dict.fromkeys(p.concurrency for p in pairs):
        who = "1 client" if concurrency == 1 else f"{concurrency} clients"
        got = [by.get((b, concurrency)) for b in labels]
        p50s = [
            (summary(p.with_auth.latencies_s)["p50"], summary(p.without.latencies_s)["p50"]) if p else None
            for p in got
        ]
        rows += [
            [f"intake p50 ms, {who}, with auth"] + [_ms(x[0]) if x else "—" for x in p50s],
            [f"intake p50 ms, {who}, {NO_AUTH}"] + [_ms(x[1]) if x else "—" for x in p50s],
            [f"difference ms, {who} (with − without)"] + [_difference(*x) if x else "—" for x in p50s],
            [f"intake per s, {who}: with auth / without"]
            + [f"{_ms(p.with_auth.per_second)} / {_ms(p.without.per_second)}" if p else "—" for p in got],
        ]
    one = [by.get((b, 1)) for b in labels]
    rows.append(
        ["audit append as a share of the 1-client intake p50"]
        + [
            f"{audits[b].p50_us / 1000 / summary(p.with_auth.latencies_s)['p50'] * 100:.0f} %"
            if p and b in audits
            else "—"
            for b, p in zip(labels, one, strict=True)
        ]
    )
    return table(["", *labels], rows)


def _auth_cost(o: Options, run_id: str, backends: list[str]) -> tuple[list[Rate], list[AuthPair], str, bool]:
    """The in-process costs, the HTTP comparison, and the summary table; True when a request failed."""
    verify, who = security.verify_rate(o.audits * 10)
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    audits = {names[b]: security.audit_rate(b, names[b], who, o.audits) for b in backends}
    pairs: list[AuthPair] = []
    if not o.url:
        for backend in backends:
            pairs += _compare(o, run_id, backend)
    labels = [names[b] for b in backends] or ["SQLite"]
    failed = any(p.with_auth.errors or p.without.errors for p in pairs)
    return [verify, *audits.values()], pairs, _cost_table(verify, audits, pairs, labels), failed


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


def _vs_floor(o: Options, run_id: str) -> bool:
    """Issue #19's table; True when a request failed."""
    backends, notes = _backends(o)
    print(
        f"## New referrals against the floor (issue #19), same run: {o.referrals} per row, "
        f"`serve --workers {o.workers}`\n"
    )
    for note in notes:
        print(f"> {note}\n")
    text, failed = vsfloor.run(backends, o.workers, o.referrals, o.concurrency, run_id, o.memory)
    print(text)
    print(
        "\nEvery row a fresh server on a fresh database; the adapter with authentication (bearer token) and "
        "audit (an AuditEvent per request), every referral distinct and accepted. Ratios > 1 mean the "
        "adapter is that many times slower than the floor."
    )
    return failed


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
    floor_failed = False if o.url else _vs_floor(o, run_id)
    if o.vs_floor_only:
        print(f"\n_Run took {time.perf_counter() - started:.0f} s; load average (1 min): {load_average()}._")
        return 1 if floor_failed else 0

    rate_headers = ["what", "calls", "per s", "p50 µs", "p99 µs"]

    def rate_rows(rates: list[Rate]) -> list[list[object]]:
        return [[r.name, r.calls, r.per_second, r.p50_us, r.p99_us] for r in rates]

    print("## The decision, in-process (the example referral: VoorZorg, proven effective)\n")
    print(table(rate_headers, rate_rows(decision.run(example(), o.decisions))))

    print("\n## Profile validation of the referral Bundle, in-process (examples/referral.json)\n")
    checked, validation_notes = validation.run(example(), o.validations)
    print(table(rate_headers, rate_rows(checked)))
    for note in validation_notes:
        print(f"\nNote: {note}.")

    print("\n## The care plan, in-process (plan generation, mapping, re-timing)\n")
    print(table(rate_headers, rate_rows(careplan.in_process(o.decisions // 10))))

    backends, notes = ([], []) if o.url else _backends(o)
    where = f"the adapter at {o.url}" if o.url else "`voorzorg-adapter serve` (uvicorn, one process)"
    print(f"\n## Over HTTP: {where}, client on 127.0.0.1\n")
    for note in notes:
        print(f"> {note}\n")
    results = _http(o, run_id, backends)
    failed = any(r.errors for r in results)
    print(table(HTTP_HEADERS, [_row(r) for r in results]))
    print(f"\nAuthentication: {token_source()}.")
    print(
        "\n`per s` = answered requests / wall time; latency measured at the client, including HTTP. "
        "Every new referral is distinct (its own elfproef-valid BSN and ServiceRequest identifier); "
        "'again' resends an already stored one (re-decided, nothing changes)."
    )

    print("\n## auth + audit cost\n")
    micro, pairs, cost, auth_failed = _auth_cost(o, run_id, [] if o.url else backends)
    failed = failed or auth_failed
    print(cost)
    print(
        f"\nIntake over HTTP: a server started normally (bearer token verified on every request) against one "
        f"started with `voorzorg-adapter serve {NO_AUTH.strip('`')}` (no token verified, none sent); "
        "both write "
        f"an AuditEvent per request, so the difference is the token check alone. Each backend: two fresh "
        f"servers fed the same {o.auth_referrals} new referrals from {o.concurrency} client threads and "
        f"{max(ROUNDS, o.auth_referrals // 2)} from one, in {ROUNDS} rounds taking turns (who goes first "
        "alternates). The audit write's own cost is the in-process append (it cannot be switched off)."
    )
    if o.url:
        print("\n> The HTTP comparison needs servers this benchmark starts: skipped with --url.")
    print("\n### In-process\n")
    print(table(rate_headers, rate_rows(micro)))
    if pairs:
        print("\n### Over HTTP\n")
        print(table(HTTP_HEADERS, [_row(r) for p in pairs for r in (p.with_auth, p.without)]))

    if not o.url:
        print("\n## One request in-process: the request path's own cost (httpx.ASGITransport)\n")
        names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
        reads, searches = (100, 40) if o.checks < 300 else (500, 200)
        rows = [row for b in backends for row in request_overhead.run(b, names[b], reads, searches)]
        print(table(request_overhead.HEADERS, rows))
        print(f"\n{' '.join((request_overhead.__doc__ or '').split('`python -m')[0].split())}")

    if not o.url:
        print("\n## Outbox delivery to a local peer (flow JGZ dossier)\n")
        names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
        rows = [row for b in backends for row in outbox.run(b, names[b], o.outbox)]
        print(table(outbox.HEADERS, rows))
        print(f"\n{' '.join((outbox.__doc__ or '').split())}")

    if not o.url:
        print(f"\n## The monitoring's measures over a generated region ({o.measures:,} clients), one year\n")
        names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
        rows = [row for b in backends for row in measures.run(b, names[b], o.measures)]
        print(table(measures.HEADERS, rows))
        print(f"\n{' '.join((measures.__doc__ or '').split('python -m')[0].split())}")

    took = time.perf_counter() - started
    print(f"\n_Run took {took:.0f} s; load average (1 min) at the end: {load_average()}._")
    return 1 if failed or floor_failed else 0
