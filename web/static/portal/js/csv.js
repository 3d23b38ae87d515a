// CSV of everything the current filter matches: the pages are fetched one after another along the
// connection's cursors (100 rows each, the API's largest page), encoded as RFC 4180 text and
// offered as one download. Values are as the API sends them (codes, ISO dates, decimal money), so
// the file reads back unchanged in any language; fields the role may not read are left out. The
// one change: text that a spreadsheet would run as a formula gets a leading apostrophe (below).
// A download stops, saving nothing, when the hub withholds rows for want of a stated purpose: a
// file without them would look complete and be wrong.

import { gql, ApiError } from './api.js';
import { ENTITIES, readsRows } from './entities.js';

const PAGE = 100;

/** Field kinds written exactly as sent: numbers, money and dates (a negative amount is no formula). */
const VERBATIM = new Set(['int', 'money', 'date', 'datetime']);

/**
 * Text a spreadsheet runs as a formula when it opens the file, quoted or not ("CSV injection"):
 * beginning with = + - @ (or their full-width forms, which some locales of Excel accept), possibly
 * after spaces, or with a tab or a carriage return.
 */
const FORMULA_START = /^(?:[\t\r]|\s*[=+\-@\uFF1D\uFF0B\uFF0D\uFF20])/;

/** A free-text value made safe to open in a spreadsheet: a leading `'` keeps it text. */
export function neutralise(value) {
  if (typeof value !== 'string' || !FORMULA_START.test(value)) return value;
  return `'${value}`;
}

function quote(value) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values) {
  return `${values.map(quote).join(',')}\r\n`;
}

/** Rows were withheld for want of a stated purpose: the file would be incomplete. */
export class WithheldError extends Error {
  constructor() {
    super('rows owned by other agencies were withheld for want of a stated purpose');
    this.name = 'WithheldError';
  }
}

/**
 * The columns of an entity's CSV for this role: [header, (node) => value], the value already
 * neutralised when the field is text.
 */
export function csvColumns(key, perms) {
  const def = ENTITIES[key];
  const hidden = new Set((perms[key] && perms[key].hiddenFields) || []);
  const cols = [];
  const col = (header, kind, get) => {
    cols.push([header, VERBATIM.has(kind) ? get : (n) => neutralise(get(n))]);
  };
  col('id', 'text', (n) => n.id);
  for (const f of def.fields) {
    if (hidden.has(f.name)) continue;
    if (f.kind.startsWith('nested:')) {
      const inner = f.kind.slice(7);
      if (!readsRows(perms, inner)) continue;
      const innerHidden = new Set((perms[inner] && perms[inner].hiddenFields) || []);
      col(`${f.name}.id`, 'text', (n) => n[f.name] && n[f.name].id);
      for (const g of ENTITIES[inner].fields) {
        if (innerHidden.has(g.name) || g.kind.startsWith('nested:')) continue;
        col(`${f.name}.${g.name}`, g.kind, (n) => n[f.name] && n[f.name][g.name]);
      }
    } else {
      col(f.name, f.kind, (n) => n[f.name]);
    }
  }
  col('ownerAgency', 'text', (n) => n.provenance.ownerAgency);
  col('sourceSystem', 'text', (n) => n.provenance.sourceSystem);
  col('ingestedAt', 'datetime', (n) => n.provenance.ingestedAt);
  return cols;
}

/** One page; over the rate limit or while the hub is briefly unavailable, waits as the hub asks
 *  (Retry-After) and tries again, a few times, so a long download is not lost to a pause. */
async function fetchPage(query, variables, signal) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await gql(query, variables, { signal });
    } catch (error) {
      const transient = error instanceof ApiError && ['RATE_LIMITED', 'UNAVAILABLE'].includes(error.code);
      if (!transient || attempt >= 5) throw error;
      const seconds = Math.min(error.retryAfter || 1, 30);
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, seconds * 1000);
        signal.addEventListener('abort', () => { clearTimeout(timer); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
      });
    }
  }
}

/**
 * Fetches every page of the filter and downloads the CSV; resolves to the number of rows. Rejects
 * with a WithheldError, saving nothing, when the hub withholds rows of any page.
 */
export async function downloadCsv({ def, listQuery, filter, order, perms, signal, onProgress }) {
  const cols = csvColumns(def.key, perms);
  const chunks = ['\ufeff', csvLine(cols.map((c) => c[0]))];
  let after = null;
  let done = 0;
  let total = null;
  for (;;) {
    const variables = { filter, first: PAGE, after };
    if (def.orderType && order) variables.orderBy = [order];
    const result = await fetchPage(listQuery(total === null), variables, signal);
    if (result.withheld) throw new WithheldError();
    const conn = result.data[def.list];
    if (!conn) throw result.errors[0] || new Error('no data');
    for (const node of conn.nodes) chunks.push(csvLine(cols.map((c) => c[1](node))));
    done += conn.nodes.length;
    if (total === null) total = conn.totalCount;
    onProgress(done, total);
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
  }
  const blob = new Blob(chunks, { type: 'text/csv;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${def.list}-${new Date().toISOString().slice(0, 10)}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return done;
}
