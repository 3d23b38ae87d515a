// The portal: signs a person in, asks the hub what their role may read (`me.permissions` and the
// role's own schema) and builds the navigation and views from that answer alone.

import { h, replace, labelled, uid } from './js/dom.js';
import { t, label, setLanguage, currentLanguage, onLanguageChange, LANGUAGES, locale, fmtDateTime } from './js/i18n.js';
import { gql, session, devRoles, devToken, purposeProblem, ApiError, onWithheld, setPurposePrompt } from './js/api.js';
import { errorBox } from './js/ui.js';
import { destroyCharts } from './js/charts.js';
import { ENTITIES, SECTION_ENTITIES, ROW_ACCESS } from './js/entities.js';
import { entitySection, refreshDetail } from './js/records.js';
import { analysesView } from './js/analyses.js';
import { measuresView } from './js/measures.js';
import { linksView } from './js/links.js';
import { auditView } from './js/audit.js';

const app = document.getElementById('app');

const state = {
  ctx: null, // { me, perms, roots, mutations, disclosure }
  controller: null,
  purposeAsked: false,
  signInError: null, // why the last sign-in failed, shown on the sign-in page
};

const ME = `query PortalSession {
  me { subject role scopes permissions { entity rows hiddenFields canWrite } grants { id entity reason startsAt endsAt rowFilter problem } }
  disclosureControl { suppressionThreshold maxChange medianRounding sumNoise }
  __schema { queryType { fields { name } } mutationType { fields { name } } }
}`;

async function loadSession() {
  const result = await gql(ME, {}, { purpose: null });
  const { me, disclosureControl, __schema: schema } = result.data;
  const roots = new Set(schema.queryType.fields.map((f) => f.name));
  const perms = {};
  for (const p of me.permissions) {
    // Rows come from the policy or from a grant in force; the role's schema shows a list root
    // exactly when it reads rows of the entity either way.
    const list = ENTITIES[p.entity] && ENTITIES[p.entity].list;
    perms[p.entity] = { ...p, readsRows: ROW_ACCESS.includes(p.rows) || Boolean(list && roots.has(list)) };
  }
  state.ctx = {
    me,
    perms,
    roots,
    mutations: new Set(schema.mutationType ? schema.mutationType.fields.map((f) => f.name) : []),
    disclosure: disclosureControl,
  };
}

/** The sections this role has, in order: each from what the hub says the role may read. */
function sections(ctx) {
  const out = [{ id: 'overview', label: t('nav.overview') }];
  for (const key of SECTION_ENTITIES) {
    const def = ENTITIES[key];
    const perm = ctx.perms[key];
    if (!perm) continue;
    const rows = perm.readsRows && ctx.roots.has(def.list);
    const charts = Boolean(def.stats) && ctx.roots.has(def.stats);
    if (rows || charts) out.push({ id: key, label: t(`entity.${key}.plural`), rows, charts });
  }
  if (ctx.roots.has('linkCandidates') && ctx.perms.linkCandidate && ctx.perms.linkCandidate.rows !== 'NONE') {
    out.push({ id: 'links', label: t('nav.links') });
  }
  if (['traceCorridors', 'trainingOutcomes', 'fundingOutcomes'].some((r) => ctx.roots.has(r))) {
    out.push({ id: 'analyses', label: t('nav.analyses') });
  }
  if (ctx.roots.has('performanceMeasures')) out.push({ id: 'measures', label: t('nav.measures') });
  if (ctx.roots.has('auditEvents') && ctx.perms.auditEvent && ctx.perms.auditEvent.rows !== 'NONE') {
    out.push({ id: 'audit', label: t('nav.audit') });
  }
  return out;
}

