// Building the page with the DOM API only: no HTML strings, no inline styles or handlers, so the
// strict Content-Security-Policy holds and no text from the API is ever parsed as markup.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on` ({event: handler}), `dataset`,
 * `hidden`, boolean properties (`disabled`, `checked`, `selected`, `multiple`, `required`) and any
 * other attribute (set with setAttribute). Children are nodes, strings, or arrays of either;
 * null, undefined and false are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (['disabled', 'checked', 'selected', 'multiple', 'required', 'hidden', 'open'].includes(key)) el[key] = Boolean(value);
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let counter = 0;
/** A document-unique id with a readable prefix, for label/aria relations. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form control wrapped with its label; returns { field, control }. */
export function labelled(labelText, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const hintId = hint ? uid('hint') : null;
  if (hintId) control.setAttribute('aria-describedby', hintId);
  const field = h('div', { class: 'field' },
    h('label', { for: id, text: labelText }),
    control,
    hint ? h('small', { id: hintId, class: 'hint', text: hint }) : null);
  return { field, control };
}
