"""instance-migration: move running instances to another definition version (POST /migration/executeAsync)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED,
    BatchOperation,
    Selection,
    check_query,
    definition_refs,
    id_list,
    ineligible,
    instance_selection,
    query_field,
    running_among,
)
from batches.operations.wizard import MIGRATION_PLAN, Field, WizardSpec, flags
from engine.errors import BadUserRequest, BadUserRequestException
from engine.models import ActivityInstance, ProcessDefinition, ProcessInstance
from engine.selectors import PROCESS_INSTANCE, visible
from engine.services.migration import MigrationPlan, instances_migrate, plan_check, plan_parse

# Camunda's MigrationBatchCmd / MigrateProcessInstanceCmd (research: migration_restart.md §1).
NO_PLAN = "Migration plan cannot be null: migration plan is null"
NO_SELECTION = "Process instance ids cannot empty: process instance ids is empty"  # sic
OTHER_DEFINITION_FAILS = (
    "belongs to another process definition and will fail", "belong to another process definition and will fail",
)
UNMAPPED_FAILS = (
    "has an active activity without migration instruction and will fail",
    "have an active activity without migration instruction and will fail",
)


class MigrationSerializer(serializers.Serializer):
    migrationPlan = serializers.DictField(required=False, allow_null=True)
    processInstanceIds = id_list()
    processInstanceQuery = query_field()
    skipCustomListeners = serializers.BooleanField(required=False, default=False)
    skipIoMappings = serializers.BooleanField(required=False, default=False)

    def validate_processInstanceQuery(self, value):
        return check_query(PROCESS_INSTANCE, "processInstanceQuery", value)


class InstanceMigration(BatchOperation):
    type = "instance-migration"
    path = "migration/executeAsync"
    label = "Migrate process instances"
    permission_codename = "create_instance_migration"
    permission_name = "Can create batches that migrate process instances to another version"
    serializer_class = MigrationSerializer
    target_model = ProcessInstance
    empty_message = NO_SELECTION
    wizard = WizardSpec(
        key="migrate",
        title="Migrate process instances",
        verb="migrate",
        scope="runtime",
        notice="Moves running instances of the chosen version to the target version; each token follows its "
        "activity's instruction. An instance with a token in an unmapped activity fails.",
        fields=(
            Field(
                "migrationPlan", "Target version", MIGRATION_PLAN,
                required="Choose the version to migrate to.",
            ),
            *flags("skipCustomListeners", "skipIoMappings"),
        ),
        version="",  # the search's version is the plan's source, not a payload field of its own
        version_required="Choose the process definition version to migrate from.",
        sync_path="migration/execute",
        sync_threshold_setting="MIGRATION_SYNC_THRESHOLD",
    )

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        data["plan"] = migration_plan(data.get("migrationPlan"), user)
        if not data.get("processInstanceIds") and data.get("processInstanceQuery") is None:
            raise BadUserRequestException(NO_SELECTION)
        return data

    def selection(self, data: dict, user) -> Selection:
        return instance_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        plan: MigrationPlan = data["plan"]
        running = running_among(targets, user)
        of_source = running.filter(process_definition_id=plan.source.id)
        unmapped = (
            plan.unmapped(ActivityInstance.objects.filter(process_instance__in=of_source.values("id")))
            .values("process_instance_id")
            .distinct()
            .count()
        )
        return [
            *ineligible(running.count() - of_source.count(), OTHER_DEFINITION_FAILS),
            *ineligible(unmapped, UNMAPPED_FAILS),
            *ineligible(targets.count() - running.count(), NOT_RUNNING_SKIPPED),
        ]

    def configuration(self, data: dict) -> dict:
        return {
            "migrationPlan": data["plan"].dto(),
            "skipCustomListeners": data["skipCustomListeners"],
            "skipIoMappings": data["skipIoMappings"],
        }

    def tenant_id(self, data: dict):
        return data["plan"].source.tenant_id

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        plan = data["plan"]
        return "Migrate", "ProcessInstance", migration_log_properties(plan, total, asynchronous=True)

    def operation_log_refs(self, data: dict) -> dict:
        return definition_refs(data["plan"].source)

    def apply(self, ids, configuration):
        plan = plan_parse(configuration["migrationPlan"], ProcessDefinition.objects.all())
        return instances_migrate(plan=plan, instance_ids=ids)


def migration_plan(raw: object, user) -> MigrationPlan:
    """The plan of an execution request, parsed and checked (400, or Camunda's validation exception)."""
    if raw is None:  # Camunda's REST layer dereferences it (a 500); its engine's message, as a 400
        raise BadUserRequest(NO_PLAN)
    plan = plan_parse(raw, visible(ProcessDefinition, user))
    plan_check(plan)
    return plan


def migration_log_properties(plan: MigrationPlan, total: int, *, asynchronous: bool) -> dict:
    # Camunda's AbstractMigrationCmd: nrOfSetVariables only when the plan sets variables.
    variables = {"nrOfSetVariables": (None, len(plan.variables))} if plan.variables else {}
    return {
        "processDefinitionId": (plan.source.id, plan.target.id),
        "nrOfInstances": (None, total),
        **variables,
        "async": (None, asynchronous),
    }
