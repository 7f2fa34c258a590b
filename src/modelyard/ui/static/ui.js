/* Modelyard UI: small enhancements of server-rendered pages. Every page works without it. */
(function () {
  "use strict";

  function pad(n) { return String(n).padStart(2, "0"); }

  /* Show times in the viewer's time zone; the title keeps UTC. */
  function localTimes() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
        " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    });
  }

  /* Forms with data-join="name" send the checked values of "name" as one comma-joined
     parameter (?columns=a,b), which keeps links short and stable. */
  function joinForms() {
    document.querySelectorAll("form[data-join]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        var name = form.dataset.join;
        var data = new FormData(form);
        var params = new URLSearchParams();
        var joined = [];
        data.forEach(function (value, key) {
          if (key === name) {
            if (value) { joined.push(value); }
          } else if (value !== "") {
            params.append(key, value);
          }
        });
        params.append(name, joined.join(","));
        event.preventDefault();
        var action = form.getAttribute("action") || window.location.pathname;
        window.location.assign(action + "?" + params.toString().replace(/%2C/g, ","));
      });
    });
  }

  /* The Compare button of the runs table is enabled for 2 to data-max picked runs. */
  function compareSelection() {
    var form = document.getElementById("compare-form");
    if (!form) { return; }
    var button = document.getElementById("compare-button");
    var label = document.getElementById("compare-count");
    var max = parseInt(form.dataset.max || "10", 10);
    function update() {
      var boxes = form.querySelectorAll("input[name=runs]");
      var picked = form.querySelectorAll("input[name=runs]:checked").length;
      button.disabled = picked < 2 || picked > max;
      boxes.forEach(function (box) { box.disabled = !box.checked && picked >= max; });
      label.textContent = picked === 0 ? "tick 2 to " + max + " runs" :
        picked + " picked" + (picked < 2 ? ": tick one more" : "");
      form.querySelectorAll("tbody tr").forEach(function (row) {
        var box = row.querySelector("input[name=runs]");
        row.classList.toggle("picked", !!(box && box.checked));
      });
    }
    form.addEventListener("change", update);
    update();
  }

  /* Put the cursor where a malformed filter went wrong. */
  function filterErrorCaret() {
    var input = document.querySelector("input[data-error-position]");
    if (!input) { return; }
    var pos = parseInt(input.dataset.errorPosition, 10);
    if (isNaN(pos)) { return; }
    input.focus();
    input.setSelectionRange(pos, Math.min(pos + 1, input.value.length));
  }

  /* The comparison table can hide the rows where every run has the same value. */
  function onlyDifferences() {
    var box = document.getElementById("only-differences");
    var table = document.getElementById("compare-table");
    if (!box || !table) { return; }
    box.addEventListener("change", function () {
      table.classList.toggle("only-differences", box.checked);
    });
  }

  /* Close the column picker with Escape or a click elsewhere. */
  function pickerClosing() {
    var picker = document.getElementById("column-picker");
    if (!picker) { return; }
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { picker.open = false; }
    });
    document.addEventListener("click", function (event) {
      if (picker.open && !picker.contains(event.target)) { picker.open = false; }
    });
  }

  /* A pipeline DAG: a click on a step opens its step run (the table below links it too). */
  function pipelineSteps() {
    var base = document.body.dataset.base || "";
    document.querySelectorAll(".pipeline-dag .step[data-run-id]").forEach(function (step) {
      var id = step.getAttribute("data-run-id");
      if (!/^[0-9a-f]{8,32}$/.test(id)) { return; }
      step.style.cursor = "pointer";
      step.addEventListener("click", function () {
        window.location.assign(base + "/runs/" + id);
      });
    });
  }

  /* The explain form of a pipeline page explains run A -> run B: it goes to B's page. */
  function explainPair() {
    var form = document.getElementById("explain-form");
    var target = form && form.querySelector("select[data-explain-target]");
    if (!target) { return; }
    form.addEventListener("submit", function () {
      form.setAttribute("action", (form.dataset.base || "") + "/pipelines/runs/" +
        encodeURIComponent(target.value) + "#explain");
    });
  }

  localTimes();
  joinForms();
  compareSelection();
  filterErrorCaret();
  onlyDifferences();
  pickerClosing();
  pipelineSteps();
  explainPair();
})();
