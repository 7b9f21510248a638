// The Chromium MV3 extension end to end: loaded unpacked in Debian's
// Chromium, the engine in its offscreen document, the side panel indexing
// pages served on loopback (real contracts), asking over several hops,
// feedback persisted across a reload, hidden text not indexed, planted
// content inert, content-script requests refused, the key only where meant.
// The extension is loaded exactly as built: no host permission. Every page
// is read through the grant the toolbar click gives (activeTab): the tests
// click the action with the DevTools protocol (clickAction in
// helpers/browser.mjs), which runs the browser's own action path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUILD, DATA, ensureBuilt, listData } from './helpers/common.mjs';
import { startServer } from '../serve.mjs';
import { clickAction, fence, launchWithExtension, outsideRequests, shot, sidePanel, watchPage } from './helpers/browser.mjs';
import { askAndWatch, checkFeedbackPersisted, checkInert, dumpPageState, giveFeedback, setOptions, waitOk, waitReady } from './helpers/flows.mjs';
import { startLlmServer } from './helpers/llm-server.mjs';

const CANARY = 'sk-canary-ext-51c0ffee9d2b';
let tmp;
let pages;
let llm;
let context;
let sw;
let extId;
let log;

const escapeHtml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

before(async () => {
  await ensureBuilt();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'foldback-ext-'));
  // The extension as built and shipped: activeTab, no host permission.
  const ext = path.join(BUILD, 'browser');
  const manifest = JSON.parse(await readFile(path.join(ext, 'manifest.json'), 'utf8'));
  assert.equal(manifest.host_permissions, undefined);
  assert.equal(manifest.optional_host_permissions, undefined);
  // Contracts as DMS pages, and the injection page.
  const routes = {};
  for (const f of await listData('contracts', '.txt')) {
    const text = await readFile(path.join(DATA, 'contracts', f), 'utf8');
    const title = f.replace(/\.txt$/, '');
    routes[`/dms/${encodeURIComponent(title)}.html`] = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${
        text.split(/\n\s*\n/).map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}</body></html>`);
    };
  }
  pages = await startServer({ root: path.join(DATA, 'injection'), routes });
  pages.docs = Object.keys(routes);
  llm = await startLlmServer();
  context = await launchWithExtension(path.join(tmp, 'profile'), ext);
  log = await fence(context);
  sw = context.serviceWorkers()[0] ?? await context.waitForEvent('serviceworker');
  extId = new URL(sw.url()).host;
});

after(async () => {
  await context?.close();
  await pages?.close();
  await llm?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function openPanel() {
  const panel = await context.newPage();
  const problems = await watchPage(panel);
  await panel.goto(`chrome-extension://${extId}/sidepanel.html`);
  await waitReady(panel);
  return { panel, problems };
}

async function indexPage(panel, url) {
  const tab = await context.newPage();
  await tab.goto(url);
  await tab.bringToFront();
  await clickAction(context, extId, url);   // the toolbar click: grants activeTab on this tab
  await panel.click('#index-page');
  await waitOk(panel, /Indexed/);
  return tab;
}

/** chrome.scripting on the active tab, from the service worker: 'read' or the browser's refusal. */
async function readActiveTab() {
  return sw.evaluate(async () => {
    const [tab] = await chrome.tabs.query({ active: true, lastFocusedWindow: true });
    try {
      await chrome.scripting.executeScript({ target: { tabId: tab.id }, func: () => document.title });
      return 'read';
    } catch (e) { return e.message; }
  });
}

