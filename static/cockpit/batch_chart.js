// Batch progress charts drawn with uPlot (static/vendor/uplot): the details page's chart of items per
// second and remaining items, polled from its JSON endpoint while the batch runs, and the batch list's
// sparklines (items per second), whose points come in the row's data-points attribute.
(function () {
  "use strict";
  var POLL_MS = 3000;

  function rateAndRemaining(samples) {
    var t = [], rate = [], remaining = [];
    samples.forEach(function (s) { t.push(s.t); rate.push(s.rate); remaining.push(s.remaining); });
    return [t, rate, remaining];
  }

  function detailOptions(width) {
    return {
      width: width,
      height: 240,
      scales: { x: { time: true }, rate: { auto: true, range: function (u, min, max) { return [0, Math.max(1, max) * 1.1]; } },
                remaining: { auto: true, range: function (u, min, max) { return [0, Math.max(1, max) * 1.05]; } } },
      series: [
        {},
        { label: "items/s", scale: "rate", stroke: "#1e7a3c", width: 2, fill: "rgba(30,122,60,0.08)", value: function (u, v) { return v == null ? "—" : v.toFixed(1); } },
        { label: "remaining items", scale: "remaining", stroke: "#2f6db3", width: 2, dash: [6, 4], value: function (u, v) { return v == null ? "—" : String(v); } }
      ],
      axes: [
        {},
        { scale: "rate", label: "items/s", stroke: "#1e7a3c" },
        { scale: "remaining", label: "remaining", side: 1, stroke: "#2f6db3", grid: { show: false } }
      ]
    };
  }

  function startDetailChart(el) {
    if (el.dataset.drawn) return;
    el.dataset.drawn = "1";
    var empty = document.getElementById("progress-chart-empty");
    var plot = null;
    function draw(body) {
      var data = rateAndRemaining(body.samples || []);
      if (empty) empty.hidden = data[0].length > 0;
      if (!plot) {
        plot = new window.uPlot(detailOptions(Math.max(el.clientWidth, 300)), data, el);
        window.addEventListener("resize", function () { plot.setSize({ width: Math.max(el.clientWidth, 300), height: 240 }); });
      } else {
        plot.setData(data);
      }
      el.dataset.points = String(data[0].length);
      el.dataset.running = body.running ? "true" : "false";
    }
    function poll() {
      fetch(el.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { if (!response.ok) throw new Error(response.status); return response.json(); })
        .then(function (body) {
          draw(body);
          if (body.running) window.setTimeout(poll, POLL_MS);  // an ended batch has its last sample
        })
        .catch(function () { window.setTimeout(poll, POLL_MS * 3); });
    }
    poll();
  }

  function drawSparkline(el) {
    if (el.dataset.drawn || !el.dataset.points) return;
    var points;
    try { points = JSON.parse(el.dataset.points); } catch (e) { return; }
    if (!points.t || points.t.length < 1) return;
    el.dataset.drawn = "1";
    new window.uPlot({
      width: 120, height: 28,
      legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true }, y: { range: function (u, min, max) { var top = Math.max(1, max) * 1.1; return [-top * 0.08, top]; } } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: "#1e7a3c", width: 1.5, fill: "rgba(30,122,60,0.12)", points: { show: false } }]
    }, [points.t, points.rate], el);
  }

  function drawAll() {
    if (!window.uPlot) return;
    var detail = document.getElementById("progress-chart");
    if (detail) startDetailChart(detail);
    document.querySelectorAll(".sparkline").forEach(drawSparkline);
  }

  document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);  // the running list is swapped every 2 s
})();
