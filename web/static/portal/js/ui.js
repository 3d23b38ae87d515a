// Shared pieces of the views: error messages, "not permitted" cells, value formatting by field
// kind, filter forms and a paginated list over a connection's cursors.

import { h, replace, uid, labelled } from './dom.js';
import { t, label, stateName, fmtInt, fmtMoney, fmtDate, fmtDateTime } from './i18n.js';
import { ApiError, askForPurpose } from './api.js';

const KNOWN_CODES = ['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'CONFLICT', 'INTERNAL',
  'UNAVAILABLE', 'TIMEOUT', 'RATE_LIMITED', 'LIMIT_EXCEEDED', 'NETWORK', 'GRAPHQL_VALIDATION_FAILED'];

/** A translated message for an error code; the hub's own (English) message is shown beneath. */
export function errorBox(error) {
  if (error && error.name === 'AbortError') return null;
  const code = error instanceof ApiError ? error.code : ((error && error.extensions && error.extensions.code) || 'INTERNAL');
  const known = KNOWN_CODES.includes(code) ? code : 'OTHER';
  const message = error && error.message ? error.message : '';
  return h('div', { class: 'error', role: 'alert', dataset: { code } },
    h('p', {}, h('strong', { text: t(`errors.${known}.title`) }), ' ', t(`errors.${known}.text`)),
    message ? h('p', { class: 'detail' }, h('span', { text: `${t('errors.hubSays')} ` }), h('code', { text: message })) : null);
}

/**
 * The notice that rows owned by other agencies were withheld for want of a stated purpose, so what
 * is shown is incomplete, with a button that asks for one. `key` is the message (a CSV download
 * refused says why).
 */
export function withheldNotice(key = 'withheld.notice') {
  return h('div', { class: 'withheld note', role: 'status' },
    h('p', { text: t(key) }),
    h('button', { type: 'button', class: 'primary', text: t('withheld.state'), on: { click: () => askForPurpose() } }));
}

/**
 * What a Result says beside its data (shown above a view's content): the notice of withheld rows,
 * then the errors that are not about one field.
 */
export function resultErrors(result) {
  return [result.withheld ? withheldNotice() : null, ...result.requestErrors.map((e) => errorBox(e))];
}

/** The cell of a field the role may not read. */
export function forbiddenCell() {
  return h('span', { class: 'forbidden', title: t('cell.forbiddenExplained') }, t('cell.forbidden'));
}

/** A field's value as text in the chosen language. */
export function formatValue(kind, value) {
  if (value === null || value === undefined || value === '') return null;
  if (kind.startsWith('enum:')) return label(kind.slice(5), value);
  switch (kind) {
    case 'int': return fmtInt(value);
    case 'date': return fmtDate(value);
    case 'datetime': return fmtDateTime(value);
    case 'money': return fmtMoney(value);
    case 'mxState':
    case 'usState': return stateName(value);
    case 'port': return value;
    default: return String(value);
  }
}

/** A value node: the formatted value, "not permitted" for a refused field, "—" for none. */
export function valueNode(kind, value, { forbidden = false, plain = false } = {}) {
  if (forbidden) return forbiddenCell();
  const text = plain && value !== null && value !== undefined ? String(value) : formatValue(kind, value);
  if (text === null) return h('span', { class: 'none', title: t('cell.noneExplained') }, t('cell.none'));
  return text;
}

/** The state of a filter form as a GraphQL filter object (only the parts filled in). */
function collect(specs, controls) {
  const filter = {};
  for (const spec of specs) {
    const c = controls[spec.name];
    switch (spec.type) {
      case 'intRange': {
        const min = c.min.value.trim();
        const max = c.max.value.trim();
        if (min || max) filter[spec.name] = { ...(min ? { min: Number(min) } : {}), ...(max ? { max: Number(max) } : {}) };
        break;
      }
      case 'dateRange': {
        const from = c.from.value;
        const to = c.to.value;
        if (from || to) filter[spec.name] = { ...(from ? { from } : {}), ...(to ? { to } : {}) };
        break;
      }
      case 'enum': {
        const values = c.filter((box) => box.checked).map((box) => box.value);
        if (values.length) filter[spec.name] = values;
        break;
      }
      case 'mxStates':
      case 'usStates':
      case 'roles': {
        const values = Array.from(c.selectedOptions).map((o) => o.value);
        if (values.length) filter[spec.name] = values;
        break;
      }
      case 'textList': {
        const values = c.value.split(',').map((s) => s.trim()).filter(Boolean);
        if (values.length) filter[spec.name] = values;
        break;
      }
      case 'text': {
        const value = c.value.trim();
        if (value) filter[spec.name] = value;
        break;
      }
      default:
        break;
    }
  }
  return filter;
}

