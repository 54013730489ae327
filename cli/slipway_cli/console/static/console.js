// Draws each chart a page declares: <div data-chart="ID"> with its plotly figure in <script type="application/json" id="ID">.
// plotly.min.js (from the plotly Python package, served by the console itself: no CDN) is loaded only by pages with
// a chart, after the page is shown: its 4.6 MB never delays the first paint.
"use strict";
function drawCharts() {
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
}
document.addEventListener("DOMContentLoaded", () => {
  if (!document.querySelector("[data-chart]")) return;
  requestAnimationFrame(() => setTimeout(() => {
    const script = document.createElement("script");
    script.src = "/static/plotly.min.js";
    script.onload = drawCharts;
    document.head.appendChild(script);
  }, 0));
});
