"""Process variables as typed rows, at runtime and in history (Camunda's ACT_RU_VARIABLE / ACT_HI_VARINST)."""
from django.db import models

from engine.models.base import ID_LENGTH, new_id
from engine.models.runtime import ProcessInstance


class TypedValueColumns(models.Model):
    """One typed value in Camunda's columns, so queries compare by type in SQL.

    Integer, Short and Long fill long_value and double_value (a number query matches every
    numeric type, as Camunda's does); Double fills double_value; Boolean fills long_value with
    1/0; String, Date (UTC, Camunda's format, so text order is time order) and Json fill
    text_value. Null fills nothing.
    """

    name = models.CharField(max_length=255)
    type = models.CharField(max_length=16)
    text_value = models.TextField(null=True, blank=True)
    long_value = models.BigIntegerField(null=True, blank=True)
    double_value = models.FloatField(null=True, blank=True)

    class Meta:
        abstract = True


class VariableInstance(TypedValueColumns):
    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    process_instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="variable_rows")
    tenant_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["process_instance", "name"]
        constraints = [models.UniqueConstraint(fields=["process_instance", "name"], name="unique_variable_name")]
        indexes = [models.Index(fields=["name", "process_instance"], name="variable_name_idx")]

    def __str__(self) -> str:
        return f"{self.name}@{self.process_instance_id}"


class HistoricVariableInstance(TypedValueColumns):
    """The last value of a variable of a process instance, kept after the instance ends."""

    CREATED = "CREATED"
    DELETED = "DELETED"

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    process_instance_id = models.CharField(max_length=ID_LENGTH, db_index=True)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_key = models.CharField(max_length=255, null=True, blank=True)
    state = models.CharField(max_length=16, default=CREATED)
    create_time = models.DateTimeField()
    tenant_id = models.CharField(max_length=64, null=True, blank=True)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["process_instance_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["process_instance_id", "name"], name="unique_historic_variable_name")
        ]
        indexes = [models.Index(fields=["name", "process_instance_id"], name="hist_variable_name_idx")]

    def __str__(self) -> str:
        return f"{self.name}@{self.process_instance_id}"


class HistoricVariableUpdate(TypedValueColumns):
    """One write of a variable (Camunda's HistoricVariableUpdate in ACT_HI_DETAIL).

    `initial` marks the values an instance started with: restarting with `initialVariables`
    takes these, where a plain restart takes each variable's last value (HistoricVariableInstance).
    """

    id = models.CharField(max_length=ID_LENGTH, primary_key=True, default=new_id)
    variable_instance_id = models.CharField(max_length=ID_LENGTH)
    process_instance_id = models.CharField(max_length=ID_LENGTH)
    process_definition_id = models.CharField(max_length=255, null=True, blank=True)
    process_definition_key = models.CharField(max_length=255, null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    time = models.DateTimeField()
    initial = models.BooleanField(default=False)
    removal_time = models.DateTimeField(null=True, blank=True, db_index=True)
    tenant_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        ordering = ["time", "id"]
        indexes = [models.Index(fields=["process_instance_id", "initial"], name="hist_detail_instance_idx")]

    def __str__(self) -> str:
        return f"{self.name}@{self.process_instance_id} r{self.revision}"
