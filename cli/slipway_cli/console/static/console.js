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

// Tables marked "sortable": each column header is a button (keyboard: Tab, then Enter or Space) that sorts the rows
// shown on this page by that column, numbers as numbers; aria-sort says which way.
function sortBy(table, index, header) {
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const key = (row) => {
    const text = (row.cells[index] ? row.cells[index].textContent : "").trim().replace(/^v(?=\d)/, "");
    const number = Number(text.replace(/[,%\s]/g, ""));
    return text !== "" && !Number.isNaN(number) ? number : text;
  };
  const rows = [...body.rows].sort((a, b) => {
    const x = key(a), y = key(b);
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return ascending ? order : -order;
  });
  for (const row of rows) body.appendChild(row);
}
document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    [...table.tHead.rows[0].cells].forEach((th, index) => {
      if (th.dataset.nosort !== undefined) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      button.addEventListener("click", () => sortBy(table, index, th));
      th.textContent = "";
      th.appendChild(button);
    });
  }
});
