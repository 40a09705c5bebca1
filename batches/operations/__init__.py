"""The registry of batch operations: one module per type, one line here each.

Adding a batch type:

1. A module in batches/operations/ with a BatchOperation subclass declaring: ``type`` (Camunda's
   batch type), ``path`` (the creation endpoint under /engine-rest/; ``<str:name>`` parts join the
   payload under that name), ``label``, ``permission_codename`` and ``permission_name``,
   ``serializer_class`` (the one schema of the REST call and the wizard), ``target_model``,
   ``empty_message``; and its behaviour: ``selection``, ``eligibility`` (what the confirm page warns
   about), ``configuration``, ``operation_log``, ``apply`` (idempotent, set-based where it can be).
   Optionally ``invocations_per_job`` / ``jobs_per_seed`` (its batch sizes) and ``wizard``: a
   batches.operations.wizard.WizardSpec (title, verb, scope, notice, unit, destructive, and its
   fields by kind: text, checkbox, integer, datetime, radio, select, or the shared "instructions"
   and "migration-plan" editors).
2. One line in the list below.
3. A test file, tests/batches/test_<type>.py (REST contract, items, a real-cluster run), and a walk
   through the wizard in tests/browser/ if it declares one.

Derived from the declaration, with nothing else to edit: the REST route (batches/rest/urls.py), the
permission (created after migrate by batches/apps.py), the BATCH_JOBS_PER_SEED_<TYPE> and
BATCH_INVOCATIONS_PER_JOB_<TYPE> overrides (cockpit/settings.py reads them by pattern), the wizard's
operation list, form, payload, error placement and confirm page (REST path and body), and the
execution jobs (batches/execution.py finds the operation by type).
"""
from batches.operations.base import BatchOperation
from batches.operations.external_task_retries import SetExternalTaskRetries
from batches.operations.historic_instance_deletion import HistoricInstanceDeletion
from batches.operations.instance_deletion import InstanceDeletion, InstanceDeletionByHistoricQuery
from batches.operations.instance_migration import InstanceMigration
from batches.operations.instance_modification import InstanceModification, InstanceModificationAsync
from batches.operations.instance_restart import InstanceRestart
from batches.operations.message_correlation import MessageCorrelation
from batches.operations.removal_time import BatchSetRemovalTime, ProcessSetRemovalTime
from batches.operations.set_job_retries import SetJobRetries, SetJobRetriesByHistoricQuery, SetJobRetriesByProcess
from batches.operations.set_variables import SetVariables
from batches.operations.suspension import Suspension

# Every creation endpoint, by REST path (under /engine-rest/).
ENDPOINTS: dict[str, BatchOperation] = {
    op.path: op
    for op in [
        InstanceDeletion(),
        HistoricInstanceDeletion(),
        SetJobRetries(),
        SetJobRetriesByProcess(),
        InstanceModification(),
        Suspension(),
        InstanceMigration(),
        InstanceRestart(),
        SetExternalTaskRetries(),
        InstanceDeletionByHistoricQuery(),
        SetJobRetriesByHistoricQuery(),
        InstanceModificationAsync(),
        MessageCorrelation(),
        SetVariables(),
        ProcessSetRemovalTime(),
        BatchSetRemovalTime(),
    ]
}

# The operation that executes each batch type.
REGISTRY: dict[str, BatchOperation] = {}
for _operation in ENDPOINTS.values():
    REGISTRY.setdefault(_operation.type, _operation)


def operation_for(batch_type: str) -> BatchOperation:
    return REGISTRY[batch_type]
