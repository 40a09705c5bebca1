"""Safe parsing of the supported BPMN 2.0 subset into the flow graph the engine walks."""
from __future__ import annotations

import re
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# Our own extension attribute: a service task fails while the named process variable is truthy.
COCKPIT_NS = "urn:cockpit:bpmn"
# Camunda's extension namespace: camunda:type="external" camunda:topic="..." on a service task,
# camunda:historyTimeToLive on a process.
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

FLOW_NODES = {
    "startEvent",
    "endEvent",
    "userTask",
    "serviceTask",
    "receiveTask",
    "intermediateCatchEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
}
# Activities a message boundary event may be attached to (their token is what it interrupts).
BOUNDARY_HOSTS = {"userTask", "serviceTask", "receiveTask"}
# Events whose event definition the engine reads; any other *EventDefinition on them is refused.
EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "boundaryEvent"}
IGNORED = {
    "documentation",
    "extensionElements",
    "laneSet",
    "textAnnotation",
    "association",
    "dataObject",
    "dataObjectReference",
}
# A condition is ${var}, ${!var} or ${var <op> literal}.
CONDITION_RE = re.compile(
    r"^\$\{\s*(?P<neg>!)?\s*(?P<var>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?:(?P<op>==|!=|<=|>=|<|>)\s*(?P<lit>-?\d+(?:\.\d+)?|'[^']*'|\"[^\"]*\"|true|false|null))?\s*\}$"
)


class BpmnParseError(ValueError):
    """The BPMN document is invalid; the message names the element at fault."""


@dataclass(frozen=True)
class ParsedProcess:
    key: str
    name: str
    graph: dict
    # camunda:historyTimeToLive in days (engine.services.removal_time), None when the process has none.
    history_time_to_live: int | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _history_time_to_live(process, key: str) -> int | None:
    """camunda:historyTimeToLive as Camunda reads it: days, "5" or "P5D" (ParseUtil.parseHistoryTimeToLive)."""
    from engine.services.removal_time import parse_history_time_to_live

    try:
        return parse_history_time_to_live(process.get(f"{{{CAMUNDA_NS}}}historyTimeToLive"))
    except ValueError as exc:
        raise BpmnParseError(f"Process '{key}': {exc}") from None


def parse_condition(expression: str) -> dict:
    match = CONDITION_RE.match(expression.strip())
    if not match:
        raise ValueError(f"unsupported condition expression {expression!r}")
    literal = match.group("lit")
    value: object = None
    if literal is not None:
        if literal[0] in "'\"":
            value = literal[1:-1]
        elif literal in {"true", "false"}:
            value = literal == "true"
        elif literal == "null":
            value = None
        else:
            value = float(literal) if "." in literal else int(literal)
    return {
        "var": match.group("var"),
        "negate": bool(match.group("neg")),
        "op": match.group("op"),
        "value": value,
        "text": expression.strip(),
    }


def message_starts(graph: dict) -> dict[str, str]:
    """{start event id: message name} of a process's message start events."""
    return {
        activity_id: node["message"]
        for activity_id, node in graph["activities"].items()
        if node["type"] == "startEvent" and node.get("message")
    }


