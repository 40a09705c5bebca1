"""Generated diagram interchange: every node and flow gets DI, existing DI stays, execution is unaffected."""
from pathlib import Path

import pytest
from defusedxml import ElementTree as SafeET

from engine.bpmn import BpmnParseError, parse_bpmn
from engine.bpmn_layout import BPMNDI_NS, DC_NS, DI_NS, with_diagram
from tests.support.factories import LINEAR, bpmn

LIMIT = 1_000_000
DEMO = sorted((Path(__file__).parents[2] / "engine" / "bpmn").glob("*.bpmn"))
FORK_AND_CHOICE = (
    '<bpmn:startEvent id="start" name="Go"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="a"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>'
    '<bpmn:userTask id="a" name="A &amp; &lt;a&gt;"/>'
    '<bpmn:serviceTask id="b" name="B"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="join"/>'
    '<bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="ok"/>'
    '<bpmn:exclusiveGateway id="ok" name="OK?" default="again"/>'
    '<bpmn:sequenceFlow id="done" sourceRef="ok" targetRef="end"><bpmn:conditionExpression>${ok}</bpmn:conditionExpression></bpmn:sequenceFlow>'
    '<bpmn:sequenceFlow id="again" sourceRef="ok" targetRef="a"/>'
    '<bpmn:endEvent id="end"/>'
)


def shapes_and_edges(xml: str) -> tuple[dict, dict]:
    root = SafeET.fromstring(xml.encode())
    shapes = {
        s.get("bpmnElement"): {k: int(v) for k, v in s.find(f"{{{DC_NS}}}Bounds").attrib.items()}
        for s in root.iter(f"{{{BPMNDI_NS}}}BPMNShape")
    }
    edges = {
        e.get("bpmnElement"): [(int(p.get("x")), int(p.get("y"))) for p in e.iter(f"{{{DI_NS}}}waypoint")]
        for e in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge")
    }
    return shapes, edges


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


def test_every_flow_node_and_sequence_flow_gets_a_shape_or_an_edge():
    xml = with_diagram(bpmn(FORK_AND_CHOICE, "choice"))
    [process] = parse_bpmn(xml, LIMIT)
    shapes, edges = shapes_and_edges(xml)
    assert set(shapes) == set(process.graph["activities"])
    assert set(edges) == set(process.graph["flows"])
    assert all(len(points) >= 2 for points in edges.values())
    assert (shapes["start"]["width"], shapes["a"]["width"], shapes["fork"]["width"]) == (36, 100, 50)


def test_shapes_do_not_overlap_and_flows_run_left_to_right_except_loops():
    shapes, edges = shapes_and_edges(with_diagram(bpmn(FORK_AND_CHOICE, "choice")))
    names = sorted(shapes)
    assert not [(a, b) for a in names for b in names if a < b and overlaps(shapes[a], shapes[b])]
    assert shapes["a"]["x"] == shapes["b"]["x"] and shapes["a"]["y"] != shapes["b"]["y"]  # the fork's branches stacked
    assert shapes["start"]["x"] < shapes["fork"]["x"] < shapes["a"]["x"] < shapes["join"]["x"] < shapes["end"]["x"]
    again = edges["again"]  # the loop back to a runs below the diagram
    assert max(y for _, y in again) > max(s["y"] + s["height"] for s in shapes.values())


def test_the_process_is_unchanged_and_still_parses_the_same():
    source = bpmn(FORK_AND_CHOICE, "choice")
    xml = with_diagram(source)
    assert xml.startswith(source[: source.index("</bpmn:definitions>")])
    assert parse_bpmn(xml, LIMIT) == parse_bpmn(source, LIMIT)


def test_a_document_with_diagram_interchange_is_returned_unchanged():
    once = with_diagram(bpmn(LINEAR))
    assert with_diagram(once) == once


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.name)
def test_the_demo_processes_ship_with_their_diagram(path):
    xml = path.read_text()
    assert with_diagram(xml) == xml
    [process] = parse_bpmn(xml, LIMIT)
    shapes, edges = shapes_and_edges(xml)
    assert set(shapes) == set(process.graph["activities"]) and set(edges) == set(process.graph["flows"])
    names = sorted(shapes)
    assert not [(a, b) for a in names for b in names if a < b and overlaps(shapes[a], shapes[b])]


def test_generated_ids_do_not_collide_with_existing_ones():
    body = LINEAR.replace('id="end"', 'id="task_di"').replace('targetRef="end"', 'targetRef="task_di"')
    xml = with_diagram(bpmn(body))
    ids = [e.get("id") for e in SafeET.fromstring(xml.encode()).iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_each_process_of_a_document_gets_its_own_diagram():
    head, tail = bpmn(LINEAR, "one").split("</bpmn:process>")
    second = '<bpmn:process id="two"><bpmn:startEvent id="s2"/><bpmn:sequenceFlow id="g" sourceRef="s2" targetRef="e2"/><bpmn:endEvent id="e2"/></bpmn:process>'
    xml = with_diagram(head + "</bpmn:process>" + second + tail)
    planes = [p.get("bpmnElement") for p in SafeET.fromstring(xml.encode()).iter(f"{{{BPMNDI_NS}}}BPMNPlane")]
    assert planes == ["one", "two"]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">&lol2;</bpmn:process></bpmn:definitions>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">&ext;</bpmn:process></bpmn:definitions>"""


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY, "<not-closed", "<definitions/>"])
def test_malicious_or_foreign_xml_is_refused(xml):
    with pytest.raises(BpmnParseError):
        with_diagram(xml)
