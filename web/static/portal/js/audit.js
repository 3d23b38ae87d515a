// The audit trail: every event for oversight, and for an agency the events in which other roles
// touched its data (the hub decides which; the view only filters and pages).

import { h, replace } from './dom.js';
import { t, label, fmtInt, fmtDateTime } from './i18n.js';
import { gql } from './api.js';
import { filterForm, pagedList } from './ui.js';

const QUERY = `query PortalAuditEvents($filter: AuditFilter, $first: Int, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id at subject role purpose operation entities rowsReturned outcome }
  }
}`;

export function auditView(main, view) {
  const all = view.ctx.perms.auditEvent.rows === 'ALL';
  let filter = {};
  const listBox = h('div');
  main.append(
    h('h1', { id: 'view-title', text: all ? t('audit.titleAll') : t('audit.titleOwn') }),
    h('p', { text: all ? t('audit.introAll') : t('audit.introOwn') }),
    filterForm({
      specs: [
        { name: 'subject', type: 'text' },
        { name: 'role', type: 'roles', enum: 'Role', values: ['ATF', 'ICE', 'CBP', 'STATE', 'OVERSIGHT'] },
        { name: 'between', type: 'dateRange' },
        { name: 'outcome', type: 'enum', enum: 'Outcome', values: ['ok', 'denied', 'error'] },
      ],
      labelOf: (n) => t(`audit.filter.${n}`),
      onSubmit: (f) => { filter = f; show(); },
    }),
    listBox);

  function show() {
    replace(listBox, pagedList({
      caption: all ? t('audit.titleAll') : t('audit.titleOwn'),
      columns: [
        { label: t('audit.at'), cell: (e) => fmtDateTime(e.at) },
        { label: t('audit.subject'), cell: (e) => e.subject },
        { label: t('audit.role'), cell: (e) => label('Role', e.role) },
        { label: t('audit.purpose'), cell: (e) => e.purpose || h('span', { class: 'none', text: t('audit.noPurpose') }) },
        { label: t('audit.operation'), cell: (e) => h('code', { text: e.operation }) },
        { label: t('audit.entities'), cell: (e) => e.entities.map((x) => (entityLabel(x))).join(', ') },
        { label: t('audit.rows'), cell: (e) => fmtInt(e.rowsReturned) },
        { label: t('audit.outcome'), cell: (e) => h('span', { class: `outcome ${e.outcome}`, text: label('Outcome', e.outcome) }) },
      ],
      load: async (after, first) => {
        const result = await gql(QUERY, { filter, first, after }, { signal: view.signal });
        const conn = result.data.auditEvents;
        if (!conn) throw result.errors[0] || new Error('no data');
        return { nodes: conn.nodes, pageInfo: conn.pageInfo, totalCount: conn.totalCount, result };
      },
    }));
  }
  show();
}

function entityLabel(name) {
  const key = `entity.${name}.plural`;
  return tOr(key, name);
}

function tOr(key, fallback) {
  // Entities the portal has no label for are shown by their API name.
  return KNOWN.has(key.split('.')[1]) ? t(key) : fallback;
}

const KNOWN = new Set(['trace', 'seizure', 'training', 'fundingAward', 'firearm', 'firearmLink', 'auditEvent', 'performanceMeasure', 'linkCandidate', 'accessGrant']);
