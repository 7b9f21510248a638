// Settings a lawyer chooses, and where each platform keeps the API key.

import type { AskOptions, LlmConfig, RewriteMode } from './engine-adapter';
/** Where settings live: the task pane's IndexedDB (Storage from @foldback/core/storage fits). */
export interface ItemStore {
  getItem<T = unknown>(key: string): Promise<T | undefined>;
  setItem(key: string, value: unknown): Promise<void>;
}

export interface Settings {
  endpoint: string;
  model: string;
  hops: number;
  depth: number;
  topK: number;
  rewrite: RewriteMode;
  answer: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  endpoint: '', model: '', hops: 2, depth: 5, topK: 5, rewrite: 'rm3', answer: true,
};

export interface KeyStatus { set: boolean; remembered: boolean }

export interface SettingsStore {
  load(): Promise<Settings>;
  save(settings: Settings): Promise<void>;
  keyStatus(): Promise<KeyStatus>;
  setKey(key: string, remember: boolean): Promise<void>;
  clearKey(): Promise<void>;
  /** The endpoint for one question. Carries the key only where this context may hold it. */
  llmConfig(): Promise<LlmConfig | undefined>;
  /** Shown in Settings: where the key lives and why. */
  readonly keyNote: string;
  readonly canRemember: boolean;
  readonly allowedOrigins: readonly string[];
}

export function askOptionsFrom(s: Settings): AskOptions {
  return { hops: s.hops, depth: s.depth, topK: s.topK, rewrite: s.rewrite, answer: s.answer };
}

export function mergeSettings(raw: unknown): Settings {
  const out = { ...DEFAULT_SETTINGS };
  if (raw && typeof raw === 'object') {
    const r = raw as Record<string, unknown>;
    if (typeof r.endpoint === 'string') out.endpoint = r.endpoint;
    if (typeof r.model === 'string') out.model = r.model;
    for (const k of ['hops', 'depth', 'topK'] as const) if (Number.isInteger(r[k])) out[k] = r[k] as number;
    if (r.rewrite === 'llm' || r.rewrite === 'rm3' || r.rewrite === 'none') out.rewrite = r.rewrite;
    if (typeof r.answer === 'boolean') out.answer = r.answer;
  }
  return out;
}

/** Minimal typing of OfficeRuntime.storage (shared runtime only). */
interface OfficeRuntimeStorage {
  getItem(key: string): Promise<string | null>;
  setItem(key: string, value: string): Promise<void>;
  removeItem(key: string): Promise<void>;
}

/**
 * Office task panes. Non-secret settings live in the task pane's own
 * IndexedDB (per device, never in Office.context.roamingSettings nor in the
 * document's settings, which travel with mailboxes and files). The key is
 * kept in memory for the life of the task pane; a lawyer may ask to remember
 * it on this device only where OfficeRuntime.storage exists (add-ins with a
 * shared runtime), which is storage of the add-in on this machine.
 */
export class OfficeSettingsStore implements SettingsStore {
  private key = '';
  private remembered = false;
  readonly canRemember: boolean;
  readonly keyNote: string;

  constructor(private readonly store: ItemStore, readonly allowedOrigins: readonly string[],
              private readonly runtimeStorage: OfficeRuntimeStorage | undefined = officeRuntimeStorage()) {
    this.canRemember = Boolean(runtimeStorage);
    this.keyNote = this.canRemember
      ? 'The key is kept in memory while this pane is open. "Remember" stores it in this add-in\'s storage on this computer (OfficeRuntime.storage), never in your mailbox, your documents or roaming settings.'
      : 'The key is kept in memory while this pane is open and is never written to your mailbox, your documents or roaming settings. You will be asked for it again next time.';
  }

  async load(): Promise<Settings> {
    if (!this.key && this.runtimeStorage) {
      const k = await this.runtimeStorage.getItem('foldback.apiKey');
      if (k) { this.key = k; this.remembered = true; }
    }
    return mergeSettings(await this.store.getItem('settings'));
  }

  async save(settings: Settings): Promise<void> {
    await this.store.setItem('settings', { ...settings });
  }

  async keyStatus(): Promise<KeyStatus> { return { set: Boolean(this.key), remembered: this.remembered }; }

  async setKey(key: string, remember: boolean): Promise<void> {
    this.key = key.trim();
    this.remembered = false;
    if (this.runtimeStorage) {
      if (remember && this.key) {
        await this.runtimeStorage.setItem('foldback.apiKey', this.key);
        this.remembered = true;
      } else {
        await this.runtimeStorage.removeItem('foldback.apiKey');
      }
    }
  }

  async clearKey(): Promise<void> {
    this.key = '';
    this.remembered = false;
    if (this.runtimeStorage) await this.runtimeStorage.removeItem('foldback.apiKey');
  }

  async llmConfig(): Promise<LlmConfig | undefined> {
    const s = await this.load();
    if (!s.endpoint) return undefined;
    return { endpoint: s.endpoint, model: s.model, ...(this.key ? { apiKey: this.key } : {}) };
  }
}

function officeRuntimeStorage(): OfficeRuntimeStorage | undefined {
  const g = globalThis as { OfficeRuntime?: { storage?: OfficeRuntimeStorage } };
  return g.OfficeRuntime?.storage;
}
