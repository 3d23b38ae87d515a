// The charts of each entity, from its `…Stats` query: exact for a role with exact aggregates,
// protected by the cell key method (and said so) for an aggregate-only role. Each figure has a
// table of the same numbers. Nothing here adds, subtracts or fills in the published numbers.

import { h, replace, labelled } from './dom.js';
import { t, label, stateName, fmtInt, fmtMoney, fmtMoneyCompact, compareText } from './i18n.js';
import { gql } from './api.js';
import { errorBox, resultErrors, MX_STATES } from './ui.js';
import { figure, gridFigure, cellText, protectedNote, seriesColor } from './charts.js';

const BUCKET = 'suppressed';

const QUERIES = {
  trace: `query PortalTraceCharts {
    byYearAndSource: traceStats(groupBy: [YEAR, SOURCE_CLASS]) { total suppressed buckets { key { year sourceClass } count ${BUCKET} } }
    byState: traceStats(groupBy: [RECOVERY_STATE]) { total suppressed buckets { key { recoveryState } count ${BUCKET} } }
    byYear: traceStats(groupBy: [YEAR]) { total suppressed buckets { key { year } count medianTimeToCrimeDays ${BUCKET} } }
  }`,
  seizure: `query PortalSeizureCharts {
    byYearAndPort: seizureStats(groupBy: [FISCAL_YEAR, PORT_OF_ENTRY]) { total suppressed buckets { key { fiscalYear portOfEntry } count firearms ${BUCKET} } }
  }`,
  training: `query PortalTrainingCharts {
    byYearAndCourse: trainingStats(groupBy: [FISCAL_YEAR, COURSE]) { total suppressed buckets { key { fiscalYear course } count participants etraceAccountsGranted ${BUCKET} } }
  }`,
  fundingAward: `query PortalFundingCharts {
    byYearAndCategory: fundingStats(groupBy: [FISCAL_YEAR, CATEGORY]) { total obligated suppressed buckets { key { fiscalYear category } count obligated disbursed ${BUCKET} } }
  }`,
};

const SOURCE_CLASSES = ['US_MANUFACTURED', 'US_IMPORTED', 'FOREIGN', 'UNDETERMINED'];
const COURSES = ['ETRACE', 'FIREARMS_IDENTIFICATION', 'FORENSICS', 'CANINE', 'INSPECTION', 'OTHER'];
const CATEGORIES = ['FORENSICS_TRAINING', 'INSPECTION_EQUIPMENT', 'CANINES', 'ETRACE_OUTREACH', 'FIREARMS_IDENTIFICATION', 'OTHER'];
const NO_PORT = '\u0000none';

