// The plugins switched to a firm server: a real `foldback serve` on
// loopback (build/bin/foldback, started here on an index of two matters,
// a users file holding a token's SHA-256), the Word task pane built with
// that server's origin (FOLDBACK_SERVER_ORIGIN) and pointed at it in
// Settings, and the Chromium extension of the same build (its side panel).
// The server's walls decide what the pane shows; a wrong token is a clear
// error; hops stream in as the server sends them; the token never appears
// in a URL, the server's logs or its feedback; a changed judgment replaces
// the earlier record on the server and a matter can be forgotten from the
// pane by a user who may write to it. A build without a server
// origin cannot reach the server at all: its CSP blocks it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { BUILD, DATA, PLUGINS, ROOT, ensureBuilt, listData } from './helpers/common.mjs';
import { startServer } from '../serve.mjs';
import { wordStub } from './helpers/office-stub.mjs';
import { chromium } from 'playwright-core';
import { ARGS, CHROMIUM, fence, shot, watchPage } from './helpers/browser.mjs';
import { askAndWatch, setOptions, waitReady } from './helpers/flows.mjs';

const CLI = process.env.FOLDBACK_CLI || path.join(ROOT, 'build/bin/foldback');
// Another loopback address: the plugins' CSP allows 127.0.0.1 and localhost
// for local LLMs, so only a host outside those shows what the CSP does.
const SERVER_HOST = '127.0.0.2';
const TOKEN = 'fb-alice-7f3c0d9e2b41a6';
const ADMIN_TOKEN = 'fb-admin-5e8a1c2f9d07b3';

let tmp;
let serverBuild;
let pluginServer;
let defaultPlugins;
let foldback;
let foldbackUrl;
let browser;
let alphaDocs;
let betaDocs;
let extContext;
let extId;

function run(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`foldback ${args.join(' ')}: exit ${code}\n${out}`))));
  });
}

/** A foldback command's stdout alone (stderr dropped). */
function runOut(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`foldback ${args.join(' ')}: exit ${code}`))));
  });
}

/** `foldback serve` on SERVER_HOST:0; resolves with its URL once it listens. */
function serve(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, ['serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /listening on (http:\/\/[0-9.]+:\d+)/.exec(out);
      if (m) resolve({ proc: p, url: m[1], output: () => out });
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (code) => reject(new Error(`foldback serve exited ${code}: ${out}`)));
  });
}

async function filesUnder(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await filesUnder(p)); else out.push(p);
  }
  return out;
}

before(async () => {
  assert.ok(existsSync(CLI), `the native CLI is needed (${CLI}): cmake --build build --target foldback`);
  await ensureBuilt();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'foldback-plugin-server-'));
  // Two matters of real contracts: alice may see alpha only.
  const files = await listData('contracts', '.txt');
  const half = Math.ceil(files.length / 2);
  alphaDocs = files.slice(0, half);
  betaDocs = files.slice(half);
  for (const [matter, list] of [['alpha', alphaDocs], ['beta', betaDocs]]) {
    const dir = path.join(tmp, 'docs', matter);
    await mkdir(dir, { recursive: true });
    for (const f of list) await cp(path.join(DATA, 'contracts', f), path.join(dir, f));
    await run(['ingest', '--index', path.join(tmp, 'idx'), '--matter', matter, dir]);
  }
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  await writeFile(path.join(tmp, 'users.toml'),
    `[[user]]\nname = "alice"\ntoken_sha256 = "${sha(TOKEN)}"\nmatters = ["alpha"]\nwrite = ["alpha"]\n\n` +
    `[[user]]\nname = "admin"\ntoken_sha256 = "${sha(ADMIN_TOKEN)}"\nmatters = ["*"]\nwrite = []\n`);

  // The Word pane built for this firm server, served from 127.0.0.1.
  serverBuild = path.join(ROOT, 'build/plugins-server-test');
  const { build } = await import(pathToFileURL(path.join(PLUGINS, 'build.mjs')).href);
  await build({ out: serverBuild, serverOrigins: [`http://${SERVER_HOST}:*`] });
  pluginServer = await startServer({ root: serverBuild });
  defaultPlugins = await startServer({ root: BUILD });
  // The fenced Chromium of the other tests, with the server's loopback address resolvable too.
  const args = ARGS.map((a) => (a.startsWith('--host-resolver-rules=') ? `${a}, EXCLUDE ${SERVER_HOST}` : a));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  // The extension of the same build (as launchWithExtension loads it, with
  // those args): its id is the origin the server must allow.
  const ext = path.join(serverBuild, 'browser');
  extContext = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, viewport: { width: 420, height: 900 },
    args: [...args, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
  });
  const sw = extContext.serviceWorkers()[0] ?? await extContext.waitForEvent('serviceworker');
  extId = new URL(sw.url()).host;
  foldback = await serve(['--index', path.join(tmp, 'idx'), '--users', path.join(tmp, 'users.toml'),
    '--listen', `${SERVER_HOST}:0`, '--rate-limit', '0', '--cors-origin', pluginServer.url,
    '--cors-origin', `chrome-extension://${extId}`]);
  foldbackUrl = foldback.url;
});

