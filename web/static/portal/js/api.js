// The GraphQL client: one POST /graphql per request with the session's bearer token and, while
// one is in force, the stated purpose of access. The token lives in sessionStorage only (never
// localStorage, a URL or a log line); so does the purpose, which is no secret but belongs to the
// session that stated it.

const TOKEN_KEY = 'hub.token';
const PURPOSE_KEY = 'hub.purpose';
export const PURPOSE_HEADER = 'X-Access-Purpose';
/** The extension the hub sets on the error reporting rows withheld for want of a purpose. */
export const PURPOSE_REQUIRED = 'PURPOSE_REQUIRED';

function read(key) {
  try { return sessionStorage.getItem(key); } catch { return null; }
}
function write(key, value) {
  try {
    if (value === null || value === undefined || value === '') sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch { /* storage disabled: the session lasts as long as the page */ }
}

const listeners = new Set();
const withheldListeners = new Set();

/** Calls `fn` whenever the hub reports rows withheld for want of a stated purpose. */
export function onWithheld(fn) { withheldListeners.add(fn); }

let purposePrompt = null;
/** Sets how the portal asks for a purpose of access (its dialog). */
export function setPurposePrompt(fn) { purposePrompt = fn; }
/** Asks for a purpose of access, as a view's "State purpose" button does after rows were withheld. */
export function askForPurpose() { if (purposePrompt) purposePrompt(); }

function reportWithheld(body) {
  if ((body.errors || []).some((e) => e.extensions && e.extensions.reason === PURPOSE_REQUIRED)) {
    for (const fn of withheldListeners) fn();
  }
}
export const session = {
  token: () => read(TOKEN_KEY),
  purpose: () => read(PURPOSE_KEY),
  signIn(token) { write(TOKEN_KEY, token); write(PURPOSE_KEY, null); },
  /** Forgets the token and the purpose; `reason` (an ApiError) says why, when the hub refused. */
  signOut(reason = null) { write(TOKEN_KEY, null); write(PURPOSE_KEY, null); for (const fn of listeners) fn('signed-out', reason); },
  setPurpose(purpose) { write(PURPOSE_KEY, purpose); for (const fn of listeners) fn('purpose'); },
  on(fn) { listeners.add(fn); },
};

/** The characters a purpose may hold. Header values must be ASCII, so letters are A–Z here. */
const PURPOSE_RE = /^[A-Za-z0-9 \-_.,:;/#()'&]{3,200}$/;

/** Checks a purpose as the hub will; returns null when it is acceptable, else a message key. */
export function purposeProblem(text) {
  const trimmed = (text || '').trim();
  if (trimmed.length < 3 || trimmed.length > 200) return 'purpose.errorLength';
  if (!PURPOSE_RE.test(trimmed)) return 'purpose.errorCharacters';
  return null;
}

/** A request that failed as a whole (no data): its code, the hub's message, the HTTP status. */
export class ApiError extends Error {
  constructor(code, message, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

function codeOf(error) {
  return (error && error.extensions && error.extensions.code) || 'INTERNAL';
}

/**
 * The result of a request that returned data: `data`, every error, the paths (joined by '.') of
 * fields refused with FORBIDDEN, other field errors by path, and whether rows were withheld for
 * want of a stated purpose.
 */
export class Result {
  constructor(body) {
    this.data = body.data || null;
    this.errors = body.errors || [];
    this.forbidden = new Set();
    this.fieldErrors = new Map();
    this.withheld = false;
    this.requestErrors = [];
    for (const error of this.errors) {
      const ext = error.extensions || {};
      if (ext.reason === PURPOSE_REQUIRED) {
        this.withheld = true;
      } else if (Array.isArray(error.path) && error.path.length) {
        const path = error.path.join('.');
        if (ext.code === 'FORBIDDEN') this.forbidden.add(path);
        else this.fieldErrors.set(path, error);
      } else {
        this.requestErrors.push(error);
      }
    }
  }

  /** Whether the field at `path` (an array or a dotted string) was refused to the role. */
  isForbidden(path) {
    return this.forbidden.has(Array.isArray(path) ? path.join('.') : path);
  }

  /** The first error at or under `path`, if any. */
  errorAt(path) {
    const prefix = Array.isArray(path) ? path.join('.') : path;
    for (const error of this.errors) {
      if (Array.isArray(error.path) && error.path.join('.').startsWith(prefix)) return error;
    }
    return null;
  }
}

/**
 * Sends one operation. Resolves with a Result when the hub answered with data (possibly with
 * field errors); rejects with an ApiError when the request failed as a whole.
 */
export async function gql(query, variables = {}, { signal, purpose } = {}) {
  const token = session.token();
  if (!token) throw new ApiError('UNAUTHENTICATED', 'not signed in', 401);
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
  const stated = purpose === undefined ? session.purpose() : purpose;
  if (stated) headers[PURPOSE_HEADER] = stated;
  let response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError('NETWORK', String(e && e.message ? e.message : e), 0);
  }
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!body || typeof body !== 'object') {
    throw new ApiError(response.status === 503 ? 'UNAVAILABLE' : 'INTERNAL', `HTTP ${response.status}`, response.status);
  }
  const first = body.errors && body.errors[0];
  if (response.status === 401 || (first && codeOf(first) === 'UNAUTHENTICATED')) {
    const error = new ApiError('UNAUTHENTICATED', first ? first.message : 'unauthenticated', 401);
    session.signOut(error);
    throw error;
  }
  reportWithheld(body);
  if (!body.data) {
    const error = new ApiError(first ? codeOf(first) : 'INTERNAL', first ? first.message : `HTTP ${response.status}`, response.status);
    // Seconds to wait before trying again, when the hub says (429, 503).
    error.retryAfter = Number(response.headers.get('Retry-After')) || null;
    throw error;
  }
  return new Result(body);
}

/** Development tokens, when the hub runs in development mode on loopback; null otherwise. */
export async function devRoles() {
  try {
    const response = await fetch('/dev/roles', { cache: 'no-store', credentials: 'omit' });
    if (!response.ok) return null;
    const body = await response.json();
    return Array.isArray(body.roles) ? body : null;
  } catch {
    return null;
  }
}

export async function devToken(role, scopes) {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ role, scopes }),
    cache: 'no-store',
    credentials: 'omit',
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body || !body.token) {
    const code = response.status === 403 ? 'FORBIDDEN' : 'INTERNAL';
    throw new ApiError(code, (body && body.error) || `HTTP ${response.status}`, response.status);
  }
  return body.token;
}
