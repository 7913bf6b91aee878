/* shipyard web UI: small progressive enhancement over server-rendered pages.
   Charts: every <figure data-chart> carries its data in a <script type="application/json">;
   we draw it with uPlot (vendored from npm, served by this server). No inline scripts (CSP). */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

  function drawChart(figure) {
    var holder = figure.querySelector(".chart-plot");
    var script = figure.querySelector("script.chart-data");
    if (!holder || !script || typeof window.uPlot !== "function") { return; }
    var spec = JSON.parse(script.textContent);
    var series = [{ label: "step" }];
    spec.labels.forEach(function (label, i) {
      series.push({
        label: label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: true,
        points: { show: spec.data[0].length <= 60 }
      });
    });
    var width = Math.max(holder.clientWidth, 240);
    var opts = {
      width: width,
      height: 220,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false } },
      axes: [{ label: "step", size: 40 }, { size: 60 }],
      series: series
    };
    var plot = new window.uPlot(opts, spec.data, holder);
    figure.setAttribute("data-rendered", String(spec.points));
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () {
        var w = Math.max(holder.clientWidth, 240);
        if (Math.abs(w - plot.width) > 4) { plot.setSize({ width: w, height: 220 }); }
      }).observe(holder);
    }
  }

  function compareSelection(form) {
    var button = form.querySelector("#compare-button");
    if (!button) { return; }
    function update() {
      var n = form.querySelectorAll("input[name=run]:checked").length;
      button.disabled = n < 2;
      button.textContent = n >= 2 ? "Compare " + n + " runs" : "Compare selected";
    }
    form.addEventListener("change", update);
    update();
  }

  /* A running task's card: poll its version and reload the (sandboxed) frame when it changes. */
  function liveCard(frame) {
    var url = frame.getAttribute("data-version-url");
    var base = frame.getAttribute("src").split("?")[0];
    var version = frame.getAttribute("data-version");
    function schedule() { window.setTimeout(poll, 1000); }
    function poll() {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (reply) { return reply.ok ? reply.json() : null; })
        .then(function (state) {
          if (!state) { schedule(); return; }
          if (state.version !== version) {
            version = state.version;
            frame.setAttribute("data-version", version);
            frame.setAttribute("src", base + "?v=" + encodeURIComponent(version));
          }
          if (state.running) { schedule(); } else { frame.removeAttribute("data-live"); }
        })
        .catch(schedule);
    }
    schedule();
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("iframe[data-live]"), liveCard);
    Array.prototype.forEach.call(document.querySelectorAll("figure[data-chart]"), function (fig) {
      try { drawChart(fig); } catch (err) { fig.setAttribute("data-error", String(err)); }
    });
    var form = document.getElementById("compare-form");
    if (form) { compareSelection(form); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