/** Options for a select of states: Mexican (ISO 3166-2:MX) or U.S. (USPS). */
export function stateOptions(codes, selected = []) {
  return codes
    .map((code) => ({ code, name: stateName(code) }))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => h('option', { value: s.code, selected: selected.includes(s.code), text: s.name }));
}

export const MX_STATES = ['MX-AGU', 'MX-BCN', 'MX-BCS', 'MX-CAM', 'MX-CHP', 'MX-CHH', 'MX-CMX', 'MX-COA', 'MX-COL',
  'MX-DUR', 'MX-GUA', 'MX-GRO', 'MX-HID', 'MX-JAL', 'MX-MEX', 'MX-MIC', 'MX-MOR', 'MX-NAY', 'MX-NLE', 'MX-OAX',
  'MX-PUE', 'MX-QUE', 'MX-ROO', 'MX-SLP', 'MX-SIN', 'MX-SON', 'MX-TAB', 'MX-TAM', 'MX-TLA', 'MX-VER', 'MX-YUC',
  'MX-ZAC'];
export const US_STATES = ['AL', 'AK', 'AZ', 'AR', 'CA', 'CO', 'CT', 'DE', 'DC', 'FL', 'GA', 'HI', 'ID', 'IL', 'IN',
  'IA', 'KS', 'KY', 'LA', 'ME', 'MD', 'MA', 'MI', 'MN', 'MS', 'MO', 'MT', 'NE', 'NV', 'NH', 'NJ', 'NM', 'NY', 'NC',
  'ND', 'OH', 'OK', 'OR', 'PA', 'RI', 'SC', 'SD', 'TN', 'TX', 'UT', 'VT', 'VA', 'WA', 'WV', 'WI', 'WY', 'AS', 'GU',
  'MP', 'PR', 'VI'];

/**
 * A filter form. `specs` are the filters (see entities.js); `labelOf(name)` names each;
 * `onSubmit(filter)` runs on Apply and on Reset (with {}). `initial` fills the form.
 */
export function filterForm({ specs, labelOf, onSubmit, initial = {}, extra = [] }) {
  const controls = {};
  const fields = specs.map((spec) => {
    const name = labelOf(spec.name);
    const value = initial[spec.name];
    switch (spec.type) {
      case 'intRange': {
        const min = h('input', { type: 'number', inputmode: 'numeric', value: value && value.min !== undefined ? value.min : '' });
        const max = h('input', { type: 'number', inputmode: 'numeric', value: value && value.max !== undefined ? value.max : '' });
        controls[spec.name] = { min, max };
        return h('fieldset', { class: 'range' }, h('legend', { text: name }),
          labelled(t('filters.from'), min).field, labelled(t('filters.to'), max).field);
      }
      case 'dateRange': {
        const from = h('input', { type: 'date', value: value && value.from ? value.from : '' });
        const to = h('input', { type: 'date', value: value && value.to ? value.to : '' });
        controls[spec.name] = { from, to };
        return h('fieldset', { class: 'range' }, h('legend', { text: name }),
          labelled(t('filters.from'), from).field, labelled(t('filters.to'), to).field);
      }
      case 'enum': {
        const boxes = spec.values.map((v) => h('input', { type: 'checkbox', value: v, checked: Array.isArray(value) && value.includes(v) }));
        controls[spec.name] = boxes;
        return h('fieldset', { class: 'choices' }, h('legend', { text: name }),
          boxes.map((box) => {
            box.id = uid('c');
            return h('span', { class: 'choice' }, box, h('label', { for: box.id, text: label(spec.enum, box.value) }));
          }));
      }
      case 'mxStates':
      case 'usStates': {
        const select = h('select', { multiple: true, size: 5 }, stateOptions(spec.type === 'mxStates' ? MX_STATES : US_STATES, value || []));
        controls[spec.name] = select;
        return labelled(name, select, t('filters.multiHint')).field;
      }
      case 'roles': {
        const select = h('select', { multiple: true, size: 5 },
          spec.values.map((v) => h('option', { value: v, selected: Array.isArray(value) && value.includes(v), text: label(spec.enum, v) })));
        controls[spec.name] = select;
        return labelled(name, select, t('filters.multiHint')).field;
      }
      case 'textList': {
        const input = h('input', { type: 'text', value: Array.isArray(value) ? value.join(', ') : '' });
        controls[spec.name] = input;
        return labelled(name, input, t('filters.listHint')).field;
      }
      default: {
        const input = h('input', { type: 'text', value: value || '' });
        controls[spec.name] = input;
        return labelled(name, input).field;
      }
    }
  });
  const form = h('form', { class: 'filters', novalidate: true },
    h('div', { class: 'filter-fields' }, fields, extra),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', text: t('filters.apply') }),
      h('button', { type: 'reset', text: t('filters.reset') })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onSubmit(collect(specs, controls));
  });
  form.addEventListener('reset', () => {
    // After the browser has cleared the controls to their defaults, clear them entirely.
    setTimeout(() => {
      for (const el of form.querySelectorAll('input')) {
        if (el.type === 'checkbox') el.checked = false;
        else el.value = '';
      }
      for (const sel of form.querySelectorAll('select[multiple]')) for (const o of sel.options) o.selected = false;
      onSubmit(collect(specs, controls));
    });
  });
  return form;
}

