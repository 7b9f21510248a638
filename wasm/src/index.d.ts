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

export interface EngineOptions {
  /** Bytes from engine.snapshot() or the native library. */
  snapshot?: Uint8Array;
  index?: IndexOptions;
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
  readonly code: string;
}

export interface Engine {
  add(doc: DocumentInput): AddReport;
  add(docs: DocumentInput[]): AddReport[];
  remove(id: string): void;
  buildDense(): void;
  search(query: string, options?: SearchOptions): SearchHit[];
  snapshot(): Uint8Array;
  stats(): Stats;
  dispose(): void;
}

export declare function createEngine(options?: EngineOptions): Promise<Engine>;
export declare function version(options?: EngineOptions): Promise<string>;
