"""correlate-message: deliver a message to many instances (POST /process-instance/message-async, Camunda 7.20+).

Camunda's CorrelateAllMessageBatchCmd and MessageCorrelationBatchJobHandler: each instance gets the
message as a correlate-all restricted to its own waiting executions (no message start events). An
instance that waits for no such message is no error there (the command returns no result): here it
is a SKIPPED item with that reason, like a suspended instance (Camunda correlates to active executions
only) and one that no longer runs.
"""
from django.db.models import QuerySet
from rest_framework import serializers

from batches.operations.base import (
    NOT_RUNNING_SKIPPED, BatchOperation, InstanceQueries, Selection, id_list, ineligible, instance_selection, running_among,
)
from batches.operations.wizard import VARIABLES, Field, WizardSpec
from engine.errors import BadUserRequest
from engine.models import ProcessInstance
from engine.services.messages import instances_correlate, subscribed_instances
from engine.variables import parse_typed_variables

# Camunda's messages: CorrelateAllMessageBatchCmd (ensureAtLeastOneNotNull, ensureNotEmpty) and the
# REST resource ("Cannot set variables: …").
NO_SELECTOR = "No process instances found."
EMPTY = "Process instance ids cannot be empty: process instance ids is empty"
SUSPENDED_SKIPPED = ("is suspended and will be skipped", "are suspended and will be skipped")
NOT_WAITING_SKIPPED = (
    "does not wait for this message and will be skipped", "do not wait for this message and will be skipped",
)


class MessageCorrelationSerializer(InstanceQueries):
    # Camunda would create a batch for a null name and correlate any message; a name is required here.
    messageName = serializers.CharField(max_length=255, allow_blank=False)
    processInstanceIds = id_list()
    variables = serializers.DictField(required=False, allow_null=True)

    def validate_variables(self, value):
        try:
            return parse_typed_variables(value)
        except BadUserRequest as exc:
            raise serializers.ValidationError(f"Cannot set variables: {exc}") from exc

    def validate(self, attrs):
        selectors = ("processInstanceIds", "processInstanceQuery", "historicProcessInstanceQuery")
        if all(attrs.get(name) is None for name in selectors):
            raise serializers.ValidationError(NO_SELECTOR)
        attrs["variables"] = attrs.get("variables") or {}
        return attrs


class MessageCorrelation(BatchOperation):
    type = "correlate-message"
    path = "process-instance/message-async"
    label = "Correlate a message to process instances"
    permission_codename = "create_correlate_message"
    permission_name = "Can create batches that correlate a message to process instances"
    serializer_class = MessageCorrelationSerializer
    target_model = ProcessInstance
    empty_message = EMPTY
    # Locking, subscriptions, variables and the tokens' removal are set-based per chunk; each
    # instance then walks on from the activity the message continues (not benchmarked yet).
    invocations_per_job = 500
    wizard = WizardSpec(
        key="correlate",
        title="Correlate a message",
        verb="correlate a message to",
        scope="runtime",
        notice="Each selected instance receives the message at every execution waiting for it (receive tasks, "
        "message catch events, message boundary events); instances that wait for no such message are skipped.",
        fields=(
            Field("messageName", "Message name", max_length=255, required="Enter the name of the message.", hint="The name of the bpmn:message the instances wait for."),
            Field("variables", "Variables", VARIABLES, hint="Optional: process variables the message sets on each instance it reaches."),
        ),
    )

    def selection(self, data: dict, user) -> Selection:
        return instance_selection(data, user)

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        running = running_among(targets, user)
        suspended = running.filter(suspended=True).count()
        waiting = subscribed_instances(running, data["messageName"]).count()
        total_running = running.count()
        return [
            *ineligible(targets.count() - total_running, NOT_RUNNING_SKIPPED),
            *ineligible(suspended, SUSPENDED_SKIPPED),
            *ineligible(total_running - suspended - waiting, NOT_WAITING_SKIPPED),
        ]

    def configuration(self, data: dict) -> dict:
        return {"messageName": data["messageName"], "variables": data["variables"]}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        # Camunda's CorrelateAllMessageBatchCmd.writeUserOperationLog.
        return "CorrelateMessage", "ProcessInstance", {
            "messageName": (None, data["messageName"]),
            "nrOfInstances": (None, total),
            "nrOfVariables": (None, len(data["variables"])),
            "async": (None, True),
        }

    def apply(self, ids, configuration):
        return instances_correlate(
            instance_ids=ids, message_name=configuration["messageName"], variables=configuration.get("variables") or {},
        )
