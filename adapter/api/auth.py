"""The embedded authorisation server: SMART discovery, its JWKS, and the Backend Services token endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

from adapter.api.context import caller_address, ctx
from adapter.security.audit import Access, build_event
from adapter.security.clients import ASSERTION_TYPE, verify_assertion
from adapter.security.principal import Principal
from adapter.security.scopes import parse_scopes
from adapter.security.tokens import ALLOWED_ALGORITHMS, AuthError, mint

router = APIRouter()


def _token_url(request: Request) -> str:
    return f"{ctx(request).settings.base_url}/auth/token"


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> JSONResponse:
    s = ctx(request).settings
    return JSONResponse(
        {
            "issuer": s.issuer,
            "jwks_uri": f"{s.base_url}/auth/jwks",
            "token_endpoint": _token_url(request),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALLOWED_ALGORITHMS),
            "scopes_supported": ["system/*.cruds", "system/*.rs"],
            "capabilities": ["client-confidential-asymmetric", "permission-v2"],
        }
    )


@router.get("/auth/jwks")
def jwks(request: Request) -> JSONResponse:
    return JSONResponse(ctx(request).issuer_key.jwks())


def _oauth_error(error: str, text: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": text}, status_code=status, headers={"Cache-Control": "no-store"}
    )


@router.post("/auth/token")
async def token(request: Request) -> JSONResponse:
    """client_credentials with a private_key_jwt client assertion (SMART Backend Services)."""
    c = ctx(request)
    form = await request.form()
    fields: dict[str, Any] = {k: str(v) for k, v in form.items()}
    client = None
    issued = False
    try:
        if fields.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type", "only client_credentials is supported")
        if fields.get("client_assertion_type") != ASSERTION_TYPE or not fields.get("client_assertion"):
            return _oauth_error(
                "invalid_client", f"a client_assertion of type {ASSERTION_TYPE} is required", 401
            )
        try:
            client = await run_in_threadpool(
                verify_assertion, fields["client_assertion"], _token_url(request), c.clients(), c.store
            )
        except AuthError as e:
            return _oauth_error("invalid_client", str(e), 401)
        granted = _grant(fields.get("scope", ""), client.scope)
        if not granted:
            return _oauth_error("invalid_scope", "none of the requested scopes is granted to this client")
        access_token = mint(
            c.issuer_key,
            issuer=c.settings.issuer,
            audience=c.settings.effective_audience,
            client_id=client.client_id,
            scope=granted,
            role=client.role,
            organization=client.organization,
            lifetime=c.settings.token_lifetime,
        )
        issued = True
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "bearer",
                "expires_in": c.settings.token_lifetime,
                "scope": granted,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
    finally:
        who = Principal(client.client_id, client.role, client.organization) if client else None
        c.audit.append(
            build_event(
                Access(interaction="token"),
                principal=who,
                outcome="success" if issued else "minor",
                outcome_text="token issued" if issued else "token refused",
                address=caller_address(request),
                path="POST /auth/token",
                observer=c.settings.base_url,
            )
        )


def _grant(requested: str, registered: str) -> str:
    """The requested scopes the client is registered for (a wildcard registration covers specific ones)."""
    allowed = parse_scopes(registered)
    out = []
    for raw in requested.split():
        for scope in parse_scopes(raw):
            types = [scope.resource_type]
            if all(any(a.allows(t, p) for a in allowed) for t in types for p in scope.permissions):
                out.append(raw)
    return " ".join(out)
