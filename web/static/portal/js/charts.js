// Figures: a Chart.js chart and a table of the same numbers, one shown at a time by a toggle.
// Series are coloured from the Okabe–Ito palette, which stays distinguishable with the common
// forms of colour blindness; beyond its eight colours the series repeat them with a hatching, so
// no two series look alike. Protected (cell key method) answers carry their explanation, and a
// combination a protected answer does not list is shown for what the hub says it is, never
// computed from other numbers.

import { h, replace, uid } from './dom.js';
import { t, locale, fmtInt } from './i18n.js';

export const OKABE_ITO = ['#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00', '#CC79A7', '#000000'];

const charts = new Set();

/** Destroys every chart drawn so far (before a view is replaced). */
export function destroyCharts() {
  for (const chart of charts) chart.destroy();
  charts.clear();
}

function hatch(color, kind) {
  const size = 8;
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const c = canvas.getContext('2d');
  c.fillStyle = color;
  c.fillRect(0, 0, size, size);
  c.strokeStyle = '#ffffff';
  c.lineWidth = 2;
  c.beginPath();
  if (kind === 1) {
    c.moveTo(0, size); c.lineTo(size, 0);
  } else {
    c.moveTo(0, size / 2); c.lineTo(size, size / 2);
  }
  c.stroke();
  return c.createPattern(canvas, 'repeat');
}

/** The fill of series `i`: a palette colour, hatched once the palette is used up. */
export function seriesFill(i) {
  const color = OKABE_ITO[i % OKABE_ITO.length];
  const round = Math.floor(i / OKABE_ITO.length);
  return round === 0 ? color : hatch(color, round);
}

export function seriesColor(i) {
  return OKABE_ITO[i % OKABE_ITO.length];
}

/**
 * How a cell of a figure's table reads. `value` is the number as the API published it (null when
 * it published none); `missing` says the answer lists no such combination.
 */
export function cellText(value, { missing = false, protectedAnswer = false, disclosure, format = fmtInt, withheld = false } = {}) {
  if (missing) {
    if (protectedAnswer) {
      return {
        text: t('suppression.notPublished', { max: disclosure.maxChange }),
        title: t('suppression.notPublishedExplained', { max: disclosure.maxChange, threshold: disclosure.suppressionThreshold }),
        class: 'suppressed',
      };
    }
    return { text: format(0) };
  }
  if (value === null || value === undefined || withheld) {
    return { text: t('suppression.withheld'), title: t('suppression.withheldExplained'), class: 'suppressed' };
  }
  return protectedAnswer
    ? { text: format(value), title: t('suppression.protectedValue', { max: disclosure.maxChange }), class: 'protected' }
    : { text: format(value) };
}

/** The explanation shown above a protected figure. */
export function protectedNote(disclosure) {
  return h('div', { class: 'note protected-note', role: 'note' },
    h('strong', { text: t('suppression.title') }), ' ',
    t('suppression.explanation', {
      threshold: disclosure.suppressionThreshold,
      below: Math.max(1, disclosure.suppressionThreshold - 1),
      max: disclosure.maxChange,
      medianCount: disclosure.suppressionThreshold + disclosure.maxChange,
      rounding: disclosure.medianRounding,
    }));
}

function renderTable(caption, table) {
  return h('table', { class: 'data' },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, table.head.map((c, i) => h('th', { scope: 'col', class: i === 0 ? null : 'num', text: c })))),
    h('tbody', {}, table.rows.map((row) => h('tr', {},
      row.map((cell, i) => {
        const c = typeof cell === 'object' && cell !== null ? cell : { text: cell };
        const attrs = { class: [i === 0 ? null : 'num', c.class].filter(Boolean).join(' ') || null, title: c.title || null };
        if (i === 0) return h('th', { scope: 'row', ...attrs }, c.text);
        return h('td', attrs, c.text, c.title ? h('span', { class: 'sr-only', text: ` (${c.title})` }) : null);
      })))));
}

/**
 * A figure: title, optional notes, a chart (a Chart.js configuration without data formatting
 * concerns) and its table. `id` names it for tests and anchors.
 */
