// A small promise wrapper over IndexedDB: named object stores of JSON-like
// values (and Uint8Arrays), keyed by string.
//
// STAND-IN: wasm/src/storage.js (IndexedDB persistence in the npm package)
// is being written in parallel; once it lands on main the engine's own
// persistence replaces the snapshot and feedback stores kept here.

export interface KvStore {
  get<T>(store: string, key: string): Promise<T | undefined>;
  put(store: string, key: string, value: unknown): Promise<void>;
  delete(store: string, key: string): Promise<void>;
  all<T>(store: string): Promise<T[]>;
  keys(store: string): Promise<string[]>;
  close(): void;
}

export const STORES = ['kv', 'documents', 'traces', 'feedback'] as const;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
  });
}

export async function openKvStore(name: string, factory: IDBFactory = indexedDB): Promise<KvStore> {
  const open = factory.open(name, 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    for (const s of STORES) if (!db.objectStoreNames.contains(s)) db.createObjectStore(s);
  };
  const db = await request(open);
  const tx = (store: string, mode: IDBTransactionMode) => db.transaction(store, mode).objectStore(store);
  const done = (t: IDBTransaction) => new Promise<void>((resolve, reject) => {
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error ?? new Error('IndexedDB transaction failed'));
    t.onabort = () => reject(t.error ?? new Error('IndexedDB transaction aborted'));
  });
  return {
    get: <T>(store: string, key: string) => request(tx(store, 'readonly').get(key)) as Promise<T | undefined>,
    async put(store, key, value) {
      const s = tx(store, 'readwrite');
      s.put(value, key);
      await done(s.transaction);  // durable once the transaction commits
    },
    async delete(store, key) {
      const s = tx(store, 'readwrite');
      s.delete(key);
      await done(s.transaction);
    },
    all: <T>(store: string) => request(tx(store, 'readonly').getAll()) as Promise<T[]>,
    keys: async (store) => (await request(tx(store, 'readonly').getAllKeys())).map(String),
    close: () => db.close(),
  };
}

/** An in-memory store with the same interface (tests, private windows). */
export function memoryKvStore(): KvStore {
  const data = new Map<string, Map<string, unknown>>();
  const s = (name: string) => {
    if (!data.has(name)) data.set(name, new Map());
    return data.get(name)!;
  };
  return {
    get: async <T>(store: string, key: string) => structuredClone(s(store).get(key)) as T | undefined,
    put: async (store, key, value) => { s(store).set(key, structuredClone(value)); },
    delete: async (store, key) => { s(store).delete(key); },
    all: async <T>(store: string) => [...s(store).values()].map((v) => structuredClone(v)) as T[],
    keys: async (store) => [...s(store).keys()],
    close: () => {},
  };
}
