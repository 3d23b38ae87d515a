// CSV of everything the current filter matches: the pages are fetched one after another along the
// connection's cursors (100 rows each, the API's largest page), encoded as RFC 4180 text and
// offered as one download. Values are as the API sends them (codes, ISO dates, decimal money), so
// the file reads back unchanged in any language; fields the role may not read are left out.

import { gql, ApiError } from './api.js';
import { ENTITIES, readsRows } from './entities.js';

const PAGE = 100;

function quote(value) {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) || /^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(values) {
  return `${values.map(quote).join(',')}\r\n`;
}

/** The columns of an entity's CSV for this role: [header, (node) => value]. */
export function csvColumns(key, perms) {
  const def = ENTITIES[key];
  const hidden = new Set((perms[key] && perms[key].hiddenFields) || []);
  const cols = [['id', (n) => n.id]];
  for (const f of def.fields) {
    if (hidden.has(f.name)) continue;
    if (f.kind.startsWith('nested:')) {
      const inner = f.kind.slice(7);
      if (!readsRows(perms, inner)) continue;
      const innerHidden = new Set((perms[inner] && perms[inner].hiddenFields) || []);
      cols.push([`${f.name}.id`, (n) => n[f.name] && n[f.name].id]);
      for (const g of ENTITIES[inner].fields) {
        if (innerHidden.has(g.name) || g.kind.startsWith('nested:')) continue;
        cols.push([`${f.name}.${g.name}`, (n) => n[f.name] && n[f.name][g.name]]);
      }
    } else {
      cols.push([f.name, (n) => n[f.name]]);
    }
  }
  cols.push(['ownerAgency', (n) => n.provenance.ownerAgency]);
  cols.push(['sourceSystem', (n) => n.provenance.sourceSystem]);
  cols.push(['ingestedAt', (n) => n.provenance.ingestedAt]);
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

/** Fetches every page of the filter and downloads the CSV; resolves to the number of rows. */
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
