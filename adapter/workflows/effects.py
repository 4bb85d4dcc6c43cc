"""What every change must also do: the one declared list of effects every unit of work runs.

A workflow changes resources (`s.put`, `s.delete`) and nothing else; after its work, inside the same
transaction and before commit, the store runs these steps in this order, whatever the entry point —
the HTTP API, a command (`voorzorg-adapter careplans complete-due`), the worker:

0. `FollowPath` — her programme (EpisodeOfCare voorzorg-programme) follows her referral: enrolment, the
   phases, the referral Task's businessStatus (`adapter.workflows.programme`);
1. `KeepOzksSummary` — the OZKS summary of every client the change touched agrees with her consents
   (written while she consents to sharing with the OZKS, deleted the moment she does not);
2. `QueueChanges` — what was written (the summary of step 1 included) becomes outbox rows for the
   configured peers, as `mappings/exchange.yaml` routes it; her consent gates what may go;
3. `RecordChange` — the NEN 7513 record of the change, naming whom the unit of work acts for.

Each step sees `session.written`; a unit of work that wrote nothing makes none of them do anything. A
step that raises rolls the whole unit of work back: a change never commits without its summary, its
messages and its audit record.
"""

from __future__ import annotations

from adapter.config import Settings
from adapter.exchange.runtime import Exchange
from adapter.security.audit import RecordChange
from adapter.store.engine import Effect
from adapter.workflows.programme import FollowPath
from adapter.workflows.sharing import KeepOzksSummary


def every_change(settings: Settings, exchange: Exchange) -> tuple[Effect, ...]:
    """The effects, in the order they run."""
    return (
        FollowPath(settings.organization),
        KeepOzksSummary(settings.organization),
        exchange.queue_changes(),
        RecordChange(settings.base_url, settings.organization),
    )
