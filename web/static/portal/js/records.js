// An entity's section: its charts (when the role's schema offers its `…Stats` query) and its
// records (when the role reads rows): a filterable, keyset-paginated table, a record's details
// and a CSV download of everything the current filter matches.

import { h, replace, uid, labelled } from './dom.js';
import { t, label, fmtInt } from './i18n.js';
import { gql } from './api.js';
import { ENTITIES, selection, readsRows } from './entities.js';
import { errorBox, filterForm, pagedList, valueNode, forbiddenCell, formatValue, resultErrors, withheldNotice } from './ui.js';
import { downloadCsv, WithheldError } from './csv.js';
import { chartsView } from './dashboards.js';

export function entitySection(main, view, section) {
  const def = ENTITIES[section.id];
  const both = section.rows && section.charts;
  const showRecords = section.rows && (view.sub === 'records' || !section.charts);
  main.append(h('h1', { id: 'view-title', text: t(`entity.${def.key}.plural`) }));
  if (both) {
    main.append(h('nav', { class: 'subnav', 'aria-label': t('nav.views') },
      h('a', { href: `#/${def.key}/charts`, 'aria-current': showRecords ? null : 'page', text: t('nav.charts') }),
      h('a', { href: `#/${def.key}/records`, 'aria-current': showRecords ? 'page' : null, text: t('nav.records') })));
  }
  if (!section.rows) main.append(h('p', { class: 'note', text: t('records.aggregatesOnly') }));
  if (showRecords) recordsView(main, view, def);
  else chartsView(main, view, def);
}

function cellFor(def, field, node, result, path, perms) {
  const hidden = new Set((perms[def.key] && perms[def.key].hiddenFields) || []);
  if (hidden.has(field.name) || result.isForbidden([...path, field.name])) return forbiddenCell();
  const value = node[field.name];
  if (field.kind.startsWith('nested:')) {
    const inner = field.kind.slice(7);
    if (!readsRows(perms, inner)) return forbiddenCell();
    if (!value) return valueNode('text', null);
    return ENTITIES[inner].title(value);
  }
  return valueNode(field.kind, value, { plain: field.plain });
}

function recordsView(main, view, def) {
  const { perms } = view.ctx;
  let filter = {};
  let order = def.defaultOrder;
  const listBox = h('div', { class: 'records-box' });
  const csvBox = h('div', { class: 'csv' });
  const fields = def.fields.filter((f) => f.column);
  // The count costs a statement of its own: asked for on the pages shown, not on every page of
  // a CSV download after the first.
  const listQuery = (withTotal) => `query Portal${cap(def.list)}${withTotal ? '' : 'Export'}($filter: ${def.filterType}, ${def.orderType ? `$orderBy: [${def.orderType}!], ` : ''}$first: Int, $after: String) {
    ${def.list}(filter: $filter, ${def.orderType ? 'orderBy: $orderBy, ' : ''}first: $first, after: $after) {
      ${withTotal ? 'totalCount ' : ''}pageInfo { hasNextPage endCursor }
      nodes { ${selection(def.key, perms)} }
    }
  }`;
  const query = listQuery(true);

  const orderSelect = def.orders.length ? h('select', {}, def.orders.flatMap((f) => ['DESC', 'ASC'].map((d) => h('option', {
    value: `${f}:${d}`, selected: order && order.field === f && order.direction === d,
    text: `${t(`order.${def.key}.${f}`)} — ${t(`order.${d}`)}`,
  })))) : null;
  const orderField = orderSelect ? labelled(t('records.orderBy'), orderSelect).field : null;

  function show() {
    replace(listBox, pagedList({
      caption: t(`entity.${def.key}.plural`),
      columns: [
        ...fields.map((f) => ({ label: t(`field.${def.key}.${f.name}`), cell: (node, i, result) => cellFor(def, f, node, result, [def.list, 'nodes', i], perms) })),
        { label: t('field.common.owner'), cell: (node) => label('Agency', node.provenance.ownerAgency) },
      ],
      load: async (after, first) => {
        const variables = { filter, first, after };
        if (def.orderType && order) variables.orderBy = [order];
        const result = await gql(query, variables, { signal: view.signal });
        const conn = result.data[def.list];
        if (!conn) throw result.errors[0] || new Error('no data');
        return { nodes: conn.nodes, pageInfo: conn.pageInfo, totalCount: conn.totalCount, result };
      },
      onOpen: (node) => openDetail(view, def.key, node.id),
    }));
    replace(csvBox, csvButton(view, def, listQuery, () => ({ filter, order })));
  }

  main.append(
    h('section', { class: 'filter-box', 'aria-label': t('filters.title') },
      filterForm({
        specs: def.filters,
        labelOf: (name) => t(`filter.${def.key}.${name}`),
        onSubmit: (f) => { filter = f; show(); },
        extra: orderField ? [orderField] : [],
      })),
    csvBox,
    listBox);
  if (orderSelect) {
    orderSelect.addEventListener('change', () => {
      const [field, direction] = orderSelect.value.split(':');
      order = { field, direction };
      show();
    });
  }
  show();
}

