"""Retry what failed: a new batch of the same type and parameters on exactly the failed (or skipped) items."""
from __future__ import annotations

from batches.models import Batch, BatchItem, HistoricBatch
from batches.operations import ENDPOINTS, REGISTRY
from batches.operations.base import BatchOperation
from batches.options import OPTION_FIELDS
from batches.services import batch_create
from engine.errors import BadUserRequest, NotAuthorized
from engine.models import Job

RETRY_STATES = (BatchItem.FAILED, BatchItem.SKIPPED)
# Options of the retried batch taken over unless the retry gives them (notBefore is not: a retry runs now).
INHERITED_OPTIONS = ("reason", "maxItemsPerSecond", "window", "webhookUrl")


def retry_state_invalid(state: object) -> str:
    return f"state: must be one of {', '.join(RETRY_STATES)}, got {state!r}"


def nothing_to_retry(batch_id: str, state: str) -> str:
    return f"state: batch '{batch_id}' has no {state} items to retry"


def still_retrying(batch_id: str) -> str:
    return (
        f"state: batch '{batch_id}' still retries its failed jobs, which would apply its failed items a second "
        "time; retry them once its failed jobs have no retries left (or the batch has ended)"
    )


def still_retrying_jobs(historic: HistoricBatch) -> bool:
    """A running batch's failed execution job with retries left runs its failed items again itself."""
    return Job.objects.filter(
        job_definition_id=historic.batch_job_definition_id, retries__gt=0, exception_message__isnull=False
    ).exists()


def request_not_recorded(batch_id: str) -> str:
    return f"Batch '{batch_id}' was created before batches kept their request; it cannot be retried as a new batch"


def batch_retry_items(
    *,
    historic: HistoricBatch,
    state: str,
    user,
    options: dict | None = None,
    idempotency_key: str | None = None,
) -> Batch:
    """Create the retry batch (retry_of = historic) on the items of historic in state, in their order.

    options: our creation options (batches.options) for the new batch; the retried batch's reason,
    throttle, window and webhook (if the user may set one) are kept unless given here.
    """
    if state not in RETRY_STATES:
        raise BadUserRequest(retry_state_invalid(state))
    operation = operation_of(historic)
    if not user.has_perm(operation.permission):
        raise NotAuthorized(f"The user with id '{user.get_username()}' does not have permission '{operation.permission}'")
    items = BatchItem.objects.filter(batch_id=historic.id, state=state)  # copied in the database, never listed here
    if not items.exists():
        raise BadUserRequest(nothing_to_retry(historic.id, state))
    if state == BatchItem.FAILED and still_retrying_jobs(historic):
        raise BadUserRequest(still_retrying(historic.id))
    payload = {**historic.request["payload"], **_options(historic, user, options or {})}
    return batch_create(
        operation=operation,
        payload=payload,
        user=user,
        retried_items=items,
        idempotency_key=idempotency_key,
        retry_of=historic.id,
    )


def operation_of(historic: HistoricBatch) -> BatchOperation:
    """The endpoint that created the batch (several endpoints share a type and differ in payload)."""
    request = historic.request or {}
    if "payload" not in request or historic.type not in REGISTRY:
        raise BadUserRequest(request_not_recorded(historic.id))
    if request.get("path") in ENDPOINTS:
        return ENDPOINTS[request["path"]]
    # Recorded before the path was: the first endpoint of the type whose schema takes the payload.
    candidates = [op for op in ENDPOINTS.values() if op.type == historic.type]
    for operation in candidates:
        try:
            operation.validate(request["payload"])
        except Exception:  # a 400 or a serializer's ValidationError: not this endpoint's payload
            continue
        return operation
    return REGISTRY[historic.type]


def _options(historic: HistoricBatch, user, given: dict) -> dict:
    unknown = sorted(set(given) - set(OPTION_FIELDS))
    if unknown:
        raise BadUserRequest(f"{unknown[0]}: unknown option; accepted: state, {', '.join(OPTION_FIELDS)}")
    inherited = {k: v for k, v in (historic.request.get("options") or {}).items() if k in INHERITED_OPTIONS}
    if not user.has_perm("batches.configure_webhook"):
        inherited.pop("webhookUrl", None)  # kept only by someone who may set it; never a 403 for inheriting
    return {**inherited, **given}


def retries_of(historic: HistoricBatch, user) -> list[HistoricBatch]:
    """The batches that retried historic's items, oldest first (visible to user)."""
    from engine.selectors import visible

    return list(visible(HistoricBatch, user).filter(retry_of_id=historic.id).order_by("start_time", "id"))
