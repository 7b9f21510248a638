// IndexedDB persistence for the browser host: index snapshots saved under a
// name, the feedback log of each engine, the traces feedback refers to, and a
// small key-value store for host data (settings, document lists — never
// secrets).
//
// Guarantees:
//  - A snapshot is saved in one readwrite transaction (its bytes in chunks of
//    `chunkBytes`, then its header record — the commit marker — last). Either
//    the whole transaction commits or none of it does: on any failure, quota
//    exceeded included, the previous snapshot under that name stays intact
//    and loadable. Loading checks the header against the chunks it names.
//  - appendFeedback() / appendFeedbackLog() resolve only after their
//    transaction has completed with durability 'strict' (flushed to disk
//    where the browser supports it). An entry carries an id; appending an id
//    that is already stored resolves to the stored entry's sequence number
//    instead of adding a duplicate, so a host may retry an append whose
//    outcome it did not see.
//  - A feedback log (appendFeedbackLog) is the concatenation of its entries'
//    bytes in sequence order: each entry is one or more framed records of
//    foldback's log format (core/include/foldback/feedback.h), written by the
//    engine. replaceFeedbackLog swaps a whole log in one transaction
//    (compaction).
//
// The IndexedDB factory is `globalThis.indexedDB` unless one is passed (tests
// run on fake-indexeddb in Node; real Chromium coverage comes with the
// plugins' end-to-end tests).
import { FoldbackError } from './index.js';

const VERSION = 2;
const SNAPSHOTS = 'snapshots';   // name -> {name, generation, size, chunks, savedAt, meta}
const CHUNKS = 'snapshot_chunks'; // [name, generation, index] -> Uint8Array
const FEEDBACK = 'feedback';     // seq (auto) -> {id, record, at, log?}; indexes 'id' (unique), 'log'
const TRACES = 'traces';         // [log, traceId] -> {log, traceId, trace, at}
const KV = 'kv';                 // key -> any structured-cloneable value

function isQuota(e) {
  return !!e && (e.name === 'QuotaExceededError' || e.code === 22 ||
                 /quota/i.test(String(e.message || '')));
}

function storageError(e, what) {
  if (isQuota(e)) {
    return new FoldbackError('Out of range',
      `${what}: IndexedDB quota exceeded — nothing was written; free some space (or delete old snapshots) and retry`);
  }
  if (e instanceof FoldbackError) return e;
  return new FoldbackError('IO error', `${what}: ${e && e.name ? `${e.name}: ` : ''}${e && e.message ? e.message : e}`);
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// Runs `body(tx)` in a transaction and resolves with its value once the
// transaction has completed (committed); rejects — after aborting, so that
// nothing of it is kept — when anything in it fails.
function transact(db, stores, mode, body, what) {
  return new Promise((resolve, reject) => {
    let tx;
    try {
      tx = db.transaction(stores, mode, mode === 'readwrite' ? { durability: 'strict' } : undefined);
    } catch (e) {
      reject(storageError(e, what));
      return;
    }
    let value;
    let failure = null;
    tx.oncomplete = () => (failure ? reject(storageError(failure, what)) : resolve(value));
    tx.onabort = () => reject(storageError(failure || tx.error || new Error('transaction aborted'), what));
    tx.onerror = (ev) => {
      if (!failure) failure = tx.error || (ev && ev.target && ev.target.error);
    };
    Promise.resolve()
      .then(() => body(tx))
      .then((v) => { value = v; }, (e) => {
        failure = failure || e;
        try { tx.abort(); } catch { /* already finished */ }
      });
  });
}

function copyBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new FoldbackError('Invalid argument', 'snapshot bytes must be a Uint8Array or an ArrayBuffer');
}

export class Storage {
  constructor(db, options) {
    this._db = db;
    this._chunkBytes = options.chunkBytes || 8 * 1024 * 1024;
    this._range = options.IDBKeyRange || globalThis.IDBKeyRange;
  }

