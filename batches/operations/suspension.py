"""instance-update-suspension-state: suspend or activate instances (POST /process-instance/suspended-async)."""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED, BatchOperation, InstanceQueries, Selection, id_list, ineligible, instance_selection, running_among,
)
from batches.operations.wizard import RADIO, Field, WizardSpec
from engine.models import ProcessInstance
from engine.services.lifecycle import instances_set_suspended

NO_SELECTOR = (
    "Either processInstanceIds, processInstanceQuery or historicProcessInstanceQuery should be set to update "
    "the suspension state."
)
ALREADY_SUSPENDED = ("is already suspended (nothing to change)", "are already suspended (nothing to change)")
ALREADY_ACTIVE = ("is already active (nothing to change)", "are already active (nothing to change)")


class SuspensionSerializer(InstanceQueries):
    processInstanceIds = id_list()
    # A primitive boolean in Camunda's DTO: missing or null means false, i.e. activate (research §8).
    suspended = serializers.BooleanField(required=False, allow_null=True, default=False)

    def validate(self, attrs):
        attrs["suspended"] = bool(attrs.get("suspended"))
        selectors = ("processInstanceIds", "processInstanceQuery", "historicProcessInstanceQuery")
        if all(attrs.get(name) is None for name in selectors):
            raise serializers.ValidationError(NO_SELECTOR)
        return attrs


class Suspension(BatchOperation):
    wizard = WizardSpec(
        key="suspend",
        title="Suspend or activate process instances",
        verb="change the suspension state of",
        scope="runtime",
        notice="Suspended instances make no progress and their jobs do not run until they are activated.",
        fields=(
            Field(
                "suspended", "Suspension state", RADIO, choices=(("true", "Suspend", True), ("false", "Activate", False)),
                required="Choose whether to suspend or to activate.",
            ),
        ),
    )
    type = "instance-update-suspension-state"
    path = "process-instance/suspended-async"
    label = "Suspend or activate process instances"
    permission_codename = "create_instance_update_suspension_state"
    permission_name = "Can create batches that suspend or activate instances"
    serializer_class = SuspensionSerializer
    target_model = ProcessInstance
    empty_message = "processInstanceIds is empty"

    def selection(self, data: dict, user) -> Selection:
        return instance_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # instances_set_suspended skips what does not run and sets the state again on the others.
        running = running_among(targets, user)
        already = running.filter(suspended=data["suspended"]).count()
        return [
            *ineligible(targets.count() - running.count(), NOT_RUNNING_SKIPPED),
            *ineligible(already, ALREADY_SUSPENDED if data["suspended"] else ALREADY_ACTIVE),
        ]

    def configuration(self, data: dict) -> dict:
        return {"suspended": data["suspended"]}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # Camunda logs a suspension batch as SuspendJob/ActivateJob on ProcessInstance (sic:
        # AbstractUpdateProcessInstancesSuspendStateCmd), with these two properties only.
        return ("SuspendJob" if data["suspended"] else "ActivateJob"), "ProcessInstance", {
            "nrOfInstances": (None, total),
            "async": (None, True),
        }

    def apply(self, ids, configuration):
        return instances_set_suspended(instance_ids=ids, suspended=configuration["suspended"])
