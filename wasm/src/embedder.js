// A sentence embedder for the browser: a user-supplied ONNX model (BERT-style
// inputs) run by ONNX Runtime Web, fed by foldback's own WordPiece tokenizer
// (the C++ core's, through embind), mean-pooled over the attention mask and
// L2-normalized — what sentence-transformers does for models such as
// all-MiniLM-L6-v2 or bge-small exported to ONNX.
//
//   import { createEngine } from '@foldback/core';
//   import { createOnnxEmbedder } from '@foldback/core/embedder';
//   const embedder = await createOnnxEmbedder({ model: onnxBytes, vocabulary: vocabTxtBytes });
//   const engine = await createEngine({ embedder });
//   engine.add(docs);
//   await engine.embedPending({ onProgress });
//   const hits = await engine.search('termination for convenience', { mode: 'hybrid' });
//
// createOnnxCrossEncoder loads a cross-encoder (query and passage read
// together, one relevance logit out — sentence-transformers' CrossEncoder,
// e.g. ms-marco-MiniLM-L-6-v2 exported to ONNX) under the same loading rules,
// for search(q, {rerank: 'cross-encoder', crossEncoder}).
import { createTokenizer, FoldbackError } from './index.js';

const INPUT_NAMES = ['input_ids', 'attention_mask', 'token_type_ids'];
const HIDDEN_OUTPUTS = ['last_hidden_state', 'token_embeddings', 'hidden_states'];
const POOLED_OUTPUTS = ['sentence_embedding', 'pooler_output', 'embeddings'];

function bad(message) {
  return new FoldbackError('Invalid argument', message);
}

function toBytes(data, what) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw bad(`${what} must be a Uint8Array or an ArrayBuffer`);
}

// Element types of the model's inputs, when this ONNX Runtime tells them.
function inputTypes(session) {
  const types = {};
  const meta = session.inputMetadata;
  if (Array.isArray(meta)) {
    for (const m of meta) if (m && m.name && m.isTensor !== false && m.type) types[m.name] = m.type;
  }
  return types;
}

class OnnxEmbedder {
  constructor({ ort, session, tokenizer, outputName, pooled, dimension, types, normalize }) {
    this._ort = ort;
    this._session = session;
    this._tokenizer = tokenizer;
    this._output = outputName;
    this._pooled = pooled;
    this._types = types;
    this._normalize = normalize;
    this.dimension = dimension;
  }

  /** The WordPiece tokenizer feeding the model. */
  get tokenizer() {
    return this._tokenizer;
  }

  async _run(texts) {
    const enc = this._tokenizer.encodeBatch(texts);
    return { enc, out: await runEncoded(this, enc) };
  }

  /** Embeds texts: one Float32Array of `dimension` floats per text, unit length. */
  async embed(texts) {
    if (!Array.isArray(texts)) throw bad('embed() takes an array of strings');
    if (texts.length === 0) return [];
    const { enc, out } = await this._run(texts);
    const vectors = pool(out, enc, this._pooled, this.dimension);
    if (this._normalize) for (const v of vectors) l2normalize(v);
    return vectors;
  }

  dispose() {
    if (this._session && this._session.release) this._session.release();
    if (this._tokenizer) this._tokenizer.dispose();
    this._session = null;
    this._tokenizer = null;
  }
}

function tensor(model, name, values, dims) {
  const type = model._types[name] || 'int64';
  if (type === 'int64') {
    const data = new BigInt64Array(values.length);
    for (let i = 0; i < values.length; ++i) data[i] = BigInt(values[i]);
    return new model._ort.Tensor('int64', data, dims);
  }
  if (type === 'int32') return new model._ort.Tensor('int32', Int32Array.from(values), dims);
  throw bad(`model input '${name}' has element type ${type}; foldback feeds int64 or int32 token ids`);
}

// Runs a BERT-style model (embedder or cross-encoder) on an encoded batch:
// its output tensor.
async function runEncoded(model, enc) {
  const dims = [enc.batch, enc.length];
  const feeds = {};
  for (const name of model._session.inputNames) {
    const values = name === 'input_ids' ? enc.ids : name === 'attention_mask' ? enc.attentionMask : enc.typeIds;
    feeds[name] = tensor(model, name, values, dims);
  }
  let results;
  try {
    results = await model._session.run(feeds, [model._output]);
  } catch (e) {
    throw new FoldbackError('Internal error', `the ONNX model failed to run: ${e && e.message ? e.message : e}`);
  }
  return results[model._output];
}

