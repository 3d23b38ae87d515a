// Link candidates: seized and traced firearm records whose serials are one edit apart, as far as
// the role reads both. A role whose agency decides on its side (canWrite) confirms or rejects.

import { h, replace, labelled, uid } from './dom.js';
import { t, label, fmtDecimal, fmtDateTime } from './i18n.js';
import { gql } from './api.js';
import { errorBox, pagedList, filterForm } from './ui.js';
import { openDetail } from './records.js';

const FIREARM = 'id manufacturer model type caliber serialNumber provenance { ownerAgency }';
const QUERY = `query PortalLinkCandidates($filter: LinkCandidateFilter, $first: Int, $after: String) {
  linkCandidates(filter: $filter, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { score status reason { edit agreeing }
      seizedFirearm { ${FIREARM} } tracedFirearm { ${FIREARM} }
      decisions { side decision role decidedAt } }
  }
}`;
const DECIDE = `mutation PortalDecideLinkCandidate($input: DecideLinkCandidateInput!) {
  decideLinkCandidate(input: $input) { status decisions { side decision role decidedAt } }
}`;

const EDITS = ['CONFUSABLE_SUBSTITUTION', 'TRANSPOSITION', 'DELETION', 'INSERTION', 'SUBSTITUTION'];

function firearmText(f) {
  return `${f.manufacturer} ${f.model || ''} · ${f.serialNumber || '—'} (${label('Agency', f.provenance.ownerAgency)})`.replace(/\s+/g, ' ');
}

export function linksView(main, view) {
  const canDecide = Boolean(view.ctx.perms.linkCandidate && view.ctx.perms.linkCandidate.canWrite)
    && view.ctx.mutations.has('decideLinkCandidate');
  const minScore = h('input', { type: 'number', min: '0', max: '1', step: '0.05', value: '' });
  let filter = {};
  const listBox = h('div');
  const message = h('div', { class: 'errors', 'aria-live': 'polite' });
  main.append(
    h('h1', { id: 'view-title', text: t('links.title') }),
    h('p', { text: t('links.intro') }),
    filterForm({
      specs: [{ name: 'edit', type: 'enum', enum: 'SerialEdit', values: EDITS }],
      labelOf: () => t('links.edit'),
      extra: [labelled(t('links.minScore'), minScore).field],
      onSubmit: (f) => {
        filter = { ...f };
        if (minScore.value !== '') filter.minScore = Number(minScore.value);
        show();
      },
    }),
    message,
    listBox);

  async function decide(node, decision) {
    replace(message);
    try {
      const result = await gql(DECIDE, { input: { seizedFirearmId: node.seizedFirearm.id, tracedFirearmId: node.tracedFirearm.id, decision } }, { signal: view.signal });
      if (!result.data.decideLinkCandidate) {
        replace(message, result.errors.map((e) => errorBox(e)));
        return;
      }
      replace(message, h('p', { class: 'ok', role: 'status', text: t('links.decided', { decision: label('LinkDecisionKind', decision), status: label('LinkCandidateStatus', result.data.decideLinkCandidate.status) }) }));
      show();
    } catch (error) {
      replace(message, errorBox(error));
    }
  }

  function confirmThen(node, decision) {
    const titleId = uid('dlg');
    const dialog = h('dialog', { 'aria-labelledby': titleId },
      h('form', { method: 'dialog' },
        h('h2', { id: titleId, text: t('links.confirmTitle', { decision: label('LinkDecisionKind', decision) }) }),
        h('p', { text: `${t('links.seized')}: ${firearmText(node.seizedFirearm)}` }),
        h('p', { text: `${t('links.traced')}: ${firearmText(node.tracedFirearm)}` }),
        h('p', { class: 'hint', text: t('links.confirmHint') }),
        h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'primary', value: 'ok', text: label('LinkDecisionKind', decision) }),
          h('button', { type: 'submit', value: 'cancel', text: t('common.cancel') }))));
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (dialog.returnValue === 'ok') decide(node, decision);
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  function show() {
    replace(listBox, pagedList({
      caption: t('links.title'),
      columns: [
        { label: t('links.score'), cell: (n) => fmtDecimal(n.score, 2) },
        { label: t('links.edit'), cell: (n) => label('SerialEdit', n.reason.edit) },
        { label: t('links.agreeing'), cell: (n) => n.reason.agreeing.map((a) => label('LinkAttribute', a)).join(', ') },
        { label: t('links.seized'), cell: (n) => h('button', { type: 'button', class: 'link', text: firearmText(n.seizedFirearm), on: { click: () => openDetail(view, 'firearm', n.seizedFirearm.id) } }) },
        { label: t('links.traced'), cell: (n) => h('button', { type: 'button', class: 'link', text: firearmText(n.tracedFirearm), on: { click: () => openDetail(view, 'firearm', n.tracedFirearm.id) } }) },
        { label: t('links.status'), cell: (n) => label('LinkCandidateStatus', n.status) },
        { label: t('links.decisions'), cell: (n) => (n.decisions || []).map((x) => `${label('Agency', x.side)}: ${label('LinkDecisionKind', x.decision)} (${fmtDateTime(x.decidedAt)})`).join('; ') || '—' },
        ...(canDecide ? [{
          label: t('links.decide'),
          cell: (n) => h('span', { class: 'decide' },
            h('button', { type: 'button', text: label('LinkDecisionKind', 'CONFIRM'), on: { click: () => confirmThen(n, 'CONFIRM') } }),
            h('button', { type: 'button', text: label('LinkDecisionKind', 'REJECT'), on: { click: () => confirmThen(n, 'REJECT') } })),
        }] : []),
      ],
      load: async (after, first) => {
        const result = await gql(QUERY, { filter, first, after }, { signal: view.signal });
        const conn = result.data.linkCandidates;
        if (!conn) throw result.errors[0] || new Error('no data');
        return { nodes: conn.nodes, pageInfo: conn.pageInfo, totalCount: conn.totalCount, result };
      },
    }));
  }
  show();
}
