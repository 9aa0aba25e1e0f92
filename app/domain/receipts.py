"""Bid receipts: the exact content of an offer as received, and its SHA-256, for the bidder to keep."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal


def receipt_content(
    *,
    call_id: int,
    lot_id: int,
    supplier_siret: str,
    amount: Decimal,
    technical_note: str,
    environmental_note: str,
    delivery_distance_km: Decimal | None,
    submitted_at: datetime,
    documents: list[tuple[str, str]] = (),
    nonce: str | None = None,
) -> str:
    """A canonical JSON text (sorted keys, no spaces) of what was received, with the server time in UTC. A random
    `nonce` makes the hash, kept in clear, useless for guessing a sealed amount by trying every value."""
    payload = {
        "call_id": call_id,
        "lot_id": lot_id,
        "supplier_siret": supplier_siret,
        "amount_eur": f"{Decimal(amount):.2f}",
        "technical_note": technical_note or "",
        "environmental_note": environmental_note or "",
        "delivery_distance_km": None if delivery_distance_km is None else f"{Decimal(delivery_distance_km):.1f}",
        "submitted_at": submitted_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "documents": [{"filename": name, "sha256": digest} for name, digest in documents],
    }
    if nonce is not None:
        payload["nonce"] = nonce
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify(content: str, digest: str) -> bool:
    return sha256_hex(content) == digest
