// The service's HTTP API as the page uses it: the API key, JSON errors, uploads, and /chat's
// server-sent events. /chat is a POST, which EventSource cannot send, so its stream is read with
// fetch and parsed here.

const API = '/api/v1';
const STORE_KEY = 'qa.apiKey';
const CLIENT_KEY = 'qa.clientId';

let key = null; // null: ask anonymously (the server may allow anonymous reading)
let store = null; // localStorage, or sessionStorage for an embedded page (the key belongs to the portal)

export class ApiError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    Object.assign(this, { status, code, retryAfter });
  }

  get offline() {
    return this.status === 0;
  }
}

const offline = () => new ApiError(0, 'offline', '无法连接到问答服务，请检查网络连接后重试。');

function storage(kind) {
  try {
    const s = window[kind];
    s.getItem(STORE_KEY); // throws where storage is blocked (some third-party iframes)
    return s;
  } catch {
    return null;
  }
}

/**
 * Picks up the key: `#key=` (an embedded page, kept for this tab only), `?key=` (saved), or the saved
 * one. A key in the address is removed from it, so it is not bookmarked or shared by accident.
 */
export function initKey() {
  const url = new URL(location.href);
  const hash = new URLSearchParams(url.hash.slice(1));
  const embedded = url.searchParams.has('embed');
  store = storage(embedded ? 'sessionStorage' : 'localStorage');
  key = store?.getItem(STORE_KEY) || null;
  const inHash = hash.get('key');
  const given = inHash ?? url.searchParams.get('key');
  if (given === null) return;
  setKey(given);
  if (inHash !== null) { // only then is the fragment a parameter list ("#admin" is a view name)
    hash.delete('key');
    url.hash = hash.toString();
  }
  url.searchParams.delete('key');
  history.replaceState(history.state, '', url);
}

export function setKey(value) {
  key = (value || '').trim() || null;
  if (key) store?.setItem(STORE_KEY, key);
  else store?.removeItem(STORE_KEY);
}

export const hasKey = () => key !== null;

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = `服务器返回错误（${res.status}），请稍后重试。`;
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not our JSON (a proxy's page): keep the generic message */ }
  return new ApiError(res.status, code, message, Number(res.headers.get('Retry-After')) || 0);
}

/**
 * This browser's id (random, kept in localStorage): the server files the conversations under it (under
 * the key, when there is one), so only this browser sees them again: visitors of a portal page that
 * carries one shared key never see each other's questions.
 */
export function clientId() {
  const s = storage('localStorage');
  let id = s?.getItem(CLIENT_KEY);
  if (!id || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) {
    id = crypto.randomUUID ? crypto.randomUUID().replace(/-/g, '')
      : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
    s?.setItem(CLIENT_KEY, id);
  }
  return id;
}

async function send(method, path, body, signal, withKey = key) {
  const headers = body ? { 'Content-Type': 'application/json' } : {};
  if (withKey) headers['X-API-Key'] = withKey;
  headers['X-Client-ID'] = clientId();
  let res;
  try {
    res = await fetch(API + path, { method, signal, headers, body: body ? JSON.stringify(body) : undefined });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw offline();
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

export const get = async (path, signal) => (await send('GET', path, null, signal)).json();
/** A file the API serves (`url` as `apiUrl` gives it), fetched with the key. */
export const getBlob = async (url) => (await send('GET', url.slice(API.length))).blob();
export const apiUrl = (path) => API + path;
export const del = async (path) => (await send('DELETE', path)).json();
export const put = async (path, body) => (await send('PUT', path, body)).json();
export const patch = async (path, body) => (await send('PATCH', path, body)).json();
export const post = async (path, body) => (await send('POST', path, body)).json();

/** Checks a key before it is saved: resolves with the index status, or throws (401 for a wrong key). */
export const tryKey = async (candidate) => (await send('GET', '/index', null, undefined, candidate)).json();

export const docPath = (docId) => `/documents/${encodeURIComponent(docId)}`;

/** Whether the key (or anonymous access) has the admin role, as GET /me says. */
export async function isAdmin() {
  if (!key) return false;
  try {
    return (await (await send('GET', '/me')).json()).role === 'admin';
  } catch {
    return false;
  }
}

/**
 * POST /chat, yielding {event, data} as the server sends them (rewritten, citations, answer, done,
 * or error). A refused question throws ApiError before the first event; a dropped connection throws
 * the offline error.
 */
export async function* chat(body, signal) {
  const res = await send('POST', '/chat', body, signal);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let finished = false;
  try {
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        throw offline();
      }
      if (chunk.done) break;
      buffer += chunk.value;
      let end;
      while ((end = /\r?\n\r?\n/.exec(buffer))) {
        const event = parseEvent(buffer.slice(0, end.index));
        buffer = buffer.slice(end.index + end[0].length);
        if (!event) continue;
        if (event.event === 'done' || event.event === 'error') finished = true;
        yield event;
      }
    }
  } finally {
    reader.releaseLock();
  }
  if (!finished) throw offline(); // the stream ended before `done`: the connection was cut
}

function parseEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length ? { event, data: JSON.parse(data.join('\n')) } : null;
}

/**
 * POST /documents with `files`, reporting upload progress (0..1): fetch cannot report it, so this one
 * call uses XMLHttpRequest. Resolves with the job.
 */
export function upload(files, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const f of files) form.append('files', f, f.name);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${API}/documents`);
    if (key) xhr.setRequestHeader('X-API-Key', key);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(offline());
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch { /* handled below */ }
      if (xhr.status >= 200 && xhr.status < 300 && body) resolve(body);
      else {
        const err = body && body.error;
        reject(new ApiError(xhr.status, err ? err.code : `http_${xhr.status}`,
          err ? err.message : `上传失败（${xhr.status}）`, Number(xhr.getResponseHeader('Retry-After')) || 0));
      }
    };
    xhr.send(form);
  });
}

/**
 * Service readiness, without a key: 'ready' (with `auth`: {keys_configured, anonymous_read}),
 * 'loading' (503, with the server's message) or 'offline'.
 */
export async function readiness() {
  try {
    const res = await fetch('/readyz');
    if (res.ok) return { state: 'ready', auth: (await res.json().catch(() => null))?.auth ?? null };
    const body = await res.json().catch(() => null);
    return { state: 'loading', message: body?.error?.message || '服务正在启动' };
  } catch {
    return { state: 'offline' };
  }
}
