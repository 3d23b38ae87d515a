// The performance measures with their actual values, computed live by the hub under the role's
// aggregate access: a value the role may not read is refused at its path and says so.

import { h, replace } from './dom.js';
import { t, label, fmtInt, fmtMoney, fmtPerMille, fmtDate, fmtDateTime } from './i18n.js';
import { gql } from './api.js';
import { errorBox, forbiddenCell, resultErrors } from './ui.js';
import { cellText, protectedNote } from './charts.js';

const QUERY = `query PortalMeasures {
  performanceMeasures {
    code goal indicator ownerAgency baseline target periodStart periodEnd version asOf
    metric { name unit parameters { name value } }
    actuals { fiscalYear value numerator denominator suppressed status }
  }
}`;

/** A measure's number in its unit. */
export function formatUnit(unit, value) {
  if (value === null || value === undefined) return '';
  switch (unit) {
    case 'PER_MILLE': return fmtPerMille(value);
    case 'MEDIAN_DAYS': return t('measures.days', { n: fmtInt(value) });
    case 'DOLLARS': return fmtMoney(String(value));
    default: return fmtInt(value);
  }
}

export function measuresView(main, view) {
  const d = view.ctx.disclosure;
  const box = h('div', { class: 'measures' }, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
  main.append(h('h1', { id: 'view-title', text: t('measures.title') }), h('p', { text: t('measures.intro') }), box);
  gql(QUERY, {}, { signal: view.signal }).then((result) => {
    const list = result.data.performanceMeasures || [];
    const anyProtected = list.some((m) => m.actuals.some((a) => a.suppressed));
    replace(box,
      resultErrors(result),
      anyProtected ? protectedNote(d) : null,
      list.length ? list.map((m, i) => measureCard(m, i, result, d)) : h('p', { class: 'empty', text: t('measures.none') }));
  }).catch((error) => replace(box, errorBox(error)));
}

function measureCard(m, i, result, d) {
  const unit = m.metric.unit;
  const path = ['performanceMeasures', i];
  const asOf = result.isForbidden([...path, 'asOf']) ? forbiddenCell() : (m.asOf ? fmtDateTime(m.asOf) : t('measures.noAsOf'));
  return h('article', { class: 'measure', dataset: { measure: m.code } },
    h('h2', {}, h('span', { class: 'code', text: m.code }), ' ', m.indicator),
    h('dl', { class: 'fields' },
      h('dt', { text: t('measures.goal') }), h('dd', { text: m.goal }),
      h('dt', { text: t('measures.owner') }), h('dd', { text: label('Agency', m.ownerAgency) }),
      h('dt', { text: t('measures.metric') }), h('dd', {}, h('code', { text: m.metric.name }),
        m.metric.parameters.length ? ` (${m.metric.parameters.map((p) => `${p.name} = ${p.value}`).join('; ')})` : '',
        unit ? ` · ${label('MetricUnit', unit)}` : ''),
      h('dt', { text: t('measures.baselineTarget') }), h('dd', { text: `${formatUnit(unit, m.baseline)} → ${formatUnit(unit, m.target)}` }),
      h('dt', { text: t('measures.period') }), h('dd', { text: `${fmtDate(m.periodStart)} – ${fmtDate(m.periodEnd)}` }),
      h('dt', { text: t('measures.asOf') }), h('dd', {}, asOf)),
    h('table', { class: 'data' },
      h('caption', { text: t('measures.actuals', { code: m.code }) }),
      h('thead', {}, h('tr', {}, [t('axis.fiscalYear'), t('measures.value'), t('measures.numerator'), t('measures.denominator'), t('measures.status')]
        .map((c, j) => h('th', { scope: 'col', class: j > 0 && j < 4 ? 'num' : null, text: c })))),
      h('tbody', {}, m.actuals.map((a, j) => {
        const apath = [...path, 'actuals', j];
        const opt = { protectedAnswer: a.suppressed, disclosure: d, format: (v) => formatUnit(unit, v) };
        const num = (field, format) => {
          if (result.isForbidden([...apath, field])) return h('td', {}, forbiddenCell());
          if (a[field] === null) return h('td', { class: 'num', text: '—' });
          const c = cellText(a[field], { ...opt, format });
          return h('td', { class: ['num', c.class].filter(Boolean).join(' '), title: c.title || null, text: c.text });
        };
        return h('tr', { dataset: { year: a.fiscalYear } },
          h('th', { scope: 'row', text: t('axis.fy', { year: a.fiscalYear }) }),
          num('value', opt.format),
          num('numerator', fmtInt),
          num('denominator', fmtInt),
          h('td', {}, h('span', { class: `status-badge ${a.status.toLowerCase()}`, text: label('MeasureStatus', a.status) })));
      }))));
}
