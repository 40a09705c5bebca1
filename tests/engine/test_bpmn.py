"""BPMN parsing: the supported subset, and clear errors for invalid or malicious documents."""
import pytest

from engine.bpmn import BpmnParseError, parse_bpmn
from tests.support.factories import LINEAR, bpmn

LIMIT = 1_000_000


def test_it_parses_the_flow_graph_of_a_linear_process():
    [process] = parse_bpmn(bpmn(LINEAR, "linear"), LIMIT)
    graph = process.graph
    assert process.key == "linear"
    assert graph["start"] == "start"
    assert graph["activities"]["task"]["type"] == "userTask"
    assert graph["activities"]["service"]["failWhen"] == "fail"
    assert graph["activities"]["task"]["outgoing"] == ["f2"]
    assert graph["flows"]["f3"] == {"source": "service", "target": "end", "name": "", "condition": None}


def test_it_parses_gateway_conditions_and_default_flows():
    body = (
        '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="a" sourceRef="s" targetRef="gw"/>'
        '<bpmn:exclusiveGateway id="gw" default="other"/>'
        '<bpmn:sequenceFlow id="big" sourceRef="gw" targetRef="e"><bpmn:conditionExpression>${amount &gt;= 100}'
        "</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="other" sourceRef="gw" targetRef="e"/><bpmn:endEvent id="e"/>'
    )
    [process] = parse_bpmn(bpmn(body), LIMIT)
    condition = process.graph["flows"]["big"]["condition"]
    assert (condition["var"], condition["op"], condition["value"]) == ("amount", ">=", 100)
    assert process.graph["activities"]["gw"]["default"] == "other"


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">&lol2;</bpmn:process></bpmn:definitions>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="p">&ext;</bpmn:process></bpmn:definitions>"""


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not xml at all <", "not well-formed"),
        (BILLION_LAUGHS, "DTDs and entities are not allowed"),
        (EXTERNAL_ENTITY, "DTDs and entities are not allowed"),
        ("<definitions/>", "Root element must be bpmn:definitions"),
        (bpmn('<bpmn:startEvent id="s"/><bpmn:subProcess id="sub"/>'), "Unsupported BPMN element 'subProcess' (id 'sub')"),
        (bpmn('<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="nowhere"/>'), "unknown targetRef 'nowhere'"),
        (bpmn('<bpmn:userTask id="t"/><bpmn:sequenceFlow id="f" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>'), "exactly one start event"),
        (bpmn('<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/><bpmn:userTask id="t"/>'), "userTask 't' has no outgoing sequence flow"),
        (
            bpmn(
                '<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e">'
                "<bpmn:conditionExpression>${a.b()}</bpmn:conditionExpression></bpmn:sequenceFlow><bpmn:endEvent id=\"e\"/>"
            ),
            "Sequence flow 'f': unsupported condition expression",
        ),
        (bpmn('<bpmn:startEvent id="s"/><bpmn:startEvent id="s"/>'), "Duplicate id 's'"),
    ],
)
def test_it_rejects_invalid_documents_naming_the_problem(document, message):
    with pytest.raises(BpmnParseError) as error:
        parse_bpmn(document, LIMIT)
    assert message in str(error.value)


def test_it_rejects_documents_over_the_size_limit():
    with pytest.raises(BpmnParseError, match="larger than the limit of 100 bytes"):
        parse_bpmn(bpmn(LINEAR), 100)
