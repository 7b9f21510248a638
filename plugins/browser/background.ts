// The extension's service worker: the gatekeeper.
//
// - Only the extension's own pages (the side panel) may ask, index,
//   configure or export; messages from content scripts and web pages are
//   rejected (sender checked on every port and message).
// - The engine runs in a dedicated worker that an offscreen document starts
//   (this service worker is killed when idle and cannot start workers); the
//   offscreen document connects to us on the 'engine' port.
// - The toolbar button opens the side panel from action.onClicked. That
//   click is what grants activeTab on the page, which "Index this page"
//   needs: the manifest asks for no host permission. (The side panel's
//   openPanelOnActionClick behaviour would open the panel without
//   dispatching onClicked, and without the grant; it is turned off.)
// - The API key lives in chrome.storage.session (memory; TRUSTED_CONTEXTS
//   only, so content scripts cannot read it), or chrome.storage.local when
//   the lawyer asks to remember it. It is handed to the offscreen engine for
//   one question at a time and never sent to the side panel.
// - The firm server's token (Settings → Firm server) is kept the same way.
//   When Settings or the policy name a server, the engine's requests go to
//   it from here (shared/remote-engine.ts), the token in their
//   Authorization header only; the offscreen engine is not used.

import { extractVisibleText, type PageText } from './extract';
import { isExtensionPage, isOffscreenDocument, type Envelope, type Reply, type UiRequest, type EngineOp } from './protocol';
import { mergeSettings, type Settings } from '../shared/settings';
import { parsePolicy, shownOrigins, withPolicyDefaults, type ParsedPolicy } from '../shared/policy';
import { ALLOWED_ORIGINS, SERVER_ORIGINS } from '../shared/boot';
import type { AskOptions, DocInput, ExportFormat, FeedbackInput, LlmConfig } from '../shared/engine-adapter';
import { RemoteEngine } from '../shared/remote-engine';

const BASE_URL = chrome.runtime.getURL('');
const OFFSCREEN_URL = chrome.runtime.getURL('offscreen.html');
const KEY = 'foldback.apiKey';
const TOKEN = 'foldback.serverToken';

void chrome.storage.session.setAccessLevel({ accessLevel: 'TRUSTED_CONTEXTS' });
chrome.runtime.onInstalled.addListener(() => {
  // Off explicitly: a profile that had an earlier version keeps the old behaviour otherwise.
  void chrome.sidePanel?.setPanelBehavior({ openPanelOnActionClick: false });
});
chrome.action.onClicked.addListener((tab) => {
  // Called synchronously, inside the click's user gesture (sidePanel.open
  // needs one). The panel is the window's, so it stays open across tabs; each
  // further page to index gets its own grant from its own click.
  if (tab.windowId === undefined) return;
  chrome.sidePanel.open({ windowId: tab.windowId }).catch((e: Error) => console.warn('foldback: the side panel did not open:', e.message));
});

// ------------------------------------------------------------------ engine

let enginePort: chrome.runtime.Port | null = null;
let engineWaiters: Array<(p: chrome.runtime.Port) => void> = [];
let nextEngineId = 1;
const pending = new Map<number, (r: Reply) => void>();

async function ensureOffscreen(): Promise<void> {
  const contexts = await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT' as chrome.runtime.ContextType], documentUrls: [OFFSCREEN_URL] });
  if (contexts.length > 0) return;
  try {
    await chrome.offscreen.createDocument({
      url: 'offscreen.html',
      reasons: ['WORKERS' as chrome.offscreen.Reason],
      justification: 'Starts the dedicated worker that runs the foldback search engine (WebAssembly); a service worker cannot start workers.',
    });
  } catch (e) {
    if (!String((e as Error).message).includes('single offscreen')) throw e;
  }
}

async function engine(): Promise<chrome.runtime.Port> {
  if (enginePort) return enginePort;
  const ready = new Promise<chrome.runtime.Port>((resolve) => engineWaiters.push(resolve));
  await ensureOffscreen();
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the engine did not start')), 20000));
  return Promise.race([ready, timeout]);
}

async function callEngine(body: EngineOp, onEvent?: (r: Reply) => void): Promise<unknown> {
  const port = await engine();
  const id = nextEngineId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (r) => {
      if (r.event) { onEvent?.(r); return; }
      pending.delete(id);
      if (r.ok) resolve(r.value); else reject(new Error(r.error ?? 'engine error'));
    });
    port.postMessage({ id, body } satisfies Envelope<EngineOp>);
  });
}

