// The cross-agency analyses the role's schema offers: trace corridors, training against tracing,
// and funding through trainings to outcomes. Each part comes as the hub publishes it to the role
// (exact, protected, or refused with FORBIDDEN at its path, which the cell then says).

import { h, replace, labelled } from './dom.js';
import { t, label, stateName, fmtInt } from './i18n.js';
import { gql } from './api.js';
import { errorBox, filterForm, forbiddenCell, resultErrors } from './ui.js';
import { gridFigure, cellText, protectedNote } from './charts.js';

const SHOWN = 50;

export function analysesView(main, view) {
  const { roots } = view.ctx;
  main.append(h('h1', { id: 'view-title', text: t('analyses.title') }), h('p', { text: t('analyses.intro') }));
  if (roots.has('traceCorridors')) main.append(corridors(view));
  if (roots.has('trainingOutcomes')) main.append(trainingOutcomes(view));
  if (roots.has('fundingOutcomes')) main.append(fundingOutcomes(view));
}

function section(id, title, intro, form, out) {
  return h('section', { class: 'analysis', 'aria-labelledby': `${id}-title`, dataset: { analysis: id } },
    h('h2', { id: `${id}-title`, text: title }), h('p', { class: 'hint', text: intro }), form, out);
}

/** A table shown SHOWN rows at a time, with a button for more. */
function growingTable(caption, head, rows) {
  const tbody = h('tbody');
  const table = h('table', { class: 'data' }, h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, head.map((c, i) => h('th', { scope: 'col', class: i >= head.numericFrom ? 'num' : null, text: c })))), tbody);
  let shown = 0;
  const more = h('button', { type: 'button', text: t('analyses.more') });
  const status = h('p', { class: 'status', role: 'status' });
  function grow() {
    const next = rows.slice(shown, shown + SHOWN);
    for (const r of next) tbody.append(r());
    shown += next.length;
    more.hidden = shown >= rows.length;
    status.textContent = t('analyses.shown', { shown: fmtInt(shown), total: fmtInt(rows.length) });
  }
  more.addEventListener('click', grow);
  grow();
  return h('div', { class: 'table-scroll' }, status, table, more);
}

function td(c) {
  if (c instanceof Node) return h('td', {}, c);
  const cell = typeof c === 'object' && c !== null ? c : { text: c };
  return h('td', { class: ['num', cell.class].filter(Boolean).join(' '), title: cell.title || null, text: cell.text });
}

