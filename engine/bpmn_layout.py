"""Diagram interchange (BPMNDI) for BPMN without it: a layered left-to-right layout of each process.

Only diagrams are added: the process elements stay byte for byte as they were, and the engine's
parser (engine.bpmn) ignores everything outside bpmn:process, so DI never affects execution.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from xml.sax.saxutils import quoteattr

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from engine.bpmn import BPMN_NS, BpmnParseError

BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"

EVENTS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent"}
GATEWAYS = {"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"}
ACTIVITIES = {
    "task", "userTask", "serviceTask", "scriptTask", "sendTask", "receiveTask", "manualTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
}
SIZES = {"event": (36, 36), "gateway": (50, 50), "activity": (100, 80)}
COLUMN = 150  # distance between the centres of two layers
ROW = 130  # distance between the centres of two rows
ORIGIN = (80, 90)  # centre of layer 0, row 0 (room for a gateway's label above it)
LOOP_GAP = 30  # how far below the lowest row loops (back edges) run, per loop
ROOT_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?definitions\s*>(?:\s|<!--.*?-->|<\?.*?\?>)*\Z", re.DOTALL)


@dataclass
class Node:
    id: str
    kind: str  # event, gateway, activity, or dummy (a long edge passing a layer)
    order: int  # position in the document: ties are broken by it
    host: str | None = None  # a boundary event's activity
    named: bool = False
    layer: int = 0
    row: int = 0
    preds: list[str] = field(default_factory=list)
    succs: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return SIZES.get(self.kind, (0, 0))


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _parse(xml: str):
    try:
        return SafeET.fromstring(xml.encode(), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise BpmnParseError(f"BPMN document rejected: {type(exc).__name__} (DTDs and entities are not allowed)") from exc
    except SafeET.ParseError as exc:
        raise BpmnParseError(f"BPMN document is not well-formed XML: {exc}") from exc


def with_diagram(xml: str) -> str:
    """The document with a generated diagram for each process that has no shapes; else unchanged."""
    root = _parse(xml)
    if _local(root.tag) != "definitions" or not root.tag.startswith("{" + BPMN_NS):
        raise BpmnParseError("Root element must be bpmn:definitions in the BPMN 2.0 model namespace")
    shaped = {s.get("bpmnElement") for s in root.iter(f"{{{BPMNDI_NS}}}BPMNShape")}
    used_ids = {e.get("id") for e in root.iter() if e.get("id")}
    diagrams = []
    for process in (p for p in root if p.tag == f"{{{BPMN_NS}}}process"):
        nodes = _nodes(process)
        if nodes and not shaped.intersection(nodes):
            diagrams.append(_diagram(process, nodes, used_ids))
    if not diagrams:
        return xml
    end = ROOT_END.search(xml)
    if end is None:  # a self-closing root cannot hold processes, so this is not reached
        raise BpmnParseError("BPMN document has no closing definitions tag")
    head = xml[: end.start()].rstrip(" \t")
    return head + "".join(diagrams).lstrip("\n" if head.endswith("\n") else "") + "\n" + xml[end.start() :]


def _nodes(process) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    for position, element in enumerate(process):
        tag, element_id = _local(element.tag), element.get("id")
        if not element_id:
            continue
        kind = "event" if tag in EVENTS else "gateway" if tag in GATEWAYS else "activity" if tag in ACTIVITIES else None
        if kind:
            host = element.get("attachedToRef") if tag == "boundaryEvent" else None
            nodes[element_id] = Node(element_id, kind, position, host=host, named=bool(element.get("name")))
    return nodes


def _flows(process, nodes: dict[str, Node]) -> list[tuple[str, str, str]]:
    """(id, source, target) of each sequence flow between known nodes, in document order."""
    flows = []
    for element in process:
        if _local(element.tag) == "sequenceFlow" and element.get("id"):
            source, target = element.get("sourceRef"), element.get("targetRef")
            if source in nodes and target in nodes:
                flows.append((element.get("id"), source, target))
    return flows


# --- layering -------------------------------------------------------------------------------


def _placed(nodes: dict[str, Node], source: str) -> str:
    """Flows leaving a boundary event count as leaving its host for the layering."""
    host = nodes[source].host
    return host if host in nodes and nodes[host].host is None else source


def _back_edges(nodes: dict[str, Node], edges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Edges closing a cycle in a depth-first walk from the start events (then from any unvisited node)."""
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        succs[source].append(target)
    targets = {target for _, target in edges}
    starts = sorted(nodes.values(), key=lambda n: (n.id in targets or n.kind != "event", n.order))
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for start in starts:
        if start.id in state:
            continue
        stack = [(start.id, iter(succs[start.id]))]
        state[start.id] = 1
        while stack:
            node_id, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                state[node_id] = 2
                stack.pop()
            elif state.get(target) == 1:
                back.add((node_id, target))
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(succs[target])))
    return back


