"""Safe parsing of the supported BPMN 2.0 subset into the flow graph the engine walks."""
from __future__ import annotations

import re
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# Our own extension attribute: a service task fails while the named process variable is truthy.
COCKPIT_NS = "urn:cockpit:bpmn"

FLOW_NODES = {
    "startEvent",
    "endEvent",
    "userTask",
    "serviceTask",
    "exclusiveGateway",
    "parallelGateway",
}
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


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


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
    result = []
    for process in processes:
        if process.get("isExecutable", "true").lower() == "false":
            continue
        result.append(_parse_process(process))
    if not result:
        raise BpmnParseError("BPMN document contains no executable process")
    return result


def _parse_process(process) -> ParsedProcess:
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
        else:
            raise BpmnParseError(f"Unsupported BPMN element '{tag}' (id '{element_id}') in process '{key}'")
    _link(key, activities, flows)
    starts = [a for a, node in activities.items() if node["type"] == "startEvent"]
    if len(starts) != 1:
        raise BpmnParseError(f"Process '{key}' must have exactly one start event, found {len(starts)}")
    graph = {"activities": activities, "flows": flows, "start": starts[0]}
    return ParsedProcess(key=key, name=process.get("name", ""), graph=graph)


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
        if kind == "startEvent" and node["incoming"]:
            raise BpmnParseError(f"startEvent '{activity_id}' must not have incoming sequence flows")
        if kind == "endEvent" and node["outgoing"]:
            raise BpmnParseError(f"endEvent '{activity_id}' must not have outgoing sequence flows")
        default = node["default"]
        if default and default not in node["outgoing"]:
            raise BpmnParseError(f"Default flow '{default}' of '{activity_id}' is not one of its outgoing flows")
        if kind != "exclusiveGateway" and len(node["outgoing"]) > 1 and kind != "parallelGateway":
            raise BpmnParseError(f"{kind} '{activity_id}' has several outgoing flows; use a gateway")
