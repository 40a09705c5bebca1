"""The registry of batch operations: one module per type, one line here each."""
from batches.operations.base import BatchOperation
from batches.operations.historic_instance_deletion import HistoricInstanceDeletion
from batches.operations.instance_deletion import InstanceDeletion
from batches.operations.instance_migration import InstanceMigration
from batches.operations.instance_modification import InstanceModification
from batches.operations.instance_restart import InstanceRestart
from batches.operations.set_job_retries import SetJobRetries, SetJobRetriesByProcess
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
    ]
}

# The operation that executes each batch type.
REGISTRY: dict[str, BatchOperation] = {}
for _operation in ENDPOINTS.values():
    REGISTRY.setdefault(_operation.type, _operation)


def operation_for(batch_type: str) -> BatchOperation:
    return REGISTRY[batch_type]