  /** Saves `bytes` (engine.snapshot()) under `name`, replacing the previous snapshot atomically. */
  async saveSnapshot(name, bytes, meta = {}) {
    name = String(name);
    const data = copyBytes(bytes);
    const what = `saving snapshot '${name}' (${data.length} bytes)`;
    const size = this._chunkBytes;
    return transact(this._db, [SNAPSHOTS, CHUNKS], 'readwrite', async (tx) => {
      const headers = tx.objectStore(SNAPSHOTS);
      const chunks = tx.objectStore(CHUNKS);
      const previous = await request(headers.get(name));
      const generation = previous ? previous.generation + 1 : 1;
      const count = Math.ceil(data.length / size);
      for (let i = 0; i < count; ++i) {
        // slice(): a copy, so the stored chunk does not pin the caller's buffer.
        chunks.put(data.slice(i * size, Math.min(data.length, (i + 1) * size)), [name, generation, i]);
      }
      if (previous) chunks.delete(this._range.bound([name, previous.generation, 0], [name, previous.generation, Infinity]));
      // The header is the commit marker: written last, naming the new chunks.
      const header = { name, generation, size: data.length, chunks: count, savedAt: Date.now(), meta };
      headers.put(header);
      return { name, generation, size: data.length };
    }, what);
  }