function sortedNumbers(values) {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** A lookup of a grid answer's buckets by (row, series). */
function grid(buckets, rowOf, seriesOf) {
  const map = new Map();
  for (const b of buckets) map.set(`${rowOf(b)}|${seriesOf(b)}`, b);
  return (r, s) => map.get(`${r}|${s}`);
}

export function chartsView(main, view, def) {
  const box = h('div', { class: 'charts', 'aria-busy': 'true' }, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
  main.append(box);
  gql(QUERIES[def.key], {}, { signal: view.signal }).then((result) => {
    const d = view.ctx.disclosure;
    const parts = [];
    const part = (alias, build) => {
      const answer = result.data[alias];
      if (!answer) {
        const error = result.errorAt([alias]);
        parts.push(error ? errorBox(error) : null);
        return;
      }
      parts.push(build(answer));
    };
    switch (def.key) {
      case 'trace':
        part('byYearAndSource', (a) => tracesByYearAndSource(a, d));
        part('byState', (a) => tracesByState(a, d));
        part('byYear', (a) => medianTimeToCrime(a, d));
        break;
      case 'seizure':
        part('byYearAndPort', (a) => seizuresByYearAndPort(a, d));
        break;
      case 'training':
        part('byYearAndCourse', (a) => trainingsByYearAndCourse(a, d));
        break;
      case 'fundingAward':
        part('byYearAndCategory', (a) => fundingByYearAndCategory(a, d));
        break;
      default:
        break;
    }
    box.setAttribute('aria-busy', 'false');
    replace(box, resultErrors(result), parts);
  }).catch((error) => {
    box.setAttribute('aria-busy', 'false');
    replace(box, errorBox(error));
  });
}

function totalLine(answer, d, format = fmtInt) {
  const total = cellText(answer.total, { protectedAnswer: answer.suppressed, disclosure: d, format });
  return h('p', { class: 'total' }, `${t('charts.total')}: `, h('strong', { class: total.class || null, title: total.title || null, text: total.text }));
}

function tracesByYearAndSource(answer, d) {
  const value = grid(answer.buckets, (b) => b.key.year, (b) => b.key.sourceClass);
  const years = sortedNumbers(answer.buckets.map((b) => b.key.year));
  return gridFigure({
    id: 'traces-by-year-source',
    title: t('charts.tracesByYearSource'),
    rows: years.map((y) => ({ key: y, label: String(y) })),
    series: SOURCE_CLASSES.map((s) => ({ key: s, label: label('SourceClass', s) })),
    value: (y, s) => { const b = value(y, s); return { value: b ? b.count : null, missing: !b }; },
    protectedAnswer: answer.suppressed,
    disclosure: d,
    xTitle: t('axis.year'),
    yTitle: t('axis.traces'),
    notes: [totalLine(answer, d)],
  });
}

function tracesByState(answer, d) {
  const buckets = answer.buckets.filter((b) => b.key.recoveryState);
  buckets.sort((a, b) => (b.count || 0) - (a.count || 0) || compareText(stateName(a.key.recoveryState), stateName(b.key.recoveryState)));
  const byCode = new Map(buckets.map((b) => [b.key.recoveryState, b]));
  // Every state is a row: those the answer lists, largest first, then those it does not (0 in an
  // exact answer, "not published" in a protected one).
  const unlisted = MX_STATES.filter((c) => !byCode.has(c)).sort((a, b) => compareText(stateName(a), stateName(b)));
  const codes = [...buckets.map((b) => b.key.recoveryState), ...unlisted];
  return gridFigure({
    id: 'traces-by-state',
    title: t('charts.tracesByState'),
    rows: codes.map((code) => ({ key: code, label: stateName(code) })),
    series: [{ key: 'count', label: t('axis.traces') }],
    value: (code) => (byCode.has(code) ? { value: byCode.get(code).count, missing: false } : { value: null, missing: true }),
    protectedAnswer: answer.suppressed,
    disclosure: d,
    xTitle: t('axis.mexicanState'),
    yTitle: t('axis.traces'),
    horizontal: true,
    notes: [
      h('p', { class: 'hint', text: answer.suppressed ? t('charts.statesNotListedProtected', { max: d.maxChange }) : t('charts.statesNotListed') }),
    ],
  });
}

function medianTimeToCrime(answer, d) {
  const buckets = [...answer.buckets].sort((a, b) => a.key.year - b.key.year);
  if (!buckets.length) return figure({ id: 'median-time-to-crime', title: t('charts.medianTimeToCrime'), empty: t('charts.noData') });
  const config = {
    type: 'line',
    data: {
      labels: buckets.map((b) => String(b.key.year)),
      datasets: [{
        label: t('axis.medianDays'),
        data: buckets.map((b) => b.medianTimeToCrimeDays),
        borderColor: seriesColor(4),
        backgroundColor: seriesColor(4),
        pointRadius: 4,
        spanGaps: false,
      }],
    },
    options: {
      scales: {
        x: { title: { display: true, text: t('axis.year') } },
        y: { beginAtZero: true, title: { display: true, text: t('axis.medianDays') } },
      },
      plugins: { legend: { display: false } },
    },
  };
  const table = {
    head: [t('axis.year'), t('axis.medianDays'), t('axis.traces')],
    rows: buckets.map((b) => [
      String(b.key.year),
      cellText(b.medianTimeToCrimeDays, { protectedAnswer: answer.suppressed, disclosure: d, withheld: b.medianTimeToCrimeDays === null }),
      cellText(b.count, { protectedAnswer: answer.suppressed, disclosure: d }),
    ]),
  };
  const notes = [answer.suppressed ? protectedNote(d) : null];
  if (buckets.some((b) => b.medianTimeToCrimeDays === null)) notes.push(h('p', { class: 'hint', text: t('charts.medianGaps') }));
  return figure({ id: 'median-time-to-crime', title: t('charts.medianTimeToCrime'), notes, config, table });
}

function seizuresByYearAndPort(answer, d) {
  const portOf = (b) => (b.key.portOfEntry === null ? NO_PORT : b.key.portOfEntry);
  const value = grid(answer.buckets, (b) => b.key.fiscalYear, portOf);
  const years = sortedNumbers(answer.buckets.map((b) => b.key.fiscalYear));
  const ports = [...new Set(answer.buckets.map(portOf))].sort((a, b) => (a === NO_PORT) - (b === NO_PORT) || compareText(a, b));
  return gridFigure({
    id: 'seizures-by-year-port',
    title: t('charts.seizuresByYearPort'),
    rows: years.map((y) => ({ key: y, label: t('axis.fy', { year: y }) })),
    series: ports.map((p) => ({ key: p, label: p === NO_PORT ? t('charts.noPort') : p })),
    value: (y, p) => { const b = value(y, p); return { value: b ? b.count : null, missing: !b }; },
    protectedAnswer: answer.suppressed,
    disclosure: d,
    xTitle: t('axis.fiscalYear'),
    yTitle: t('axis.seizures'),
    notes: [totalLine(answer, d)],
  });
}

function trainingsByYearAndCourse(answer, d) {
  const value = grid(answer.buckets, (b) => b.key.fiscalYear, (b) => b.key.course);
  const years = sortedNumbers(answer.buckets.map((b) => b.key.fiscalYear));
  const fig = gridFigure({
    id: 'trainings-by-year-course',
    title: t('charts.trainingsByYearCourse'),
    rows: years.map((y) => ({ key: y, label: t('axis.fy', { year: y }) })),
    series: COURSES.map((c) => ({ key: c, label: label('CourseKind', c) })),
    value: (y, c) => { const b = value(y, c); return { value: b ? b.count : null, missing: !b }; },
    protectedAnswer: answer.suppressed,
    disclosure: d,
    xTitle: t('axis.fiscalYear'),
    yTitle: t('axis.trainings'),
    notes: [totalLine(answer, d)],
  });
  // Participants and eTrace accounts of the same cells, as published.
  const rows = [...answer.buckets].sort((a, b) => a.key.fiscalYear - b.key.fiscalYear || COURSES.indexOf(a.key.course) - COURSES.indexOf(b.key.course));
  const opt = { protectedAnswer: answer.suppressed, disclosure: d };
  fig.append(h('details', { class: 'more' },
    h('summary', { text: t('charts.participantsTable') }),
    h('table', { class: 'data' },
      h('caption', { text: t('charts.participantsTable') }),
      h('thead', {}, h('tr', {}, [t('axis.fiscalYear'), t('axis.course'), t('axis.trainings'), t('axis.participants'), t('axis.etraceAccounts')]
        .map((c, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null, text: c })))),
      h('tbody', {}, rows.map((b) => h('tr', {},
        h('th', { scope: 'row', text: t('axis.fy', { year: b.key.fiscalYear }) }),
        h('td', { text: label('CourseKind', b.key.course) }),
        ...[b.count, b.participants, b.etraceAccountsGranted].map((v) => {
          const c = cellText(v, opt);
          return h('td', { class: ['num', c.class].filter(Boolean).join(' '), title: c.title || null, text: c.text });
        })))))));
  return fig;
}

function fundingByYearAndCategory(answer, d) {
  const box = h('div', { class: 'funding-figure' });
  const select = h('select', {}, h('option', { value: '', text: t('charts.allCategories') }),
    CATEGORIES.map((c) => h('option', { value: c, text: label('FundingCategory', c) })));
  const field = labelled(t('charts.category'), select);
  const figureBox = h('div');
  const years = sortedNumbers(answer.buckets.map((b) => b.key.fiscalYear));
  const opt = { protectedAnswer: answer.suppressed, disclosure: d, format: fmtMoney };

  function draw() {
    const category = select.value;
    // One category: its published cells. All categories: the fiscal year's cells side by side
    // in the table; the chart stacks the published cells of each category (no total is derived).
    const chosen = category ? [category] : CATEGORIES;
    const datasets = [];
    chosen.forEach((c, i) => {
      const color = category ? null : i;
      ['obligated', 'disbursed'].forEach((metric) => {
        datasets.push({
          label: category ? t(`axis.${metric}`) : `${label('FundingCategory', c)} — ${t(`axis.${metric}`)}`,
          stack: metric,
          data: years.map((y) => {
            const b = answer.buckets.find((x) => x.key.fiscalYear === y && x.key.category === c);
            return b && b[metric] !== null ? Number(b[metric]) : null;
          }),
          backgroundColor: seriesColor(color === null ? (metric === 'obligated' ? 4 : 0) : color),
          borderColor: metric === 'disbursed' ? '#000000' : seriesColor(color === null ? 4 : color),
          borderWidth: metric === 'disbursed' ? 2 : 1,
        });
      });
    });
    const config = {
      type: 'bar',
      data: { labels: years.map((y) => t('axis.fy', { year: y })), datasets },
      options: {
        scales: {
          x: { stacked: true, title: { display: true, text: t('axis.fiscalYear') } },
          y: { stacked: true, beginAtZero: true, title: { display: true, text: t('axis.dollars') }, ticks: { callback: (v) => fmtMoneyCompact(v) } },
        },
        plugins: {
          legend: { display: true, position: 'bottom', labels: { filter: (item) => category || !item.text.endsWith(t('axis.disbursed')) ? true : false } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${fmtMoney(String(item.raw))}` } },
        },
      },
    };
    const rows = [];
    for (const y of years) {
      for (const c of chosen) {
        const b = answer.buckets.find((x) => x.key.fiscalYear === y && x.key.category === c);
        rows.push([t('axis.fy', { year: y }), label('FundingCategory', c),
          cellText(b ? b.obligated : null, { ...opt, missing: !b }),
          cellText(b ? b.disbursed : null, { ...opt, missing: !b })]);
      }
    }
    const table = { head: [t('axis.fiscalYear'), t('axis.category'), t('axis.obligated'), t('axis.disbursed')], rows };
    const notes = [answer.suppressed ? protectedNote(d) : null,
      h('p', { class: 'hint', text: category ? t('charts.fundingOne') : t('charts.fundingAll') }),
      h('p', { class: 'total' }, `${t('charts.totalObligated')}: `, (() => {
        const c = cellText(answer.obligated, opt);
        return h('strong', { class: c.class || null, title: c.title || null, text: c.text });
      })())];
    replace(figureBox, years.length
      ? figure({ id: 'funding-by-year-category', title: t('charts.fundingByYearCategory'), notes, config, table })
      : figure({ id: 'funding-by-year-category', title: t('charts.fundingByYearCategory'), empty: t('charts.noData') }));
  }
  select.addEventListener('change', draw);
  draw();
  return h('div', {}, field.field, box, figureBox);
}
