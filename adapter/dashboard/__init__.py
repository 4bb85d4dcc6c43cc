"""The VoorZorg coordinator's dashboard: the monitoring measures (domain page §8) for a person in a
browser, as server-rendered HTML with SVG charts drawn on the server.

- `charts`: MeasureReports (R4 JSON) -> charts with their numbers (pure; matplotlib's SVG backend).
- `users`: local users of the default set-up (`voorzorg-adapter user add`), Argon2id password hashes.
- `sessions`: server-side browser sessions with an idle timeout, and their CSRF tokens.
- `oidc`: login at the organisation's identity provider (authorization code + PKCE S256).
The routes are in `adapter.api.dashboard`.
"""
