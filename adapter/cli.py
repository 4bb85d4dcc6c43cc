"""`voorzorg-adapter`: serve the FHIR API, decide a referral from a file, migrate the store, deliver and
mend the outbox (`worker`, `outbox`), keep the care plans (`careplans complete-due`), check the audit log.

Every command that touches the database starts from the composition root (`adapter.composition`), so
a change made here has the same effects as over HTTP (OZKS summary, outbox rows, audit record). A new
command is a `Command`: its arguments and what it runs, added to `COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from adapter.composition import compose
from adapter.config import Settings
from adapter.exchange import cli as exchange_cli
from adapter.fhir.outcome import FhirError, operation_outcome

log = logging.getLogger("voorzorg")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Settings, argparse.Namespace], int]


def _no_arguments(_: argparse.ArgumentParser) -> None:
    return None


# --- serve ---------------------------------------------------------------------------------------
def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--insecure-dev-no-auth",
        action="store_true",
        help="DEVELOPMENT ONLY: accept requests without a token, as the JGZ organisation with every right",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the one port (default 1); one of them runs the in-process outbox worker",
    )


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from adapter.api.app import api
    from adapter.instance import record
    from adapter.serving import serve_settings, worker_environment

    settings = serve_settings(settings, args.host, args.port, args.insecure_dev_no_auth)
    if args.insecure_dev_no_auth:
        banner = "!" * 78
        for line in (
            banner,
            "AUTHENTICATION IS OFF (--insecure-dev-no-auth): every request acts as the JGZ",
            "organisation with every right. Never run this with real client data.",
            banner,
        ):
            log.warning(line)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = api(compose(settings))
    key = app.state.ctx.issuer_key  # made with the app, so `token` finds it
    record(settings)
    backend = "SQLite" if settings.effective_database_url.startswith("sqlite") else "PostgreSQL"
    log.info("serving FHIR R4 on http://%s:%d (store: %s)", args.host, args.port, backend)
    log.info(
        "base URL %s; embedded token issuer %s, key %s (kid %s)",
        settings.base_url,
        settings.issuer,
        settings.issuer_key_path.resolve(),
        key.kid,
    )
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the gate reads it only from
    # the proxies an operator lists (VOORZORG_TRUSTED_PROXIES, adapter/security/proxies.py).
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": "info",
        "timeout_keep_alive": 5,
        "proxy_headers": False,
        "access_log": False,  # it prints query strings (identifiers); the app logs each request without
    }
    if args.workers > 1:  # each process builds its own app (adapter.serving); this one only supervises
        app.state.ctx.adapter.store.dispose()
        worker_environment(args.host, args.port, args.insecure_dev_no_auth)
        log.info("starting %d server processes", args.workers)
        # a process builds its app in seconds, more on a busy machine: not taken for hung meanwhile
        uvicorn.run(
            "adapter.serving:worker_app",
            factory=True,
            workers=args.workers,
            timeout_worker_healthcheck=120,
            **options,
        )
    else:
        uvicorn.run(app, **options)
    return 0


# --- token ---------------------------------------------------------------------------------------
def _token_arguments(p: argparse.ArgumentParser) -> None:
    from adapter.security.principal import known_roles

    p.add_argument(
        "--client", required=True, help="client id (a registered client supplies role and organisation)"
    )
    p.add_argument("--scope", required=True, help='SMART scopes, e.g. "system/*.rs system/ServiceRequest.c"')
    p.add_argument("--role", help=f"{', '.join(known_roles())} (for a client not in clients.yaml)")
    p.add_argument(
        "--organization", help='"system|value", e.g. "http://fhir.nl/fhir/NamingSystem/ura|00000000"'
    )
    p.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    p.epilog = (
        "The token is signed with the embedded issuer's key in the data directory (VOORZORG_DATA_DIR, "
        "default ./data) for the server that directory belongs to: the base URL `serve` recorded there, "
        "unless VOORZORG_BASE_URL says otherwise. Which key and issuer were used goes to stderr."
    )


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.instance import as_served
    from adapter.security.clients import load_clients
    from adapter.security.principal import known_roles
    from adapter.security.tokens import IssuerKey, mint

    registered = load_clients(settings.effective_clients_file).get(args.client)
    role = args.role or (registered.role if registered else None)
    organization = args.organization or (registered.organization if registered else None)
    if role not in known_roles():
        print(
            f"token: --role is required for a client not in clients.yaml; one of: {', '.join(known_roles())}",
            file=sys.stderr,
        )
        return 2
    if args.lifetime > settings.max_token_lifetime:
        print(
            f"--lifetime {args.lifetime} exceeds VOORZORG_MAX_TOKEN_LIFETIME ({settings.max_token_lifetime}):"
            " the adapter would refuse the token",
            file=sys.stderr,
        )
        return 2
    settings, source = as_served(settings)
    key_path = settings.issuer_key_path.resolve()
    if not key_path.exists():
        print(
            f"token: no issuer key at {key_path}: `serve` makes it when it starts. Run this where the "
            "server runs, or set VOORZORG_DATA_DIR to its data directory.",
            file=sys.stderr,
        )
        return 2
    key = IssuerKey(key_path)
    token = mint(
        key,
        issuer=settings.issuer,
        audience=settings.effective_audience,
        client_id=args.client,
        scope=args.scope,
        role=role,
        organization=organization,
        lifetime=args.lifetime,
    )
    print(
        f"token: key {key_path} (kid {key.kid}), issuer {settings.issuer}, audience "
        f"{settings.effective_audience} (from {source}), expires in {args.lifetime} s",
        file=sys.stderr,
    )
    print(token)
    return 0


# --- audit, migrate, careplans, check-eligibility ------------------------------------------------
def _audit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action",
        choices=["verify", "checkpoint"],
        help="verify: check the keyed chain of every record, and the checkpoints; "
        "checkpoint: sign the chain's head, to keep outside the database",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="verify: also check against this checkpoint (besides those in the data directory)",
    )
    p.add_argument(
        "--out", metavar="FILE", help="checkpoint: write it here ('-': standard output) besides the data dir"
    )
    p.add_argument("--to", metavar="URL", help="checkpoint: also POST it (JSON) to this address")


def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.security.audit_verify import read_checkpoints

    adapter = compose(settings)
    if args.action == "checkpoint":
        return _checkpoint(settings, adapter.audit.checkpoint(settings.base_url), args)
    files = sorted(settings.audit_checkpoint_dir.glob("*.json")) + [Path(f) for f in args.checkpoint]
    count, problems = adapter.audit.verify(read_checkpoints(files))
    for p in problems:
        print(f"BROKEN: {p}")
    if files:
        print(f"{len(files)} checkpoint(s) checked")
    print(
        f"{count} audit records checked: "
        + ("chain intact" if not problems else f"{len(problems)} problem(s)")
    )
    return 1 if problems else 0


def _checkpoint(settings: Settings, checkpoint: dict[str, object], args: argparse.Namespace) -> int:
    text = json.dumps(checkpoint, indent=2) + "\n"
    settings.audit_checkpoint_dir.mkdir(parents=True, exist_ok=True)
    kept = settings.audit_checkpoint_dir / f"checkpoint-{checkpoint['seq']:0>10}.json"
    kept.write_text(text, encoding="utf-8")
    if args.out == "-":
        sys.stdout.write(text)
    elif args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    if args.to:
        import requests

        r = requests.post(args.to, data=text, headers={"Content-Type": "application/json"}, timeout=30)
        if r.status_code >= 300:
            print(f"the checkpoint was not accepted by {args.to}: HTTP {r.status_code}", file=sys.stderr)
            return 1
    print(f"checkpoint of record {checkpoint['seq']} written to {kept}", file=sys.stderr)
    return 0


def _migrate(settings: Settings, _: argparse.Namespace) -> int:
    compose(settings).close()  # composing migrates the schema
    print("schema up to date")
    return 0


def _careplans_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "action", choices=["complete-due"], help="complete-due: complete plans whose period has ended"
    )
    p.add_argument("--date", help="as on this day (YYYY-MM-DD; default today)")


def _careplans(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.workflows.plans import complete_due

    adapter = compose(settings)
    on = date.fromisoformat(args.date) if args.date else date.today()
    completed = complete_due(adapter.operator("careplans complete-due"), on)
    print(f"{len(completed)} care plan(s) completed")
    return 0


def _check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file")


def _check(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.domain.facts import Deployment
    from adapter.fhir.jsonbody import parse_json
    from adapter.mapping.decision_out import to_parameters
    from adapter.workflows.intake import check_eligibility, referral_bundle

    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        bundle = parse_json(raw, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
        decision = check_eligibility(referral_bundle(bundle), Deployment(settings.trained_modules))
    except FhirError as e:
        print(json.dumps(operation_outcome(e.issues), indent=2, ensure_ascii=False))
        return 2
    print(json.dumps(to_parameters(decision), indent=2, ensure_ascii=False))
    return 0


# --- user (the dashboard's local users) ----------------------------------------------------------
def _user_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add"], help="add: add a local dashboard user (or set a new password)")
    p.add_argument("login", help="the user name to log in with")
    p.add_argument("--name", required=True, help="the person's name, shown on the page and in the audit")
    p.add_argument(
        "--organization",
        required=True,
        help='"system|value", e.g. "http://fhir.nl/fhir/NamingSystem/ura|00000000"',
    )
    p.add_argument(
        "--role", default="jgz", help="access-policy role (default jgz; see operations.monitoring)"
    )
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else asked twice)",
    )
    p.epilog = (
        "Users are kept in VOORZORG_USERS_FILE (default <data dir>/users.yaml, mode 0600), Argon2id hashes."
    )


def _user(settings: Settings, args: argparse.Namespace) -> int:
    from getpass import getpass

    from adapter.dashboard.users import add_user
    from adapter.security.principal import known_roles

    if args.role not in known_roles():
        print(f"user: --role {args.role!r}; one of: {', '.join(known_roles())}", file=sys.stderr)
        return 2
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass("password: ")
        if getpass("again: ") != password:
            print("user: the passwords differ", file=sys.stderr)
            return 2
    if len(password) < 12:
        print("user: a password of at least 12 characters, please", file=sys.stderr)
        return 2
    path = settings.effective_users_file
    add_user(
        path, args.login, name=args.name, organization=args.organization, role=args.role, password=password
    )
    print(f"user {args.login} saved in {path}", file=sys.stderr)
    return 0


# --- report ----------------------------------------------------------------------------------------
def _report_arguments(p: argparse.ArgumentParser) -> None:
    from adapter.monitoring import MEASURE_IDS
    from adapter.monitoring.render import FORMATS

    p.add_argument("--period", required=True, help="a year (2026) or FIRST..LAST (2026-01-01..2026-06-30)")
    p.add_argument(
        "--measure", action="append", choices=MEASURE_IDS, help="one measure (repeat); default all"
    )
    p.add_argument("--audience", choices=("internal", "external"), help="default VOORZORG_REPORT_AUDIENCE")
    p.add_argument("--format", choices=FORMATS, default="json")
    p.add_argument("--output", type=Path, help="write here instead of stdout")
    p.add_argument("--store", action="store_true", help="also keep the MeasureReports in the store")
    p.add_argument(
        "--send",
        action="store_true",
        help="keep them and send them to the peer configured for MeasureReports (the regional "
        "registration, flow registration); external only",
    )
    p.add_argument("--progress", action="store_true", help="a progress bar on stderr even when not a tty")


def _report_audience(settings: Settings, args: argparse.Namespace) -> str:
    """The audience asked for; what is sent leaves the organisation, so `--send` is external."""
    if args.send and args.audience == "internal":
        raise ValueError("--send sends reports outside the organisation: --audience external only")
    return str(args.audience or ("external" if args.send else settings.report_audience))


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.monitoring import MEASURE_IDS
    from adapter.monitoring.render import parse_period, render
    from adapter.monitoring.reports import make_reports, report_peers

    try:
        start, end = parse_period(args.period)
        audience = _report_audience(settings, args)
    except (FhirError, ValueError) as e:
        why = e.issues[0].diagnostics if isinstance(e, FhirError) else str(e)
        print(f"voorzorg-adapter report: {why}", file=sys.stderr)
        return 2
    adapter = compose(settings)
    try:
        peers = report_peers(adapter.exchange)
        if args.send and not peers:
            print(
                "voorzorg-adapter report: --send: no peer is configured for MeasureReports "
                "(peer registration in VOORZORG_PEERS_FILE)",
                file=sys.stderr,
            )
            return 2
        reports = make_reports(
            adapter,
            tuple(args.measure or MEASURE_IDS),
            start,
            end,
            audience=audience,
            keep=args.store or args.send,
            progress=args.progress or sys.stderr.isatty(),
        )
    except FhirError as e:
        print(json.dumps(operation_outcome(e.issues)), file=sys.stderr)
        return 1
    finally:
        adapter.close()
    if args.send:
        print(
            f"{len(reports)} MeasureReports kept; what changed is queued for {', '.join(peers)}",
            file=sys.stderr,
        )
    text = render(reports, args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = (
    Command("serve", "run the FHIR REST API", _serve_arguments, _serve),
    Command(
        "token", "mint a bearer token of the embedded issuer (local use and tests)", _token_arguments, _token
    ),
    Command("audit", "the NEN 7513 audit log", _audit_arguments, _audit),
    Command(
        "check-eligibility", "decide a referral Bundle (JSON file, - for stdin)", _check_arguments, _check
    ),
    Command("migrate", "bring the database schema to the newest version", _no_arguments, _migrate),
    Command(
        "careplans",
        "care plan housekeeping (schedule daily, e.g. from cron)",
        _careplans_arguments,
        _careplans,
    ),
    Command("user", "local users of the coordinator's dashboard (/dashboard)", _user_arguments, _user),
    Command("report", "the monitoring's MeasureReports over a period", _report_arguments, _report),
    *(Command(*c) for c in exchange_cli.COMMANDS),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voorzorg-adapter", description="VoorZorg FHIR R4 adapter")
    sub = p.add_subparsers(dest="command", required=True)
    for c in COMMANDS:
        c.arguments(sub.add_parser(c.name, help=c.help))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.run(Settings.from_env(), args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # one line that says what went wrong, never a traceback
        print(f"voorzorg-adapter {command.name}: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(e: Exception) -> str:
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.strerror or type(e).__name__}: {e.filename}"
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else ""
    return first if isinstance(e, ValueError) and first else f"{type(e).__name__}: {first}"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