def parse_bpmn(xml: bytes | str, max_bytes: int) -> list[ParsedProcess]:
    """Parse a BPMN document and return its executable processes, or raise BpmnParseError."""
    data = xml.encode() if isinstance(xml, str) else xml
    if len(data) > max_bytes:
        raise BpmnParseError(f"BPMN document is larger than the limit of {max_bytes} bytes")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BpmnParseError(f"BPMN document rejected: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except SafeET.ParseError as exc:
        raise BpmnParseError(f"BPMN document is not well-formed XML: {exc}") from exc
    if _local(root.tag) != "definitions" or not root.tag.startswith("{" + BPMN_NS):
        raise BpmnParseError("Root element must be bpmn:definitions in the BPMN 2.0 model namespace")
    processes = [p for p in root if _local(p.tag) == "process"]
    if not processes:
        raise BpmnParseError("BPMN document contains no process element")
    messages = _parse_messages(root)
    result = []
    for process in processes:
        if process.get("isExecutable", "true").lower() == "false":
            continue
        result.append(_parse_process(process, messages))
    if not result:
        raise BpmnParseError("BPMN document contains no executable process")
    return result


def _parse_messages(root) -> dict[str, str]:
    """{message id: name} of the bpmn:message elements at definitions level."""
    messages: dict[str, str] = {}
    for element in root:
        if _local(element.tag) != "message":
            continue
        message_id = element.get("id")
        if not message_id:
            raise BpmnParseError("Element 'message' has no id")
        name = (element.get("name") or "").strip()
        if not name:
            # Camunda: "Cannot have a message event subscription with an empty or missing name".
            raise BpmnParseError(f"Message '{message_id}' has no name")
        if "${" in name or "#{" in name:
            raise BpmnParseError(f"Message '{message_id}': expressions in message names are not supported ('{name}')")
        messages[message_id] = name
    return messages


def _parse_process(process, messages: dict[str, str]) -> ParsedProcess:
    key = process.get("id")
    if not key:
        raise BpmnParseError("Element 'process' has no id")
    activities: dict[str, dict] = {}
    flows: dict[str, dict] = {}
    for element in process:
        tag = _local(element.tag)
        element_id = element.get("id")
        if tag in IGNORED:
            continue
        if not element_id:
            raise BpmnParseError(f"Element '{tag}' in process '{key}' has no id")
        if element_id in activities or element_id in flows:
            raise BpmnParseError(f"Duplicate id '{element_id}' in process '{key}'")
        if tag == "sequenceFlow":
            flows[element_id] = _parse_flow(element, element_id)
        elif tag in FLOW_NODES:
            activities[element_id] = {
                "type": tag,
                "name": element.get("name", ""),
                "incoming": [],
                "outgoing": [],
                "default": element.get("default"),
                "failWhen": element.get(f"{{{COCKPIT_NS}}}failWhen"),
            }
            if tag == "serviceTask":
                _parse_service_task(element, element_id, activities[element_id])
            _parse_message_ref(element, tag, element_id, key, messages, activities[element_id])
        else:
            raise BpmnParseError(f"Unsupported BPMN element '{tag}' (id '{element_id}') in process '{key}'")
    _link(key, activities, flows)
    _attach_boundary_events(key, activities)
    starts = [a for a, node in activities.items() if node["type"] == "startEvent" and not node.get("message")]
    message_start_ids = [a for a, node in activities.items() if node["type"] == "startEvent" and node.get("message")]
    if len(starts) > 1 or not (starts or message_start_ids):
        # Message start events are further starts; a process has at most one none start event
        # (Camunda: "multiple none start events or timer start events not supported").
        raise BpmnParseError(
            f"Process '{key}' must have exactly one start event without an event definition "
            f"(and may have message start events), found {len(starts)}"
        )
    _unique_message_names(key, activities, message_start_ids, key)
    # "start": the none start event, or None when the process starts by message only.
    graph = {"activities": activities, "flows": flows, "start": starts[0] if starts else None}
    return ParsedProcess(
        key=key, name=process.get("name", ""), graph=graph, history_time_to_live=_history_time_to_live(process, key)
    )


def _event_definitions(element) -> list:
    return [child for child in element if _local(child.tag).endswith("EventDefinition")]


def _parse_message_ref(element, tag: str, element_id: str, key: str, messages: dict[str, str], node: dict) -> None:
    """The message a receive task or a message event waits for (node["message"]: its name).

    Events with another event definition (timer, signal, error, terminate...) are refused rather
    than run as plain events.
    """
    unsupported = f"Unsupported BPMN element '{tag}' (id '{element_id}') in process '{key}'"
    if tag == "receiveTask":
        ref = element.get("messageRef")
        if not ref:
            raise BpmnParseError(f"Receive task '{element_id}' has no messageRef: this engine continues receive tasks by message only")
        node["message"] = _message_name(messages, ref, element_id)
        return
    if tag not in EVENTS:
        return
    definitions = _event_definitions(element)
    kinds = [_local(d.tag) for d in definitions]
    if tag == "endEvent":
        if kinds:
            raise BpmnParseError(f"{unsupported}: only none end events are supported, not '{kinds[0]}'")
        return
    if tag == "startEvent" and not kinds:
        return  # the none start event
    if kinds != ["messageEventDefinition"]:
        found = f"'{kinds[0]}'" if len(kinds) == 1 else (f"{len(kinds)} event definitions" if kinds else "no event definition")
        raise BpmnParseError(f"{unsupported}: only message {_event_label(tag)} are supported (with one messageEventDefinition), found {found}")
    ref = definitions[0].get("messageRef")
    if not ref:
        raise BpmnParseError(f"{tag} '{element_id}': attribute 'messageRef' is required")
    node["message"] = _message_name(messages, ref, element_id)
    if tag == "boundaryEvent":
        host = element.get("attachedToRef")
        if not host:
            raise BpmnParseError(f"Boundary event '{element_id}' has no attachedToRef")
        if element.get("cancelActivity", "true").strip().lower() != "true":
            raise BpmnParseError(
                f"Boundary event '{element_id}': non-interrupting boundary events (cancelActivity=\"false\") are not supported"
            )
        node["attachedTo"] = host
        node["cancelActivity"] = True


def _event_label(tag: str) -> str:
    return {
        "startEvent": "start events (besides the none start event)",
        "intermediateCatchEvent": "intermediate catch events",
        "boundaryEvent": "boundary events",
    }[tag]


def _message_name(messages: dict[str, str], ref: str, element_id: str) -> str:
    name = messages.get(ref.split(":")[-1]) if ref not in messages else messages[ref]
    if name is None:
        # Camunda's BpmnParse: "Invalid 'messageRef': no message with id '...' found."
        raise BpmnParseError(f"Element '{element_id}': Invalid 'messageRef': no message with id '{ref}' found.")
    return name


def _attach_boundary_events(key: str, activities: dict) -> None:
    for event_id, node in activities.items():
        if node["type"] != "boundaryEvent":
            continue
        host = activities.get(node["attachedTo"])
        if host is None:
            raise BpmnParseError(f"Boundary event '{event_id}' is attached to unknown activity '{node['attachedTo']}' in process '{key}'")
        if host["type"] not in BOUNDARY_HOSTS:
            raise BpmnParseError(
                f"Boundary event '{event_id}' is attached to {host['type']} '{node['attachedTo']}': "
                f"message boundary events may be attached to {', '.join(sorted(BOUNDARY_HOSTS))} only"
            )
        host.setdefault("boundaryEvents", []).append(event_id)
    for host_id, host in activities.items():
        if host.get("boundaryEvents"):
            host["boundaryEvents"].sort()
            _unique_message_names(key, activities, host["boundaryEvents"], host_id)


def _unique_message_names(key: str, activities: dict, event_ids: list[str], scope: str) -> None:
    seen: set[str] = set()
    for event_id in sorted(event_ids):
        name = activities[event_id]["message"]
        if name in seen:
            # Camunda's BpmnParse (addEventSubscriptionDeclaration).
            raise BpmnParseError(
                f"Cannot have more than one message event subscription with name '{name}' for scope '{scope}' "
                f"(element '{event_id}' in process '{key}')"
            )
        seen.add(name)


def _parse_service_task(element, element_id: str, node: dict) -> None:
    """An external service task (camunda:type="external") waits for a worker of its topic, not for a job."""
    implementation = element.get(f"{{{CAMUNDA_NS}}}type")
    if implementation is None:
        return
    if implementation != "external":
        raise BpmnParseError(f"Service task '{element_id}': unsupported camunda:type '{implementation}' (only 'external')")
    topic = (element.get(f"{{{CAMUNDA_NS}}}topic") or "").strip()
    if not topic:
        raise BpmnParseError(f"External service task '{element_id}' has no camunda:topic")
    node["topic"] = topic


def _parse_flow(element, flow_id: str) -> dict:
    condition = None
    for child in element:
        if _local(child.tag) == "conditionExpression":
            try:
                condition = parse_condition(child.text or "")
            except ValueError as exc:
                raise BpmnParseError(f"Sequence flow '{flow_id}': {exc}") from exc
    return {
        "source": element.get("sourceRef"),
        "target": element.get("targetRef"),
        "name": element.get("name", ""),
        "condition": condition,
    }


def _link(key: str, activities: dict, flows: dict) -> None:
    for flow_id, flow in flows.items():
        for end in ("source", "target"):
            ref = flow[end]
            if ref not in activities:
                raise BpmnParseError(f"Sequence flow '{flow_id}' has unknown {end}Ref '{ref}' in process '{key}'")
        activities[flow["source"]]["outgoing"].append(flow_id)
        activities[flow["target"]]["incoming"].append(flow_id)
    for activity_id, node in activities.items():
        kind = node["type"]
        if kind != "endEvent" and not node["outgoing"]:
            raise BpmnParseError(f"{kind} '{activity_id}' has no outgoing sequence flow")
        if kind in ("startEvent", "boundaryEvent") and node["incoming"]:
            raise BpmnParseError(f"{kind} '{activity_id}' must not have incoming sequence flows")
        if kind == "endEvent" and node["outgoing"]:
            raise BpmnParseError(f"endEvent '{activity_id}' must not have outgoing sequence flows")
        default = node["default"]
        if default and default not in node["outgoing"]:
            raise BpmnParseError(f"Default flow '{default}' of '{activity_id}' is not one of its outgoing flows")
        if kind != "exclusiveGateway" and len(node["outgoing"]) > 1 and kind != "parallelGateway":
            raise BpmnParseError(f"{kind} '{activity_id}' has several outgoing flows; use a gateway")