// ------------------------------------------------------------------ settings and key

// The firm's policy: chrome.storage.managed (schema: managed_schema.json).
// Read for every request that needs it, so a policy pushed while the
// browser runs applies at once. Read-only to the extension and its user.
async function loadPolicy(): Promise<ParsedPolicy> {
  try {
    return parsePolicy(await chrome.storage.managed.get(null), 'managed policy');
  } catch (e) {
    return { policy: {}, problems: [`managed policy could not be read (${(e as Error).message})`] };
  }
}

async function loadSettings(): Promise<Settings> {
  const { settings } = await chrome.storage.local.get('settings');
  return withPolicyDefaults((await loadPolicy()).policy, mergeSettings(settings));
}

async function getSecret(name: string): Promise<{ key: string; remembered: boolean }> {
  const s = await chrome.storage.session.get(name);
  if (typeof s[name] === 'string' && s[name]) return { key: s[name] as string, remembered: false };
  const l = await chrome.storage.local.get(name);
  if (typeof l[name] === 'string' && l[name]) return { key: l[name] as string, remembered: true };
  return { key: '', remembered: false };
}

async function setSecret(name: string, value: unknown, remember: boolean): Promise<void> {
  const v = String(value ?? '').trim();
  await chrome.storage.session.remove(name);
  await chrome.storage.local.remove(name);
  if (v) await (remember ? chrome.storage.local : chrome.storage.session).set({ [name]: v });
}

const getKey = () => getSecret(KEY);

// ------------------------------------------------------------------ the firm server

let remoteCache: { key: string; engine: RemoteEngine } | null = null;

/** The firm server's engine when Settings or the policy name one; null: the offscreen engine. */
async function remoteEngine(): Promise<RemoteEngine | null> {
  const { serverUrl } = await loadSettings();
  if (!serverUrl) { remoteCache = null; return null; }
  const { key: token } = await getSecret(TOKEN);
  const cacheKey = `${serverUrl}\n${token}`;
  if (remoteCache?.key !== cacheKey) remoteCache = { key: cacheKey, engine: new RemoteEngine({ url: serverUrl, token, allowedOrigins: SERVER_ORIGINS }) };
  return remoteCache.engine;
}

/** An engine request, to the firm server or to the offscreen engine. */
async function callClient(body: EngineOp, onEvent?: (r: Reply) => void): Promise<unknown> {
  const remote = await remoteEngine();
  if (!remote) return callEngine(body, onEvent);
  switch (body.op) {
    case 'status': return remote.status();
    case 'index': return remote.index(body.docs as DocInput[]);
    case 'remove': return remote.remove(body.id);
    case 'documents': return remote.documents();
    case 'loadSnapshot': return remote.loadSnapshot();
    case 'search': return remote.search(body.query, body.options);
    case 'ask': return remote.ask(body.question, body.options as AskOptions, (event) => onEvent?.({ id: 0, ok: true, event }));
    case 'feedback': return remote.feedback(body.input as FeedbackInput);
    case 'history': return remote.history();
    case 'exportFeedback': return remote.exportFeedback(body.format as ExportFormat | undefined);
    case 'forgetMatter': return remote.forgetMatter(body.matter);
    default: throw new Error('unknown request');
  }
}

// ------------------------------------------------------------------ the active tab

