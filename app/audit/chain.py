"""The hash chain of the audit trail: each entry's `entry_hash` is the SHA-256 of a canonical serialisation of its
content, `previous_hash` (the entry_hash of the entry before it; zeros for the first) included. Editing, deleting,
inserting or reordering entries breaks the chain at the first one touched, which `verify` names.

An attacker who can write to the database and knows this algorithm could rebuild the chain after the entry they
change: `verify` prints the head's hash so that it can be kept elsewhere (the operator's log, a ticket), where a
later run is compared with it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC

from app.audit.models import AuditEvent

GENESIS_HASH = "0" * 64


def canonical(event: AuditEvent) -> bytes:
    """The bytes hashed: every column but entry_hash, as JSON with sorted keys and no spaces."""
    occurred_at = event.occurred_at.astimezone(UTC).isoformat(timespec="microseconds") if event.occurred_at else None
    content = {
        "id": event.id,
        "position": event.position,
        "occurred_at": occurred_at,
        "actor_id": event.actor_id,
        "organization_id": event.organization_id,
        "kind": event.kind,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "details": event.details,
        "address": event.address,
        "previous_hash": event.previous_hash,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


@dataclass(frozen=True)
class BadEntry:
    position: int
    id: int
    reason: str

    def __str__(self) -> str:
        return f"entry at position {self.position} (id {self.id}): {self.reason}"


@dataclass(frozen=True)
class Verification:
    """What `verify` found: the number of entries read, the head's hash, and the first bad entry (None: intact)."""

    entries: int
    head_hash: str
    bad: BadEntry | None

    @property
    def intact(self) -> bool:
        return self.bad is None


def verify(events: Iterable[AuditEvent]) -> Verification:
    """Walk the entries in `position` order (as given) and stop at the first that breaks the chain."""
    expected_position, previous, count = 1, GENESIS_HASH, 0
    for event in events:
        count += 1
        reason = None
        if event.position != expected_position:
            reason = f"position {event.position} follows position {expected_position - 1}: " + (
                "an entry is missing before it" if event.position > expected_position else "positions repeat"
            )
        elif event.previous_hash != previous:
            reason = (
                "its previous_hash is not the entry_hash of the entry before it "
                "(entries removed, inserted or reordered)"
            )
        elif entry_hash(event) != event.entry_hash:
            reason = "its content does not match its entry_hash (the entry was edited)"
        if reason:
            return Verification(count, previous, BadEntry(event.position, event.id, reason))
        expected_position, previous = expected_position + 1, event.entry_hash
    return Verification(count, previous, None)
