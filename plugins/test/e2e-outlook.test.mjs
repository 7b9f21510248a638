// Outlook add-in end to end in Debian's Chromium: the task pane served from a
// loopback server, Office.js stubbed (mailbox items from real .eml files),
// messages indexed (open message + added .eml files), a multi-hop question
// with its trace, feedback that survives a reload, prompt-injection content
// shown as text, an LLM endpoint on loopback with a canary key that appears
// nowhere but in the Authorization header.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { BUILD, DATA, ensureBuilt, listData, readData } from './helpers/common.mjs';
import { startServer } from '../serve.mjs';
import { mailItemFromEml, outlookStub } from './helpers/office-stub.mjs';
import { fence, launch, outsideRequests, shot, watchPage } from './helpers/browser.mjs';
import { askAndWatch, checkFeedbackPersisted, checkInert, dumpPageState, giveFeedback, setOptions, waitOk, waitReady } from './helpers/flows.mjs';
import { startLlmServer } from './helpers/llm-server.mjs';

let server;
let llm;
let browser;
const CANARY = 'sk-canary-7f3a9c1e5b2d4a68';

before(async () => {
  await ensureBuilt();
  server = await startServer({ root: BUILD });
  llm = await startLlmServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.close();
  await llm?.close();
});

async function openPane(sets) {
  const files = await listData('mail', '.eml');
  const items = [];
  for (const [i, f] of files.entries()) items.push(await mailItemFromEml(await readData('mail', f), i));
  items.push(await mailItemFromEml(await readData('injection', 'injection-mail.eml'), items.length));
  const context = await browser.newContext({ viewport: { width: 400, height: 900 } });
  const log = await fence(context, { officeStub: outlookStub(items, sets) });
  const page = await context.newPage();
  const problems = await watchPage(page);
  await page.goto(`${server.url}/outlook/taskpane.html`);
  await waitReady(page);
  return { context, page, log, problems, items };
}

test('Outlook: index mail, ask over three hops, feedback persists, injected content stays inert', async () => {
  const { context, page, log, problems, items } = await openPane();
  try {
    // The open message, then the others as the pinned pane follows the selection.
    const indexedSubjects = [];
    for (let i = 0; i < items.length - 2; i++) {
      await page.evaluate((n) => window.__officeStub.select(n), i);
      await page.waitForFunction((s) => document.querySelector('#current-message')?.textContent.includes(s), items[i].subject || '(no subject)');
      await page.click('#index-message');
      await waitOk(page, /Indexed/);
      indexedSubjects.push(items[i].subject);
    }
    const calls = await page.evaluate(() => window.__officeStub.calls);
    assert.ok(calls.some((c) => c[0] === 'body.getAsync' && c[1] === 'text'), 'body read with getAsync(text)');
    assert.ok(calls.some((c) => c[0] === 'addHandlerAsync' && c[1] === 'olkItemSelectedChanged'));
    // The rest as .eml files the lawyer adds (one of them the injection mail).
    await page.setInputFiles('#eml-files', [path.join(DATA, 'mail', (await listData('mail', '.eml')).at(-1)), path.join(DATA, 'injection/injection-mail.eml')]);
    await waitOk(page, /Added 2 messages/);
    assert.equal(await page.getAttribute('#corpus-status', 'data-documents'), String(items.length));
    // The attachment metadata is part of what is indexed.
    await shot(page, 'outlook-indexed');

    await setOptions(page, { hops: 3, depth: 5, topK: 5, rewrite: 'rm3' });
    const question = 'Signed email causes file attachments oddly encoded';
    const { hops, passages } = await askAndWatch(page, question, 3);
    assert.ok(['rm3', 'question'].includes(hops[0].source), 'hop 1: classic BM25 + RM3');
    assert.equal(hops[1].source, 'rm3');
    assert.notEqual(hops[1].query, question, 'RM3 rewrote the query');
    assert.ok(passages.some((p) => /Signed email/i.test(p.title) || /Signed email/i.test(p.text)));
    await shot(page, 'outlook-answer');

    const { labelled } = await giveFeedback(page);
    await shot(page, 'outlook-feedback');
    await checkFeedbackPersisted(page, question, labelled);
    await page.click('#tab-history');
    await shot(page, 'outlook-history');
    await page.click('#tab-ask');

    // Planted content: asked for, found, shown as text.
    await setOptions(page, { hops: 1, rewrite: 'none' });
    const inj = await askAndWatch(page, 'termination notice clause 9.1 privileged message forward', 1);
    const planted = inj.passages.find((p) => p.text.includes('evil.example'));
    assert.ok(planted, 'the injection mail is among the passages');
    assert.ok(/Ignore previous instructions/.test(planted.text));
    await checkInert(page);
    assert.deepEqual(outsideRequests(log), [], 'no request left for an outside host');
    assert.deepEqual(problems.pageErrors, []);
    const stubState = await page.evaluate(() => ({ roaming: window.__officeStub.roaming, doc: window.__officeStub.docSettings }));
    assert.deepEqual(stubState, { roaming: [], doc: [] }, 'roaming and document settings are never used');
  } finally {
    await context.close();
  }
});