// Mean pooling over the attention mask of a [batch, length, hidden] output,
// or the rows of an already pooled [batch, hidden] output.
function pool(out, enc, pooled, dimension) {
  const data = out.data;
  const vectors = [];
  if (pooled) {
    for (let b = 0; b < enc.batch; ++b) vectors.push(Float32Array.from(data.subarray(b * dimension, (b + 1) * dimension)));
    return vectors;
  }
  const { batch, length, attentionMask } = enc;
  for (let b = 0; b < batch; ++b) {
    const v = new Float32Array(dimension);
    let count = 0;
    for (let t = 0; t < length; ++t) {
      if (!attentionMask[b * length + t]) continue;
      ++count;
      const base = (b * length + t) * dimension;
      for (let d = 0; d < dimension; ++d) v[d] += data[base + d];
    }
    if (count > 0) for (let d = 0; d < dimension; ++d) v[d] /= count;
    vectors.push(v);
  }
  return vectors;
}

function l2normalize(v) {
  let sum = 0;
  for (let i = 0; i < v.length; ++i) sum += v[i] * v[i];
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; ++i) v[i] /= norm;
  return v;
}

async function loadOrt(options) {
  if (options.ort) return options.ort;
  try {
    return await import('onnxruntime-web');
  } catch (e) {
    throw new FoldbackError('Failed precondition',
      `onnxruntime-web could not be loaded (${e && e.message ? e.message : e}); install it or pass {ort}`);
  }
}

// The ONNX Runtime session of a BERT-style model (either kind), its inputs
// checked: {ort, session, fail(message) -> error, releasing the session}.
async function openBertSession(options) {
  const bytes = toBytes(options.model, 'model');
  if (bytes.length === 0) throw bad('model: the file is empty');
  const ort = await loadOrt(options);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], ...(options.sessionOptions || {}) });
  } catch (e) {
    throw bad(`model: not a loadable ONNX model (${e && e.message ? e.message : e})`);
  }
  const fail = (message) => {
    if (session.release) session.release();
    return bad(message);
  };
  const inputs = session.inputNames;
  const unexpected = inputs.filter((n) => !INPUT_NAMES.includes(n));
  if (unexpected.length || !inputs.includes('input_ids') || !inputs.includes('attention_mask')) {
    throw fail(`model: inputs are [${inputs.join(', ')}]; foldback feeds BERT-style models with ` +
      'input_ids and attention_mask (and optionally token_type_ids)');
  }
  return { ort, session, fail };
}

// openBertSession, then the output to read (options.outputName, else the
// first of `defaults` the model has, else its only output) and the
// WordPiece tokenizer: what both model kinds start from.
async function openBertModel(options, what, defaults, expected) {
  if (!options.model) throw bad(`${what} needs the ONNX model bytes (model)`);
  if (!options.vocabulary) throw bad(`${what} needs the model's vocabulary (vocab.txt or tokenizer.json)`);
  const { ort, session, fail } = await openBertSession(options);
  const outputs = session.outputNames;
  let outputName = options.outputName;
  if (outputName && !outputs.includes(outputName)) {
    throw fail(`model: no output '${outputName}' (outputs are [${outputs.join(', ')}])`);
  }
  if (!outputName) outputName = defaults.find((n) => outputs.includes(n));
  if (!outputName && outputs.length === 1) outputName = outputs[0];
  if (!outputName) {
    throw fail(`model: outputs are [${outputs.join(', ')}]; expected ${expected} ` +
      '(or name the output to use with outputName)');
  }
  let tokenizer;
  try {
    tokenizer = await createTokenizer({ ...(options.tokenizer || {}), vocabulary: options.vocabulary,
      module: options.module, wasmBinary: options.wasmBinary, wasmUrl: options.wasmUrl });
  } catch (e) {
    if (session.release) session.release();
    throw e;
  }
  return { ort, session, tokenizer, outputName, types: inputTypes(session) };
}

// Runs `run` once to check the model's output now rather than halfway
// through an ingest or a search; a failure disposes of `model`.
async function probe(model, run) {
  try {
    return await run();
  } catch (e) {
    model.dispose();
    throw e instanceof FoldbackError && e.code === 'Invalid argument' ? e
      : bad(`model: a probe run failed (${e && e.message ? e.message.replace(/^[^:]*: /, '') : e})`);
  }
}

/**
 * createOnnxEmbedder({model, vocabulary, tokenizer?, ort?, sessionOptions?, normalize?, outputName?})
 *  - model: the .onnx bytes of a BERT-style sentence-embedding model: inputs
 *    input_ids and attention_mask (token_type_ids optional), output
 *    last_hidden_state [batch, tokens, hidden] (mean-pooled here) or an
 *    already pooled [batch, hidden] output;
 *  - vocabulary: vocab.txt / tokenizer.json / JSON vocabulary bytes (see createTokenizer);
 *  - tokenizer: WordPiece options ({lowercase, maxLength, ...}); default uncased, 512;
 *  - ort: the onnxruntime-web module (default: import('onnxruntime-web')).
 * Not ONNX, or inputs/outputs foldback cannot feed or read: FoldbackError
 * 'Invalid argument' naming what was found.
 */