function route() {
  const parts = (location.hash || '#/').replace(/^#\/?/, '').split('/').filter(Boolean);
  return { section: parts[0] || 'overview', sub: parts[1] || null };
}

function languageSwitch() {
  const select = h('select', { on: { change: (e) => setLanguage(e.target.value) } },
    LANGUAGES.map((lang) => h('option', { value: lang, lang: lang === 'es' ? 'es' : 'en', selected: lang === currentLanguage(), text: t(`language.${lang}`) })));
  select.id = 'language';
  return h('div', { class: 'language' }, h('label', { for: 'language', text: t('language.label') }), select);
}

function header() {
  const ctx = state.ctx;
  const purpose = session.purpose();
  return h('header', { class: 'top' },
    h('div', { class: 'brand' },
      h('p', { class: 'title', text: t('app.title') }),
      h('p', { class: 'subtitle', text: t('app.subtitle') })),
    h('div', { class: 'session' },
      ctx ? h('p', { class: 'who', dataset: { role: ctx.me.role } },
        h('span', { class: 'role-badge', text: label('Role', ctx.me.role) }), ' ',
        h('span', { class: 'subject', text: ctx.me.subject })) : null,
      ctx && purpose ? h('p', { class: 'purpose', id: 'purpose-in-force' },
        h('span', { text: `${t('purpose.inForce')} ` }), h('strong', { text: purpose }), ' ',
        h('button', { type: 'button', class: 'link', text: t('purpose.change'), on: { click: () => askPurpose(false) } }),
        h('button', { type: 'button', class: 'link', text: t('purpose.clear'), on: { click: () => { session.setPurpose(null); render(); } } })) : null,
      ctx && !purpose ? h('p', { class: 'purpose none' },
        h('button', { type: 'button', class: 'link', text: t('purpose.state'), on: { click: () => askPurpose(false) } })) : null,
      languageSwitch(),
      ctx ? h('button', { type: 'button', id: 'sign-out', text: t('signIn.signOut'), on: { click: () => { state.signInError = null; session.signOut(); } } }) : null));
}

function nav(list, current) {
  return h('nav', { class: 'sections', 'aria-label': t('nav.label') },
    h('ul', {}, list.map((s) => h('li', {},
      h('a', { href: `#/${s.id}`, 'aria-current': s.id === current ? 'page' : null, dataset: { section: s.id }, text: s.label })))));
}

/** Renders the whole page for the current route. */
export async function render() {
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  const { signal } = state.controller;
  destroyCharts();
  document.documentElement.lang = locale();
  document.title = t('app.title');
  if (!session.token()) {
    state.ctx = null;
    replace(app, header(), h('main', { id: 'main', tabindex: '-1' }, await signInView()));
    return;
  }
  if (!state.ctx) {
    replace(app, header(), h('main', { id: 'main' }, h('p', { class: 'status', role: 'status', text: t('status.loading') })));
    try {
      await loadSession();
    } catch (error) {
      if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') return; // signOut re-renders
      replace(app, header(), h('main', { id: 'main' }, errorBox(error)));
      return;
    }
  }
  const list = sections(state.ctx);
  const { section, sub } = route();
  const current = list.find((s) => s.id === section) || list[0];
  const main = h('main', { id: 'main', tabindex: '-1', 'aria-labelledby': 'view-title' });
  replace(app, h('a', { class: 'skip', href: '#main', text: t('app.skip'), on: { click: (e) => { e.preventDefault(); main.focus(); } } }),
    header(), h('div', { class: 'layout' }, nav(list, current.id), main));
  const view = {
    ctx: state.ctx,
    signal,
    section: current,
    sub,
  };
  state.purposeAsked = false;
  try {
    switch (current.id) {
      case 'overview': overview(main, view); break;
      case 'links': linksView(main, view); break;
      case 'analyses': analysesView(main, view); break;
      case 'measures': measuresView(main, view); break;
      case 'audit': auditView(main, view); break;
      default: entitySection(main, view, current); break;
    }
  } catch (error) {
    append(main, errorBox(error));
  }
  refreshDetail(view);
}

function append(el, ...children) { for (const c of children) if (c) el.append(c); }

function overview(main, view) {
  const { me, perms } = view.ctx;
  const entities = Object.values(perms);
  append(main,
    h('h1', { id: 'view-title', text: t('overview.title') }),
    h('p', { text: t('overview.intro', { role: label('Role', me.role) }) }),
    h('table', { class: 'data permissions' },
      h('caption', { text: t('overview.permissions') }),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', text: t('overview.entity') }),
        h('th', { scope: 'col', text: t('overview.rows') }),
        h('th', { scope: 'col', text: t('overview.hidden') }),
        h('th', { scope: 'col', text: t('overview.write') }))),
      h('tbody', {}, entities.map((p) => h('tr', { dataset: { entity: p.entity } },
        h('th', { scope: 'row', text: t(`entity.${p.entity}.plural`) }),
        h('td', { text: label('RowAccess', p.rows) }),
        h('td', { text: p.hiddenFields.length ? p.hiddenFields.map((f) => t(`field.${p.entity}.${f}`)).join(', ') : t('overview.noneHidden') }),
        h('td', { text: p.canWrite ? t('common.yes') : t('common.no') }))))),
    h('p', { class: 'hint', text: t('overview.rowAccessHelp') }),
    me.scopes.length ? h('p', { text: t('overview.scopes', { scopes: me.scopes.join(', ') }) }) : null,
    h('h2', { text: t('overview.grants') }),
    me.grants.length
      ? h('ul', { class: 'grants' }, me.grants.map((g) => h('li', {},
        t('overview.grant', { entity: t(`entity.${g.entity}.plural`), reason: g.reason, from: fmtDateTime(g.startsAt), to: fmtDateTime(g.endsAt) }),
        g.problem ? h('span', { class: 'error', text: ` ${g.problem}` }) : null)))
      : h('p', { text: t('overview.noGrants') }));
}

