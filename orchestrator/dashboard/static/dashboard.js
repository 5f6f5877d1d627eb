// The dashboard's behaviour: live regions that refresh in place, actions sent without leaving
// the page, and the judge's charts (uPlot, shipped with the package: no network needed).
"use strict";

window.orchestratorCharts = [];
document.body.dataset.liveUpdates = "0";

const COLORS = ["#d9480f", "#1c7ed6", "#2b8a3e", "#ae3ec9", "#f08c00", "#0b7285", "#5f3dc4", "#c2255c"];

function flash(text, bad) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = bad ? "bad" : "good";
  box.hidden = false;
}

function refresh(region) {
  return fetch(region.dataset.live, { headers: { Accept: "text/html" }, cache: "no-store" })
    .then((r) => (r.ok ? r.text() : Promise.reject(new Error(r.status))))
    .then((html) => {
      if (html !== region.dataset.lastHtml) {
        region.dataset.lastHtml = html;
        region.innerHTML = html;
        drawCharts(region);
      }
      document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates) + 1);
    })
    .catch(() => {});
}

function startLive() {
  document.querySelectorAll("[data-live]").forEach((region) => {
    const every = Number(region.dataset.every || 2000);
    const tick = () => refresh(region).finally(() => setTimeout(tick, every));
    setTimeout(tick, every);
  });
}

function wireActions() {
  document.querySelectorAll("form.action").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      const body = new URLSearchParams(new FormData(form));
      fetch(form.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRF-Token": body.get("csrf") || "" },
        credentials: "same-origin",
      })
        .then((r) => r.json().then((answer) => ({ ok: r.ok, answer })))
        .then(({ ok, answer }) => {
          flash(`${answer.verb}: ${answer.message}`, !ok);
          document.querySelectorAll("[data-live]").forEach(refresh);
        })
        .catch((err) => flash(`the request failed: ${err}`, true));
    });
  });
}

function tickLabel(v) {
  if (v == null) return "";
  if (v === 0) return "0";
  if (Math.abs(v) >= 0.01) return String(Number(v.toPrecision(3)));
  return v.toExponential(0);
}

function lineRange(lines, axis) {
  return lines.filter((l) => l.axis === axis && l.value > 0).map((l) => l.value);
}

function chartOptions(kind, chart, width) {
  const xs = lineRange(chart.lines, "x");
  const ys = lineRange(chart.lines, "y");
  const scales = { x: { time: false } };
  if (kind === "latency") {
    scales.x.distr = 3;
    scales.x.range = (u, min, max) => [Math.max(1, Math.min(min, ...xs) * 0.8), Math.max(max, ...xs) * 1.25];
    scales.y = { range: [0, 1] };
  } else if (kind === "evidence") {
    scales.y = { distr: 3, range: (u, min, max) => [Math.min(min || 1, ...ys, 1e-4) / 2, 1.5] };
  } else {
    scales.y = { range: (u, min, max) => [0, Math.max(max || 0, ...ys, 0.01) * 1.15] };
  }
  const series = [{ label: chart.x_label }].concat(
    chart.series.map((s, i) => ({
      label: s.label,
      stroke: s.band ? "#74c0fc" : COLORS[i % COLORS.length],
      width: s.band ? 1 : 2,
      dash: s.band ? [4, 4] : undefined,
      spanGaps: true,
      points: { show: chart.x.length < 60 },
    }))
  );
  return {
    width,
    height: 220,
    scales,
    series,
    axes: [
      { label: chart.x_label },
      { label: chart.y_label, size: 70, values: (u, splits) => splits.map(tickLabel) },
    ],
    legend: { live: false },
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          ctx.save();
          chart.lines.forEach((line, i) => {
            const scale = line.axis === "x" ? "x" : "y";
            const pos = u.valToPos(line.value, scale, true);
            ctx.strokeStyle = ["#e03131", "#f08c00", "#495057", "#7048e8"][i % 4];
            ctx.setLineDash([6, 4]);
            ctx.lineWidth = 1.5 * devicePixelRatio;
            ctx.beginPath();
            if (line.axis === "x") {
              ctx.moveTo(pos, u.bbox.top);
              ctx.lineTo(pos, u.bbox.top + u.bbox.height);
            } else {
              ctx.moveTo(u.bbox.left, pos);
              ctx.lineTo(u.bbox.left + u.bbox.width, pos);
            }
            ctx.stroke();
          });
          ctx.restore();
        },
      ],
    },
  };
}

function drawCharts(root) {
  root.querySelectorAll("article.evidence").forEach((article) => {
    const data = JSON.parse(article.querySelector("script.chart-data").textContent);
    article.querySelectorAll(".chart").forEach((box) => {
      const kind = box.dataset.chart;
      const chart = data[kind];
      box.innerHTML = "";
      if (!chart || !window.uPlot) {
        box.textContent = "not recorded for this verdict";
        box.classList.add("empty");
        return;
      }
      const width = Math.max(280, box.clientWidth || 360);
      const plot = new uPlot(chartOptions(kind, chart, width), [chart.x].concat(chart.series.map((s) => s.values)), box);
      const list = document.createElement("ul");
      list.className = "thresholds small";
      chart.lines.forEach((line) => {
        const item = document.createElement("li");
        item.dataset.axis = line.axis;
        item.dataset.value = line.value;
        item.textContent = line.label;
        list.appendChild(item);
      });
      box.appendChild(list);
      box.dataset.points = String(chart.x.length);
      window.orchestratorCharts.push({ kind, plot, node: article.dataset.node, points: chart.x.length, lines: chart.lines });
    });
  });
}

drawCharts(document);
wireActions();
startLive();
