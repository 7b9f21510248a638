// The browser host's answer to the ask session's LLM needs: OpenAI-compatible
// chat completions over fetch() — OpenAI, Azure OpenAI, Ollama and vLLM —
// with the retry and deadline policy of the native host
// (native/llm/llm_client.h, after the OpenAI SDKs):
//
//  - at most `maxRetries` (2) retries of 408, 409, 429, >= 500 and network
//    errors (refused, reset, a body cut off, an attempt timeout); never of
//    other statuses (400, 401, 403, 404, 422 ...). `x-should-retry: true|false`
//    overrides.
//  - the wait before retry n (0-based) is min(500 ms * 2^n, 8 s) * (1 - 0.25 U),
//    unless the reply says otherwise with `retry-after-ms` or `Retry-After`
//    (seconds or an HTTP-date) between 0 and 60 s. A longer Retry-After, or a
//    wait past the need's time, ends the retries at once, saying so.
//  - each need has Need.timeoutMs (from the question's deadline) or
//    `defaultTimeoutMs`, covering all its attempts and waits; the request is
//    aborted (AbortController) when it runs out.
//
// Secrets: the API key is held in this closure only. It goes into one request
// header (Authorization: Bearer, or Azure's api-key) and nowhere else; every
// message a result carries, the reply text and the model name pass through
// redact(), which removes the key and any 12-character piece of it. Redirects
// are not followed (they could carry the header to another host).
//
//   import { createLlmHost } from '@foldback/core/host';
//   const host = createLlmHost({ endpoint: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKey });
//   const result = await engine.ask('Can they terminate early?', { hops: 2 }, host);
import { FoldbackError } from './index.js';

const PROVIDERS = ['openai', 'azure', 'ollama', 'vllm'];
export const DEFAULT_AZURE_API_VERSION = '2024-10-21';