  /** The snapshot saved under `name` (Uint8Array), or null when there is none. */
  async loadSnapshot(name) {
    name = String(name);
    const what = `loading snapshot '${name}'`;
    const { header, parts } = await transact(this._db, [SNAPSHOTS, CHUNKS], 'readonly', async (tx) => {
      const h = await request(tx.objectStore(SNAPSHOTS).get(name));
      if (!h) return { header: null, parts: [] };
      const range = this._range.bound([name, h.generation, 0], [name, h.generation, Infinity]);
      const p = await request(tx.objectStore(CHUNKS).getAll(range));
      return { header: h, parts: p };
    }, what);
    if (!header) return null;
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    if (parts.length !== header.chunks || total !== header.size) {
      throw new FoldbackError('Corruption', `${what}: stored chunks do not match the header ` +
        `(${parts.length}/${header.chunks} chunks, ${total}/${header.size} bytes)`);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p instanceof Uint8Array ? p : new Uint8Array(p), at);
      at += p.byteLength;
    }
    return out;
  }

  /** [{name, size, savedAt, meta}] of the saved snapshots. */
  async listSnapshots() {
    const all = await transact(this._db, [SNAPSHOTS], 'readonly',
      (tx) => request(tx.objectStore(SNAPSHOTS).getAll()), 'listing snapshots');
    return all.map(({ name, size, savedAt, meta }) => ({ name, size, savedAt, meta }));
  }

  /** Deletes the snapshot saved under `name` (no-op when absent). */
  async deleteSnapshot(name) {
    name = String(name);
    await transact(this._db, [SNAPSHOTS, CHUNKS], 'readwrite', async (tx) => {
      tx.objectStore(SNAPSHOTS).delete(name);
      tx.objectStore(CHUNKS).delete(this._range.bound([name, 0, 0], [name, Infinity, Infinity]));
    }, `deleting snapshot '${name}'`);
  }

  /**
   * Appends a feedback record ({id, ...} object, or bytes with options.id) to
   * the log. Resolves with its sequence number once durably committed.
   */
  async appendFeedback(record, { id } = {}) {
    const recordId = id !== undefined ? String(id) : record && typeof record.id === 'string' ? record.id : null;
    if (!recordId) {
      throw new FoldbackError('Invalid argument', 'a feedback record needs a string id (record.id or {id})');
    }
    const what = `appending feedback record '${recordId}'`;
    return transact(this._db, [FEEDBACK], 'readwrite', async (tx) => {
      const store = tx.objectStore(FEEDBACK);
      const existing = await request(store.index('id').getKey(recordId));
      if (existing !== undefined) return existing;  // already stored: no duplicate
      return request(store.add({ id: recordId, record, at: Date.now() }));
    }, what);
  }

  /** Feedback records after sequence number `after` (default: all), oldest first: [{seq, id, record, at}]. */
  async readFeedback({ after = 0, limit = 0 } = {}) {
    return transact(this._db, [FEEDBACK], 'readonly', (tx) => new Promise((resolve, reject) => {
      const out = [];
      const req = tx.objectStore(FEEDBACK).openCursor(this._range.lowerBound(after, true));
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor || (limit && out.length >= limit)) {
          resolve(out);
          return;
        }
        out.push({ seq: cursor.primaryKey, ...cursor.value });
        cursor.continue();
      };
    }), 'reading feedback');
  }

  /**
   * Appends `bytes` (framed log records from the engine) to the feedback log
   * `log` under the entry id `id`. Resolves once durably committed with
   * {seq, duplicate}: duplicate when an entry with this id was already
   * stored (nothing is added then).
   */
  async appendFeedbackLog(log, id, bytes) {
    log = String(log);
    id = String(id);
    const data = copyBytes(bytes).slice();
    return transact(this._db, [FEEDBACK], 'readwrite', async (tx) => {
      const store = tx.objectStore(FEEDBACK);
      const existing = await request(store.index('id').getKey(id));
      if (existing !== undefined) return { seq: existing, duplicate: true };
      const seq = await request(store.add({ id, log, record: data, at: Date.now() }));
      return { seq, duplicate: false };
    }, `appending to feedback log '${log}' (entry '${id}')`);
  }

  /** The feedback log `log`: {bytes (its entries concatenated), entries, lastSeq}. */
  async readFeedbackLog(log) {
    log = String(log);
    const all = await transact(this._db, [FEEDBACK], 'readonly', (tx) => new Promise((resolve, reject) => {
      const out = [];
      const req = tx.objectStore(FEEDBACK).index('log').openCursor(this._range.only(log));
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor) { resolve(out); return; }
        out.push({ seq: cursor.primaryKey, record: cursor.value.record });
        cursor.continue();
      };
    }), `reading feedback log '${log}'`);
    all.sort((a, b) => a.seq - b.seq);
    let total = 0;
    for (const e of all) total += e.record && e.record.byteLength ? e.record.byteLength : 0;
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const e of all) {
      if (!e.record || !e.record.byteLength) continue;
      bytes.set(e.record instanceof Uint8Array ? e.record : new Uint8Array(e.record), at);
      at += e.record.byteLength;
    }
    return { bytes, entries: all.length, lastSeq: all.length ? all[all.length - 1].seq : 0 };
  }

  /**
   * Replaces the whole feedback log `log` with `bytes` (a compacted log) in
   * one transaction: on failure the old log is intact.
   */
  async replaceFeedbackLog(log, bytes, { id } = {}) {
    log = String(log);
    const data = copyBytes(bytes).slice();
    const entryId = id ? String(id) : `compacted:${log}:${Date.now()}`;
    return transact(this._db, [FEEDBACK], 'readwrite', (tx) => new Promise((resolve, reject) => {
      const store = tx.objectStore(FEEDBACK);
      const req = store.index('log').openCursor(this._range.only(log));
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (cursor) {
          cursor.delete();
          cursor.continue();
          return;
        }
        const add = store.add({ id: entryId, log, record: data, at: Date.now() });
        add.onerror = () => reject(add.error);
        add.onsuccess = () => resolve({ seq: add.result });
      };
    }), `replacing feedback log '${log}' (${data.length} bytes)`);
  }

  /** Stores a trace (any structured-cloneable object) of log `log` under its id. */
  async saveTrace(log, traceId, trace) {
    log = String(log);
    traceId = String(traceId);
    await transact(this._db, [TRACES], 'readwrite', async (tx) => {
      tx.objectStore(TRACES).put({ log, traceId, trace, at: Date.now() });
    }, `saving trace '${traceId}'`);
  }

  /** The trace stored under `traceId` in log `log`, or null. */
  async loadTrace(log, traceId) {
    const row = await transact(this._db, [TRACES], 'readonly',
      (tx) => request(tx.objectStore(TRACES).get([String(log), String(traceId)])), `loading trace '${traceId}'`);
    return row ? row.trace : null;
  }

  /** Every trace of log `log`, oldest first: [{traceId, trace, at}]. */
  async listTraces(log) {
    log = String(log);
    const rows = await transact(this._db, [TRACES], 'readonly',
      (tx) => request(tx.objectStore(TRACES).getAll(this._range.bound([log, ''], [log, '\uffff']))), 'listing traces');
    return rows.sort((a, b) => a.at - b.at).map(({ traceId, trace, at }) => ({ traceId, trace, at }));
  }

  /** Host data: the value stored under `key`, or undefined. */
  async getItem(key) {
    return transact(this._db, [KV], 'readonly', (tx) => request(tx.objectStore(KV).get(String(key))), `reading '${key}'`);
  }

  async setItem(key, value) {
    await transact(this._db, [KV], 'readwrite', async (tx) => { tx.objectStore(KV).put(value, String(key)); }, `writing '${key}'`);
  }

  async removeItem(key) {
    await transact(this._db, [KV], 'readwrite', async (tx) => { tx.objectStore(KV).delete(String(key)); }, `deleting '${key}'`);
  }

  /** [{key, value}] of the items whose key starts with `prefix`, in key order. */
  async listItems(prefix = '') {
    prefix = String(prefix);
    return transact(this._db, [KV], 'readonly', (tx) => new Promise((resolve, reject) => {
      const out = [];
      const range = prefix ? this._range.bound(prefix, `${prefix}\uffff`) : undefined;
      const req = tx.objectStore(KV).openCursor(range);
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor) { resolve(out); return; }
        out.push({ key: cursor.key, value: cursor.value });
        cursor.continue();
      };
    }), `listing '${prefix}*'`);
  }

  close() {
    this._db.close();
  }
}