function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }

function csvButton(view, def, listQuery, current) {
  const status = h('span', { class: 'status', role: 'status', 'aria-live': 'polite' });
  let controller = null;
  const cancel = h('button', { type: 'button', hidden: true, text: t('csv.cancel'), on: { click: () => controller && controller.abort() } });
  const button = h('button', {
    type: 'button', class: 'download', text: t('csv.download'),
    on: {
      click: async () => {
        controller = new AbortController();
        view.signal.addEventListener('abort', () => controller.abort());
        button.disabled = true;
        cancel.hidden = false;
        const { filter, order } = current();
        try {
          const count = await downloadCsv({
            def, listQuery, filter, order, perms: view.ctx.perms, signal: controller.signal,
            onProgress: (done, total) => { status.textContent = t('csv.progress', { done: fmtInt(done), total: fmtInt(total) }); },
          });
          status.textContent = t('csv.done', { count: fmtInt(count) });
        } catch (error) {
          if (error && error.name === 'AbortError') status.textContent = t('csv.cancelled');
          else if (error instanceof WithheldError) replace(status, withheldNotice('withheld.csv'));
          else replace(status, errorBox(error));
        } finally {
          button.disabled = false;
          cancel.hidden = true;
        }
      },
    },
  });
  return h('div', { class: 'csv-row' }, button, cancel, status, h('small', { class: 'hint', text: t('csv.hint') }));
}

// ---- details ----

function detailQuery(key, perms) {
  const def = ENTITIES[key];
  const firearmSel = selection('firearm', perms, { nested: false });
  const linkSel = perms.firearmLink && perms.firearmLink.rows === 'ALL'
    ? `links { basis createdAt firearm { id manufacturer model serialNumber provenance { ownerAgency } } }` : '';
  const tracesSel = readsRows(perms, 'trace') ? 'traces(first: 10) { totalCount nodes { id traceNumber recoveryDate recoveryState } }' : '';
  const seizuresSel = readsRows(perms, 'seizure') ? 'seizures(first: 10) { totalCount nodes { id seizedOn seizingAgency portOfEntry } }' : '';
  let extra = '';
  switch (key) {
    case 'trace':
      extra = readsRows(perms, 'firearm') ? `firearm { ${firearmSel} ${linkSel} ${seizuresSel} }` : '';
      break;
    case 'seizure':
      extra = readsRows(perms, 'firearm') ? `firearms { ${firearmSel} ${linkSel} ${tracesSel} }` : '';
      break;
    case 'training':
      extra = readsRows(perms, 'fundingAward') ? 'fundingAward { id program fiscalYear category }' : '';
      break;
    case 'fundingAward':
      extra = readsRows(perms, 'training') ? 'trainings { id course startDate mexicanState participants }' : '';
      break;
    case 'firearm':
      extra = `${linkSel} ${tracesSel} ${seizuresSel}`;
      break;
    default:
      break;
  }
  return `query Portal${cap(def.one)}Detail($id: ID!) { ${def.one}(id: $id) { ${selection(key, perms, { nested: false })} ${extra} } }`;
}

function fieldList(key, node, result, path, perms) {
  const def = ENTITIES[key];
  const hidden = new Set((perms[key] && perms[key].hiddenFields) || []);
  return h('dl', { class: 'fields' }, def.fields.filter((f) => !f.kind.startsWith('nested:')).flatMap((f) => [
    h('dt', { text: t(`field.${key}.${f.name}`) }),
    h('dd', {}, hidden.has(f.name) || result.isForbidden([...path, f.name]) ? forbiddenCell() : valueNode(f.kind, node[f.name], { plain: f.plain })),
  ]), [
    h('dt', { text: t('field.common.owner') }), h('dd', { text: label('Agency', node.provenance.ownerAgency) }),
    h('dt', { text: t('field.common.sourceSystem') }), h('dd', { text: node.provenance.sourceSystem }),
    h('dt', { text: t('field.common.ingestedAt') }), h('dd', {}, valueNode('datetime', node.provenance.ingestedAt)),
  ]);
}

function related(view, title, key, conn, describe) {
  const nodes = Array.isArray(conn) ? conn : conn.nodes;
  const total = Array.isArray(conn) ? conn.length : conn.totalCount;
  return h('section', { class: 'related' },
    h('h3', { text: `${title} (${fmtInt(total)})` }),
    nodes.length ? h('ul', {}, nodes.map((n) => h('li', {},
      h('button', { type: 'button', class: 'link', text: describe(n), on: { click: () => openDetail(view, key, n.id) } })))) : h('p', { class: 'empty', text: t('pager.none') }));
}