const HTTP_REASONS = {
  301: 'Moved Permanently', 302: 'Found', 307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 501: 'Not Implemented',
  502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** "401 Unauthorized", "599" for an unknown code. */
export function httpStatusText(status) {
  return HTTP_REASONS[status] ? `${status} ${HTTP_REASONS[status]}` : String(status);
}

/** Whether a reply with this status (and x-should-retry value) is worth another attempt. */
export function shouldRetryStatus(status, xShouldRetry = '') {
  if (xShouldRetry === 'true') return true;
  if (xShouldRetry === 'false') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * The wait after a failed attempt, in ms: `retryAfterMs` when in
 * (0, maxRetryAfterMs], else exponential backoff for retry number `retry`
 * (0-based) with jitter `u` in [0, 1).
 */
export function retryDelayMs(policy, retry, retryAfterMs, u) {
  if (retryAfterMs > 0 && retryAfterMs <= policy.maxRetryAfterMs) return retryAfterMs;
  const sleep = Math.min(policy.initialDelayMs * 2 ** Math.min(retry, 1000), policy.maxDelayMs);
  return Math.max(0, sleep * (1 - 0.25 * u));
}

/**
 * Server-directed wait from reply headers, in ms: `retry-after-ms`, else
 * `Retry-After` as (fractional) seconds, else as an HTTP-date relative to
 * `nowMs` (unix ms). -1 when absent or unparseable.
 */
export function parseRetryAfterMs(retryAfterMs, retryAfter, nowMs = Date.now()) {
  const number = (s) => {
    if (typeof s !== 'string' || s.trim() === '') return null;
    const v = Number(s.trim());
    return Number.isFinite(v) ? v : null;
  };
  let v = number(retryAfterMs);
  if (v !== null) return v;
  v = number(retryAfter);
  if (v !== null) return v * 1000;
  if (!retryAfter) return -1;
  const when = Date.parse(retryAfter);
  return Number.isNaN(when) ? -1 : when - nowMs;
}

/** `text` without `key` or any 12-character piece of it (server echoes cut keys). */
export function redactKey(text, key) {
  let out = String(text ?? '');
  if (!key || key.length < 4) return out;
  out = out.split(key).join('[REDACTED]');
  if (key.length > 12) {
    for (let i = 0; i + 12 <= key.length; ++i) out = out.split(key.slice(i, i + 12)).join('[REDACTED]');
  }
  return out;
}

function formatMs(ms) {
  return ms >= 10000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms)} ms`;
}

// Control characters dropped, whitespace runs squeezed, cut at `max` chars.
function printable(text, max = 300) {
  const s = String(text).replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function invalid(message) {
  return new FoldbackError('Invalid argument', message);
}

/**
 * The request URL of `route` ('chat' | 'embeddings') on an endpoint, as the
 * native host resolves it: OpenAI-style base URLs get `/v1` when they have no
 * path and the route appended (a URL already ending in the route is kept);
 * Azure URLs become `/openai/deployments/{deployment}/{route}?api-version=V`
 * (the deployment from the URL or `model`). Throws FoldbackError 'Invalid
 * argument' for a URL that is not http(s), has no host or carries credentials.
 */
export function resolveEndpointUrl({ endpoint, provider = 'openai', model = '', apiVersion = '' }, route = 'chat') {
  if (!endpoint) throw invalid('no endpoint URL given');
  let u;
  try {
    u = new URL(endpoint);
  } catch {
    throw invalid('endpoint URL is not valid; expected e.g. https://api.openai.com/v1');
  }
  if (u.username || u.password) {
    throw invalid('endpoint URL carries credentials (user:password@host); give the API key separately');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid('endpoint URL must start with http:// or https://');
  if (!u.hostname) throw invalid('endpoint URL has no host');
  u.hash = '';
  const suffix = route === 'chat' ? '/chat/completions' : '/embeddings';
  const strip = (p) => {
    p = p.replace(/\/+$/, '');
    for (const s of ['/chat/completions', '/embeddings']) {
      if (p.endsWith(s)) { p = p.slice(0, -s.length); break; }
    }
    return p.replace(/\/+$/, '');
  };
  const path = decodeURIComponent(u.pathname);
  if (provider !== 'azure') {
    const base = strip(path) || '/v1';
    u.pathname = base + suffix;
    return u.href;
  }
  const base = strip(path);
  let deployment = '';
  const at = base.indexOf('/openai/deployments/');
  if (at >= 0) {
    deployment = base.slice(at + '/openai/deployments/'.length).split('/')[0];
  } else if (base === '' || base === '/openai') {
    deployment = model;
  } else {
    throw invalid('Azure endpoint URL should be https://RESOURCE.openai.azure.com or a deployment URL .../openai/deployments/DEPLOYMENT');
  }
  if (!deployment) throw invalid('Azure OpenAI needs a deployment: give model DEPLOYMENT or a deployment URL');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(deployment)) {
    throw invalid(`Azure deployment name "${deployment}" has characters other than letters, digits, '-', '_', '.'`);
  }
  const version = apiVersion || u.searchParams.get('api-version') || DEFAULT_AZURE_API_VERSION;
  if (!/^[A-Za-z0-9._-]+$/.test(version)) throw invalid(`Azure api-version "${version}" is not a version`);
  u.pathname = `/openai/deployments/${deployment}${suffix}`;
  u.search = `?api-version=${version}`;
  return u.href;
}

/** The JSON body of a chat completion for `need` (an LLM need of the ask session). */
export function buildChatBody({ provider = 'openai', model = '', structuredOutput = true }, need) {
  const body = {};
  if (provider !== 'azure' && model) body.model = model;
  body.messages = need.messages.map((m) => ({ role: m.role, content: m.content }));
  body.temperature = need.temperature ?? 0;
  // OpenAI deprecated max_tokens (reasoning models reject it); Ollama and vLLM read max_tokens.
  body[provider === 'openai' || provider === 'azure' ? 'max_completion_tokens' : 'max_tokens'] = need.maxTokens ?? 512;
  body.stream = false;
  if (need.jsonSchema && structuredOutput) {
    let schema;
    try { schema = JSON.parse(need.jsonSchema); } catch { schema = null; }
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) {
      throw invalid("the request's JSON schema is not a JSON object");
    }
    const name = String(need.jsonSchemaName || '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64) || 'reply';
    body.response_format = { type: 'json_schema', json_schema: { name, schema } };
  }
  return JSON.stringify(body);
}

class ReplyError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

function parseJsonBody(text) {
  if (!text) throw new ReplyError('IO error', 'endpoint sent an empty reply body');
  try {
    return JSON.parse(text);
  } catch (e) {
    if (/end of (JSON )?input|Unterminated|Unexpected end/i.test(String(e.message))) {
      throw new ReplyError('IO error', `endpoint reply is truncated: its JSON ends early (${text.length} characters received)`);
    }
    throw new ReplyError('IO error', `endpoint reply is not valid JSON (${printable(e.message, 120)})`);
  }
}

function errorObjectMessage(j) {
  if ('error' in j) {
    const e = j.error;
    if (typeof e === 'string') return e;
    if (e && typeof e === 'object' && typeof e.message === 'string') return e.message;
    return JSON.stringify(e);
  }
  if (j.object === 'error' && typeof j.message === 'string') return j.message;
  return '';
}

/** {content, model, finishReason} of a chat completion, or a ReplyError saying clearly why not. */
export function parseChatCompletion(text) {
  const j = parseJsonBody(text);
  if (!j || typeof j !== 'object' || Array.isArray(j)) throw new ReplyError('IO error', 'endpoint reply is JSON but not an object');
  const err = errorObjectMessage(j);
  if (err && !('choices' in j)) throw new ReplyError('IO error', `endpoint reported an error: ${printable(err)}`);
  if (!Array.isArray(j.choices) || j.choices.length === 0) {
    throw new ReplyError('IO error', 'endpoint reply has no choices (not a chat completion)');
  }
  const choice = j.choices[0];
  if (!choice || typeof choice !== 'object' || !choice.message || typeof choice.message !== 'object') {
    throw new ReplyError('IO error', 'endpoint reply has no choices[0].message (not a chat completion)');
  }
  const message = choice.message;
  let content;
  if (typeof message.content === 'string') {
    content = message.content;
  } else if (Array.isArray(message.content)) {
    content = message.content.filter((p) => p && p.type === 'text' && typeof p.text === 'string').map((p) => p.text).join('');
  } else if (typeof message.refusal === 'string') {
    throw new ReplyError('IO error', `the model refused: ${printable(message.refusal)}`);
  } else {
    throw new ReplyError('IO error', 'endpoint reply has no text in choices[0].message.content');
  }
  return {
    content,
    model: typeof j.model === 'string' ? j.model : '',
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : '',
  };
}

/** The human part of an error reply (error.message, error, message, detail, else the body's start). NOT redacted. */
export function serverErrorMessage(text) {
  if (!text) return '';
  let msg = '';
  try {
    const j = JSON.parse(text);
    if (j && typeof j === 'object' && !Array.isArray(j)) {
      msg = errorObjectMessage(j);
      if (!msg && typeof j.message === 'string') msg = j.message;
      if (!msg && 'detail' in j) msg = typeof j.detail === 'string' ? j.detail : JSON.stringify(j.detail);
    }
  } catch { /* not JSON: the body's start */ }
  if (!msg) msg = text.slice(0, 600);
  return printable(msg);
}

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal && signal.aborted) { resolve(); return; }
  const t = setTimeout(done, ms);
  function done() {
    clearTimeout(t);
    if (signal) signal.removeEventListener('abort', done);
    resolve();
  }
  if (signal) signal.addEventListener('abort', done, { once: true });
});

// Reads a body as text, up to `max` bytes.
async function readBody(resp, max) {
  if (!resp.body || typeof resp.body.getReader !== 'function') {
    const t = await resp.text();
    if (t.length > max) throw new ReplyError('Out of range', `endpoint reply is larger than ${max} bytes`);
    return t;
  }
  const reader = resp.body.getReader();
  const parts = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > max) {
      try { await reader.cancel(); } catch { /* gone already */ }
      throw new ReplyError('Out of range', `endpoint reply is larger than ${max} bytes`);
    }
    parts.push(value);
  }
  const all = new Uint8Array(n);
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.byteLength; }
  return new TextDecoder().decode(all);
}

// A counting semaphore: at most `n` requests in flight.
function limiter(n) {
  let active = 0;
  const queue = [];
  return {
    async acquire(signal) {
      if (active < n) { active++; return true; }
      await new Promise((resolve) => {
        const entry = () => resolve();
        queue.push(entry);
        if (signal) signal.addEventListener('abort', () => {
          const i = queue.indexOf(entry);
          if (i >= 0) { queue.splice(i, 1); resolve(); }
        }, { once: true });
      });
      if (signal && signal.aborted) return false;
      active++;
      return true;
    },
    release() {
      active--;
      const next = queue.shift();
      if (next) next();
    },
  };
}

/**
 * createLlmHost({endpoint, model, apiKey?, provider?, apiVersion?, ...}) -> host
 *
 * endpoint: OpenAI-compatible base URL (https://api.openai.com/v1,
 *   http://localhost:11434/v1 for Ollama, a vLLM server's /v1) or an Azure
 *   resource/deployment URL. provider: 'openai' (default; 'azure' when the
 *   host ends in .openai.azure.com), 'azure', 'ollama', 'vllm'.
 * apiKey: kept in memory by the host only; see the file comment.
 * Options: structuredOutput (true), maxRetries (2), initialDelayMs (500),
 *   maxDelayMs (8000), maxRetryAfterMs (60000), defaultTimeoutMs (120000),
 *   attemptTimeoutMs (0 = the need's time), maxInFlight (16), maxReplyBytes
 *   (32 MiB), redactPatterns ([] — RegExps whose matches are replaced by
 *   [REDACTED] in what is sent), fetch (globalThis.fetch), random (Math.random).
 *
 * host.perform(need, {signal}) resolves with a NeedResult for the session:
 *   {ok: true, text, model, elapsedMs, attempts} or {ok: false, error: {code, message}, ...}.
 * It never rejects.
 */
export function createLlmHost(options = {}) {
  const endpoint = options.endpoint ? String(options.endpoint) : '';
  let provider = options.provider;
  if (!provider) {
    let host = '';
    try { host = new URL(endpoint).hostname; } catch { /* reported below */ }
    provider = /\.openai\.azure\.com$/i.test(host) ? 'azure' : 'openai';
  }
  if (!PROVIDERS.includes(provider)) throw invalid(`provider must be one of ${PROVIDERS.join(', ')}, not '${provider}'`);
  const model = options.model ? String(options.model) : '';
  const config = { endpoint, provider, model, apiVersion: options.apiVersion || '', structuredOutput: options.structuredOutput !== false };
  const url = endpoint ? resolveEndpointUrl(config, 'chat') : '';
  const key = options.apiKey ? String(options.apiKey).trim() : '';
  const policy = {
    maxRetries: options.maxRetries ?? 2,
    initialDelayMs: options.initialDelayMs ?? 500,
    maxDelayMs: options.maxDelayMs ?? 8000,
    maxRetryAfterMs: options.maxRetryAfterMs ?? 60000,
  };
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 120000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 0;
  const maxReplyBytes = options.maxReplyBytes ?? 32 * 1024 * 1024;
  const fetchFn = options.fetch || ((...a) => globalThis.fetch(...a));
  const random = options.random || Math.random;
  const patterns = (options.redactPatterns || []).map((p) => (p instanceof RegExp ? new RegExp(p.source, p.flags.includes('g') ? p.flags : `${p.flags}g`) : new RegExp(String(p), 'g')));
  const gate = limiter(Math.max(1, options.maxInFlight ?? 16));
  const redact = (text) => redactKey(text, key);
  const outbound = (text) => {
    let out = redact(text);
    for (const re of patterns) out = out.replace(re, '[REDACTED]');
    return out;
  };
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  if (key) {
    if (provider === 'azure') headers['api-key'] = key;
    else headers.authorization = `Bearer ${key}`;
  }

  function httpError(status, serverMsg) {
    let msg = `endpoint returned ${httpStatusText(status)}`;
    const detail = serverMsg ? `: ${serverMsg}` : '';
    switch (status) {
      case 401:
        // The server's text may quote the key: leave it out.
        return key ? `${msg}: check the API key` : `${msg}: no API key was configured and the endpoint wants one`;
      case 403: return `${msg}: the API key may not use this model or deployment${detail}`;
      case 404: return `${msg}: check the endpoint URL (${url})${model ? ` and the model name "${model}"` : ''}${detail}`;
      case 429: return `${msg} (rate limited)${detail}`;
      default: return msg + detail;
    }
  }

  function codeForHttp(status) {
    if (status === 401 || status === 403) return 'Permission denied';
    if (status === 404) return 'Not found';
    if (shouldRetryStatus(status)) return 'Unavailable';
    return 'Invalid argument';
  }

  async function chat(need, signal) {
    const started = performance.now();
    const budget = need.timeoutMs > 0 && Number.isFinite(need.timeoutMs) ? need.timeoutMs : defaultTimeoutMs;
    const deadline = started + budget;
    let attempts = 0;
    const finish = (r) => ({ ...r, elapsedMs: performance.now() - started, attempts });
    const fail = (code, message, why = '') => finish({
      ok: false, error: { code, message: redact(`${message}${attempts > 1 ? ` (${attempts} attempts)` : ''}${why}`) },
    });
    if (!url) return finish({ ok: false, error: { code: 'Not supported', message: 'no LLM endpoint configured' } });
    let body;
    try {
      body = buildChatBody(config, { ...need, messages: need.messages.map((m) => ({ role: m.role, content: outbound(m.content) })) });
    } catch (e) {
      return fail(e.code || 'Invalid argument', e.message);
    }
    // After a failed attempt: waits and returns null to try again, or the failure.
    const retryOrFail = async (code, msg, retryAfter) => {
      const retriesTaken = attempts - 1;
      if (retriesTaken >= policy.maxRetries) return fail(code, msg);
      if (retryAfter > policy.maxRetryAfterMs) {
        return fail(code, msg, `; not retried: the endpoint asked to wait ${formatMs(retryAfter)}, more than the ${formatMs(policy.maxRetryAfterMs)} foldback waits`);
      }
      const delay = retryDelayMs(policy, retriesTaken, retryAfter, random());
      if (performance.now() + delay >= deadline) {
        return fail(code, msg, `; not retried: waiting ${formatMs(delay)} would pass this request's ${formatMs(budget)} time limit`);
      }
      await sleep(delay, signal);
      if (signal && signal.aborted) return fail('Deadline exceeded', 'the question no longer needs this request');
      return null;
    };
    for (;;) {
      if (signal && signal.aborted) return fail('Deadline exceeded', 'the question no longer needs this request');
      const left = deadline - performance.now();
      if (left <= 0) return fail('Deadline exceeded', `no complete reply from ${url} within this request's ${formatMs(budget)} time limit`);
      const limit = attemptTimeoutMs > 0 ? Math.min(left, attemptTimeoutMs) : left;
      const ctl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, Math.max(1, Math.ceil(limit)));
      const onAbort = () => ctl.abort();
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      if (!(await gate.acquire(ctl.signal))) {
        clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
        if (signal && signal.aborted) return fail('Deadline exceeded', 'the question no longer needs this request');
        return fail('Deadline exceeded', `no complete reply from ${url} within this request's ${formatMs(budget)} time limit`);
      }
      attempts++;
      let resp = null;
      let text = '';
      let failure = null;  // [kind, message]
      try {
        resp = await fetchFn(url, {
          method: 'POST', headers, body, signal: ctl.signal, redirect: 'manual',
          credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store',
        });
        if (resp.status >= 200 && resp.status < 300) {
          text = await readBody(resp, maxReplyBytes);
        } else if (resp.status >= 400) {
          try { text = await readBody(resp, 64 * 1024); } catch { text = ''; }
        }
      } catch (e) {
        if (e instanceof ReplyError) failure = ['size', e.message];
        else if (signal && signal.aborted) failure = ['cancelled', ''];
        else if (timedOut) failure = ['timeout', ''];
        else failure = [resp ? 'cut' : 'network', e && e.cause && e.cause.message ? e.cause.message : String(e && e.message ? e.message : e)];
      } finally {
        clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
        gate.release();
      }
      if (failure) {
        const [kind, why] = failure;
        if (kind === 'cancelled') return fail('Deadline exceeded', 'the question no longer needs this request');
        if (kind === 'size') return fail('Out of range', why);
        if (kind === 'timeout') {
          if (performance.now() >= deadline - 1) {
            return fail('Deadline exceeded', `no complete reply from ${url} within this request's ${formatMs(budget)} time limit${resp ? ` (the endpoint sent ${httpStatusText(resp.status)} headers, then stalled)` : ''}`);
          }
          const again = await retryOrFail('Deadline exceeded', `no complete reply from ${url} within ${formatMs(attemptTimeoutMs)} (one attempt's limit)`, -1);
          if (again) return again;
          continue;
        }
        const msg = kind === 'cut'
          ? `connection to ${url} closed in the middle of the reply (${why})`
          : `could not reach ${url}: ${why}`;
        const again = await retryOrFail('Unavailable', msg, -1);
        if (again) return again;
        continue;
      }
      const status = resp.status;
      if (status >= 200 && status < 300) {
        try {
          const reply = parseChatCompletion(text);
          return finish({ ok: true, text: redact(reply.content), model: redact(reply.model) });
        } catch (e) {
          return fail(e.code || 'IO error', e.message);
        }
      }
      if (status === 0 || resp.type === 'opaqueredirect' || (status >= 300 && status < 400)) {
        const location = resp.headers && resp.headers.get ? resp.headers.get('location') : '';
        return fail('Invalid argument', `endpoint redirected${status ? ` (${httpStatusText(status)})` : ''}${location ? ` to ${location}` : ''}: foldback does not follow redirects with the API key; give the final URL`);
      }
      const msg = httpError(status, serverErrorMessage(text));
      // Cross-origin, a browser shows these headers only when the endpoint
      // lists them in Access-Control-Expose-Headers; without them the
      // backoff above applies.
      const h = (name) => (resp.headers.get(name) || '').trim();
      if (!shouldRetryStatus(status, h('x-should-retry'))) return fail(codeForHttp(status), msg);
      const again = await retryOrFail(codeForHttp(status), msg, parseRetryAfterMs(h('retry-after-ms'), h('retry-after')));
      if (again) return again;
    }
  }

  return {
    /** The chat completions URL in use ('' when none). No secrets in it. */
    url,
    provider,
    model,
    /** Performs an LLM need; resolves with its NeedResult (never rejects). */
    async perform(need, { signal } = {}) {
      if (need.kind !== 'llm') {
        return { ok: false, error: { code: 'Not supported', message: 'this host answers LLM needs only; embeddings come from the engine\'s embedder' }, attempts: 0 };
      }
      try {
        return await chat(need, signal);
      } catch (e) {
        return { ok: false, error: { code: 'Internal error', message: redact(`the LLM host failed: ${e && e.message ? e.message : e}`) }, attempts: 0 };
      }
    },
    /** Message text with the key removed (for hosts that show errors themselves). */
    redact,
  };
}
