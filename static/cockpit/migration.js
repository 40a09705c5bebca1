// The migration page, enhanced: both versions' diagrams (vendored bpmn-js NavigatedViewer), add and
// remove mapping rows, and the validation report live from POST /engine-rest/migration/validate.
// Without this file the page is a plain GET form validated by the server.
(function () {
  "use strict";
  var form = document.getElementById("migration-form");
  if (!form) return;
  var source = document.getElementById("source");
  var target = document.getElementById("target");

  // Choosing a version shows its mapping at once (the server renders it).
  function reload() {
    var button = document.getElementById("show-mapping");
    if (form.requestSubmit) form.requestSubmit(button); else form.submit();
  }
  source.addEventListener("change", function () { target.value = ""; reload(); });
  target.addEventListener("change", reload);

  var dataNode = document.getElementById("migration-data");
  var table = document.getElementById("mapping");
  if (!dataNode || !table) return;
  var data = JSON.parse(dataNode.textContent);
  var body = table.tBodies[0];
  var summary = document.getElementById("validation-summary");
  var viewers = {};

  // --- diagrams -------------------------------------------------------------------------------------

  function openProcess(viewer, key) {
    var definitions = viewer.getDefinitions();
    var diagram = (definitions.diagrams || []).filter(function (d) {
      return d.plane && d.plane.bpmnElement && d.plane.bpmnElement.id === key;
    })[0];
    return diagram && diagram !== definitions.diagrams[0] ? viewer.open(diagram) : Promise.resolve();
  }

  function showDiagram(side) {
    var container = document.getElementById(side + "-diagram");
    if (!container || typeof window.BpmnJS !== "function") return;
    container.hidden = false;
    var viewer = new window.BpmnJS({ container: container });
    viewer.importXML(data[side].xml)
      .then(function () { return openProcess(viewer, data[side].processKey); })
      .then(function () {
        var canvas = viewer.get("canvas");
        canvas.zoom("fit-viewport", "auto");
        canvas.zoom(Math.min(canvas.zoom() * 0.92, 1), "auto");
        container.classList.add("ready");
        viewers[side] = viewer;
        var activities = document.getElementById(side + "-activities");
        if (activities) activities.open = false;
        markMapped();
      })
      .catch(function () {
        container.hidden = true;
        document.getElementById("diagram-error").hidden = false;
      });
  }

  function eachMarker(side, callback) {
    var viewer = viewers[side];
    if (!viewer) return;
    var registry = viewer.get("elementRegistry");
    callback(viewer.get("canvas"), function (id) { return id && registry.get(id); });
  }

  function clearMarker(side, marker) {
    eachMarker(side, function (canvas) {
      document.querySelectorAll("#" + side + "-diagram ." + marker).forEach(function (node) {
        var id = node.getAttribute("data-element-id");
        if (id) canvas.removeMarker(id, marker);
      });
    });
  }

  function markMapped() {
    clearMarker("source", "mapped");
    clearMarker("target", "mapped");
    rows().forEach(function (row) {
      var pair = pairOf(row);
      eachMarker("source", function (canvas, exists) { if (exists(pair[0]) && pair[1]) canvas.addMarker(pair[0], "mapped"); });
      eachMarker("target", function (canvas, exists) { if (exists(pair[1]) && pair[0]) canvas.addMarker(pair[1], "mapped"); });
    });
  }

  function highlight(row, on) {
    var pair = pairOf(row);
    ["source", "target"].forEach(function (side, index) {
      eachMarker(side, function (canvas, exists) {
        if (!exists(pair[index])) return;
        if (on) canvas.addMarker(pair[index], "highlighted"); else canvas.removeMarker(pair[index], "highlighted");
      });
    });
  }

  // --- rows -----------------------------------------------------------------------------------------

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr.mapping-row")); }

  function pairOf(row) {
    return [row.querySelector("select[name=map_source]").value, row.querySelector("select[name=map_target]").value];
  }

  function enhance(row) {
    var remove = row.querySelector(".remove-row");
    remove.hidden = false;
    remove.addEventListener("click", function () { highlight(row, false); row.remove(); changed(); });
    row.addEventListener("mouseenter", function () { highlight(row, true); });
    row.addEventListener("mouseleave", function () { highlight(row, false); });
  }

  // With JavaScript, "Add instruction" replaces the blank rows offered for a plain form.
  body.querySelectorAll("tr.blank-row").forEach(function (row) { row.remove(); });
  rows().forEach(enhance);
  var add = document.getElementById("add-row");
  var template = document.getElementById("mapping-row-template");
  add.hidden = false;
  add.addEventListener("click", function () {
    var row = template.content.querySelector("tr").cloneNode(true);
    body.appendChild(row);
    enhance(row);
    row.querySelector("select").focus();
  });
  body.addEventListener("change", changed);

  // --- live validation ------------------------------------------------------------------------------

  var timer = null;
  var sequence = 0;

  function showUnmapped() {
    var mapped = {};
    rows().forEach(function (row) { var pair = pairOf(row); if (pair[0] && pair[1]) mapped[pair[0]] = true; });
    var missing = data.migratable.filter(function (id) { return !mapped[id]; });
    var list = document.getElementById("unmapped-list");
    list.textContent = "";
    missing.forEach(function (id, index) {
      if (index) list.appendChild(document.createTextNode(", "));
      var code = document.createElement("code");
      code.textContent = id;
      list.appendChild(code);
    });
    document.getElementById("unmapped").hidden = missing.length === 0;
  }

  function changed() {
    markMapped();
    showUnmapped();
    window.clearTimeout(timer);
    timer = window.setTimeout(validate, 250);
  }

  function plan() {
    var instructions = [];
    rows().forEach(function (row) {
      var pair = pairOf(row);
      if (pair[0] && pair[1]) {
        instructions.push({ sourceActivityIds: [pair[0]], targetActivityIds: [pair[1]], updateEventTrigger: false });
      }
    });
    return {
      sourceProcessDefinitionId: data.sourceProcessDefinitionId,
      targetProcessDefinitionId: data.targetProcessDefinitionId,
      instructions: instructions
    };
  }

  function say(text, ok) {
    summary.textContent = text;
    summary.className = "notice " + (ok ? "ok" : "error");
  }

  function show(report) {
    var invalid = false;
    var mapped = 0;
    rows().forEach(function (row) {
      var pair = pairOf(row);
      var cell = row.querySelector(".failures");
      var failures = [];
      if (pair[0] && !pair[1]) failures.push(data.messages.noTarget.replace("{source}", pair[0]));
      if (pair[0] && pair[1]) {
        mapped += 1;
        report.instructionReports.forEach(function (entry) {
          if (entry.instruction.sourceActivityIds[0] === pair[0] && entry.instruction.targetActivityIds[0] === pair[1]) {
            failures = failures.concat(entry.failures);
          }
        });
      }
      cell.textContent = "";
      failures.forEach(function (failure) {
        var span = document.createElement("span");
        span.className = "field-error";
        span.textContent = failure;
        cell.appendChild(span);
      });
      row.classList.toggle("invalid", failures.length > 0);
      invalid = invalid || failures.length > 0;
    });
    if (invalid) say(data.messages.invalid, false);
    else if (!mapped) say(data.messages.nothing, false);
    else say(data.messages.valid, true);
  }

  function validate() {
    var mine = ++sequence;
    fetch(form.getAttribute("data-validate-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": form.getAttribute("data-csrf") },
      body: JSON.stringify(plan())
    })
      .then(function (response) {
        return response.json().then(function (json) { return { ok: response.ok, json: json }; });
      })
      .then(function (answer) {
        if (mine !== sequence) return;  // a later change is being validated
        if (answer.ok) show(answer.json); else say(answer.json.message || data.messages.failed, false);
      })
      .catch(function () { if (mine === sequence) say(data.messages.failed, false); });
  }

  showDiagram("source");
  showDiagram("target");
})();
