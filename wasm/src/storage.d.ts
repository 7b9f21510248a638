// Types for @foldback/core/storage: IndexedDB persistence.

export interface StorageOptions {
  /** Database name. Default: 'foldback'. */
  name?: string;
  /** Default: globalThis.indexedDB. */
  indexedDB?: IDBFactory | null;
  /** Default: globalThis.IDBKeyRange. */
  IDBKeyRange?: typeof IDBKeyRange;
  /** Snapshot chunk size in bytes. Default: 8 MiB. */
  chunkBytes?: number;
}

export interface SnapshotInfo {
  name: string;
  size: number;
  savedAt: number;
  meta: Record<string, unknown>;
}

export interface FeedbackEntry<R = unknown> {
  /** Sequence number, increasing. */
  seq: number;
  id: string;
  record: R;
  at: number;
}

export interface Storage {
  /**
   * Saves atomically (one transaction, durability 'strict'): on failure the
   * previous snapshot under `name` is intact. Quota exceeded: FoldbackError
   * 'Out of range'.
   */
  saveSnapshot(name: string, bytes: Uint8Array | ArrayBuffer, meta?: Record<string, unknown>):
    Promise<{ name: string; generation: number; size: number }>;
  /** null when nothing is saved under `name`; FoldbackError 'Corruption' when the stored chunks disagree with the header. */
  loadSnapshot(name: string): Promise<Uint8Array | null>;
  listSnapshots(): Promise<SnapshotInfo[]>;
  deleteSnapshot(name: string): Promise<void>;
  /**
   * Resolves with the record's sequence number once its transaction has
   * completed with durability 'strict'. An id already stored resolves to its
   * sequence number without adding a duplicate.
   */
  appendFeedback(record: { id: string } | Uint8Array | unknown, options?: { id?: string }): Promise<number>;
  readFeedback<R = unknown>(options?: { after?: number; limit?: number }): Promise<FeedbackEntry<R>[]>;
  /**
   * Appends framed log bytes to the feedback log `log` (strict durability).
   * An entry id already stored adds nothing: {duplicate: true}.
   */
  appendFeedbackLog(log: string, id: string, bytes: Uint8Array): Promise<{ seq: number; duplicate: boolean }>;
  /** The log's entries concatenated in order. */
  readFeedbackLog(log: string): Promise<{ bytes: Uint8Array; entries: number; lastSeq: number }>;
  /** Replaces a whole log in one transaction (compaction). */
  replaceFeedbackLog(log: string, bytes: Uint8Array, options?: { id?: string }): Promise<{ seq: number }>;
  saveTrace(log: string, traceId: string, trace: unknown): Promise<void>;
  loadTrace<T = unknown>(log: string, traceId: string): Promise<T | null>;
  listTraces<T = unknown>(log: string): Promise<Array<{ traceId: string; trace: T; at: number }>>;
  /** Host data (settings, document lists — never secrets). */
  getItem<T = unknown>(key: string): Promise<T | undefined>;
  setItem(key: string, value: unknown): Promise<void>;
  removeItem(key: string): Promise<void>;
  listItems<T = unknown>(prefix?: string): Promise<Array<{ key: string; value: T }>>;
  close(): void;
}

export declare function openStorage(options?: StorageOptions): Promise<Storage>;
