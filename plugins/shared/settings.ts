// Settings a lawyer chooses, and where each platform keeps the API key.

import type { AskOptions, LlmConfig, RewriteMode } from './engine-adapter';
import { shownOrigins, withPolicyDefaults, type Policy } from './policy';
import type { ServerConfig } from './remote-engine';
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
  /** The firm server (`foldback serve`) to search instead of this computer's engine; '' = local. */
  serverUrl: string;
}

export const DEFAULT_SETTINGS: Settings = {
  endpoint: '', model: '', hops: 2, depth: 5, topK: 5, rewrite: 'rm3', answer: true, serverUrl: '',
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
  /** The firm server's token: kept where the key is kept, never shown back, never logged. */
  tokenStatus(): Promise<KeyStatus>;
  setToken(token: string, remember: boolean): Promise<void>;
  clearToken(): Promise<void>;
  /** The firm server for the next request (with its token where this context may hold it); undefined = local engine. */
  serverConfig(): Promise<ServerConfig | undefined>;
  /** Origins a firm server may have (the build's FOLDBACK_SERVER_ORIGIN; empty: none). */
  readonly serverOrigins: readonly string[];
  /** The firm's policy names the server: the user cannot change it. */
  readonly serverPinned: boolean;
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
    if (typeof r.serverUrl === 'string') out.serverUrl = r.serverUrl.trim();
  }
  return out;
}

/**
 * Office task panes. Non-secret settings live in the task pane's own
 * IndexedDB (per device, never in Office.context.roamingSettings nor in the
 * document's settings, which travel with mailboxes and files). The key is
 * kept in memory for the life of the task pane and asked for again next
 * time. There is no "remember" here: the only add-in storage outside the
 * page, OfficeRuntime.storage, exists in Word with a shared runtime
 * (SharedRuntime 1.1) and in Outlook only for event-based add-ins on
 * Windows, and the task pane's IndexedDB is readable by any script of the
 * add-in's origin.
 */
export class OfficeSettingsStore implements SettingsStore {
  private key = '';
  private token = '';
  readonly canRemember = false;
  readonly keyNote = 'The key is kept in memory while this pane is open and is never written anywhere: not to this computer, your mailbox, your documents or roaming settings. You will be asked for it again next time.';

  readonly allowedOrigins: readonly string[];
  readonly serverPinned: boolean;

  /**
   * `policy`: what the firm's IT served with the task pane
   * (foldback-settings.json, shared/policy.ts): its defaults fill what the
   * user left empty, its endpoint list is the one shown; the engine
   * enforces it.
   */
  constructor(private readonly store: ItemStore, buildOrigins: readonly string[], private readonly policy: Policy = {},
              readonly serverOrigins: readonly string[] = []) {
    this.allowedOrigins = shownOrigins(policy, buildOrigins);
    this.serverPinned = Boolean(policy.serverUrl);
  }

  async load(): Promise<Settings> {
    return withPolicyDefaults(this.policy, mergeSettings(await this.store.getItem('settings')));
  }

  async save(settings: Settings): Promise<void> {
    await this.store.setItem('settings', { ...settings });
  }

  async keyStatus(): Promise<KeyStatus> { return { set: Boolean(this.key), remembered: false }; }

  async setKey(key: string, _remember: boolean): Promise<void> {
    this.key = key.trim();
  }

  async clearKey(): Promise<void> {
    this.key = '';
  }

  async llmConfig(): Promise<LlmConfig | undefined> {
    const s = await this.load();
    if (!s.endpoint) return undefined;
    return { endpoint: s.endpoint, model: s.model, ...(this.key ? { apiKey: this.key } : {}) };
  }

  // The token as the key: in memory for the life of the pane, never written anywhere.
  async tokenStatus(): Promise<KeyStatus> { return { set: Boolean(this.token), remembered: false }; }

  async setToken(token: string, _remember: boolean): Promise<void> {
    this.token = token.trim();
  }

  async clearToken(): Promise<void> {
    this.token = '';
  }

  async serverConfig(): Promise<ServerConfig | undefined> {
    const s = await this.load();
    return s.serverUrl ? { url: s.serverUrl, token: this.token } : undefined;
  }
}
