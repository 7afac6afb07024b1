// The dashboard's script: draws the Plotly charts from their JSON blocks, follows report
// progress until the figures are ready, and auto-submits the school switcher.
// A static file (no inline script), so a strict Content-Security-Policy allows it.
(function () {
  "use strict";

  var PLOT_CONFIG = {
    responsive: true,
    displaylogo: false,
    displayModeBar: "hover",
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
  };

  function renderCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll(".chart[data-figure]").forEach(function (el) {
      var block = document.getElementById(el.dataset.figure);
      if (!block || el.dataset.rendered) return;
      var figure = JSON.parse(block.textContent);
      window.Plotly.newPlot(el, figure.data || [], figure.layout || {}, PLOT_CONFIG).then(
        function () { el.dataset.rendered = "true"; },
        function (error) { el.dataset.rendered = "error"; el.textContent = "This chart could not be drawn: " + error; }
      );
    });
  }

  function setProgress(box, done, total) {
    var bar = box.querySelector("progress");
    var text = box.querySelector(".progress-text");
    if (bar) { bar.max = total || 1; bar.value = done; bar.textContent = done + " / " + total; }
    if (text) text.textContent = done + " of " + (total || "?") + " parts done";
  }

  // Replace #live with the same region of the page fetched again (pinned to its reports).
  function swapLive(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (resp) { return resp.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var live = document.getElementById("live");
        if (!fresh || !live) { window.location.assign(url); return; }
        var node = document.importNode(fresh, true);
        live.replaceWith(node);
        init(node);
      });
  }

  function watch(box) {
    var pending = JSON.parse(box.dataset.pending || "[]");
    var delay = 500;
    var query = pending.map(function (id) { return "id=" + encodeURIComponent(id); }).join("&");

    function later() {
      window.setTimeout(poll, delay);
      delay = Math.min(delay * 1.5, 5000);
    }

    function poll() {
      fetch(box.dataset.statusUrl + "?" + query, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      }).then(function (resp) {
        if (resp.status === 401) { window.location.reload(); return null; }  // session ended
        return resp.ok ? resp.json() : null;
      }).then(function (data) {
        if (!data) { later(); return; }
        var done = 0, total = 0, open = 0;
        data.reports.forEach(function (r) {
          done += r.done; total += r.total;
          if (r.status !== "finished" && r.status !== "failed") open += 1;
        });
        setProgress(box, done, total);
        if (open === 0) {
          swapLive(box.dataset.refreshUrl).catch(later);
        } else {
          later();
        }
      }).catch(later);
    }
    poll();
  }

  function init(root) {
    renderCharts(root);
    root.querySelectorAll("[data-progress]").forEach(watch);
    root.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
      select.addEventListener("change", function () { if (select.value) select.form.submit(); });
    });
    root.querySelectorAll("form[data-autosubmit] .js-hide").forEach(function (el) { el.hidden = true; });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