function corridors(view) {
  const d = view.ctx.disclosure;
  const out = h('div', { class: 'analysis-out' });
  const minCount = h('input', { type: 'number', min: '0', value: '25' });
  const form = filterForm({
    specs: [{ name: 'year', type: 'intRange' }, { name: 'purchaseState', type: 'usStates' }, { name: 'recoveryState', type: 'mxStates' }],
    labelOf: (n) => t(`analyses.corridors.${n}`),
    extra: [labelled(t('analyses.corridors.minCount'), minCount).field],
    onSubmit: (f) => run(f),
  });
  async function run(f) {
    replace(out, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
    try {
      const result = await gql(`query PortalCorridors($year: IntRange, $purchaseState: [String!], $recoveryState: [String!], $minCount: Int) {
        traceCorridors(year: $year, purchaseState: $purchaseState, recoveryState: $recoveryState, minCount: $minCount) {
          suppressed corridors { purchaseState recoveryState year count medianTimeToCrimeDays suppressed }
        } }`, { ...f, minCount: Number(minCount.value || 0) }, { signal: view.signal });
      const answer = result.data.traceCorridors;
      if (!answer) { replace(out, errorBox(result.errorAt(['traceCorridors']) || result.errors[0])); return; }
      const list = answer.corridors;
      const name = (c) => t('analyses.corridors.flow', { from: stateName(c.purchaseState), to: stateName(c.recoveryState), year: c.year });
      const top = list.slice(0, 15);
      const opt = { protectedAnswer: answer.suppressed, disclosure: d };
      replace(out,
        resultErrors(result),
        list.length ? gridFigure({
          id: 'corridors',
          title: t('analyses.corridors.chart'),
          rows: top.map((c, i) => ({ key: i, label: name(c) })),
          series: [{ key: 'count', label: t('axis.traces') }],
          value: (i) => ({ value: top[i].count, missing: false }),
          protectedAnswer: answer.suppressed,
          disclosure: d,
          xTitle: t('analyses.corridors.corridor'),
          yTitle: t('axis.traces'),
          horizontal: true,
        }) : h('p', { class: 'empty', text: t('charts.noData') }),
        list.length ? growingTable(t('analyses.corridors.table'),
          Object.assign([t('analyses.corridors.purchaseState'), t('analyses.corridors.recoveryState'), t('axis.year'), t('axis.traces'), t('axis.medianDays')], { numericFrom: 3 }),
          list.map((c) => () => h('tr', {},
            h('th', { scope: 'row', text: stateName(c.purchaseState) }),
            h('td', { text: stateName(c.recoveryState) }),
            h('td', { text: String(c.year) }),
            td(cellText(c.count, opt)),
            td(cellText(c.medianTimeToCrimeDays, { ...opt, withheld: c.medianTimeToCrimeDays === null }))))) : null);
    } catch (error) {
      replace(out, errorBox(error));
    }
  }
  run({});
  return section('corridors', t('analyses.corridors.title'), t('analyses.corridors.intro'), form, out);
}

function years(y) {
  return y.firstYear === y.lastYear ? String(y.firstYear) : `${y.firstYear}–${y.lastYear}`;
}

function traceWindowCells(traces, result, path, d) {
  if (result.isForbidden([...path, 'traces'])) return [h('td', {}, forbiddenCell()), h('td', {}, forbiddenCell())];
  if (!traces) return [td('—'), td('—')];
  const opt = { protectedAnswer: traces.suppressed, disclosure: d };
  return ['before', 'after'].map((w) => {
    const c = cellText(traces[w].count, { ...opt, withheld: traces[w].count === null });
    return h('td', { class: ['num', c.class].filter(Boolean).join(' '), title: c.title || null },
      h('span', { class: 'years', text: `${years(traces[w])}: ` }), c.text);
  });
}

function trainingCells(trainings, result, path, d) {
  if (result.isForbidden([...path, 'trainings'])) return [forbiddenCell(), forbiddenCell(), forbiddenCell()].map((x) => h('td', {}, x));
  if (!trainings) return [td('—'), td('—'), td('—')];
  const opt = { protectedAnswer: trainings.suppressed, disclosure: d };
  return [trainings.count, trainings.participants, trainings.etraceAccountsGranted]
    .map((v) => td(cellText(v, { ...opt, withheld: v === null })));
}

function windowInput() {
  return h('input', { type: 'number', min: '1', max: '10', value: '1' });
}

function trainingOutcomes(view) {
  const d = view.ctx.disclosure;
  const out = h('div', { class: 'analysis-out' });
  const win = windowInput();
  const form = filterForm({
    specs: [{ name: 'fiscalYear', type: 'intRange' }, { name: 'mexicanState', type: 'mxStates' }],
    labelOf: (n) => t(`analyses.outcomes.${n}`),
    extra: [labelled(t('analyses.window'), win, t('analyses.windowHint')).field],
    onSubmit: (f) => run(f),
  });
  async function run(f) {
    replace(out, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
    try {
      const result = await gql(`query PortalTrainingOutcomes($fiscalYear: IntRange, $mexicanState: [String!], $window: Int) {
        trainingOutcomes(fiscalYear: $fiscalYear, mexicanState: $mexicanState, window: $window) {
          window outcomes { mexicanState fiscalYear
            trainings { count participants etraceAccountsGranted suppressed }
            traces { before { firstYear lastYear count } after { firstYear lastYear count } suppressed } }
        } }`, { ...f, window: Number(win.value || 1) }, { signal: view.signal });
      const answer = result.data.trainingOutcomes;
      if (!answer) { replace(out, errorBox(result.errorAt(['trainingOutcomes']) || result.errors[0])); return; }
      const anyProtected = answer.outcomes.some((o) => o.trainings.suppressed || (o.traces && o.traces.suppressed));
      replace(out,
        resultErrors(result),
        anyProtected ? protectedNote(d) : null,
        answer.outcomes.length ? growingTable(t('analyses.outcomes.table'),
          Object.assign([t('axis.mexicanState'), t('axis.fiscalYear'), t('axis.trainings'), t('axis.participants'), t('axis.etraceAccounts'), t('analyses.tracesBefore'), t('analyses.tracesAfter')], { numericFrom: 2 }),
          answer.outcomes.map((o, i) => () => h('tr', {},
            h('th', { scope: 'row', text: stateName(o.mexicanState) }),
            h('td', { text: t('axis.fy', { year: o.fiscalYear }) }),
            ...trainingCells(o.trainings, result, ['trainingOutcomes', 'outcomes', i], d),
            ...traceWindowCells(o.traces, result, ['trainingOutcomes', 'outcomes', i], d)))) : h('p', { class: 'empty', text: t('charts.noData') }));
    } catch (error) {
      replace(out, errorBox(error));
    }
  }
  run({});
  return section('training-outcomes', t('analyses.outcomes.title'), t('analyses.outcomes.intro'), form, out);
}

function fundingOutcomes(view) {
  const d = view.ctx.disclosure;
  const out = h('div', { class: 'analysis-out' });
  const win = windowInput();
  const form = filterForm({
    specs: [
      { name: 'fiscalYear', type: 'intRange' },
      { name: 'category', type: 'enum', enum: 'FundingCategory', values: ['FORENSICS_TRAINING', 'INSPECTION_EQUIPMENT', 'CANINES', 'ETRACE_OUTREACH', 'FIREARMS_IDENTIFICATION', 'OTHER'] },
    ],
    labelOf: (n) => t(`filter.fundingAward.${n}`),
    extra: [labelled(t('analyses.window'), win, t('analyses.windowHint')).field],
    onSubmit: (f) => run(f),
  });
  async function run(f) {
    replace(out, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
    try {
      const result = await gql(`query PortalFundingOutcomes($filter: FundingFilter, $window: Int) {
        fundingOutcomes(filter: $filter, window: $window) {
          window byAward suppressed
          outcomes { awardNumber awards key { fiscalYear category implementingAgency program }
            trainings { count participants etraceAccountsGranted mexicanStates suppressed }
            traces { before { firstYear lastYear count } after { firstYear lastYear count } suppressed } }
        } }`, { filter: f, window: Number(win.value || 1) }, { signal: view.signal });
      const answer = result.data.fundingOutcomes;
      if (!answer) { replace(out, errorBox(result.errorAt(['fundingOutcomes']) || result.errors[0])); return; }
      const opt = { protectedAnswer: answer.suppressed, disclosure: d };
      replace(out,
        resultErrors(result),
        answer.suppressed ? protectedNote(d) : null,
        h('p', { class: 'hint', text: answer.byAward ? t('analyses.funding.byAward') : t('analyses.funding.byCell') }),
        answer.outcomes.length ? growingTable(t('analyses.funding.table'),
          Object.assign([answer.byAward ? t('analyses.funding.award') : t('analyses.funding.awards'), t('axis.fiscalYear'), t('axis.category'),
            t('field.fundingAward.implementingAgency'), t('field.fundingAward.program'), t('analyses.funding.states'),
            t('axis.trainings'), t('axis.participants'), t('axis.etraceAccounts'), t('analyses.tracesBefore'), t('analyses.tracesAfter')], { numericFrom: 6 }),
          answer.outcomes.map((o, i) => () => {
            const path = ['fundingOutcomes', 'outcomes', i];
            const awards = cellText(o.awards, { ...opt, withheld: o.awards === null });
            return h('tr', {},
              h('th', { scope: 'row', text: answer.byAward ? (o.awardNumber || '—') : awards.text, title: answer.byAward ? null : awards.title || null }),
              h('td', { text: t('axis.fy', { year: o.key.fiscalYear }) }),
              h('td', { text: label('FundingCategory', o.key.category) }),
              h('td', { text: o.key.implementingAgency ? label('Agency', o.key.implementingAgency) : t('analyses.funding.noAgency') }),
              h('td', { text: o.key.program || '' }),
              h('td', { text: o.trainings ? o.trainings.mexicanStates.map(stateName).join(', ') : '' }),
              ...trainingCells(o.trainings, result, path, d),
              ...traceWindowCells(o.traces, result, path, d));
          })) : h('p', { class: 'empty', text: t('charts.noData') }));
    } catch (error) {
      replace(out, errorBox(error));
    }
  }
  run({});
  return section('funding-outcomes', t('analyses.funding.title'), t('analyses.funding.intro'), form, out);
}
