// Languages: every label, enumeration value, message and axis comes from a dictionary here;
// numbers, money and dates are formatted with Intl in the chosen locale. The choice of language
// (and nothing else) is kept in localStorage.

import en from './i18n/en.js';
import es from './i18n/es.js';

const DICTIONARIES = { en, es };
const LOCALES = { en: 'en-US', es: 'es-MX' };
const STORAGE_KEY = 'hub.language';

export const LANGUAGES = Object.keys(DICTIONARIES);

function initial() {
  let stored = null;
  try { stored = localStorage.getItem(STORAGE_KEY); } catch { /* storage disabled */ }
  if (stored && DICTIONARIES[stored]) return stored;
  const preferred = (navigator.language || 'en').slice(0, 2);
  return DICTIONARIES[preferred] ? preferred : 'en';
}

let language = initial();
const listeners = new Set();

export function currentLanguage() { return language; }
export function locale() { return LOCALES[language]; }

export function setLanguage(next) {
  if (!DICTIONARIES[next] || next === language) return;
  language = next;
  try { localStorage.setItem(STORAGE_KEY, next); } catch { /* storage disabled */ }
  document.documentElement.lang = LOCALES[next];
  for (const fn of listeners) fn(next);
}

export function onLanguageChange(fn) { listeners.add(fn); }

function lookup(dict, key) {
  let node = dict;
  for (const part of key.split('.')) {
    if (node === undefined || node === null) return undefined;
    node = node[part];
  }
  return node;
}

/**
 * The text of `key` in the chosen language, with `{name}` placeholders filled from `params`.
 * A key missing from the dictionary is a defect: it is reported on the console (which the browser
 * tests fail on) and shown as the key itself.
 */
export function t(key, params = {}) {
  let text = lookup(DICTIONARIES[language], key);
  if (typeof text !== 'string') {
    console.error(`missing translation: ${language}.${key}`);
    return key;
  }
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** Whether the dictionary has `key` (for optional texts such as explanations). */
export function has(key) {
  return typeof lookup(DICTIONARIES[language], key) === 'string';
}

/** The label of an enumeration value, e.g. label('SourceClass', 'FOREIGN'). */
export function label(type, value) {
  if (value === null || value === undefined) return '';
  return t(`enum.${type}.${value}`);
}

/** A Mexican state (ISO 3166-2:MX) or U.S. state (USPS) name; unknown codes as they are. */
export function stateName(code) {
  if (!code) return '';
  const key = code.startsWith('MX-') ? `mxState.${code}` : `usState.${code}`;
  return has(key) ? t(key) : code;
}

const cache = new Map();
function formatter(kind, options) {
  const key = `${language}|${kind}|${JSON.stringify(options)}`;
  if (!cache.has(key)) {
    cache.set(key, kind === 'date' ? new Intl.DateTimeFormat(locale(), options) : new Intl.NumberFormat(locale(), options));
  }
  return cache.get(key);
}

export function fmtInt(n) {
  if (n === null || n === undefined) return '';
  return formatter('number', { maximumFractionDigits: 0 }).format(n);
}

export function fmtDecimal(n, digits = 2) {
  if (n === null || n === undefined) return '';
  return formatter('number', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(n);
}

/** Money as the API sends it (a decimal string of dollars), formatted exactly: Intl takes the
 *  decimal string itself, so no floating point touches the amount. */
export function fmtMoney(amount) {
  if (amount === null || amount === undefined) return '';
  return formatter('number', { style: 'currency', currency: 'USD' }).format(String(amount));
}

/** Money for chart axes: compact ("$1.2M"). */
export function fmtMoneyCompact(amount) {
  return formatter('number', { style: 'currency', currency: 'USD', notation: 'compact', maximumFractionDigits: 1 }).format(Number(amount));
}

/** A per mille value as a percentage with one decimal (645 ‰ → 64.5 %). */
export function fmtPerMille(value) {
  if (value === null || value === undefined) return '';
  return formatter('number', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(value / 1000);
}

/** A calendar date "YYYY-MM-DD", formatted without time-zone shifts. */
export function fmtDate(iso) {
  if (!iso) return '';
  const [y, m, d] = iso.split('-').map(Number);
  return formatter('date', { dateStyle: 'medium', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** An RFC 3339 timestamp in the reader's time zone. */
export function fmtDateTime(iso) {
  if (!iso) return '';
  return formatter('date', { dateStyle: 'medium', timeStyle: 'medium' }).format(new Date(iso));
}

/** Compares two strings in the chosen locale's order. */
export function compareText(a, b) {
  return String(a).localeCompare(String(b), locale());
}
