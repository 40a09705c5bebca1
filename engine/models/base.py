"""Shared helpers for engine rows: Camunda-style string ids."""
import uuid

ID_LENGTH = 64


def new_id() -> str:
    return str(uuid.uuid4())
