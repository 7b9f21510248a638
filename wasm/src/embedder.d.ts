// Types for @foldback/core/embedder.
import type { CrossEncoder, Embedder, TokenizerOptions, Tokenizer } from './index.js';

export interface OnnxEmbedderOptions {
  /** The .onnx bytes of a BERT-style sentence-embedding model. */
  model: Uint8Array | ArrayBuffer;
  /** vocab.txt, tokenizer.json or a JSON vocabulary (see createTokenizer). */
  vocabulary: Uint8Array | ArrayBuffer | string;
  /** WordPiece options. Default: uncased, maxLength 512. A tokenizer.json's normalizer settings win. */
  tokenizer?: Omit<TokenizerOptions, 'vocabulary'>;
  /** The onnxruntime-web module. Default: import('onnxruntime-web'). */
  ort?: unknown;
  /** Passed to ort.InferenceSession.create (default executionProviders: ['wasm']). */
  sessionOptions?: Record<string, unknown>;
  /** The output to read; default last_hidden_state / token_embeddings / sentence_embedding, or the only output. */
  outputName?: string;
  /** L2-normalize the pooled vectors. Default: true. */
  normalize?: boolean;
  wasmBinary?: ArrayBuffer | Uint8Array;
  wasmUrl?: string;
}

export interface OnnxEmbedder extends Embedder {
  readonly dimension: number;
  readonly tokenizer: Tokenizer;
  /** One unit-length Float32Array per text (mean pooling over the attention mask). */
  embed(texts: string[]): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * Loads a model and checks it: inputs input_ids + attention_mask (+ optional
 * token_type_ids), a float32 [batch, tokens, hidden] or [batch, hidden] output.
 * Anything else: FoldbackError 'Invalid argument'.
 */
export declare function createOnnxEmbedder(options: OnnxEmbedderOptions): Promise<OnnxEmbedder>;

/** As OnnxEmbedderOptions: `model` is a BERT-style cross-encoder (one relevance logit per query-passage pair). */
export interface OnnxCrossEncoderOptions extends Omit<OnnxEmbedderOptions, 'normalize' | 'outputName'> {
  /** The output to read; default logits / scores / output, or the only output. */
  outputName?: string;
  /** Pairs per model run. Default: 16. */
  batchSize?: number;
}

export interface OnnxCrossEncoder extends CrossEncoder {
  readonly tokenizer: Tokenizer;
  /** The logit per passage ([batch, 2] outputs: relevant minus not relevant). */
  score(query: string, passages: string[]): Promise<number[]>;
  dispose(): void;
}

/**
 * Loads a cross-encoder and checks it: inputs as createOnnxEmbedder's, a
 * float32 [batch, 1], [batch] or [batch, 2] output. Anything else:
 * FoldbackError 'Invalid argument'.
 */
export declare function createOnnxCrossEncoder(options: OnnxCrossEncoderOptions): Promise<OnnxCrossEncoder>;
