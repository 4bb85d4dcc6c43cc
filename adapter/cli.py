"""`voorzorg-adapter`: serve the FHIR API, decide a referral from a file, migrate the store."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from adapter.config import Settings
from adapter.fhir.outcome import FhirError, operation_outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="voorzorg-adapter", description="VoorZorg FHIR R4 adapter")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the FHIR REST API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    check = sub.add_parser("check-eligibility", help="decide a referral Bundle (JSON file, - for stdin)")
    check.add_argument("file")
    sub.add_parser("migrate", help="bring the database schema to the newest version")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()

    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "check-eligibility":
        return _check(settings, args.file)
    if args.command == "migrate":
        from adapter.store.repository import Store

        Store(settings.effective_database_url).migrate()
        print("schema up to date")
    return 0


def _serve(settings: Settings, host: str, port: int) -> int:
    import uvicorn

    from adapter.api.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    logging.getLogger("voorzorg").info(
        "serving FHIR R4 on http://%s:%d (store: %s)",
        host,
        port,
        "SQLite" if settings.effective_database_url.startswith("sqlite") else "PostgreSQL",
    )
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=5)
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