/**
 * A list over a connection, a page at a time: `load(after, first)` resolves to
 * { nodes, pageInfo, totalCount, result }; the cursors of the pages seen are kept for Previous.
 * `columns` are { label, cell(node, index, result) }; `onOpen(node)` adds a Details button.
 */
export function pagedList({ caption, columns, load, onOpen, pageSizes = [25, 50, 100], onResult, openLabel }) {
  const root = h('div', { class: 'paged' });
  const status = h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
  const tableBox = h('div', { class: 'table-scroll' });
  const prev = h('button', { type: 'button', text: t('pager.previous'), disabled: true });
  const next = h('button', { type: 'button', text: t('pager.next'), disabled: true });
  const pageLabel = h('span', { class: 'page-number' });
  const sizeSelect = h('select', {}, pageSizes.map((n) => h('option', { value: n, text: fmtInt(n) })));
  const size = labelled(t('pager.pageSize'), sizeSelect);
  const errors = h('div', { class: 'errors' });
  const cursors = [null];
  let page = 0;
  let busy = false;

  async function show() {
    if (busy) return;
    busy = true;
    prev.disabled = true;
    next.disabled = true;
    status.textContent = t('status.loading');
    replace(errors);
    try {
      const { nodes, pageInfo, totalCount, result } = await load(cursors[page], Number(sizeSelect.value));
      if (onResult) onResult(result);
      replace(errors, result ? resultErrors(result) : []);
      cursors[page + 1] = pageInfo.endCursor;
      status.textContent = totalCount === null || totalCount === undefined
        ? t('pager.shown', { count: fmtInt(nodes.length) })
        : t('pager.status', { count: fmtInt(totalCount), from: fmtInt(nodes.length ? page * Number(sizeSelect.value) + 1 : 0), to: fmtInt(page * Number(sizeSelect.value) + nodes.length) });
      pageLabel.textContent = t('pager.page', { page: fmtInt(page + 1) });
      const head = h('tr', {}, columns.map((c) => h('th', { scope: 'col', text: c.label })), onOpen ? h('th', { scope: 'col', text: t('pager.actions') }) : null);
      const body = nodes.map((node, i) => h('tr', {},
        columns.map((c) => h('td', {}, c.cell(node, i, result))),
        onOpen ? h('td', {}, h('button', {
          type: 'button', class: 'link', text: openLabel ? openLabel(node) : t('pager.details'),
          'aria-label': openLabel ? null : t('pager.detailsOf', { n: fmtInt(page * Number(sizeSelect.value) + i + 1) }),
          on: { click: () => onOpen(node) },
        })) : null));
      replace(tableBox, nodes.length
        ? h('table', { class: 'data records' }, h('caption', { class: 'sr-only', text: caption }), h('thead', {}, head), h('tbody', {}, body))
        : h('p', { class: 'empty', text: t(result && result.withheld ? 'withheld.none' : 'pager.none') }));
      prev.disabled = page === 0;
      next.disabled = !pageInfo.hasNextPage;
    } catch (error) {
      if (error && error.name === 'AbortError') return;
      status.textContent = '';
      replace(errors, errorBox(error));
      prev.disabled = page === 0;
    } finally {
      busy = false;
    }
  }

  prev.addEventListener('click', () => { if (page > 0) { page -= 1; show(); } });
  next.addEventListener('click', () => { page += 1; show(); });
  sizeSelect.addEventListener('change', () => { cursors.length = 1; page = 0; show(); });

  root.append(errors, status, tableBox, h('nav', { class: 'pager', 'aria-label': t('pager.label') }, prev, pageLabel, next, size.field));
  show();
  return root;
}