def _layer(nodes: dict[str, Node], edges: list[tuple[str, str]]) -> None:
    """Longest path from the sources over the acyclic edges (Kahn's order)."""
    indegree = {n: 0 for n in nodes}
    succs: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        indegree[target] += 1
        succs[source].append(target)
    ready = deque(sorted((n for n, d in indegree.items() if d == 0), key=lambda n: nodes[n].order))
    while ready:
        current = ready.popleft()
        for target in succs[current]:
            nodes[target].layer = max(nodes[target].layer, nodes[current].layer + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    # A further start event (or any source) stands just before the first node it leads to.
    for source in {s for s, _ in edges} - {t for _, t in edges}:
        nodes[source].layer = min(nodes[t].layer for t in succs[source]) - 1


def _with_dummies(nodes: dict[str, Node], edges: list[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Link the nodes layer to layer, a dummy node in each layer a long edge passes; the chain per edge."""
    chains: dict[tuple[str, str], list[str]] = {}
    for source, target in edges:
        chain = [source]
        for layer in range(nodes[source].layer + 1, nodes[target].layer):
            dummy = Node(f"\0{source}\0{target}\0{layer}", "dummy", nodes[target].order, layer=layer)
            nodes[dummy.id] = dummy
            chain.append(dummy.id)
        chain.append(target)
        for a, b in pairwise(chain):
            nodes[a].succs.append(b)
            nodes[b].preds.append(a)
        chains[(source, target)] = chain
    return chains


def _lower_median(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _rows(nodes: dict[str, Node]) -> None:
    """Rows per layer: forward from the predecessors, then straightened toward the successors.

    The lower median keeps the first branch of a split on the main line and the others below.
    """
    layers: dict[int, list[Node]] = {}
    for node in nodes.values():
        layers.setdefault(node.layer, []).append(node)
    for index in sorted(layers):
        def key(node: Node) -> tuple:
            wanted = _lower_median([nodes[p].row for p in node.preds])
            branch = min((nodes[p].succs.index(node.id) for p in node.preds), default=0)
            return (wanted if wanted is not None else 1 << 30, branch, node.order)

        layer = sorted(layers[index], key=key)
        previous = None
        for node in layer:
            wanted = _lower_median([nodes[p].row for p in node.preds])
            row = wanted if wanted is not None else (previous + 1 if previous is not None else 0)
            node.row = row if previous is None else max(row, previous + 1)
            previous = node.row
        layers[index] = layer
    for index in sorted(layers, reverse=True):
        layer = layers[index]
        for position, node in enumerate(layer):
            wanted = _lower_median([nodes[s].row for s in node.succs])
            if wanted is None:
                continue
            low = layer[position - 1].row + 1 if position else wanted
            high = layer[position + 1].row - 1 if position + 1 < len(layer) else wanted
            node.row = min(max(wanted, low), high) if low <= high else node.row
    lowest = min(node.row for node in nodes.values())
    for node in nodes.values():
        node.row -= lowest


# --- geometry -------------------------------------------------------------------------------


def _centre(node: Node) -> tuple[int, int]:
    return ORIGIN[0] + node.layer * COLUMN, ORIGIN[1] + node.row * ROW


def _bounds(node: Node, nodes: dict[str, Node]) -> tuple[int, int, int, int]:
    width, height = node.size
    if node.host in nodes:  # on the lower edge of its activity, right to left
        host = nodes[node.host]
        siblings = sorted((n for n in nodes.values() if n.host == node.host), key=lambda n: n.order)
        hx, hy, hw, hh = _bounds(host, nodes)
        return hx + hw - width - 8 - siblings.index(node) * (width + 6), hy + hh - height // 2, width, height
    x, y = _centre(node)
    return x - width // 2, y - height // 2, width, height


def _column_free(nodes: dict[str, Node], at: Node, rows: range) -> bool:
    return not any(n.layer == at.layer and n.row in rows and n is not at for n in nodes.values() if n.host is None)


def _segment(nodes: dict[str, Node], a: Node, b: Node) -> list[tuple[int, int]]:
    """The bends between two consecutive points of a chain on different rows."""
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    between = range(min(a.row, b.row), max(a.row, b.row) + 1)
    turn_at_a = a.kind != "dummy" and _column_free(nodes, a, between)
    turn_at_b = b.kind != "dummy" and _column_free(nodes, b, between)
    if a.kind == "gateway" and turn_at_a:
        return [(ax, by)]
    if turn_at_b and (b.kind == "gateway" or a.kind == "dummy"):
        return [(bx, ay)]
    if turn_at_a and a.kind != "activity":
        return [(ax, by)]
    middle = (ax + a.size[0] // 2 + bx - b.size[0] // 2) // 2
    return [(middle, ay), (middle, by)]


def _attach(node: Node, nodes: dict[str, Node], towards: tuple[int, int]) -> tuple[int, int]:
    """Where an edge meets the shape's border when it comes from (or goes to) the point towards."""
    x, y, width, height = _bounds(node, nodes)
    cx, cy = x + width // 2, y + height // 2
    tx, ty = towards
    if tx == cx:
        return cx, (y if ty < cy else y + height)
    return (x if tx < cx else x + width), cy


def _waypoints(nodes: dict[str, Node], chain: list[str]) -> list[tuple[int, int]]:
    points = [_centre(nodes[chain[0]])]
    for a, b in pairwise(chain):
        if nodes[a].row != nodes[b].row:
            points += _segment(nodes, nodes[a], nodes[b])
        points.append(_centre(nodes[b]))
    source, target = nodes[chain[0]], nodes[chain[-1]]
    points[0] = _attach(source, nodes, points[1])
    points[-1] = _attach(target, nodes, points[-2])
    return _simplified(points)


def _loop(nodes: dict[str, Node], source: Node, target: Node, depth: int) -> list[tuple[int, int]]:
    """A back edge: out of the source, left under the diagram, into the target.

    It leaves through the source's bottom (enters through the target's) when nothing stands below
    that shape, else through the channel right of the source (left of the target).
    """
    bottom = max(_bounds(n, nodes)[1] + _bounds(n, nodes)[3] for n in nodes.values() if n.kind != "dummy")
    y = bottom + LOOP_GAP * depth
    lowest = max(n.row for n in nodes.values())
    (sx, sy), (tx, ty) = _centre(source), _centre(target)
    offset = 10 if source is target else 0
    if _column_free(nodes, source, range(source.row + 1, lowest + 1)):
        start = [_attach(source, nodes, (sx, y)), (sx + offset, y)]
        start[0] = (start[0][0] + offset, start[0][1])
    else:
        channel = sx + COLUMN // 2
        start = [_attach(source, nodes, (channel, sy)), (channel, sy), (channel, y)]
    if _column_free(nodes, target, range(target.row + 1, lowest + 1)):
        end = [(tx - offset, y), (tx - offset, _attach(target, nodes, (tx, y))[1])]
    else:
        channel = tx - COLUMN // 2
        end = [(channel, y), (channel, ty), _attach(target, nodes, (channel, ty))]
    return _simplified(start + end)


def _from_boundary(nodes: dict[str, Node], event: Node, target: Node) -> list[tuple[int, int]]:
    """Down from the event into the gap below its activity, then through the next channel to the target."""
    x, y, width, height = _bounds(event, nodes)
    host_x, _ = _centre(nodes[event.host])
    tx, ty = _centre(target)
    below = y + height + 14
    channel = host_x + COLUMN // 2 if tx > host_x else host_x - COLUMN // 2
    points = [(x + width // 2, y + height), (x + width // 2, below), (channel, below), (channel, ty)]
    return _simplified(points + [_attach(target, nodes, (channel, ty))])


def _simplified(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    result: list[tuple[int, int]] = []
    for point in points:
        if result and point == result[-1]:
            continue
        if len(result) >= 2:
            (x1, y1), (x2, y2) = result[-2], result[-1]
            if (x1 == x2 == point[0]) or (y1 == y2 == point[1]):
                result[-1] = point
                continue
        result.append(point)
    return result


# --- output ---------------------------------------------------------------------------------


def _unique(base: str, used: set[str]) -> str:
    candidate, n = base, 1
    while candidate in used:
        n += 1
        candidate = f"{base}_{n}"
    used.add(candidate)
    return candidate


def _place(nodes: dict[str, Node], flows: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[str]]:
    """Give every node its layer and row; return the chain of nodes each forward edge passes."""
    for node in nodes.values():  # boundary events with an unknown host are placed like any node
        if node.host is not None and (node.host not in nodes or nodes[node.host].host is not None):
            node.host = None
    placed = [(_placed(nodes, s), t) for _, s, t in flows]
    placed = [(s, t) for s, t in placed if s != t]
    back = _back_edges(nodes, placed)
    forward = list(dict.fromkeys(e for e in placed if e not in back))
    _layer(nodes, forward)
    for node in nodes.values():
        if node.host in nodes:
            node.layer = nodes[node.host].layer
    chains = _with_dummies(nodes, forward)
    _rows({k: n for k, n in nodes.items() if n.host is None})
    for node in nodes.values():
        if node.host in nodes:
            node.row = nodes[node.host].row
    return chains


def _diagram(process, nodes: dict[str, Node], used_ids: set[str]) -> str:
    flows = _flows(process, nodes)
    chains = _place(nodes, flows)
    process_id = process.get("id")
    lines = [
        (
            f'\n  <bpmndi:BPMNDiagram xmlns:bpmndi="{BPMNDI_NS}" xmlns:dc="{DC_NS}" xmlns:di="{DI_NS}" '
            f"id={quoteattr(_unique(f'BPMNDiagram_{process_id}', used_ids))}>"
        ),
        f"    <bpmndi:BPMNPlane id={quoteattr(_unique(f'BPMNPlane_{process_id}', used_ids))} bpmnElement={quoteattr(process_id)}>",
    ]
    real = sorted((n for n in nodes.values() if n.kind != "dummy"), key=lambda n: n.order)
    for node in real:
        x, y, width, height = _bounds(node, nodes)
        lines.append(f"      <bpmndi:BPMNShape id={quoteattr(_unique(node.id + '_di', used_ids))} bpmnElement={quoteattr(node.id)}>")
        lines.append(f'        <dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}"/>')
        if node.kind == "gateway" and node.named:  # the label above, clear of branches leaving below
            lines.append(f'        <bpmndi:BPMNLabel><dc:Bounds x="{x - 25}" y="{y - 34}" width="{width + 50}" height="27"/></bpmndi:BPMNLabel>')
        lines.append("      </bpmndi:BPMNShape>")
    loops = 0
    for flow_id, source, target in flows:
        anchor = _placed(nodes, source)
        if source != anchor:
            points = _from_boundary(nodes, nodes[source], nodes[target])
        elif (source, target) in chains:
            points = _waypoints(nodes, chains[(source, target)])
        else:
            loops += 1
            points = _loop(nodes, nodes[source], nodes[target], loops)
        lines.append(f"      <bpmndi:BPMNEdge id={quoteattr(_unique(flow_id + '_di', used_ids))} bpmnElement={quoteattr(flow_id)}>")
        lines += [f'        <di:waypoint x="{x}" y="{y}"/>' for x, y in points]
        lines.append("      </bpmndi:BPMNEdge>")
    lines += ["    </bpmndi:BPMNPlane>", "  </bpmndi:BPMNDiagram>"]
    return "\n".join(lines)
