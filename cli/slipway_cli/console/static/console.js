// Draws each chart a page declares: <div data-chart="ID"> with its plotly figure in <script type="application/json" id="ID">.
// plotly.min.js comes from the plotly Python package, served by the console itself (no CDN).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Plotly === "undefined") return;
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  const ink = dark ? "#e6e6e6" : "#1f2328";
  for (const el of document.querySelectorAll("[data-chart]")) {
    const figure = JSON.parse(document.getElementById(el.dataset.chart).textContent);
    const layout = Object.assign({
      margin: {t: 24, r: 24, b: 48, l: 64}, height: 320,
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: {color: ink},
    }, figure.layout || {});
    Plotly.newPlot(el, figure.data, layout, {displaylogo: false, responsive: true});
  }
});
