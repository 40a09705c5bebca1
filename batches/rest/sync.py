"""Migration plans and the synchronous forms of migration and restart (Camunda's REST contract).

POST /migration/generate and /migration/validate work on plans; POST /migration/execute and
/process-definition/{id}/restart apply the same validated payload as their -Async batch forms,
in one transaction: every instance moves, or none does (Camunda's behaviour).
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from rest_framework.request import Request
from rest_framework.response import Response

from batches.operations.instance_migration import InstanceMigration
from batches.operations.instance_restart import InstanceRestart, restart_log_properties
from batches.selection import selection_ids
from batches.sync import migration_execute
from engine.errors import BadUserRequest, EngineRefusal
from engine.models import ProcessDefinition
from engine.rest.base import CamundaView
from engine.rest.views import json_body
from engine.selectors import visible
from engine.services.migration import plan_generate, plan_parse, plan_report
from engine.services.oplog import operation_log_write
from engine.tenancy import visible_tenant_ids
from engine.variables import parse_typed_variables

MIGRATION = InstanceMigration()
RESTART = InstanceRestart()
GENERATE_FIELDS = {"sourceProcessDefinitionId", "targetProcessDefinitionId", "updateEventTriggers", "variables"}
PLAN = {"type": "object", "description": "Camunda's MigrationPlanDto"}


def too_many(async_path: str) -> str:
    return (
        f"The synchronous call acts on at most {settings.SYNC_MAX_INSTANCES} process instances "
        f"(SYNC_MAX_INSTANCES); use POST /{async_path} for more"
    )


class MigrationGenerate(CamundaView):
    """A plan mapping every activity whose id and kind both definitions share."""

    request_body = json_body(
        {
            "sourceProcessDefinitionId": {"type": "string"},
            "targetProcessDefinitionId": {"type": "string"},
            "updateEventTriggers": {"type": "boolean"},
            "variables": {"type": "object"},
        },
        ("sourceProcessDefinitionId", "targetProcessDefinitionId"),
    )

    def post(self, request: Request) -> Response:
        self.require(request, MIGRATION.permission)
        body = self.body(request)
        unknown = sorted(k for k, v in body.items() if k not in GENERATE_FIELDS and v is not None)
        if unknown:
            raise BadUserRequest(f"Unknown property '{unknown[0]}'")
        definitions = visible(ProcessDefinition, request.user)
        plan = plan_parse(
            {"sourceProcessDefinitionId": body.get("sourceProcessDefinitionId"),
             "targetProcessDefinitionId": body.get("targetProcessDefinitionId")},
            definitions,
            where="request",
        )
        trigger = body.get("updateEventTriggers")
        if trigger is not None and not isinstance(trigger, bool):
            raise BadUserRequest("updateEventTriggers must be a boolean")
        variables = parse_typed_variables(body.get("variables"), "variables")
        generated = plan_generate(plan.source, plan.target, update_event_triggers=bool(trigger), variables=variables)
        return Response(generated.dto())


class MigrationValidate(CamundaView):
    """Camunda's MigrationPlanReportDto for a plan: its instruction and variable failures."""

    request_body = {"required": True, "content": {"application/json": {"schema": PLAN}}}

    def post(self, request: Request) -> Response:
        self.require(request, MIGRATION.permission)
        plan = plan_parse(self.body(request), visible(ProcessDefinition, request.user), where="request")
        return Response(plan_report(plan))


class MigrationExecute(CamundaView):
    """Migrate the selected instances now, all or none; 204."""

    operation = MIGRATION

    def post(self, request: Request) -> Response:
        self.require(request, MIGRATION.permission)
        data = MIGRATION.validate(self.body(request), request.user)
        ids = selection_ids(MIGRATION.selection(data, request.user), settings.SYNC_MAX_INSTANCES, too_many(MIGRATION.path))
        migration_execute(data=data, ids=ids, user=request.user)
        return Response(status=204)


class ProcessDefinitionRestart(CamundaView):
    """Restart the selected finished instances now, all or none; 204."""

    operation = RESTART

    def post(self, request: Request, processDefinitionId: str) -> Response:  # noqa: N803 (the path's name)
        self.require(request, RESTART.permission)
        data = RESTART.validate({**self.body(request), "processDefinitionId": processDefinitionId}, request.user)
        ids = selection_ids(RESTART.selection(data, request.user), settings.SYNC_MAX_INSTANCES, too_many("process-definition/{id}/restart-async"))
        configuration = {
            **RESTART.configuration(data), "userId": request.user.get_username(),
            "tenantIds": visible_tenant_ids(request.user),
        }
        with transaction.atomic():
            result = RESTART.run_chunk(ids, configuration)
            problems = {**result.failed, **result.skipped}
            if problems:  # Camunda restarts all or none
                first = next(i for i in ids if i in problems)
                raise EngineRefusal(problems[first])
            operation_log_write(
                user_id=request.user.get_username(),
                operation_type="RestartProcessInstance",
                entity_type="ProcessInstance",
                properties=restart_log_properties(len(ids), asynchronous=False),
                **RESTART.operation_log_refs(data),
            )
        return Response(status=204)