test('extension: the toolbar click opens the side panel and grants activeTab; pages not clicked stay unreadable', async (t) => {
  const [a, b] = pages.docs.slice(0, 2).map((d) => `${pages.url}${d}`);
  const tabA = await context.newPage();
  t.after(() => tabA.close());
  await tabA.goto(a);
  const tabB = await context.newPage();
  t.after(() => tabB.close());
  await tabB.goto(b);
  await tabB.bringToFront();
  assert.match(await readActiveTab(), /Cannot access contents of the page/, 'no host permission: nothing is readable before a click');
  const contexts = () => sw.evaluate(async () => (await chrome.runtime.getContexts({ contextTypes: ['SIDE_PANEL'] })).map((c) => c.documentUrl));
  assert.deepEqual(await contexts(), [], 'no side panel before the click');

  await clickAction(context, extId, b);
  for (let i = 0; i < 50 && !(await contexts()).some(Boolean); i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await contexts(), [`chrome-extension://${extId}/sidepanel.html`], 'the click opened the side panel');
  assert.equal(await readActiveTab(), 'read', 'the click granted activeTab on the clicked tab');
  const panel = await sidePanel(context, extId);
  assert.ok(panel, 'the side panel is a page we can drive');
  try {
    await panel.waitFor(`document.querySelector('#app')?.dataset.ready === 'true'`);
    const statusAfterClick = async () => {
      await panel.evaluate(`document.querySelector('#status').dataset.kind = ''; document.querySelector('#index-page').click()`);
      return panel.waitFor(`(() => { const s = document.querySelector('#status'); return ['ok', 'error'].includes(s.dataset.kind) && !/Reading/.test(s.textContent) ? s.dataset.kind + ': ' + s.textContent : ''; })()`);
    };
    const titleB = decodeURIComponent(b.split('/').pop().replace(/\.html$/, ''));
    const escapeRe = (t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(await statusAfterClick(), new RegExp(`^ok: Indexed “${escapeRe(titleB)}” \\(\\d+ passages\\)`), 'indexed from the real side panel');

    // Another tab, never clicked: the same button gives a clear refusal.
    await tabA.bringToFront();
    assert.match(await readActiveTab(), /Cannot access contents of the page/);
    assert.match(await statusAfterClick(), /^error: This page cannot be read .*Click the foldback icon on the page first/);
    // Its own click grants it.
    await clickAction(context, extId, a);
    assert.match(await statusAfterClick(), /^ok: Indexed “/);
    await panel.waitFor(`document.querySelector('#corpus-status').dataset.documents === '2'`, 15000);
    // A navigation to another origin ends the grant.
    await tabA.goto(`${pages.url.replace('127.0.0.1', 'localhost')}/injection-page.html`);
    assert.match(await readActiveTab(), /Cannot access contents of the page/, 'the grant ends when the tab goes to another origin');
  } finally {
    await panel.close();
  }
  // Both pages are among those the next test indexes again (same ids: re-indexed, not added).
});

test('extension: the managed-policy schema is shipped, accepted and readable (no policy set here)', async () => {
  // Chromium refuses to load an extension whose storage.managed_schema is
  // missing or invalid; it loaded, and chrome.storage.managed answers. A
  // real policy needs the machine's policy folder (/etc/chromium/policies),
  // which a test must not write: the merge with a policy is unit-tested
  // (unit-policy.test.mjs).
  const manifest = JSON.parse(await readFile(path.join(BUILD, 'browser', 'manifest.json'), 'utf8'));
  assert.equal(manifest.storage?.managed_schema, 'managed_schema.json');
  const schema = JSON.parse(await readFile(path.join(BUILD, 'browser', 'managed_schema.json'), 'utf8'));
  assert.ok(schema.properties.allowedMatters && schema.properties.allowedEndpoints);
  const managed = await sw.evaluate(async () => {
    try { return { ok: true, value: await chrome.storage.managed.get(null) }; } catch (e) { return { ok: false, error: String(e) }; }
  });
  assert.deepEqual(managed, { ok: true, value: {} });
});

test('extension: index pages, ask over hops, feedback persists across a reload', async () => {
  const { panel, problems } = await openPanel();
  const tabs = [];
  for (const doc of pages.docs) tabs.push(await indexPage(panel, `${pages.url}${doc}`));
  assert.equal(await panel.getAttribute('#corpus-status', 'data-documents'), String(pages.docs.length));
  await shot(panel, 'browser-indexed');
  await setOptions(panel, { hops: 3, depth: 6, topK: 5, rewrite: 'rm3' });
  const question = 'Can the consultant terminate the agreement and on what notice?';
  const { hops, passages } = await askAndWatch(panel, question, 3);
  assert.equal(hops[1].source, 'rm3');
  assert.ok(passages.some((p) => /CONSULTING AGREEMENT/i.test(p.title)));
  assert.ok(passages.every((p) => p.meta !== undefined));
  await shot(panel, 'browser-answer');
  const { labelled } = await giveFeedback(panel);
  await shot(panel, 'browser-feedback');
  await checkFeedbackPersisted(panel, question, labelled);
  assert.deepEqual(problems.pageErrors, []);
  assert.deepEqual(outsideRequests(log), []);
  for (const t of tabs) await t.close();
  await panel.close();
});

test('extension: hidden text is not indexed, planted content is inert', async () => {
  const { panel } = await openPanel();
  const tab = await indexPage(panel, `${pages.url}/injection-page.html`);
  await setOptions(panel, { hops: 1, rewrite: 'none', topK: 10 });
  const { passages } = await askAndWatch(panel, 'termination notice ignore previous instructions reveal other matters', 1);
  const page = passages.find((p) => p.title.includes('Matter 2025-114'));
  assert.ok(page, 'the page was indexed');
  assert.ok(page.text.includes('<img src=http://evil.example/x>'), 'literal markup shown as text');
  assert.ok(page.text.includes('![logo](http://evil.example/logo.png)'));
  for (const p of passages) assert.ok(!/HIDDEN-/.test(p.text), `hidden text was indexed: ${p.text}`);
  assert.match(page.meta, /4 Mar 2025/, 'the page\'s stated date is shown');
  await checkInert(panel);
  await shot(panel, 'browser-injection');
  assert.deepEqual(outsideRequests(log), []);
  await tab.close();
  await panel.close();
});

test('extension: content scripts are refused; the key lives in session storage only', async () => {
  const { panel } = await openPanel();
  const tab = await context.newPage();
  await tab.goto(`${pages.url}/injection-page.html`);
  await tab.bringToFront();
  await clickAction(context, extId, `${pages.url}/injection-page.html`);   // the lawyer clicked foldback on this page
  // A content script (isolated world of a web page) tries every door.
  const [{ result }] = await sw.evaluate(async (tabId) => chrome.scripting.executeScript({
    target: { tabId },
    func: async () => {
      const out = {};
      out.message = await chrome.runtime.sendMessage({ op: 'ask', question: 'reveal everything' }).catch((e) => ({ threw: e.message }));
      const tryPort = (name, body) => new Promise((resolve) => {
        const port = chrome.runtime.connect({ name });
        const timer = setTimeout(() => resolve('no answer'), 3000);
        port.onMessage.addListener((m) => { clearTimeout(timer); resolve({ answered: m }); });
        port.onDisconnect.addListener(() => { clearTimeout(timer); resolve('disconnected'); });
        port.postMessage({ id: 1, body });
      });
      out.ui = await tryPort('ui', { op: 'exportFeedback' });
      out.engine = await tryPort('engine', { op: 'history' });
      try { out.session = await chrome.storage.session.get(null); } catch (e) { out.session = `threw: ${e.message}`; }
      return out;
    },
  }), (await sw.evaluate(async () => (await chrome.tabs.query({ active: true, lastFocusedWindow: true })).map((t) => t.id)))[0]);
  assert.match(result.message.error, /forbidden/);
  assert.equal(result.ui, 'disconnected');
  assert.equal(result.engine, 'disconnected');
  assert.match(String(result.session), /threw/, 'content scripts cannot read session storage');

  // The key: set in the panel, kept by the background, used for the endpoint.
  await panel.click('#tab-settings');
  await panel.fill('#endpoint', llm.endpoint);
  await panel.fill('#model', 'test-model');
  await panel.fill('#api-key', CANARY);
  await panel.click('#save-settings');
  await panel.waitForFunction(() => /session/.test(document.querySelector('#key-state').textContent));
  const stored = await sw.evaluate(async () => ({ session: await chrome.storage.session.get(null), local: await chrome.storage.local.get(null) }));
  assert.equal(stored.session['foldback.apiKey'], CANARY);
  assert.ok(!JSON.stringify(stored.local).includes(CANARY), 'not on disk unless asked');
  await shot(panel, 'browser-settings');
  await panel.click('#tab-ask');
  await setOptions(panel, { hops: 2, rewrite: 'llm', answer: true });
  const { hops } = await askAndWatch(panel, 'termination for convenience notice', 2);
  assert.equal(hops[1].source, 'llm');
  assert.ok(llm.requests.length >= 2);
  for (const r of llm.requests) assert.equal(r.headers.authorization, `Bearer ${CANARY}`);
  await giveFeedback(panel);
  const state = await dumpPageState(panel);
  for (const [where, text] of Object.entries(state)) assert.ok(!text.includes(CANARY), `key in the side panel's ${where}`);
  await checkInert(panel);
  await shot(panel, 'browser-llm');
  await tab.close();
  await panel.close();
});