export async function createOnnxEmbedder(options = {}) {
  const m = await openBertModel(options, 'createOnnxEmbedder', [...HIDDEN_OUTPUTS, ...POOLED_OUTPUTS], 'last_hidden_state');
  const { outputName } = m;
  const embedder = new OnnxEmbedder({ ...m, pooled: false, dimension: 0, normalize: options.normalize !== false });
  // Learns the hidden size and checks the output's shape.
  const probed = await probe(embedder, () => embedder._run(['probe']));
  const dims = probed.out.dims;
  const dtype = probed.out.type;
  let ok = dtype === 'float32';
  if (ok && dims.length === 3 && dims[0] === 1 && dims[1] === probed.enc.length && dims[2] > 0) {
    embedder.dimension = dims[2];
  } else if (ok && dims.length === 2 && dims[0] === 1 && dims[1] > 0) {
    embedder._pooled = true;
    embedder.dimension = dims[1];
  } else {
    ok = false;
  }
  if (!ok) {
    embedder.dispose();
    throw bad(`model: output '${outputName}' is ${dtype} [${dims.join(', ')}] for one text of ` +
      `${probed.enc.length} tokens; expected float32 [1, ${probed.enc.length}, hidden] or [1, hidden]`);
  }
  return embedder;
}


const LOGIT_OUTPUTS = ['logits', 'scores', 'output'];

class OnnxCrossEncoder {
  constructor({ ort, session, tokenizer, outputName, types, batchSize }) {
    this._ort = ort;
    this._session = session;
    this._tokenizer = tokenizer;
    this._output = outputName;
    this._types = types;
    this._batchSize = batchSize;
    this._columns = 1;  // 2: [not relevant, relevant] logits (set by the probe)
  }

  /** The WordPiece tokenizer feeding the model. */
  get tokenizer() {
    return this._tokenizer;
  }

  async _run(query, texts) {
    const enc = this._tokenizer.encodePairBatch(query, texts);
    return { enc, out: await runEncoded(this, enc) };
  }

  /**
   * Relevance of each passage to the query, read together: the model's
   * logit (for a two-column output, relevant minus not relevant). Higher is
   * more relevant. -> number[] (one per text).
   */
  async score(query, texts) {
    if (typeof query !== 'string') throw bad('score() takes the query as a string');
    if (!Array.isArray(texts)) throw bad('score() takes an array of passages');
    const out = [];
    for (let i = 0; i < texts.length; i += this._batchSize) {
      const batch = texts.slice(i, i + this._batchSize);
      const { out: t } = await this._run(query, batch);
      const d = t.data;
      for (let b = 0; b < batch.length; ++b) {
        out.push(this._columns === 2 ? d[2 * b + 1] - d[2 * b] : d[b]);
      }
    }
    return out;
  }

  dispose() {
    if (this._session && this._session.release) this._session.release();
    if (this._tokenizer) this._tokenizer.dispose();
    this._session = null;
    this._tokenizer = null;
  }
}

/**
 * createOnnxCrossEncoder({model, vocabulary, tokenizer?, ort?, sessionOptions?, outputName?, batchSize?})
 *  - model: the .onnx bytes of a BERT-style cross-encoder: inputs input_ids
 *    and attention_mask (token_type_ids optional; the query is segment 0,
 *    the passage segment 1), output logits [batch, 1], [batch] or
 *    [batch, 2] (not relevant, relevant);
 *  - vocabulary, tokenizer, ort, sessionOptions: as createOnnxEmbedder;
 *  - batchSize: pairs per model run (default 16).
 * For search(q, {rerank: 'cross-encoder', crossEncoder, rerankDepth}).
 * Not ONNX, or inputs/outputs foldback cannot feed or read: FoldbackError
 * 'Invalid argument' naming what was found.
 */
export async function createOnnxCrossEncoder(options = {}) {
  const batchSize = options.batchSize === undefined ? 16 : options.batchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw bad('batchSize must be a positive integer');
  const m = await openBertModel(options, 'createOnnxCrossEncoder', LOGIT_OUTPUTS, 'logits');
  const { outputName } = m;
  const ce = new OnnxCrossEncoder({ ...m, batchSize });
  // Two pairs: the output's shape per pair.
  const probed = await probe(ce, () => ce._run('probe', ['probe', 'probe']));
  const dims = probed.out.dims;
  const dtype = probed.out.type;
  if (dtype === 'float32' && dims[0] === 2 && (dims.length === 1 || (dims.length === 2 && (dims[1] === 1 || dims[1] === 2)))) {
    ce._columns = dims.length === 2 ? dims[1] : 1;
  } else {
    ce.dispose();
    throw bad(`model: output '${outputName}' is ${dtype} [${dims.join(', ')}] for two pairs; ` +
      'expected float32 [2, 1], [2] or [2, 2] (one relevance logit per pair)');
  }
  return ce;
}