after(async () => {
  await extContext?.close();
  await browser?.close();
  foldback?.proc.kill('SIGTERM');
  await pluginServer?.close();
  await defaultPlugins?.close();
  if (serverBuild) await rm(serverBuild, { recursive: true, force: true });
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function useServer(page, token) {
  await page.click('#tab-settings');
  await page.fill('#server-url', foldbackUrl);
  await page.fill('#server-token', token);
  await page.click('#save-server');
  await page.waitForFunction(() => document.querySelector('#server-message')?.dataset.kind);
  assert.equal(await page.getAttribute('#server-message', 'data-kind'), 'ok', await page.locator('#server-message').textContent());
  assert.equal(await page.inputValue('#server-token'), '', 'the token is not left in the page');
  await page.click('#tab-ask');
}

test('Word pane on a firm server: walled results from the server, hops streamed, a wrong token is a clear error', async () => {
  const context = await browser.newContext({ viewport: { width: 400, height: 900 } });
  const log = await fence(context, { officeStub: wordStub(), allowHosts: [SERVER_HOST] });
  const page = await context.newPage();
  const problems = await watchPage(page);
  try {
    await page.goto(`${pluginServer.url}/word/taskpane.html`);
    await waitReady(page);
    await setOptions(page, { hops: 2, depth: 6, topK: 6, rewrite: 'rm3' });

    // A wrong token: the server says 401, the pane says what to do.
    await useServer(page, 'not-the-token');
    await page.waitForFunction(() => document.querySelector('#corpus-status')?.dataset.server === 'true', null, { timeout: 10000 })
      .catch(async (e) => { throw new Error(`${e.message}: ${await page.locator('#corpus-status').textContent()} ${JSON.stringify(problems)}`); });
    assert.match(await page.locator('#corpus-status').textContent(), new RegExp(`Firm server ${SERVER_HOST.replace(/\./g, '\\.')}`));
    await page.fill('#question', 'termination upon written notice');
    await page.click('#ask');
    await page.waitForFunction(() => document.querySelector('#status').dataset.kind === 'error' && !document.querySelector('#ask').disabled);
    assert.match(await page.locator('#status').textContent(), /did not accept your token.*Settings/);

    // The right token: the server's results, behind alice's wall.
    await useServer(page, TOKEN);
    const question = 'Either party may terminate this Agreement upon written notice';
    const { passages } = await askAndWatch(page, question, 2);
    assert.ok(passages.length > 0, 'the server found passages');
    const docs = await page.$$eval('#results article.passage', (as) => as.map((a) => a.dataset.doc));
    assert.ok(passages.every((p) => /Matter alpha/.test(p.meta)), `every passage is from matter alpha: ${passages.map((p) => p.meta).join(' | ')}`);
    const alphaIds = new Set(alphaDocs.map((f) => f.replace(/\.txt$/, '')));
    assert.ok(docs.every((d) => [...alphaIds].some((id) => d.includes(id))), `documents of alpha only: ${docs.join(', ')}`);
    // Without the wall the same question finds beta too: the wall did the work.
    const all = await fetch(`${foldbackUrl}/v1/search?q=${encodeURIComponent(question)}&top_k=20`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    const allHits = (await all.json()).results;
    assert.ok(allHits.some((h) => h.matter === 'beta'), 'the unwalled search reaches beta');
    // The hop timeline names documents (titles from the server's events).
    assert.ok(await page.$$eval('#trace .hop-hits li', (lis) => lis.length) > 0);
    await shot(page, 'server-word-results');

    // Feedback goes to the server's log as alice's, without the token.
    await page.click('#thumb-up');
    await page.click('#save-feedback');
    await page.waitForFunction(() => document.querySelector('#feedback-saved')?.dataset.recordId);
    const recordId = await page.getAttribute('#feedback-saved', 'data-record-id');
    const serverFiles = await filesUnder(path.join(tmp, 'idx'));
    let found = false;
    for (const f of serverFiles) {
      const bytes = await readFile(f);
      assert.ok(!bytes.includes(TOKEN), `the token is not in ${path.relative(tmp, f)}`);
      if (bytes.includes(recordId)) found = true;
    }
    assert.ok(found, 'the feedback record is in the server\'s files');

    // A changed judgment replaces the earlier record on the server, as on
    // this computer's engine: the new record retires it in the same write
    // (replace_earlier).
    const live = async () => JSON.parse(await runOut(['feedback', '--index', path.join(tmp, 'idx'), '--list', '--json']));
    // A thumb clicked and saved: the new record's id, once the pane shows it.
    const judge = async (thumb, old) => {
      await page.click(thumb);
      await page.click('#save-feedback');
      await page.waitForFunction((prev) => {
        const id = document.querySelector('#feedback-saved')?.dataset.recordId;
        return id && id !== prev;
      }, old);
      return page.getAttribute('#feedback-saved', 'data-record-id');
    };
    const forgetOnServer = (token, body) => fetch(`${foldbackUrl}/v1/feedback/forget`, {
      method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const second = await judge('#thumb-down', recordId);
    assert.deepEqual((await live()).map((r) => [r.record_id, r.rating]), [[second, 'down']]);
    // The earlier record already gone (forgotten elsewhere by its author):
    // the next judgment is saved all the same.
    assert.equal((await forgetOnServer(TOKEN, { record_id: second })).status, 200);
    const third = await judge('#thumb-up', second);
    assert.deepEqual((await live()).map((r) => [r.record_id, r.rating]), [[third, 'up']]);
    // Forgetting matter alpha from the pane: alice may write to it.
    assert.equal((await forgetOnServer(ADMIN_TOKEN, { matter: 'alpha' })).status, 403,
      'admin sees alpha but may not write to it');
    await page.click('#tab-history');
    await page.fill('#forget-matter', 'alpha');
    await page.click('#forget-matter-button');
    await page.waitForFunction(() => document.querySelector('#status').dataset.kind === 'ok' && /Forgot/.test(document.querySelector('#status').textContent));
    assert.match(await page.locator('#status').textContent(), /Forgot 1 feedback record of matter alpha/);
    assert.deepEqual(await live(), []);
    await page.click('#tab-ask');
    assert.ok(!foldback.output().includes(TOKEN), 'the token is not in the server\'s output');
    assert.ok(log.every((u) => !u.includes(TOKEN)), 'the token is in no URL');

    // Back to this computer: the local (empty) engine again.
    await page.click('#tab-settings');
    await page.click('#use-local');
    await page.waitForFunction(() => document.querySelector('#corpus-status')?.dataset.server !== 'true');
    assert.deepEqual(await page.evaluate(() => window.__csp), []);
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await context.close();
  }
});

test('extension side panel on a firm server: the same walled search, the token kept by the background', async () => {
  const log = await fence(extContext, { allowHosts: [SERVER_HOST] });
  const panel = await extContext.newPage();
  const problems = await watchPage(panel);
  try {
    await panel.goto(`chrome-extension://${extId}/sidepanel.html`);
    await waitReady(panel);
    await setOptions(panel, { hops: 2, depth: 6, topK: 6, rewrite: 'rm3' });
    await useServer(panel, TOKEN);
    await panel.waitForFunction(() => document.querySelector('#corpus-status')?.dataset.server === 'true', null, { timeout: 10000 })
      .catch(async (e) => { throw new Error(`${e.message}: ${await panel.locator('#corpus-status').textContent()} ${JSON.stringify(problems)}`); });
    const asksOfAlice = async () => (await readFile(path.join(tmp, 'idx', 'audit.log'), 'utf8')).split('\n')
      .filter((l) => l.includes('"user":"alice"') && l.includes('"/v1/ask"')).length;
    const asksBefore = await asksOfAlice();
    const question = 'Either party may terminate this Agreement upon written notice';
    const { passages } = await askAndWatch(panel, question, 2);
    assert.ok(passages.length > 0, 'the server found passages');
    assert.ok(passages.every((p) => /Matter alpha/.test(p.meta)), `every passage is from matter alpha: ${passages.map((p) => p.meta).join(' | ')}`);
    // The server answered this question, as alice (the audit log names her and the ask).
    assert.equal(await asksOfAlice(), asksBefore + 1, 'the question reached the server as alice');
    const docs = await panel.$$eval('#results article.passage', (as) => as.map((a) => a.dataset.doc));
    const alphaIds = new Set(alphaDocs.map((f) => f.replace(/\.txt$/, '')));
    assert.ok(docs.every((d) => [...alphaIds].some((id) => d.includes(id))), `documents of alpha only: ${docs.join(', ')}`);
    assert.ok(log.every((u) => !u.includes(TOKEN)), 'the token is in no URL');
    assert.ok(!(await panel.content()).includes(TOKEN), 'the token is not in the side panel');
    assert.deepEqual(await panel.evaluate(() => window.__csp), []);
    assert.deepEqual(problems.pageErrors, []);
    await shot(panel, 'server-extension-results');
    // Forgetting a matter goes through the background to the server (the
    // Word test forgot alpha's feedback already: nothing left, and still
    // the server's answer).
    await panel.click('#tab-history');
    await panel.fill('#forget-matter', 'alpha');
    await panel.click('#forget-matter-button');
    await panel.waitForFunction(() => !!document.querySelector('#status').dataset.kind && /Forgot|refused|forgotten/.test(document.querySelector('#status').textContent));
    assert.match(await panel.locator('#status').textContent(), /Forgot 0 feedback records of matter alpha/);
  } finally {
    await panel.close();
  }
});

test('a build without FOLDBACK_SERVER_ORIGIN: Settings refuse the server and the CSP blocks it', async () => {
  const context = await browser.newContext({ viewport: { width: 400, height: 900 } });
  await fence(context, { officeStub: wordStub(), allowHosts: [SERVER_HOST] });
  const page = await context.newPage();
  await watchPage(page);
  try {
    await page.goto(`${defaultPlugins.url}/word/taskpane.html`);
    await waitReady(page);
    await page.click('#tab-settings');
    await page.fill('#server-url', foldbackUrl);
    await page.fill('#server-token', TOKEN);
    await page.click('#save-server');
    await page.waitForFunction(() => document.querySelector('#server-message')?.dataset.kind === 'error');
    assert.match(await page.locator('#server-message').textContent(), /built without a firm server.*FOLDBACK_SERVER_ORIGIN/);
    // Even a script of the page cannot reach it: the CSP's connect-src.
    const err = await page.evaluate(async (u) => {
      try { await fetch(`${u}/healthz`); return 'reached'; } catch (e) { return String(e); }
    }, foldbackUrl);
    assert.notEqual(err, 'reached');
    await page.waitForFunction(() => window.__csp.length > 0);
    const csp = await page.evaluate(() => window.__csp);
    assert.ok(csp.some((v) => v.startsWith('connect-src') && v.includes(SERVER_HOST)), csp.join('\n'));
  } finally {
    await context.close();
  }
});
