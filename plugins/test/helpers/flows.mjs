// What a lawyer does in every plugin: ask, watch the trace, judge, come back.
import assert from 'node:assert/strict';

export async function waitReady(page) {
  await page.waitForSelector('#app[data-ready="true"]', { timeout: 60000 });
}

export async function status(page) {
  return page.locator('#status').textContent();
}

/** Waits for the status line to report success, failing fast on an error. */
export async function waitOk(page, pattern, timeout = 60000) {
  await page.waitForFunction((src) => {
    const el = document.querySelector('#status');
    if (!el) return false;
    if (el.dataset.kind === 'error') return true;
    return el.dataset.kind === 'ok' && new RegExp(src).test(el.textContent);
  }, pattern.source, { timeout });
  const el = page.locator('#status');
  const kind = await el.getAttribute('data-kind');
  assert.equal(kind, 'ok', `status: ${await el.textContent()}`);
}

export async function setOptions(page, { hops, depth, topK, rewrite, answer }) {
  await page.evaluate(() => { document.querySelector('#options').open = true; });
  if (hops !== undefined) await page.fill('#hops', String(hops));
  if (depth !== undefined) await page.fill('#depth', String(depth));
  if (topK !== undefined) await page.fill('#top-k', String(topK));
  for (const id of ['#hops', '#depth', '#top-k']) await page.dispatchEvent(id, 'change');
  if (rewrite) await page.click(`label[for="rewrite-${rewrite}"]`);
  if (answer !== undefined) await page.setChecked('#write-answer', answer);
  if (hops !== undefined) {
    await page.waitForFunction((n) => document.querySelector('#options-summary').textContent.startsWith(`${n} hop`), hops);
  }
}

/**
 * Asks, and records the order in which the timeline and the results appear:
 * hops must show up one by one, before the passages. `hops` is what was
 * asked for; the session may stop earlier when a hop finds nothing new (the
 * trace says so), but a multi-hop question runs at least two.
 */