/**
 * openStorage({name = 'foldback', indexedDB = globalThis.indexedDB,
 *              IDBKeyRange = globalThis.IDBKeyRange, chunkBytes = 8 MiB})
 */
export async function openStorage(options = {}) {
  const factory = options.indexedDB || globalThis.indexedDB;
  if (!factory || !(options.IDBKeyRange || globalThis.IDBKeyRange)) {
    throw new FoldbackError('Failed precondition', 'IndexedDB is not available here (pass {indexedDB})');
  }
  const name = options.name || 'foldback';
  const db = await new Promise((resolve, reject) => {
    let req;
    try {
      req = factory.open(name, VERSION);
    } catch (e) {
      reject(storageError(e, `opening IndexedDB '${name}'`));
      return;
    }
    req.onupgradeneeded = () => {
      const d = req.result;
      if (!d.objectStoreNames.contains(SNAPSHOTS)) d.createObjectStore(SNAPSHOTS, { keyPath: 'name' });
      if (!d.objectStoreNames.contains(CHUNKS)) d.createObjectStore(CHUNKS);
      if (!d.objectStoreNames.contains(FEEDBACK)) {
        const s = d.createObjectStore(FEEDBACK, { autoIncrement: true });
        s.createIndex('id', 'id', { unique: true });
      }
      const feedback = req.transaction.objectStore(FEEDBACK);
      if (!feedback.indexNames.contains('log')) feedback.createIndex('log', 'log', { unique: false });
      if (!d.objectStoreNames.contains(TRACES)) d.createObjectStore(TRACES, { keyPath: ['log', 'traceId'] });
      if (!d.objectStoreNames.contains(KV)) d.createObjectStore(KV);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(storageError(req.error, `opening IndexedDB '${name}'`));
    req.onblocked = () => reject(new FoldbackError('Unavailable', `IndexedDB '${name}' is blocked by another tab holding an older version`));
  });
  return new Storage(db, options);
}
