// The side panel: the shared UI over a client that talks to the background.

import { byId, h, replace } from '../shared/dom';
import type {
  AskEvent, AskOptions, AskResult, DocInput, DocMeta, EngineStatus, ExportFormat, FeedbackInput, FeedbackRecord,
  FoldbackClient, HistoryEntry, LlmConfig, Passage,
} from '../shared/engine-adapter';
import { ALLOWED_ORIGINS, SERVER_ORIGINS, fatal } from '../shared/boot';
import { type KeyStatus, type Settings, type SettingsStore } from '../shared/settings';
import { App, documentList } from '../shared/ui';
import type { Envelope, Reply, UiRequest } from './protocol';

class Channel {
  private port: chrome.runtime.Port | null = null;
  private next = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; onEvent?(e: AskEvent): void }>();

  private connect(): chrome.runtime.Port {
    if (this.port) return this.port;
    const port = chrome.runtime.connect({ name: 'ui' });
    port.onMessage.addListener((r: Reply) => {
      const w = this.waiting.get(r.id);
      if (!w) return;
      if (r.event) { w.onEvent?.(r.event); return; }
      this.waiting.delete(r.id);
      if (r.ok) w.resolve(r.value); else w.reject(new Error(r.error ?? 'request failed'));
    });
    port.onDisconnect.addListener(() => {
      this.port = null;
      for (const w of this.waiting.values()) w.reject(new Error('foldback restarted in the background; please try again'));
      this.waiting.clear();
    });
    this.port = port;
    return port;
  }

  request<T>(body: UiRequest, onEvent?: (e: AskEvent) => void): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onEvent ? { onEvent } : {}) });
      this.connect().postMessage({ id, body } satisfies Envelope<UiRequest>);
    });
  }
}

const channel = new Channel();

/** The FoldbackClient interface, answered by the offscreen engine through the background. */
const client: FoldbackClient = {
  status: () => channel.request<EngineStatus>({ op: 'status' }),
  index: (docs: DocInput[]) => channel.request({ op: 'index', docs }),
  remove: (id: string) => channel.request({ op: 'remove', id }),
  documents: () => channel.request<DocMeta[]>({ op: 'documents' }),
  loadSnapshot: (bytes: Uint8Array, name: string) => channel.request<EngineStatus>({ op: 'loadSnapshot', bytes: [...bytes], name }),
  search: (query: string, options?: { topK?: number }) => channel.request<Passage[]>({ op: 'search', query, ...(options ? { options } : {}) }),
  ask: (question: string, options: AskOptions, onEvent: (e: AskEvent) => void, llm?: LlmConfig) =>
    // The key is never in this page: the background adds it.
    channel.request<AskResult>({ op: 'ask', question, options, ...(llm ? { llm: { endpoint: llm.endpoint, model: llm.model } } : {}) }, onEvent),
  feedback: (input: FeedbackInput) => channel.request<FeedbackRecord>({ op: 'feedback', input }),
  history: () => channel.request<HistoryEntry[]>({ op: 'history' }),
  exportFeedback: (format?: ExportFormat) => channel.request<string>({ op: 'exportFeedback', ...(format ? { format } : {}) }),
  forgetMatter: (matter: string) => channel.request<{ forgotten: number }>({ op: 'forgetMatter', matter }),
};

// The endpoints shown in Settings: the firm's policy's list when it has one.
let shownEndpoints: readonly string[] = ALLOWED_ORIGINS;
let serverPinned = false;

const settingsStore: SettingsStore = {
  load: () => channel.request<Settings>({ op: 'settings.load' }),
  save: (settings: Settings) => channel.request<void>({ op: 'settings.save', settings }),
  keyStatus: () => channel.request<KeyStatus>({ op: 'key.status' }),
  setKey: (key: string, remember: boolean) => channel.request<void>({ op: 'key.set', key, remember }),
  clearKey: () => channel.request<void>({ op: 'key.clear' }),
  async llmConfig() {
    const s = await this.load();
    return s.endpoint ? { endpoint: s.endpoint, model: s.model } : undefined;
  },
  keyNote: 'The key is kept by the extension\'s background in session storage (memory, cleared when the browser closes; web pages and content scripts cannot read it), or in the extension\'s local storage on this device if you tick Remember. This panel never reads it back.',
  canRemember: true,
  get allowedOrigins() { return shownEndpoints; },
  tokenStatus: () => channel.request<KeyStatus>({ op: 'token.status' }),
  setToken: (token: string, remember: boolean) => channel.request<void>({ op: 'token.set', token, remember }),
  clearToken: () => channel.request<void>({ op: 'token.clear' }),
  // The token is never in this page: the background adds it to the server's requests.
  async serverConfig() {
    const s = await this.load();
    return s.serverUrl ? { url: s.serverUrl, token: '' } : undefined;
  },
  serverOrigins: SERVER_ORIGINS,
  get serverPinned() { return serverPinned; },
};

async function main(): Promise<void> {
  const root = byId('app');
  const policy = await channel.request<{ allowedOrigins: string[]; problems: string[]; serverPinned: boolean }>({ op: 'policy' });
  shownEndpoints = policy.allowedOrigins;
  serverPinned = policy.serverPinned;
  if (policy.problems.length) {
    fatal(root, `foldback cannot start: your firm's policy for this extension is not valid (${policy.problems.join('; ')}). Please tell your IT.`);
    return;
  }
  const app = new App(root, client, {
    hostName: 'for Chromium',
    unit: ['page', 'pages'],
    questionPlaceholder: 'Ask about the pages you indexed, e.g. "Who must give notice of termination?"',
    async renderSources(container, app) {
      const indexBtn = h('button', { class: 'primary', attrs: { type: 'button', id: 'index-page' } }, 'Index this page');
      const matter = h('input', { attrs: { id: 'matter', type: 'text', placeholder: 'Matter (optional)', autocomplete: 'off', 'aria-label': 'Matter for indexed pages' } });
      const docs = h('details', { class: 'docs', attrs: { id: 'docs' } }, h('summary', null, 'Indexed pages'), h('div'));
      const refreshDocs = async () => {
        replace(docs.lastElementChild as HTMLElement, documentList(await client.documents(), (id) => {
          void client.remove(id).then(async () => { await refreshDocs(); await app.refreshStatus(); });
        }));
      };
      indexBtn.addEventListener('click', async () => {
        indexBtn.disabled = true;
        app.setStatus('Reading the page…');
        try {
          const r = await channel.request<{ title: string; chunks: number }>({ op: 'indexActiveTab', ...(matter.value.trim() ? { matter: matter.value.trim() } : {}) });
          app.setStatus(`Indexed “${r.title}” (${r.chunks} passages).`, 'ok');
        } catch (e) {
          app.setStatus((e as Error).message, 'error');
        }
        indexBtn.disabled = false;
        await refreshDocs();
        await app.refreshStatus();
      });
      replace(container, h('h2', null, 'This page'),
        h('p', { class: 'muted small' }, 'Index the visible text of the page you are reading (a DMS document, a webmail message). Nothing is read until you ask.'),
        h('div', { class: 'row' }, indexBtn, matter), docs);
      await refreshDocs();
    },
  }, settingsStore);
  await app.start();
}

void main().catch((e) => fatal(byId('app'), `foldback could not start: ${(e as Error).message}`));
