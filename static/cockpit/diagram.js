// The process definition page's diagram: bpmn-js (vendored NavigatedViewer) with token and incident
// badges per activity; a click on an activity filters the instances (?activity=<id>, on the page at
// data.filterPath when given: the instance page sends it to its definition's page). The data comes
// from the page's <script type="application/json" id="diagram-data">; nothing here runs inline.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  var source = document.getElementById("diagram-data");
  if (!container || !source || typeof window.BpmnJS !== "function") return;
  var data = JSON.parse(source.textContent);

  function badge(kind, count, title) {
    var element = document.createElement("span");
    element.className = "count-badge " + kind;
    element.textContent = String(count);
    element.title = title;
    return element;
  }

  function filterUrl(activityId) {
    var params = new URLSearchParams();
    params.set("activity", activityId);
    return (data.filterPath || window.location.pathname) + "?" + params.toString();
  }

  function decorate(viewer) {
    var overlays = viewer.get("overlays");
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    Object.keys(data.activities).forEach(function (id) {
      if (!registry.get(id)) return;
      var counts = data.activities[id];
      canvas.addMarker(id, "activity-link");
      if (counts.tokens > 0) {
        overlays.add(id, "counts", { position: { bottom: 10, left: -10 }, html: badge("tokens", counts.tokens, "active tokens") });
      }
      if (counts.incidents > 0) {
        overlays.add(id, "counts", { position: { bottom: 10, right: 14 }, html: badge("incidents", counts.incidents, "incidents") });
      }
    });
    if (data.selected && registry.get(data.selected)) canvas.addMarker(data.selected, "selected-activity");
    viewer.get("eventBus").on("element.click", function (event) {
      var id = event.element && event.element.id;
      if (id && Object.prototype.hasOwnProperty.call(data.activities, id)) window.location.assign(filterUrl(id));
    });
  }

  function fit(viewer) {
    var canvas = viewer.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    // A margin for the labels at the edges; never larger than the model's own size.
    canvas.zoom(Math.min(canvas.zoom() * 0.92, 1), "auto");
  }

  function openProcess(viewer) {
    // A document may hold several diagrams: show the one of this definition's process.
    var definitions = viewer.getDefinitions();
    var diagram = (definitions.diagrams || []).filter(function (d) {
      return d.plane && d.plane.bpmnElement && d.plane.bpmnElement.id === data.processKey;
    })[0];
    return diagram && diagram !== definitions.diagrams[0] ? viewer.open(diagram) : Promise.resolve();
  }

  container.hidden = false;
  var viewer = new window.BpmnJS({ container: container });
  viewer.importXML(data.xml)
    .then(function () { return openProcess(viewer); })
    .then(function () {
      decorate(viewer);
      fit(viewer);
      container.classList.add("ready");
      var table = document.getElementById("activity-table");
      if (table) table.open = false;
    })
    .catch(function () {
      container.hidden = true;
      var error = document.getElementById("diagram-error");
      if (error) error.hidden = false;
    });
})();
