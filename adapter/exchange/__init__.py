"""Exchange with peer FHIR servers: outbound client, transactional outbox, delivery worker, routing.

The pieces, each a small module:
- `peers`    — the peers (base URL, auth, timeouts) from `VOORZORG_PEERS_FILE`;
- `auth`     — bearer tokens from a peer's token endpoint (client credentials; SMART Backend Services);
- `client`   — `FhirClient`: requests with timeouts, backoff with jitter, Retry-After, no blind 4xx retry;
- `routing`  — which written resources go to which peer (`mappings/exchange.yaml`);
- `outbox`   — `enqueue(session, ...)` inside a unit of work; the `Store.write` hook (`install`);
               `Outbox` for workers and operators (claim, delivered, failed, list, retry, purge);
- `bundles`  — idempotent transaction Bundles (conditional update on identifiers, If-Match);
- `delivery` — how a message kind is delivered (`register_delivery`; built in: `transaction`);
- `worker`   — `Worker`: claims, delivers, retries, parks dead letters, audits every try;
- `feedback` — the referral Task's status to the practice that sent it (route `referral-sender`,
               delivery `task-update`: merged into the sender's Task);
- `notified_pull` — a sender's notification read: the referral fetched from the sender, for intake.

To send something new: either add a flow to `mappings/exchange.yaml` (writes of the listed types are
routed automatically; `consent`, `supersede` and `route` say when, how and where), or call
`outbox.enqueue` inside your `Store.write` work with a `kind` you registered with
`delivery.register_delivery`.
"""
