"""Checking the audit chain (`voorzorg-adapter audit verify`), and the checkpoints that pin it.

The walk checks every record in order: the numbering has no gap, each record links to its predecessor's
digest, its digest is right — HMAC with the key it names (the ring must hold that key), or, for records
made before the chain was keyed, plain SHA-256 — and the per-client index agrees with the records.
Unkeyed records are accepted only at the start of the log, vouched for by the keyed seal that follows
them (`adapter.security.audit.seal_unkeyed`): records stripped of their key and recomputed as unkeyed
show up. Then the head table must point at the last record.

A checkpoint (`make_checkpoint`) is the head (record number and digest) signed with the current key, made
to be kept outside the database: a file sent elsewhere, or a peer. The log must still hold that record
with that digest: history rewritten or cut back to before the checkpoint shows, even by someone who
holds the key.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.fhir.dates import now_instant
from adapter.security.audit import GENESIS, _hash, _patients, keys_of, sealed_count
from adapter.security.audit_keys import AuditKeys
from adapter.store.audit_chain import ChainRow
from adapter.store.session import Session

CHECKPOINT_KIND = "voorzorg-audit-checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint as read back: where it came from (for the report), and what it says."""

    source: str
    content: dict[str, Any]


@dataclass
class _Walk:
    keys: AuditKeys | None
    indexed: dict[int, set[str]]
    problems: list[str] = field(default_factory=list)
    prev: str = GENESIS
    expected: int = 1
    count: int = 0
    unkeyed: list[int] = field(default_factory=list)  # unkeyed records no seal vouched for (yet)
    first_keyed: int | None = None
    late_unkeyed: list[int] = field(default_factory=list)  # unkeyed records after a keyed one
    unknown_keys: dict[str, list[int]] = field(default_factory=dict)

    def step(self, row: ChainRow) -> None:
        self.count += 1
        if row.seq != self.expected:
            self.problems.append(f"record {self.expected} is missing (next is {row.seq})")
        if row.prev_hash != self.prev:
            self.problems.append(f"record {row.seq} does not link to its predecessor")
        if row.key_id is None:
            self._unkeyed(row)
        else:
            self._keyed(row)
        if self.indexed.pop(row.seq, set()) != set(_patients(json.loads(row.content))):
            self.problems.append(f"the client index of record {row.seq} does not match the record")
        self.prev, self.expected = row.hash, row.seq + 1

    def _unkeyed(self, row: ChainRow) -> None:
        if _hash(row.prev_hash, row.content) != row.hash:
            self.problems.append(f"record {row.seq} was changed after it was written")
        (self.late_unkeyed if self.first_keyed is not None else self.unkeyed).append(row.seq)

    def _keyed(self, row: ChainRow) -> None:
        assert row.key_id is not None
        ok = self.keys.matches(row.key_id, row.prev_hash + row.content, row.hash) if self.keys else None
        if ok is None:
            self.unknown_keys.setdefault(row.key_id, []).append(row.seq)
        elif not ok:
            self.problems.append(f"record {row.seq} was changed after it was written")
        if self.first_keyed is None:
            self.first_keyed = row.seq
            if self.unkeyed and sealed_count(json.loads(row.content)) == row.seq - 1 == len(self.unkeyed):
                self.unkeyed = []  # the seal vouches for them

    def finish(self, s: Session) -> None:
        if self.unkeyed and self.keys is not None:
            self.problems.append(
                f"records {_span(self.unkeyed)} have no key and no keyed seal vouches for them"
                " (rewritten by someone without the key?)"
            )
        if self.late_unkeyed:
            self.problems.append(
                f"records {_span(self.late_unkeyed)} have no key, though record {self.first_keyed} before"
                " them has one (rewritten by someone without the key?)"
            )
        for kid, seqs in self.unknown_keys.items():
            self.problems.append(
                f"records {_span(seqs)} are keyed with key {kid}, which the key ring does not hold"
                " (VOORZORG_AUDIT_KEY, VOORZORG_AUDIT_KEY_FILE or the data directory's audit-key)"
            )
        self.problems += [
            f"the client index names record {seq}, which does not exist" for seq in sorted(self.indexed)
        ]
        head = s.audit.recorded_head()
        if head is not None and (head[0] != self.expected - 1 or head[1] != self.prev):
            self.problems.append(
                f"the chain's head is record {head[0]}, but the log ends at record {self.expected - 1}"
            )
        if head is None and self.count:
            self.problems.append("the chain's head is missing")


def _span(seqs: list[int]) -> str:
    return f"{seqs[0]}-{seqs[-1]}" if len(seqs) > 1 else str(seqs[0])


def verify_chain(s: Session, checkpoints: Sequence[Checkpoint] = ()) -> tuple[int, list[str]]:
    """(records checked, problems), the chain and then each checkpoint."""
    walk = _Walk(keys_of(s), s.audit.patient_index())
    for row in s.audit.rows():
        walk.step(row)
    walk.finish(s)
    for checkpoint in checkpoints:
        walk.problems += check_checkpoint(s, checkpoint, last=walk.expected - 1)
    return walk.count, walk.problems


# --- checkpoints -----------------------------------------------------------------------------------
def _signed_part(content: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in content.items() if k != "mac"}, separators=(",", ":"), sort_keys=True)


def make_checkpoint(s: Session, observer: str) -> dict[str, Any]:
    """The head of the chain, signed with the current key."""
    keys = keys_of(s)
    if keys is None:
        raise ValueError("the audit log has no key: a checkpoint cannot be signed")
    head = s.audit.recorded_head() or (0, GENESIS)
    content: dict[str, Any] = {
        "kind": CHECKPOINT_KIND,
        "observer": observer,
        "seq": head[0],
        "hash": head[1],
        "made": now_instant(),
        "key": keys.current,
    }
    content["mac"] = keys.sign(_signed_part(content))[1]
    return content


def check_checkpoint(s: Session, checkpoint: Checkpoint, last: int) -> list[str]:
    """What is wrong between the log and one checkpoint (nothing: an empty list)."""
    c, name = checkpoint.content, f"checkpoint {checkpoint.source}"
    problem = _signature_problem(s, c)
    if problem:
        return [f"{name} {problem}"]
    seq, digest = int(c["seq"]), str(c["hash"])
    found = s.audit.digest_at(seq) if seq else GENESIS
    if found is None:
        return [f"{name} vouches for record {seq}, but the log ends at record {last}"]
    if found != digest:
        return [f"record {seq} is not the record {name} vouches for: the log was rewritten up to it"]
    return []


def _signature_problem(s: Session, c: dict[str, Any]) -> str | None:
    try:
        int(c["seq"]), str(c["hash"])
        kid, mac = str(c["key"]), str(c["mac"])
    except (KeyError, TypeError, ValueError):
        return "is not a checkpoint of an audit log"
    keys = keys_of(s)
    signed = keys.matches(kid, _signed_part(c), mac) if keys is not None else None
    if signed is None:
        return f"is signed with key {kid}, which the key ring does not hold"
    if not signed or c.get("kind") != CHECKPOINT_KIND:
        return "does not carry a valid signature (altered?)"
    return None


def read_checkpoints(paths: Iterable[Path]) -> list[Checkpoint]:
    """Checkpoint files as `Checkpoint`s (a file that is not JSON is reported by the check, by name)."""
    out: list[Checkpoint] = []
    for path in paths:
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            content = {}
        out.append(Checkpoint(path.name, content if isinstance(content, dict) else {}))
    return out