function linkList(view, links) {
  return h('section', { class: 'related' },
    h('h3', { text: `${t('detail.links')} (${fmtInt(links.length)})` }),
    links.length ? h('ul', {}, links.map((l) => h('li', {},
      h('button', {
        type: 'button', class: 'link',
        text: `${label('Agency', l.firearm.provenance.ownerAgency)}: ${l.firearm.manufacturer} ${l.firearm.model || ''} ${l.firearm.serialNumber || ''}`.replace(/\s+/g, ' '),
        on: { click: () => openDetail(view, 'firearm', l.firearm.id) },
      }),
      ` — ${label('LinkBasis', l.basis)}, ${formatValue('datetime', l.createdAt)}`))) : h('p', { class: 'empty', text: t('detail.noLinks') }));
}

function firearmBlock(view, firearm, result, path, perms) {
  const parts = [fieldList('firearm', firearm, result, path, perms)];
  if (firearm.links) parts.push(linkList(view, firearm.links));
  if (firearm.traces) parts.push(related(view, t('entity.trace.plural'), 'trace', firearm.traces, (n) => `${n.traceNumber} · ${formatValue('date', n.recoveryDate)} · ${formatValue('mxState', n.recoveryState)}`));
  if (firearm.seizures) parts.push(related(view, t('entity.seizure.plural'), 'seizure', firearm.seizures, (n) => `${formatValue('date', n.seizedOn)} · ${label('Agency', n.seizingAgency)}${n.portOfEntry ? ` · ${n.portOfEntry}` : ''}`));
  return parts;
}

let dialog = null;
let shown = null; // the record the details dialog shows: { key, id }

/** Shows the open details dialog's record again for a new view (after a purpose is stated). */
export function refreshDetail(view) {
  if (dialog && dialog.open && shown) openDetail(view, shown.key, shown.id);
}

/** Opens (or replaces) the details dialog with one record. */
export async function openDetail(view, key, id) {
  const def = ENTITIES[key];
  const { perms } = view.ctx;
  shown = { key, id };
  const titleId = uid('detail');
  const body = h('div', { class: 'detail-body' }, h('p', { class: 'status', role: 'status', text: t('status.loading') }));
  const close = h('button', { type: 'button', class: 'close', text: t('common.close'), on: { click: () => dialog.close() } });
  const content = h('div', { class: 'detail' }, h('div', { class: 'detail-head' }, h('h2', { id: titleId, text: t(`entity.${key}.one`) }), close), body);
  if (!dialog) {
    dialog = h('dialog', { class: 'detail-dialog' });
    dialog.addEventListener('close', () => { dialog.remove(); dialog = null; shown = null; });
    document.body.append(dialog);
  }
  dialog.setAttribute('aria-labelledby', titleId);
  replace(dialog, content);
  if (!dialog.open) dialog.showModal();
  close.focus();
  try {
    const result = await gql(detailQuery(key, perms), { id }, { signal: view.signal });
    const node = result.data[def.one];
    if (!node) {
      replace(body, result.requestErrors.length || result.withheld ? resultErrors(result) : h('p', { text: t('detail.notFound') }));
      return;
    }
    content.querySelector('h2').textContent = `${t(`entity.${key}.one`)}: ${def.title(node)}`;
    const parts = [fieldList(key, node, result, [def.one], perms)];
    if (key === 'trace' && node.firearm) parts.push(h('h3', { text: t('entity.firearm.one') }), firearmBlock(view, node.firearm, result, [def.one, 'firearm'], perms));
    if (key === 'seizure' && node.firearms) {
      node.firearms.forEach((f, i) => parts.push(h('h3', { text: `${t('entity.firearm.one')} ${fmtInt(i + 1)}` }), firearmBlock(view, f, result, [def.one, 'firearms', i], perms)));
    }
    if (key === 'training' && 'fundingAward' in node) {
      parts.push(node.fundingAward
        ? related(view, t('entity.fundingAward.one'), 'fundingAward', [node.fundingAward], (n) => `${n.program} · ${fmtInt(n.fiscalYear)} · ${label('FundingCategory', n.category)}`)
        : h('p', { text: t('detail.noAward') }));
    }
    if (key === 'fundingAward' && node.trainings) parts.push(related(view, t('entity.training.plural'), 'training', node.trainings, (n) => `${label('CourseKind', n.course)} · ${formatValue('date', n.startDate)} · ${formatValue('mxState', n.mexicanState) || '—'} · ${fmtInt(n.participants)}`));
    if (key === 'firearm') parts.push(firearmBlock(view, node, result, [def.one], perms).slice(1));
    replace(body, resultErrors(result), parts);
  } catch (error) {
    replace(body, errorBox(error));
  }
}