export async function askAndWatch(page, question, hops) {
  await page.evaluate(() => {
    window.__order = [];
    window.__started = false;
    const seen = new Set();
    const obs = new MutationObserver(() => {
      // Only what this question shows (the previous one is on screen until it starts).
      if (!window.__started) {
        if (document.querySelector('#trace')?.dataset.state !== 'running') return;
        window.__started = true;
      }
      for (const li of document.querySelectorAll('#trace li.hop:not(.pending)')) {
        const key = `hop${li.dataset.hop}`;
        if (!seen.has(key)) { seen.add(key); window.__order.push(key); }
      }
      const results = document.querySelector('#results-section');
      if (results && !results.hidden && !seen.has('results')) { seen.add('results'); window.__order.push('results'); }
    });
    obs.observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.fill('#question', question);
  await page.click('#ask');
  await page.waitForFunction(() => {
    const s = document.querySelector('#status');
    return s && (s.dataset.kind === 'ok' || s.dataset.kind === 'error') && !document.querySelector('#ask').disabled;
  }, null, { timeout: 90000 });
  assert.equal(await page.getAttribute('#status', 'data-kind'), 'ok', `ask failed: ${await status(page)}`);
  const order = await page.evaluate(() => window.__order);
  const ran = Number(await page.getAttribute('#trace', 'data-hops'));
  assert.ok(ran >= Math.min(hops, 2) && ran <= hops, `${ran} of ${hops} hops ran`);
  if (ran < hops) assert.match(await status(page), /stopped after/, 'an early stop is said');
  const expected = [...Array.from({ length: ran }, (_, i) => `hop${i + 1}`), 'results'];
  assert.deepEqual(order, expected, 'every hop appears in the timeline, in order, before the results');
  const hopsShown = await page.$$eval('#trace li.hop', (lis) => lis.map((li) => ({
    hop: li.dataset.hop, source: li.dataset.source, query: li.querySelector('.hop-query').textContent,
    count: li.querySelector('.hop-count')?.textContent ?? '', hits: li.querySelectorAll('.hop-hits li').length,
  })));
  assert.equal(hopsShown.length, ran);
  for (const h of hopsShown) {
    assert.ok(h.query.length > 0, `hop ${h.hop} shows its query`);
    assert.match(h.count, /passage/, `hop ${h.hop} shows what it found`);
  }
  const passages = await page.$$eval('#results article.passage', (as) => as.map((a) => ({
    title: a.querySelector('.title').textContent, text: a.querySelector('.passage-text').textContent,
    marks: a.querySelectorAll('.passage-text mark').length, meta: a.querySelector('.meta').textContent,
  })));
  assert.ok(passages.length > 0, 'passages are shown');
  assert.ok(passages.some((p) => p.marks > 0), 'query terms are highlighted');
  return { hops: hopsShown, passages };
}

export const CRITIQUE = 'Missed the notice clause in the amendment; otherwise right.';
export const CORRECTED = 'Either party may terminate on ninety days written notice (clause 9.1).';

export async function giveFeedback(page) {
  await page.click('#thumb-up');
  const cards = page.locator('#results article.passage');
  await cards.nth(0).locator('button.label.relevant').click();
  if (await cards.count() > 1) await cards.nth(1).locator('button.label.not_relevant').click();
  await page.click('.more-feedback summary');
  await page.fill('#critique', CRITIQUE);
  await page.fill('#corrected-answer', CORRECTED);
  await page.check('#consent');
  await page.click('#save-feedback');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#feedback-saved')?.textContent ?? ''));
  return { labelled: Math.min(2, await cards.count()) };
}

/** After a reload: the history shows the question with its feedback, and reopening restores it. */
export async function checkFeedbackPersisted(page, question, labelled) {
  await page.reload();
  await waitReady(page);
  await page.click('#tab-history');
  const item = page.locator('#history-list li', { hasText: question }).first();
  await item.waitFor();
  const text = await item.textContent();
  assert.match(text, /Helpful/);
  assert.match(text, new RegExp(`${labelled} passages? judged`));
  assert.match(text, /Critique/);
  assert.match(text, /Corrected/);
  assert.ok(text.includes(CRITIQUE), 'the critique is shown');
  await item.locator('button.history-item').click();
  await page.waitForSelector('#results article.passage');
  assert.equal(await page.getAttribute('#thumb-up', 'aria-pressed'), 'true');
  assert.equal(await page.locator('#results article.passage').nth(0).locator('button.label.relevant').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.inputValue('#critique'), CRITIQUE);
  assert.equal(await page.inputValue('#corrected-answer'), CORRECTED);
  assert.equal(await page.isChecked('#consent'), true);
  assert.equal(await page.locator('#trace li.hop').count() > 0, true, 'the trace comes back too');
}

/** Everything a page keeps: DOM, localStorage, sessionStorage, IndexedDB (all databases). */
export async function dumpPageState(page) {
  return page.evaluate(async () => {
    const out = { dom: document.documentElement.outerHTML, local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }), idb: '' };
    const inputs = [...document.querySelectorAll('input, textarea')].map((i) => i.value).join('\n');
    out.dom += '\n' + inputs;
    const dbs = await indexedDB.databases();
    for (const { name } of dbs) {
      const db = await new Promise((res, rej) => { const r = indexedDB.open(name); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
      for (const store of db.objectStoreNames) {
        const all = await new Promise((res, rej) => { const r = db.transaction(store).objectStore(store).getAll(); r.onsuccess = () => res(r.result); r.onerror = () => rej(r.error); });
        out.idb += JSON.stringify(all, (k, v) => (v instanceof Uint8Array ? new TextDecoder('latin1').decode(v) : v));
      }
      db.close();
    }
    return out;
  });
}

/** Passages that carry planted active content render it as text, and nothing loads. */
export async function checkInert(page) {
  const imgs = await page.$$eval('#app img, #app script, #app iframe, #app object, #app a[href]', (els) => els.map((e) => e.outerHTML));
  assert.deepEqual(imgs, [], 'no image, script, frame or link element is created from document or model text');
  const csp = await page.evaluate(() => window.__csp ?? []);
  assert.deepEqual(csp, [], 'nothing even tried to load from another host');
}
