/* Modelyard UI: metric history charts (Plotly.js, served from the installed plotly package).
   Each .chart element names its data URL; series arrive downsampled by the server. */
(function () {
  "use strict";

  var container = document.getElementById("charts");
  if (!container) { return; }
  var charts = Array.prototype.slice.call(container.querySelectorAll(".chart"));
  if (typeof window.Plotly === "undefined") {
    charts.forEach(function (el) {
      el.classList.add("chart-missing");
      el.textContent = "Charts need Plotly.js: pip install plotly, then restart the server.";
    });
    return;
  }

  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
  /* WebGL keeps long lines smooth, but a page gets only ~16 WebGL contexts: short series are
     drawn as SVG, long ones (after server-side downsampling, at most a few thousand points)
     with scattergl. */
  var GL_THRESHOLD = 1000;
  var meta = container.dataset.meta ? JSON.parse(container.dataset.meta) : null;
  var xAxis = container.dataset.x === "time" ? "time" : "step";
  var drawn = new Set();
  var webgl = (function () {
    try {
      var canvas = document.createElement("canvas");
      return !!(canvas.getContext("webgl2") || canvas.getContext("webgl"));
    } catch (e) { return false; }
  })();

  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  function dataUrl(el) {
    var url = new URL(el.dataset.url, window.location.href);
    url.searchParams.set("x", xAxis);
    if (el.dataset.compare) { url.searchParams.set("runs", container.dataset.runs); }
    return url.toString();
  }

  function runMeta(runId) {
    if (!meta) { return null; }
    for (var i = 0; i < meta.length; i++) { if (meta[i].run_id === runId) { return meta[i]; } }
    return null;
  }

  function draw(el) {
    drawn.add(el);
    var figure = el.closest("figure");
    var note = figure ? figure.querySelector(".chart-note") : null;
    el.dataset.state = "loading";
    return fetch(dataUrl(el), { headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) {
          if (!resp.ok) { throw new Error(body.error ? body.error.message : resp.statusText); }
          return body;
        });
      })
      .then(function (body) {
        var series = body.series || [body];
        var traces = series.map(function (s) {
          var m = runMeta(s.run_id);
          var long = s.shown > GL_THRESHOLD && webgl;
          return {
            type: long ? "scattergl" : "scatter",
            mode: s.shown <= 1 ? "markers" : "lines",
            x: s.x,
            y: s.y,
            name: m ? m.name : body.key,
            line: { width: 1.5, color: m ? m.colour : "#2563eb" },
            marker: { size: 5, color: m ? m.colour : "#2563eb" },
            connectgaps: false
          };
        });
        var layout = {
          height: 260,
          margin: { l: 52, r: 12, t: 8, b: 40 },
          font: { family: FONT, size: 11, color: "#334155" },
          paper_bgcolor: "rgba(0,0,0,0)",
          plot_bgcolor: "rgba(0,0,0,0)",
          xaxis: {
            type: xAxis === "time" ? "date" : "linear",
            title: { text: xAxis, standoff: 4 },
            gridcolor: "#e2e8f0",
            zeroline: false,
            automargin: true
          },
          yaxis: { gridcolor: "#e2e8f0", zeroline: false, automargin: true },
          showlegend: !!meta && traces.length > 1,
          legend: { orientation: "h", x: 0, y: -0.3 },
          hovermode: "closest"
        };
        var config = {
          displaylogo: false,
          responsive: true,
          modeBarButtonsToRemove: ["select2d", "lasso2d", "sendDataToCloud"]
        };
        return window.Plotly.react(el, traces, layout, config).then(function () {
          var points = series.reduce(function (a, s) { return a + s.points; }, 0);
          var shown = series.reduce(function (a, s) { return a + s.shown; }, 0);
          el.dataset.state = "ready";
          el.dataset.points = String(points);
          el.dataset.shown = String(shown);
          if (note) {
            note.textContent = fmt(points) + " point" + (points === 1 ? "" : "s") +
              (shown < points ? " · showing " + fmt(shown) : "");
          }
        });
      })
      .catch(function (err) {
        el.dataset.state = "error";
        el.textContent = "Could not load this chart: " + err.message;
      });
  }

  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          draw(entry.target);
        }
      });
    }, { rootMargin: "400px 0px" });
    charts.forEach(function (el) { observer.observe(el); });
  } else {
    charts.forEach(draw);
  }

  document.querySelectorAll("input[name=x-axis]").forEach(function (radio) {
    radio.addEventListener("change", function () {
      if (!radio.checked) { return; }
      xAxis = radio.value === "time" ? "time" : "step";
      container.dataset.x = xAxis;
      var url = new URL(window.location.href);
      if (xAxis === "step") { url.searchParams.delete("x"); } else { url.searchParams.set("x", xAxis); }
      window.history.replaceState(null, "", url.toString());
      drawn.forEach(draw);
    });
  });

  var live = parseInt(container.dataset.live || "0", 10);
  if (live > 0) {
    window.setInterval(function () { drawn.forEach(draw); }, live * 1000);
  }
})();

/* One metric across versions or runs: a .series-chart element names the <script> holding its
   data ({x, labels, metrics: {key: [...]}, metric, x_title, links?}) and the <select> that
   picks the metric; the pick is kept in the URL (?metric=). A point with a link opens it. */
(function () {
  "use strict";

  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";
  var MAX_TICKS = 30;

  function setUp(el) {
    var data = JSON.parse(document.getElementById(el.dataset.source).textContent);
    var select = el.dataset.select ? document.getElementById(el.dataset.select) : null;
    if (typeof window.Plotly === "undefined") {
      el.dataset.state = "missing";
      el.classList.add("chart-missing");
      el.textContent = "Charts need Plotly.js: pip install plotly, then restart the server.";
      return;
    }
    function draw(key) {
      var trace = {
        type: "scatter", mode: "lines+markers", x: data.x, y: data.metrics[key] || [],
        text: data.labels, hovertemplate: "%{text}<br>" + key + " = %{y}<extra></extra>",
        line: { width: 2, color: "#2563eb" }, marker: { size: 8, color: "#2563eb" },
        connectgaps: false
      };
      var xaxis = { title: { text: data.x_title, standoff: 4 }, gridcolor: "#e2e8f0", zeroline: false };
      if (data.x.length <= MAX_TICKS) {
        xaxis.tickmode = "array"; xaxis.tickvals = data.x; xaxis.ticktext = data.labels;
      }
      var layout = {
        height: 260, margin: { l: 56, r: 12, t: 8, b: 44 },
        font: { family: FONT, size: 11, color: "#334155" },
        paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", xaxis: xaxis,
        yaxis: { title: { text: key }, gridcolor: "#e2e8f0", zeroline: false, automargin: true },
        hovermode: "closest"
      };
      el.dataset.state = "loading";
      window.Plotly.react(el, [trace], layout, { displaylogo: false, responsive: true })
        .then(function () { el.dataset.metric = key; el.dataset.state = "ready"; });
    }
    draw(data.metric);
    if (data.links) {
      el.on("plotly_click", function (event) {
        var link = event.points.length ? data.links[event.points[0].pointIndex] : null;
        if (link) { window.location.assign(link); }
      });
    }
    if (select) {
      select.addEventListener("change", function () {
        draw(select.value);
        var url = new URL(window.location.href);
        url.searchParams.set("metric", select.value);
        window.history.replaceState(null, "", url.toString());
      });
    }
  }

  document.querySelectorAll(".series-chart[data-source]").forEach(setUp);
})();
