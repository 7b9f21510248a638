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

class Engine {
  constructor(module, index) {
    this._module = module;
    this._index = index;
  }

  /** Adds documents ({id, title, text, metadata?, matter?, kind?, parentId?}); ids replace. */
  add(docs) {
    const list = Array.isArray(docs) ? docs : [docs];
    const reports = [];
    for (const d of list) {
      if (!d || typeof d.id !== 'string' || d.id === '') {
        throw new FoldbackError('Invalid argument', 'every document needs a non-empty string id');
      }
      reports.push(check(this._index.add(d)));
    }
    return Array.isArray(docs) ? reports : reports[0];
  }

  remove(id) {
    check(this._index.remove(String(id)));
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
    return check(this._index.search(String(query), options));
  }

  /** The whole index as portable bytes (loads natively and in wasm). */
  snapshot() {
    return check(this._index.snapshot());
  }

  stats() {
    return this._index.stats();
  }

  /** Frees the engine's memory; the engine is unusable afterwards. */
  dispose() {
    if (this._index) this._index.delete();
    this._index = null;
  }
}

/**
 * createEngine({snapshot?: Uint8Array, index?: {...options}, wasmBinary?, wasmUrl?})
 */
export async function createEngine(options = {}) {
  const module = await loadModule(options);
  const index = new module.Index();
  try {
    if (options.snapshot) {
      check(index.load(options.snapshot));
    } else {
      check(index.init(options.index || {}));
    }
  } catch (e) {
    index.delete();
    throw e;
  }
  return new Engine(module, index);
}

export async function version(options = {}) {
  const module = await loadModule(options);
  return module.version();
}
