"""set-job-retries: POST /job/retries (jobs) and POST /process-instance/job-retries (jobs of instances)."""
from datetime import datetime

from django.db.models import Q, QuerySet
from rest_framework import serializers

from batches.operations.base import (
    BatchOperation, HistoricQueryOnly, InstanceQueries, Selection, check_query, id_list, ineligible, query_field, run_query,
    selection_of,
)
from batches.operations.wizard import DATETIME, INTEGER, Field, WizardSpec
from engine.errors import EngineRefusal
from engine.models import HistoricProcessInstance, Job, ProcessInstance
from engine.query import format_date, parse_date
from engine.selectors import HISTORIC_PROCESS_INSTANCE, JOB, PROCESS_INSTANCE, visible
from engine.services.jobs import jobs_set_retries
from engine.services.lifecycle import ChunkResult

JOB_NOT_FOUND = "job does not exist any more"
NO_JOB = ("no longer exists and will be skipped", "no longer exist and will be skipped")


class RetriesField(serializers.IntegerField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or data < 0:
            raise serializers.ValidationError(
                f"The number of job retries must be a non-negative Integer, but '{data}' has been provided."
            )
        return data


class DueDateField(serializers.Field):
    def to_internal_value(self, data):
        try:
            return parse_date(data)
        except ValueError:
            raise serializers.ValidationError(f"Cannot parse date '{data}'; use yyyy-MM-dd'T'HH:mm:ss.SSSZ") from None

    def to_representation(self, value):
        return format_date(value)


class JobRetriesSerializer(serializers.Serializer):
    jobIds = id_list()
    jobQuery = query_field()
    retries = RetriesField(required=True, allow_null=False)
    dueDate = DueDateField(required=False, allow_null=True)

    def validate_jobQuery(self, value):
        return check_query(JOB, "jobQuery", value)


class ProcessJobRetriesSerializer(InstanceQueries):
    processInstances = id_list()
    retries = RetriesField(required=True, allow_null=False)
    dueDate = DueDateField(required=False, allow_null=True)


class SetJobRetries(BatchOperation):
    type = "set-job-retries"
    path = "job/retries"
    label = "Set retries of jobs"
    permission_codename = "create_set_job_retries"
    permission_name = "Can create batches that set job retries"
    serializer_class = JobRetriesSerializer
    target_model = Job
    empty_message = "jobIds is empty"

    def selection(self, data: dict, user) -> Selection:
        return selection_of(data, user, "jobIds", ("jobQuery", JOB, Job))

    def eligibility(self, data: dict, targets: QuerySet, user) -> list[tuple[str, int]]:
        # jobs_set_retries skips jobs that are gone; it sets the retries of suspended jobs too.
        return ineligible(targets.count() - visible(Job, user).filter(pk__in=targets).count(), NO_JOB)

    def configuration(self, data: dict) -> dict:
        due: datetime | None = data.get("dueDate")
        return {"retries": data["retries"], "dueDate": format_date(due)}

    def operation_log(self, data: dict, total: int) -> tuple[str, str, dict]:
        return "SetJobRetries", "Job", {
            "nrOfInstances": (None, total),
            "async": (None, True),
            "retries": (None, data["retries"]),
        }

    def apply(self, ids, configuration):
        due = parse_date(configuration["dueDate"]) if configuration.get("dueDate") else None
        found = jobs_set_retries(job_ids=ids, retries=configuration["retries"], due_date=due)
        return ChunkResult(
            changed=[i for i in ids if i in found], skipped={i: JOB_NOT_FOUND for i in ids if i not in found}
        )


class SetJobRetriesByProcess(SetJobRetries):
    """The same batch type, selecting the jobs of process instances."""

    path = "process-instance/job-retries"
    label = "Set retries of the jobs of process instances"
    serializer_class = ProcessJobRetriesSerializer
    wizard = WizardSpec(
        key="retries",
        title="Set retries of jobs",
        verb="set the retries of",
        scope="runtime",
        notice="Sets the retries of every job of the selected running instances; failed jobs run again and their "
        "incidents are resolved.",
        fields=(
            Field("retries", "Retries", INTEGER, min_value=0, required="Enter the number of retries."),
            Field("dueDate", "Due date (UTC, optional)", DATETIME),
        ),
        unit="job",
        ids_name="processInstances",
    )

    def selection(self, data: dict, user) -> Selection:
        instances = Q(pk__in=[])
        if data.get("processInstances"):
            instances |= Q(process_instance_id__in=data["processInstances"])
        if data.get("processInstanceQuery") is not None:
            found = run_query(PROCESS_INSTANCE, ProcessInstance, user, data["processInstanceQuery"])
            instances |= Q(process_instance_id__in=found.values("pk"))
        if data.get("historicProcessInstanceQuery") is not None:
            found = run_query(HISTORIC_PROCESS_INSTANCE, HistoricProcessInstance, user, data["historicProcessInstanceQuery"])
            instances |= Q(process_instance_id__in=found.values("pk"))
        return Selection(sources=[visible(Job, user).filter(instances).order_by()])


# --- POST /process-instance/job-retries-historic-query-based -------------------------------------
# Camunda's setRetriesByProcessHistoricQueryBased reads SetJobRetriesByProcessDto but selects with
# processInstances and historicProcessInstanceQuery only; a processInstanceQuery is silently dropped
# there and refused here. Neither selector given: Camunda's SetJobRetriesByProcessAsyncBuilder
# refuses with ENGINE-13051 (a ProcessEngineException, 500 there, 400 here).
NO_PROCESSES = (
    "ENGINE-13051 You must specify at least one of or one of processInstanceIds, processInstanceQuery, "
    "or historicProcessInstanceQuery."
)


class ProcessJobRetriesHistoricQuerySerializer(HistoricQueryOnly):
    runtime_path = "process-instance/job-retries"
    processInstances = id_list()
    retries = RetriesField(required=True, allow_null=False)
    dueDate = DueDateField(required=False, allow_null=True)


class SetJobRetriesByHistoricQuery(SetJobRetriesByProcess):
    """The same batch type, selecting the jobs of the instances a historic query finds."""

    path = "process-instance/job-retries-historic-query-based"
    label = "Set retries of the jobs of process instances selected by a historic query"
    serializer_class = ProcessJobRetriesHistoricQuerySerializer
    wizard = None  # the wizard offers the runtime form

    def validate(self, payload: object, user=None) -> dict:
        data = super().validate(payload, user)
        if not data.get("processInstances") and data.get("historicProcessInstanceQuery") is None:
            raise EngineRefusal(NO_PROCESSES)
        return data
