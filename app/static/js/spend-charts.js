// Charts of the spend pages, drawn with the locally served Chart.js from JSON embedded in the page.
// Each <canvas data-chart="stacked|bar|hbar|line" data-source="id" data-unit="eur|t"> reads the JSON of the
// <script type="application/json" id="id"> beside it: {labels, titles?, datasets: [{label, color, data, kind?}]}.
// Amounts arrive as decimal strings; numbers are formatted for the page's language (French by default).
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") return;
  const lang = document.documentElement.lang || "fr";
  const locale = lang === "en" ? "en-GB" : "fr-FR";
  const euros = new Intl.NumberFormat(locale, { style: "currency", currency: "EUR", maximumFractionDigits: 0 });
  const eurosCompact = new Intl.NumberFormat(locale, {
    style: "currency", currency: "EUR", notation: "compact", maximumFractionDigits: 1,
  });
  const plain = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 });
  const plainCompact = new Intl.NumberFormat(locale, { notation: "compact", maximumFractionDigits: 1 });

  function formatter(unit, compact) {
    if (unit === "eur") return (v) => (compact ? eurosCompact : euros).format(v);
    const suffix = unit === "t" ? " tCO2e" : "";
    return (v) => (compact ? plainCompact : plain).format(v) + suffix;
  }

  function withAlpha(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
  }

  function draw(canvas) {
    const source = document.getElementById(canvas.dataset.source);
    if (!source) return;
    const spec = JSON.parse(source.textContent);
    const kind = canvas.dataset.chart;
    const unit = canvas.dataset.unit || "eur";
    const full = formatter(unit, false);
    const short = formatter(unit, true);
    const horizontal = kind === "hbar";
    const datasets = spec.datasets.map((d) => {
      const needs = d.kind === "needs";
      const base = {
        label: d.label,
        data: d.data.map(Number),
        backgroundColor: needs ? withAlpha(d.color, 0.25) : d.color,
        borderColor: d.color,
        borderWidth: needs ? 1.5 : 0,
        borderDash: needs ? [4, 3] : [],
      };
      if (kind === "line") {
        return Object.assign(base, {
          type: needs ? "line" : "bar",
          stack: needs ? "needs-" + d.label : "spend",
          tension: 0.2,
          pointRadius: needs ? 3 : 0,
          fill: false,
          borderWidth: needs ? 2 : 0,
          order: needs ? 0 : 1,
        });
      }
      return base;
    });
    const stacked = kind === "stacked" || kind === "line";
    const valueAxis = {
      stacked: stacked,
      beginAtZero: true,
      ticks: { callback: (v) => short(v) },
      grid: { color: "rgba(0,0,0,.06)" },
    };
    const categoryAxis = { stacked: stacked, grid: { display: false }, ticks: { autoSkip: false, font: { size: 11 } } };
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: datasets.length > 1, position: "bottom", labels: { boxWidth: 12, font: { size: 11 } } },
          tooltip: {
            callbacks: {
              title: (items) => {
                const i = items[0].dataIndex;
                const title = spec.titles ? spec.titles[i] : "";
                return title ? `${spec.labels[i]} — ${title}` : spec.labels[i];
              },
              label: (item) => `${item.dataset.label}: ${full(item.parsed[horizontal ? "x" : "y"])}`,
            },
          },
        },
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
      },
    });
    canvas.dataset.rendered = "true";
  }

  document.querySelectorAll("canvas[data-chart]").forEach(draw);
})();