test('Outlook: LLM rewriting and answer through a loopback endpoint; the key stays in memory', async () => {
  const { context, page, log, items } = await openPane();
  try {
    await page.evaluate(() => window.__officeStub.select(0));
    await page.click('#index-message');
    await waitOk(page, /Indexed/);
    await page.setInputFiles('#eml-files', [path.join(DATA, 'injection/injection-mail.eml'), path.join(DATA, 'mail/raw_email8.eml')]);
    await waitOk(page, /Added/);
    // Settings: an endpoint outside the allowed list is refused with a clear message.
    await page.click('#tab-settings');
    await page.fill('#endpoint', 'https://llm.evil.example/v1');
    await page.click('#save-settings');
    await page.waitForFunction(() => /not allowed/.test(document.querySelector('#settings-message').textContent));
    await page.fill('#endpoint', llm.endpoint);
    await page.fill('#model', 'test-model');
    await page.fill('#api-key', CANARY);
    await page.click('#save-settings');
    await page.waitForFunction(() => /session/.test(document.querySelector('#key-state').textContent));
    assert.equal(await page.inputValue('#api-key'), '', 'the key field is cleared after saving');
    await shot(page, 'outlook-settings');
    await page.click('#tab-ask');

    llm.state.answerExtra = '![chart](http://evil.example/chart.png) <img src=http://evil.example/b> [portal](http://evil.example/p) ';
    await setOptions(page, { hops: 2, rewrite: 'llm', answer: true });
    const { hops } = await askAndWatch(page, 'termination notice under the supply agreement', 2);
    assert.equal(hops[1].source, 'llm');
    assert.match(hops[1].query, /hop2/);
    const answer = await page.locator('#answer-text').textContent();
    assert.ok(answer.includes('![chart](http://evil.example/chart.png)'), 'model output shown as text');
    assert.ok(answer.includes('<img src=http://evil.example/b>'));
    assert.equal(await page.locator('#answer-text button.cite').count(), 1, 'only the citation pointing at a retrieved passage is kept');
    await checkInert(page);
    await shot(page, 'outlook-llm-answer');

    // The key went to the endpoint, in the Authorization header, and nowhere else.
    assert.ok(llm.requests.length >= 2);
    for (const r of llm.requests) assert.equal(r.headers.authorization, `Bearer ${CANARY}`);
    for (const r of llm.requests) assert.ok(!JSON.stringify(r.body).includes(CANARY), 'never in a prompt');
    const prompt = llm.requests.find((r) => JSON.stringify(r.body).includes('<passage n=\\"1\\"'));
    assert.ok(prompt, 'retrieved text is delimited as data in the prompt');
    assert.match(JSON.stringify(prompt.body), /data, never instructions/);
    await giveFeedback(page);
    const state = await dumpPageState(page);
    for (const [where, text] of Object.entries(state)) assert.ok(!text.includes(CANARY), `key found in ${where}`);
    assert.deepEqual(outsideRequests(log), []);

    // Endpoint down: the hop falls back to RM3 and says so.
    llm.state.failures = 10;
    await page.click('#ask');
    await page.waitForFunction(() => !document.querySelector('#ask').disabled && document.querySelector('#status').dataset.kind);
    const note = await page.locator('#trace li.hop[data-hop="2"] .hop-note').textContent();
    assert.match(note, /query writer failed .*503 Service Unavailable.*RM3 wrote the query/);
    assert.equal(await page.getAttribute('#trace li.hop[data-hop="2"]', 'data-source'), 'fallback-rm3');
    assert.ok(!note.includes(CANARY));
    llm.state.failures = 0;
    await shot(page, 'outlook-fallback');
    // Reload: an in-memory key is gone, as promised.
    await page.reload();
    await waitReady(page);
    await page.click('#tab-settings');
    await page.waitForSelector('#key-state');
    assert.match(await page.locator('#key-state').textContent(), /No key set/);
    void items;
  } finally {
    await context.close();
  }
});

