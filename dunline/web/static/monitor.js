// Live charts of the campaign monitor: the SSE `metrics` events (JSON) feed two uPlot charts.
// No inline script anywhere (the CSP forbids it): this file is loaded with `defer`.
(function () {
  "use strict";
  var KEEP = 300; // points: five minutes at one a second
  var t = [], ringing = [], up = [], rate = [], cap = [];
  var calls = null, abandon = null;

  function make(el, series) {
    if (!el || typeof uPlot === "undefined") return null;
    var opts = {
      width: Math.max(420, el.clientWidth || 420), height: 220,
      scales: { x: { time: true } },
      series: [{}].concat(series),
      axes: [{}, {}],
    };
    return new uPlot(opts, [[]].concat(series.map(function () { return []; })), el);
  }

  function setup() {
    calls = make(document.getElementById("chart-calls"), [
      { label: "ringing", stroke: "#7a4d00", width: 2 },
      { label: "up", stroke: "#0b5cad", width: 2 },
    ]);
    abandon = make(document.getElementById("chart-abandon"), [
      { label: "abandon % today", stroke: "#a40e26", width: 2 },
      { label: "cap %", stroke: "#4a5560", dash: [6, 4], width: 1 },
    ]);
  }

  function push(m) {
    t.push(Date.parse(m.at) / 1000);
    ringing.push(m.calls.ringing);
    up.push(m.calls.up);
    rate.push(m.abandon_rate.today === null ? null : m.abandon_rate.today * 100);
    cap.push(m.abandon_cap * 100);
    if (t.length > KEEP) { [t, ringing, up, rate, cap].forEach(function (a) { a.shift(); }); }
    if (calls) calls.setData([t, ringing, up]);
    if (abandon) abandon.setData([t, rate, cap]);
    document.body.dataset.monitorUpdates = String(Number(document.body.dataset.monitorUpdates || 0) + 1);
  }

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    if (evt.detail.type !== "metrics") return;
    evt.preventDefault(); // the JSON is for the charts, not for a swap
    try { push(JSON.parse(evt.detail.data)); } catch (e) { /* a malformed event is skipped */ }
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
