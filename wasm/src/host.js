// The browser host's answer to the ask session's LLM needs over fetch():
// OpenAI, Azure OpenAI, Ollama and vLLM. It only moves bytes and keeps time
// (fetch, AbortController, timers, a limit on requests in flight) and holds
// the API key. The request URL and body, what a status means, whether and
// when to retry (backoff, Retry-After, retry-after-ms, x-should-retry) and
// what a reply says are the core's (core/include/foldback/wire.h, through
// embind): the code the native host and the C API run, within the need's
// time (Need.timeoutMs, else `defaultTimeoutMs`).
//
// Secrets: the key lives in this closure only and never enters the module.
// It goes into one request header and nowhere else; every message, reply
// text and model name passes through redact() (the key and any 12-character
// piece of it). Redirects are not followed.
//
// The core is the module createEngine loaded: create the engine first (a
// host made before that checks its options when it first performs a need).
//
//   const host = createLlmHost({ endpoint: 'https://api.openai.com/v1', model: 'gpt-4o-mini', apiKey });
//   const result = await engine.ask('Can they terminate early?', { hops: 2 }, host);
import { FoldbackError, loadedModule } from './index.js';

function core() {
  const m = loadedModule();
  if (!m) throw new FoldbackError('Failed precondition', 'the foldback module is not loaded: create an engine first (createEngine)');
  return m;
}

function check(r) {
  if (r && r.error) throw new FoldbackError(r.error.code, r.error.message);
  return r;
}

/** The chat completions URL of an endpoint {endpoint, provider?, model?, apiVersion?}, as every foldback host resolves it. */
export function resolveEndpointUrl(config) {
  return check(core().wireEndpoint(config)).url;
}

/** "401 Unauthorized", "599" for an unknown code. */
export const httpStatusText = (status) => core().wireHttpStatusText(status);

/** The wait before retry number `retry` (0-based): the core's backoff with jitter `u` in [0, 1), or `retryAfterMs` when the policy takes it. */
export const retryDelayMs = (policy, retry, retryAfterMs, u) => core().wireRetryDelayMs(policy, retry, retryAfterMs, u);

/** Server-directed wait in ms from `retry-after-ms` / `Retry-After` (seconds or an HTTP-date, against `nowMs`); -1 when none. */
export const parseRetryAfterMs = (retryAfterMs, retryAfter, nowMs = Date.now()) =>
  core().wireParseRetryAfterMs(String(retryAfterMs ?? ''), String(retryAfter ?? ''), nowMs);

/** `text` without `key` or any 12-character piece of it (server echoes cut keys). Runs here: the key never enters the module. */
export function redactKey(text, key) {
  let out = String(text ?? '');
  if (!key || key.length < 4) return out;
  out = out.split(key).join('[REDACTED]');
  if (key.length > 12) {
    for (let i = 0; i + 12 <= key.length; ++i) out = out.split(key.slice(i, i + 12)).join('[REDACTED]');
  }
  return out;
}

class TooLarge extends Error {}

const sleep = (ms, signal) => new Promise((resolve) => {
  if (signal && signal.aborted) { resolve(); return; }
  const done = () => { clearTimeout(t); if (signal) signal.removeEventListener('abort', done); resolve(); };
  const t = setTimeout(done, ms);
  if (signal) signal.addEventListener('abort', done, { once: true });
});

