"""Small factories: deploy a BPMN snippet, start instances, run due jobs in-process."""
from __future__ import annotations

import itertools

from django.utils import timezone

from engine.models import Job, ProcessDefinition, ProcessInstance
from engine.services.deployment import deployment_create
from engine.services.jobs import executable_jobs, job_execute
from engine.services.runtime import instance_start

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:cockpit="urn:cockpit:bpmn" id="d" targetNamespace="urn:test">'
)
_counter = itertools.count()


def bpmn(body: str, key: str = "proc") -> str:
    return f'{HEADER}<bpmn:process id="{key}" isExecutable="true">{body}</bpmn:process></bpmn:definitions>'


# start -> userTask "task" -> serviceTask "service" (fails while variable "fail" is set) -> end
LINEAR = (
    '<bpmn:startEvent id="start"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>'
    '<bpmn:userTask id="task" name="Do it"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="service"/>'
    '<bpmn:serviceTask id="service" name="Call it" cockpit:failWhen="fail"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="service" targetRef="end"/>'
    '<bpmn:endEvent id="end"/>'
)


def deploy(body: str = LINEAR, key: str = "proc", tenant_id: str | None = None) -> ProcessDefinition:
    _, definitions = deployment_create(
        name=f"test-{next(_counter)}", resources=[(f"{key}.bpmn", bpmn(body, key).encode())], tenant_id=tenant_id
    )
    return definitions[0]


def start(definition: ProcessDefinition, business_key: str | None = None, **variables) -> ProcessInstance:
    typed = {name: {"value": value, "type": None} for name, value in variables.items()}
    from engine.variables import parse_typed_variables

    return instance_start(definition=definition, business_key=business_key, variables=parse_typed_variables(typed))


def tokens(instance: ProcessInstance) -> list[str]:
    return sorted(instance.tokens.values_list("activity_id", flat=True))


def run_jobs(limit: int = 100) -> int:
    """Execute due jobs in this process with the real executor until none is left; return how many ran."""
    ran = 0
    for _ in range(limit):
        job_id = executable_jobs(timezone.now()).values_list("id", flat=True).first()
        if job_id is None:
            return ran
        job_execute(job_id, owner="test-runner")
        ran += 1
    return ran


def job_of(instance: ProcessInstance) -> Job:
    return Job.objects.get(process_instance_id=instance.id)