export function figure({ id, title, notes = [], config, table, empty }) {
  const headingId = uid('fig');
  const root = h('section', { class: 'figure', 'aria-labelledby': headingId, dataset: { figure: id } });
  const heading = h('h3', { id: headingId, text: title });
  if (empty) {
    return append(root, heading, notes, h('p', { class: 'empty', text: empty }));
  }
  const canvas = h('canvas', { role: 'img', 'aria-label': t('charts.chartOf', { title }) });
  const chartBox = h('div', { class: 'chart-box' }, canvas);
  const tableBox = h('div', { class: 'table-box', hidden: true }, renderTable(title, table));
  const toggle = h('button', {
    type: 'button', class: 'toggle', 'aria-pressed': 'false', text: t('charts.showTable'),
    on: {
      click: () => {
        const showTable = tableBox.hidden;
        tableBox.hidden = !showTable;
        chartBox.hidden = showTable;
        toggle.setAttribute('aria-pressed', String(showTable));
        toggle.textContent = showTable ? t('charts.showChart') : t('charts.showTable');
      },
    },
  });
  append(root, h('div', { class: 'figure-head' }, heading, toggle), notes, chartBox, tableBox);
  // Drawn once the canvas is in the document, so Chart.js can measure it.
  queueMicrotask(() => draw(canvas, config));
  return root;
}

function append(el, ...children) {
  for (const c of children.flat()) if (c) el.append(c);
  return el;
}

function draw(canvas, config, tries = 0) {
  if (!canvas.isConnected) {
    // Not in the document yet (the view is still being put together): try on the next frame.
    if (tries < 20) requestAnimationFrame(() => draw(canvas, config, tries + 1));
    return;
  }
  if (typeof window.Chart !== 'function') {
    replace(canvas.parentElement, h('p', { class: 'error', text: t('charts.unavailable') }));
    return;
  }
  for (const old of charts) {
    if (!old.canvas || !old.canvas.isConnected) { old.destroy(); charts.delete(old); }
  }
  const options = config.options || {};
  const chart = new window.Chart(canvas, {
    ...config,
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      locale: locale(),
      ...options,
      plugins: {
        legend: { position: 'bottom', labels: { boxWidth: 14 } },
        ...(options.plugins || {}),
      },
    },
  });
  charts.add(chart);
}

/**
 * A grid answer (rows × series) as a stacked or grouped bar chart and a table. `rows` and
 * `series` are lists of { key, label }; `value(rowKey, seriesKey)` gives { value, missing } as
 * published.
 */
export function gridFigure({ id, title, rows, series, value, protectedAnswer, disclosure, xTitle, yTitle, stacked = true, format = fmtInt, axisFormat, notes = [], horizontal = false, firstColumn }) {
  if (!rows.length) {
    return figure({ id, title, notes, empty: t('charts.noData') });
  }
  const datasets = series.map((s, i) => ({
    label: s.label,
    data: rows.map((r) => {
      const v = value(r.key, s.key);
      return v.missing || v.value === null || v.value === undefined ? null : Number(v.value);
    }),
    backgroundColor: seriesFill(i),
    borderColor: seriesColor(i),
    borderWidth: 1,
  }));
  const valueAxis = {
    stacked,
    beginAtZero: true,
    title: { display: Boolean(yTitle), text: yTitle },
    ticks: { callback: (v) => (axisFormat ? axisFormat(v) : fmtInt(v)) },
  };
  const categoryAxis = { stacked, title: { display: Boolean(xTitle), text: xTitle } };
  const config = {
    type: 'bar',
    data: { labels: rows.map((r) => r.label), datasets },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
      plugins: {
        legend: { display: series.length > 1, position: 'bottom' },
        tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${format(item.raw)}` } },
      },
    },
  };
  const table = {
    head: [firstColumn || xTitle, ...series.map((s) => s.label)],
    rows: rows.map((r) => [r.label, ...series.map((s) => {
      const v = value(r.key, s.key);
      return cellText(v.value, { missing: v.missing, protectedAnswer, disclosure, format });
    })]),
  };
  return figure({ id, title, notes: [protectedAnswer ? protectedNote(disclosure) : null, ...notes], config, table });
}

export { fmtInt };