/** The dialog asking for a purpose of access; `withheld` when the hub just withheld rows. */
function askPurpose(withheld) {
  const input = h('input', { type: 'text', maxlength: '200', autocomplete: 'off', value: session.purpose() || '' });
  const problem = h('p', { class: 'error', role: 'alert', hidden: true });
  const field = labelled(t('purpose.label'), input, t('purpose.hint'));
  const titleId = uid('dlg');
  const dialog = h('dialog', { class: 'purpose-dialog', 'aria-labelledby': titleId },
    h('form', { method: 'dialog' },
      h('h2', { id: titleId, text: t('purpose.title') }),
      withheld ? h('p', { text: t('purpose.withheld') }) : null,
      h('p', { text: t('purpose.explain') }),
      field.field,
      problem,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'primary', value: 'ok', text: t('purpose.submit') }),
        h('button', { type: 'button', value: 'cancel', text: t('common.cancel'), on: { click: () => dialog.close('cancel') } }))));
  dialog.querySelector('form').addEventListener('submit', (e) => {
    const key = purposeProblem(input.value);
    if (key) {
      e.preventDefault();
      problem.textContent = t(key);
      problem.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  });
  dialog.addEventListener('close', () => {
    const ok = dialog.returnValue === 'ok';
    dialog.remove();
    if (ok) {
      session.setPurpose(input.value.trim());
      render();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}

async function signInView() {
  const tokenInput = h('textarea', { rows: '4', autocomplete: 'off', spellcheck: 'false', required: true });
  const problem = h('div', { class: 'errors' });
  const form = h('form', { class: 'sign-in', novalidate: true },
    labelled(t('signIn.token'), tokenInput, t('signIn.tokenHint')).field,
    h('button', { type: 'submit', class: 'primary', text: t('signIn.submit') }));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = tokenInput.value.trim().replace(/^Bearer\s+/i, '');
    if (!token) {
      replace(problem, h('p', { class: 'error', role: 'alert', text: t('signIn.empty') }));
      return;
    }
    await signIn(token);
  });
  if (state.signInError) replace(problem, errorBox(state.signInError));
  const picker = h('div', { class: 'dev-picker' });
  const box = h('div', { class: 'sign-in-page' },
    h('h1', { id: 'view-title', text: t('signIn.title') }),
    h('p', { text: t('signIn.intro') }),
    problem, form, picker);
  devRoles().then((dev) => {
    if (!dev) return; // not development mode, or not on loopback: no picker
    const scopes = (dev.scopes || []).map((s) => {
      const box = h('input', { type: 'checkbox', value: s });
      box.id = uid('scope');
      return { s, box };
    });
    replace(picker, h('section', { 'aria-labelledby': 'dev-title' },
      h('h2', { id: 'dev-title', text: t('signIn.devTitle') }),
      h('p', { class: 'hint', text: t('signIn.devIntro') }),
      scopes.map(({ s, box }) => h('p', { class: 'choice' }, box, h('label', { for: box.id, text: t('signIn.scope', { scope: s }) }))),
      h('ul', { class: 'roles' }, dev.roles.map((role) => h('li', {},
        h('button', {
          type: 'button', dataset: { role },
          text: t('signIn.as', { role: label('Role', role) }),
          on: {
            click: async () => {
              try {
                const token = await devToken(role, scopes.filter((x) => x.box.checked).map((x) => x.s));
                await signIn(token);
              } catch (error) {
                replace(problem, errorBox(error));
              }
            },
          },
        }))))));
  });
  return box;
}

async function signIn(token) {
  session.signIn(token);
  state.ctx = null;
  state.signInError = null;
  try {
    await loadSession();
  } catch (error) {
    state.signInError = error;
    session.signOut();
    return;
  }
  if (location.hash && location.hash !== '#/') location.hash = '#/';
  else render();
}

session.on((what, reason) => {
  if (what === 'signed-out') {
    state.ctx = null;
    // An expired or refused token: the sign-in page says so.
    if (reason) state.signInError = reason;
    if (location.hash && location.hash !== '#/') location.hash = '#/';
    else render();
  }
});
onLanguageChange(() => render().then(() => {
  // Keyboard users stay where they were: on the language switch.
  const select = document.getElementById('language');
  if (select) select.focus();
}));
// Rows were withheld for want of a purpose: ask once per view (the dialog can be reopened from the
// header), unless one is in force already.
onWithheld(() => {
  if (state.ctx && !session.purpose() && !state.purposeAsked) {
    state.purposeAsked = true;
    askPurpose(true);
  }
});
// A view's notice of withheld rows reopens the dialog with its "State purpose" button.
setPurposePrompt(() => { if (state.ctx) askPurpose(true); });
window.addEventListener('hashchange', () => {
  if (location.hash === '#main') return;
  render().then(() => {
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: true });
  });
});
document.documentElement.lang = locale();
render();