async function indexActiveTab(matter?: string): Promise<unknown> {
  const [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
  if (!tab?.id) throw new Error('No page is open in this window.');
  let results;
  try {
    results = await chrome.scripting.executeScript({ target: { tabId: tab.id }, func: extractVisibleText });
  } catch (e) {
    throw new Error(`This page cannot be read (${(e as Error).message}). Click the foldback icon on the page first, then try again.`);
  }
  const page = results?.[0]?.result as PageText | undefined;
  if (!page || !page.text) throw new Error('This page has no visible text to index.');
  const doc = {
    id: `web:${page.url}`, title: page.title, text: page.text, kind: 'web' as const, source: page.url,
    ...(page.date ? { date: page.date } : {}), ...(matter ? { matter } : {}),
  };
  const r = await callClient({ op: 'index', docs: [doc] }) as { chunks: number };
  return { title: page.title, url: page.url, chunks: r.chunks, chars: page.text.length };
}

// ------------------------------------------------------------------ requests from the side panel

async function handle(body: UiRequest, onEvent: (r: Reply) => void): Promise<unknown> {
  switch (body.op) {
    case 'settings.load': return loadSettings();
    case 'settings.save': await chrome.storage.local.set({ settings: mergeSettings(body.settings) }); return true;
    case 'key.status': { const k = await getKey(); return { set: Boolean(k.key), remembered: k.remembered }; }
    case 'key.set': await setSecret(KEY, body.key, body.remember); return true;
    case 'key.clear': await setSecret(KEY, '', false); return true;
    case 'token.status': { const k = await getSecret(TOKEN); return { set: Boolean(k.key), remembered: k.remembered }; }
    case 'token.set': await setSecret(TOKEN, body.token, body.remember); return true;
    case 'token.clear': await setSecret(TOKEN, '', false); return true;
    case 'indexActiveTab': return indexActiveTab(body.matter);
    case 'policy': {
      const { policy, problems } = await loadPolicy();
      return { allowedOrigins: shownOrigins(policy, ALLOWED_ORIGINS), problems, serverPinned: Boolean(policy.serverUrl) };
    }
    case 'search': {
      const { policy, problems } = await loadPolicy();
      return callClient({ ...body, policy, policyProblems: problems });
    }
    case 'ask': {
      // The side panel sends endpoint and model; the key is added here, for this question only.
      let llm: LlmConfig | undefined;
      if (body.llm?.endpoint) {
        const { key } = await getKey();
        llm = { endpoint: body.llm.endpoint, model: body.llm.model, ...(key ? { apiKey: key } : {}) };
      }
      const { policy, problems } = await loadPolicy();
      return callClient({ op: 'ask', question: body.question, options: body.options, ...(llm ? { llm } : {}), policy, policyProblems: problems }, onEvent);
    }
    case 'status': case 'index': case 'remove': case 'documents': case 'loadSnapshot':
    case 'feedback': case 'history': case 'exportFeedback': case 'forgetMatter':
      return callClient(body);
    default:
      throw new Error(`unknown request ${(body as { op?: string }).op ?? ''}`);
  }
}

chrome.runtime.onConnect.addListener((port) => {
  if (port.name === 'engine') {
    if (!isOffscreenDocument(port.sender, chrome.runtime.id, OFFSCREEN_URL)) { port.disconnect(); return; }
    enginePort = port;
    port.onMessage.addListener((r: Reply) => pending.get(r.id)?.(r));
    port.onDisconnect.addListener(() => {
      if (enginePort === port) enginePort = null;
      for (const [id, cb] of pending) cb({ id, ok: false, error: 'the engine stopped; try again' });
      pending.clear();
    });
    const waiters = engineWaiters;
    engineWaiters = [];
    waiters.forEach((w) => w(port));
    return;
  }
  if (port.name !== 'ui' || !isExtensionPage(port.sender, chrome.runtime.id, BASE_URL) ||
      (port.sender?.url ?? '').split(/[?#]/)[0] === OFFSCREEN_URL) {
    console.warn('foldback: rejected a connection from', port.sender?.url);
    port.disconnect();
    return;
  }
  port.onMessage.addListener(async (msg: Envelope<UiRequest>) => {
    const id = msg?.id;
    try {
      const value = await handle(msg.body, (r) => { if (r.event) port.postMessage({ id, ok: true, event: r.event } satisfies Reply); });
      port.postMessage({ id, ok: true, value } satisfies Reply);
    } catch (e) {
      port.postMessage({ id, ok: false, error: (e as Error).message } satisfies Reply);
    }
  });
});

// One-shot messages: nothing privileged is offered this way. Anything that is
// not from one of our pages is refused with a clear answer.
chrome.runtime.onMessage.addListener((msg, sender, sendResponse) => {
  if (!isExtensionPage(sender, chrome.runtime.id, BASE_URL)) {
    sendResponse({ ok: false, error: 'forbidden: foldback only accepts requests from its own pages' });
    return false;
  }
  if (msg?.op === 'ping') { sendResponse({ ok: true }); return false; }
  sendResponse({ ok: false, error: 'use the ui port' });
  return false;
});