// Reads a body as text, up to `max` bytes (TooLarge past that).
async function readBody(resp, max) {
  if (!resp.body || typeof resp.body.getReader !== 'function') {
    const t = await resp.text();
    if (t.length > max) throw new TooLarge();
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
      throw new TooLarge();
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

// A RegExp or string as a pattern of the core's redaction language (the
// ECMAScript subset of foldback/redact.h, matched in linear time).
const patternSource = (p) => (p instanceof RegExp ? `${p.flags.includes('i') ? '(?i)' : ''}${p.source}` : String(p));

/**
 * createLlmHost({endpoint, model, apiKey?, provider?, apiVersion?, ...}) -> host (options: host.d.ts).
 * provider: 'openai' (default; 'azure' for *.openai.azure.com), 'azure', 'ollama', 'vllm'.
 * redactPatterns: RegExps or strings in the core's redaction language; engine.ask applies them to
 * everything the session sends (linear time) and records trace.redactions.
 * host.perform(need, {signal}) resolves with the need's result ({ok: true, text, model, elapsedMs,
 * attempts} or {ok: false, error: {code, message}, ...}); it never rejects.
 */
export function createLlmHost(options = {}) {
  const key = options.apiKey ? String(options.apiKey).trim() : '';
  const redactPatterns = (options.redactPatterns || []).map(patternSource);
  const config = {
    endpoint: options.endpoint ? String(options.endpoint) : '', provider: options.provider || '',
    model: options.model ? String(options.model) : '', apiVersion: options.apiVersion || '',
    structuredOutput: options.structuredOutput !== false, redactPatterns,
    keySource: options.keySource ? String(options.keySource) : "createLlmHost's apiKey",  // for a 401's message
  };
  for (const k of ['maxRetries', 'initialDelayMs', 'maxDelayMs', 'maxRetryAfterMs']) {
    if (options[k] !== undefined) config[k] = options[k];
  }
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 120000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 0;
  const maxReplyBytes = options.maxReplyBytes ?? 32 * 1024 * 1024;
  const fetchFn = options.fetch || ((...a) => globalThis.fetch(...a));
  const random = options.random || Math.random;
  const gate = limiter(Math.max(1, options.maxInFlight ?? 16));
  const redact = (text) => redactKey(text, key);
  let info = null;  // the core's view of the endpoint, and its Wire (never freed: one per host)
  const describe = () => {
    if (info) return info;
    const m = core();
    const desc = check(m.wireEndpoint(config));
    const wire = new m.Wire();
    check(wire.init(config));
    return (info = { ...desc, wire });
  };
  if (config.endpoint && loadedModule()) describe();  // bad options throw here
  const CANCELLED = { code: 'Deadline exceeded', message: 'the question no longer needs this request' };

  async function chat(need, signal) {
    const w = core();
    const started = performance.now();
    const budget = need.timeoutMs > 0 && Number.isFinite(need.timeoutMs) ? need.timeoutMs : defaultTimeoutMs;
    const deadline = started + budget;
    const seed = Math.floor(random() * 2 ** 53);
    let attempts = 0;
    const finish = (r) => ({ ...r, elapsedMs: performance.now() - started, attempts });
    const fail = (e) => finish({ ok: false, error: { code: e.code, message: redact(e.message) } });
    const { url, headers: common, authHeader, authPrefix, wire } = describe();
    const body = wire.chatBody(need);
    if (body && body.error) return fail(body.error);
    const headers = Object.fromEntries(common);
    if (key) headers[authHeader] = authPrefix + key;
    for (;;) {
      if (signal && signal.aborted) return fail(CANCELLED);
      const left = deadline - performance.now();
      if (left <= 0) return fail(w.wireTimedOut(url, budget, 0).error);
      const limit = attemptTimeoutMs > 0 ? Math.min(left, attemptTimeoutMs) : left;
      const ctl = new AbortController();
      let timedOut = false;
      const timer = setTimeout(() => { timedOut = true; ctl.abort(); }, Math.max(1, Math.ceil(limit)));
      const onAbort = () => ctl.abort();
      if (signal) signal.addEventListener('abort', onAbort, { once: true });
      const release = () => {
        clearTimeout(timer);
        if (signal) signal.removeEventListener('abort', onAbort);
      };
      if (!(await gate.acquire(ctl.signal))) {
        release();
        if (signal && signal.aborted) return fail(CANCELLED);
        return fail(w.wireTimedOut(url, budget, 0).error);
      }
      attempts++;
      let resp = null;
      let step;
      try {
        resp = await fetchFn(url, {
          method: 'POST', headers, body, signal: ctl.signal, redirect: 'manual',
          credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store',
        });
        const text = await readBody(resp, maxReplyBytes);
        // Cross-origin, Retry-After shows only if the endpoint exposes it (Access-Control-Expose-Headers).
        const lines = resp.headers ? [...resp.headers].map(([n, v]) => `${n}: ${v}`).join('\n') : '';
        step = wire.response(resp.status, lines, text, Boolean(key), Date.now(), attempts, performance.now(), deadline, budget, seed);
      } catch (e) {
        if (signal && signal.aborted) return fail(CANCELLED);
        if (timedOut && performance.now() >= deadline - 1) return fail(w.wireTimedOut(url, budget, resp ? resp.status : 0).error);
        const why = e && e.cause && e.cause.message ? e.cause.message : String(e && e.message ? e.message : e);
        const failure = e instanceof TooLarge ? 'too-large' : timedOut ? 'attempt-timeout' : resp ? 'cut' : 'unreachable';
        step = wire.transport(failure, why, failure === 'too-large' ? maxReplyBytes : attemptTimeoutMs, attempts, performance.now(), deadline, budget, seed);
      } finally {
        release();
        gate.release();
      }
      if (step.ok) return finish({ ok: true, text: redact(step.text), model: redact(step.model), inputTokens: step.inputTokens, outputTokens: step.outputTokens });
      if (step.error) return fail(step.error);
      await sleep(step.delayMs, signal);
    }
  }

  return {
    /** The chat completions URL in use ('' when none). No secrets in it. */
    get url() { return config.endpoint ? describe().url : ''; },
    get provider() { return config.endpoint ? describe().provider : config.provider || 'openai'; },
    model: config.model,
    /** Patterns engine.ask redacts from everything it sends (as the core's language). */
    redactPatterns,
    /** Performs an LLM need; resolves with its NeedResult (never rejects). */
    async perform(need, { signal } = {}) {
      if (need.kind !== 'llm') {
        return { ok: false, error: { code: 'Not supported', message: 'this host answers LLM needs only; embeddings come from the engine\'s embedder' }, attempts: 0 };
      }
      if (!config.endpoint) return { ok: false, error: { code: 'Not supported', message: 'no LLM endpoint configured' }, attempts: 0 };
      try {
        return await chat(need, signal);
      } catch (e) {
        const code = e instanceof FoldbackError ? e.code : 'Internal error';
        return { ok: false, error: { code, message: redact(`the LLM host failed: ${e && e.message ? e.message : e}`) }, attempts: 0 };
      }
    },
    /** Message text with the key removed (for hosts that show errors themselves). */
    redact,
  };
}
