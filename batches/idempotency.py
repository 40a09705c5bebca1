"""Idempotent batch creation: the same Idempotency-Key from the same user answers the first batch.

The key is unique per create_user_id in HistoricBatch (a database constraint), so two concurrent
requests with one key create one batch: the loser's insert fails and it answers the winner's batch.
"""
from __future__ import annotations

from collections.abc import Callable

from django.db import IntegrityError

from batches.models import Batch, HistoricBatch
from engine.errors import BadUserRequest

HEADER = "Idempotency-Key"
MAX_KEY = 255


def key_invalid() -> str:
    return f"{HEADER}: must be 1 to {MAX_KEY} printable characters"


def key_other_type(key: str, batch_type: str) -> str:
    return f"{HEADER}: '{key}' was already used for a {batch_type} batch; use a new key for another operation"


def idempotency_key_parse(raw: str | None) -> str | None:
    """The header's value (None when absent); a 400 naming the header when it is empty or too long."""
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise BadUserRequest(key_invalid())
    return key


def batch_for_key(user, key: str | None, batch_type: str) -> Batch | HistoricBatch | None:
    """The batch this user already created with key: the running one, else its history."""
    if key is None:
        return None
    historic = HistoricBatch.objects.filter(create_user_id=user.get_username(), idempotency_key=key).first()
    if historic is None:
        return None
    if historic.type != batch_type:
        raise BadUserRequest(key_other_type(key, historic.type))
    return Batch.objects.filter(id=historic.id).first() or historic


def batch_create_once(
    *, user, key: str | None, batch_type: str, create: Callable[[], Batch]
) -> tuple[Batch | HistoricBatch, bool]:
    """(batch, created): the first batch for key, or create() (which stores key) when there is none."""
    existing = batch_for_key(user, key, batch_type)
    if existing is not None:
        return existing, False
    try:
        return create(), True
    except IntegrityError:
        # A concurrent request with the same key committed first (create() rolled back its own writes).
        existing = batch_for_key(user, key, batch_type)
        if existing is None:
            raise
        return existing, False