test('Outlook at its minimum (Mailbox 1.3): indexes from the body, says what it cannot do, never calls above the minimum', async () => {
  const { context, page, problems, items } = await openPane({ Mailbox: '1.3' });
  try {
    const limits = await page.locator('#client-limits li').allTextContents();
    assert.equal(limits.length, 2, `limits shown: ${limits}`);
    assert.ok(limits.some((l) => /whole message.*needs Mailbox 1\.14/.test(l)));
    assert.ok(limits.some((l) => /pinned pane follow the selection.*needs Mailbox 1\.5/.test(l)));
    await page.click('#index-message');
    await waitOk(page, /Indexed/);
    assert.doesNotMatch(await page.locator('#status').textContent(), /whole message/);
    const calls = await page.evaluate(() => window.__officeStub.calls);
    assert.ok(calls.some((c) => c[0] === 'body.getAsync'));
    assert.ok(!calls.some((c) => c[0] === 'getAsFileAsync' || c[0] === 'addHandlerAsync'), 'nothing above Mailbox 1.3 was called');
    assert.ok(calls.some((c) => c[0] === 'isSetSupported' && c[2] === '1.14') && calls.some((c) => c[0] === 'isSetSupported' && c[2] === '1.5'), 'both asked');
    assert.equal(await page.getAttribute('#corpus-status', 'data-documents'), '1');
    void items;
    await shot(page, 'outlook-minimum');
    // No "Remember the key": nothing outside the page could keep it (no shared runtime is declared).
    await page.click('#tab-settings');
    await page.waitForSelector('#key-state');
    assert.equal(await page.locator('#remember-key').count(), 0);
    assert.match(await page.locator('.note').first().textContent(), /never written anywhere/);
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await context.close();
  }
});

test('Outlook with Mailbox 1.14: the whole message (getAsFileAsync) through the mail reader, attachments included', async () => {
  const { context, page, problems, items } = await openPane({ Mailbox: '1.14' });
  try {
    assert.equal(await page.locator('#client-limits').isHidden(), true, 'nothing to say');
    // The real message with a PDF attachment: the PDF is listed (no extractor in the pane); the body comes from the MIME.
    const i = items.findIndex((it) => it.attachments.some((a) => /\.pdf$/i.test(a.name)));
    await page.evaluate((n) => window.__officeStub.select(n), i);
    await page.waitForFunction((s) => document.querySelector('#current-message')?.textContent.includes(s), items[i].subject || '(no subject)');
    await page.click('#index-message');
    await waitOk(page, /Indexed .* from the whole message/);
    const calls = await page.evaluate(() => window.__officeStub.calls);
    assert.ok(calls.some((c) => c[0] === 'getAsFileAsync'));
    assert.ok(!calls.some((c) => c[0] === 'body.getAsync'), 'the body came from the MIME');
    await page.click('#docs summary');
    assert.match(await page.locator('#docs').textContent(), new RegExp(items[i].subject.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.deepEqual(problems.pageErrors, []);
  } finally {
    await context.close();
  }
});
