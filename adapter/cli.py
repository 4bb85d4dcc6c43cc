"""`voorzorg-adapter`: serve the FHIR API, decide a referral from a file, migrate the store, deliver and
mend the outbox (`worker`, `outbox`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

from adapter.config import Settings
from adapter.fhir.outcome import FhirError, operation_outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voorzorg-adapter", description="VoorZorg FHIR R4 adapter")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the FHIR REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--insecure-dev-no-auth",
        action="store_true",
        help="DEVELOPMENT ONLY: accept requests without a token, as the JGZ organisation with every right",
    )
    token = sub.add_parser("token", help="mint a bearer token of the embedded issuer (local use and tests)")
    token.add_argument(
        "--client", required=True, help="client id (a registered client supplies role and organisation)"
    )
    token.add_argument(
        "--scope", required=True, help='SMART scopes, e.g. "system/*.rs system/ServiceRequest.c"'
    )
    token.add_argument(
        "--role", help="jgz, obstetric, consult, ozks or privacy-officer (unregistered clients)"
    )
    token.add_argument(
        "--organization", help='"system|value", e.g. "http://fhir.nl/fhir/NamingSystem/ura|00000000"'
    )
    token.add_argument("--lifetime", type=int, default=3600, help="seconds (default 3600)")
    audit = sub.add_parser("audit", help="the NEN 7513 audit log")
    audit.add_argument("action", choices=["verify"], help="verify: check the hash chain of every record")
    check = sub.add_parser("check-eligibility", help="decide a referral Bundle (JSON file, - for stdin)")
    check.add_argument("file")
    sub.add_parser("migrate", help="bring the database schema to the newest version")
    careplans = sub.add_parser("careplans", help="care plan housekeeping (schedule daily, e.g. from cron)")
    careplans.add_argument(
        "action", choices=["complete-due"], help="complete-due: complete plans whose period has ended"
    )
    careplans.add_argument("--date", help="as on this day (YYYY-MM-DD; default today)")
    worker = sub.add_parser("worker", help="deliver the outbox to the peers (a process of its own)")
    worker.add_argument("--once", action="store_true", help="deliver what is due now, then stop")
    outbox = sub.add_parser("outbox", help="watch and mend the outbox of messages to peers")
    outbox.add_argument("action", choices=["list", "retry", "purge-delivered"])
    outbox.add_argument("ids", nargs="*", type=int, help="retry: only these ids (default: every dead one)")
    outbox.add_argument(
        "--status", choices=["pending", "delivered", "dead", "superseded"], help="list: only these"
    )
    outbox.add_argument("--peer", help="list: only messages to this peer")
    outbox.add_argument("--limit", type=int, default=100, help="list: at most this many (default 100)")
    outbox.add_argument(
        "--older-than", type=float, default=0.0, help="purge-delivered: seconds since delivery (default 0)"
    )
    jwks = sub.add_parser("peer-jwks", help="print the public JWKS a peer registers for our assertions")
    jwks.add_argument("peer", help="a peer name in VOORZORG_PEERS_FILE with auth smart-backend")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    settings = Settings.from_env()

    if args.command == "serve":
        if args.insecure_dev_no_auth:
            settings = replace(settings, insecure_no_auth=True)
        return _serve(settings, args.host, args.port)
    if args.command == "token":
        return _token(settings, args)
    if args.command == "audit":
        return _audit_verify(settings)
    if args.command == "check-eligibility":
        return _check(settings, args.file)
    if args.command == "careplans":
        return _complete_due(settings, args.date)
    if args.command in ("worker", "outbox", "peer-jwks"):
        from adapter.exchange import cli as exchange_cli

        return exchange_cli.run(settings, args)
    if args.command == "migrate":
        from adapter.store.engine import Store

        Store(settings.effective_database_url).migrate()
        print("schema up to date")
    return 0


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from adapter.api.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.insecure_no_auth:
        banner = "!" * 78
        for line in (
            banner,
            "AUTHENTICATION IS OFF (--insecure-dev-no-auth): every request acts as the JGZ",
            "organisation with every right. Never run this with real client data.",
            banner,
        ):
            logging.getLogger("voorzorg").warning(line)
    app = create_app(settings)
    logging.getLogger("voorzorg").info(
        "serving FHIR R4 on http://%s:%d (store: %s)",
        host,
        port,
        "SQLite" if settings.effective_database_url.startswith("sqlite") else "PostgreSQL",
    )
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from adapter.security.clients import load_clients
    from adapter.security.principal import known_roles
    from adapter.security.tokens import IssuerKey, mint

    registered = load_clients(settings.effective_clients_file).get(args.client)
    role = args.role or (registered.role if registered else None)
    organization = args.organization or (registered.organization if registered else None)
    if role not in known_roles():
        print(
            f"--role is required for an unregistered client; one of: {', '.join(known_roles())}",
            file=sys.stderr,
        )
        return 2
    print(
        mint(
            IssuerKey(settings.issuer_key_path),
            issuer=settings.issuer,
            audience=settings.effective_audience,
            client_id=args.client,
            scope=args.scope,
            role=role,
            organization=organization,
            lifetime=args.lifetime,
        )
    )
    return 0


def _audit_verify(settings: Settings) -> int:
    from adapter.composition import compose

    count, problems = compose(settings).audit.verify()
    for p in problems:
        print(f"BROKEN: {p}")
    print(
        f"{count} audit records checked: "
        + ("chain intact" if not problems else f"{len(problems)} problem(s)")
    )
    return 1 if problems else 0


def _complete_due(settings: Settings, on: str | None) -> int:
    from datetime import date

    from adapter.composition import compose
    from adapter.workflows.plans import complete_due

    adapter = compose(settings)
    completed = complete_due(
        adapter.operator("careplans complete-due"), date.fromisoformat(on) if on else date.today()
    )
    print(f"{len(completed)} care plan(s) completed")
    return 0


def _check(settings: Settings, file: str) -> int:
    from adapter.domain.facts import Deployment
    from adapter.fhir.jsonbody import parse_json
    from adapter.mapping.decision_out import to_parameters
    from adapter.workflows.intake import check_eligibility, referral_bundle

    raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    try:
        bundle = parse_json(raw, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
        decision = check_eligibility(referral_bundle(bundle), Deployment(settings.trained_modules))
    except FhirError as e:
        print(json.dumps(operation_outcome(e.issues), indent=2, ensure_ascii=False))
        return 2
    print(json.dumps(to_parameters(decision), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
