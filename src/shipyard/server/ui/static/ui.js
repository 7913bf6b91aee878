/* shipyard web UI: small progressive enhancement over server-rendered pages.
   Charts: every <figure data-chart> carries its data in a <script type="application/json">;
   we draw it with uPlot (vendored from npm, served by this server). No inline scripts (CSP). */
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];

  function fmt(v) {
    if (v === null || v === undefined) { return "—"; }
    var a = Math.abs(v);
    return (a !== 0 && (a >= 1e6 || a < 1e-3)) ? v.toExponential(3) : String(Number(v.toPrecision(6)));
  }

  /* A tooltip that follows the cursor: the x value and every series' value there. */
  function tooltipPlugin(spec, timeAxis) {
    var tip;
    return {
      hooks: {
        init: function (u) {
          tip = document.createElement("div");
          tip.className = "chart-tip";
          tip.hidden = true;
          u.over.appendChild(tip);
          u.over.addEventListener("mouseleave", function () { tip.hidden = true; });
        },
        setCursor: function (u) {
          var idx = u.cursor.idx;
          if (idx === null || idx === undefined || u.cursor.left < 0) { tip.hidden = true; return; }
          var x = u.data[0][idx];
          tip.textContent = "";
          var head = document.createElement("div");
          head.className = "tip-head";
          head.textContent = timeAxis ? new Date(x * 1000).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "step " + x;
          tip.appendChild(head);
          spec.labels.forEach(function (label, i) {
            var row = document.createElement("div");
            row.className = "tip-row";
            var name = document.createElement("span");
            name.textContent = label;
            var val = document.createElement("span");
            val.textContent = fmt(u.data[i + 1][idx]);
            row.appendChild(name);
            row.appendChild(val);
            tip.appendChild(row);
          });
          tip.hidden = false;
          var left = u.cursor.left + 12, top = u.cursor.top + 12;
          if (left + tip.offsetWidth > u.over.clientWidth) { left = u.cursor.left - tip.offsetWidth - 12; }
          tip.style.left = Math.max(0, left) + "px";
          tip.style.top = Math.max(0, Math.min(top, u.over.clientHeight - tip.offsetHeight)) + "px";
        }
      }
    };
  }

  function drawChart(figure) {
    var holder = figure.querySelector(".chart-plot");
    var script = figure.querySelector("script.chart-data");
    if (!holder || !script || typeof window.uPlot !== "function") { return; }
    var spec = JSON.parse(script.textContent);
    var timeAxis = spec.time === true;
    var series = [{ label: spec.x_label || (timeAxis ? "time" : "step") }];
    spec.labels.forEach(function (label, i) {
      series.push({
        label: label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        spanGaps: true,
        points: { show: spec.data[0].length <= 60 }
      });
    });
    var xs = spec.data[0];
    var fullMin = xs.length ? xs[0] : 0, fullMax = xs.length ? xs[xs.length - 1] : 1;
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "chart-reset";
    reset.textContent = "Reset zoom";
    reset.hidden = true;
    var tools = document.createElement("div");
    tools.className = "chart-tools";
    var hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = "drag to zoom";
    tools.appendChild(hint);
    tools.appendChild(reset);
    figure.insertBefore(tools, holder);
    var width = Math.max(holder.clientWidth, 240);
    var opts = {
      width: width,
      height: 220,
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false, setScale: true }, focus: { prox: 24 } },
      focus: { alpha: 0.35 },
      scales: { x: { time: timeAxis } },
      axes: [{ label: timeAxis ? null : (spec.x_label || "step"), size: 40 }, { size: 60 }],
      series: series,
      plugins: [tooltipPlugin(spec, timeAxis)],
      hooks: {
        setScale: [function (u, key) {
          if (key !== "x") { return; }
          var min = u.scales.x.min, max = u.scales.x.max;
          var zoomed = min > fullMin + 1e-9 || max < fullMax - 1e-9;
          reset.hidden = !zoomed;
          if (zoomed) { figure.setAttribute("data-zoom", fmt(min) + ".." + fmt(max)); }
          else { figure.removeAttribute("data-zoom"); }
        }]
      }
    };
    var plot = new window.uPlot(opts, spec.data, holder);
    reset.addEventListener("click", function () { plot.setScale("x", { min: fullMin, max: fullMax }); });
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
