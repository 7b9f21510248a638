// Debian's Chromium under playwright-core, with the network fenced in: only
// loopback and the extension's own pages are reachable; the Office.js CDN
// URL is answered with a stub; every request is logged.
import { chromium } from 'playwright-core';
import path from 'node:path';
import { ARTIFACTS, OFFICE_JS } from './common.mjs';

export const CHROMIUM = process.env.FOLDBACK_CHROMIUM || '/usr/bin/chromium';
export const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-default-apps',
  // Belt and braces: names other than loopback never resolve.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

export function launchWithExtension(userDataDir, extensionDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 420, height: 900 },
    // --enable-unsafe-extension-debugging (with Playwright's --remote-debugging-pipe)
    // opens the DevTools protocol's Extensions domain: clickAction below.
    args: [...ARGS, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`, '--enable-unsafe-extension-debugging'],
  });
}

/**
 * Clicks the extension's toolbar button on the tab showing `url`, as a user
 * would: the DevTools protocol's Extensions.triggerAction runs the action
 * through the browser's own action runner (what the toolbar button and the
 * _execute_action shortcut call), which grants activeTab and dispatches
 * action.onClicked. Headless Chromium has no toolbar to click and does not
 * route synthetic key events to extension shortcuts, so this is the closest
 * real path; the pixels of the button are not exercised.
 */
export async function clickAction(context, extensionId, url) {
  const cdp = await context.browser().newBrowserCDPSession();
  try {
    const { targetInfos } = await cdp.send('Target.getTargets', { filter: [{ type: 'tab' }] });
    const tabs = targetInfos.filter((t) => t.url === url);
    if (tabs.length !== 1) throw new Error(`clickAction: ${tabs.length} tabs show ${url}`);
    await cdp.send('Extensions.triggerAction', { id: extensionId, targetId: tabs[0].targetId });
  } finally {
    await cdp.detach();
  }
}

/** Runtime.evaluate in any target (side panels and dedicated workers are not Playwright pages). */
async function attach(cdp, targetId) {
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: false });
  let next = 1;
  const waiting = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    if (e.sessionId !== sessionId) return;
    const m = JSON.parse(e.message);
    waiting.get(m.id)?.(m);
    waiting.delete(m.id);
  });
  const call = (method, params) => new Promise((resolve, reject) => {
    const id = next++;
    waiting.set(id, (m) => (m.error ? reject(new Error(m.error.message)) : resolve(m.result)));
    cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
  });
  const evaluate = async (expression) => {
    const r = await call('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`${targetId}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value;
  };
  return { evaluate };
}

/**
 * The extension's real side panel (not a tab showing sidepanel.html):
 * Playwright does not list side panels as pages, so this attaches to its
 * target over the DevTools protocol and evaluates expressions in it.
 */
export async function sidePanel(context, extensionId) {
  const cdp = await context.browser().newBrowserCDPSession();
  const url = `chrome-extension://${extensionId}/sidepanel.html`;
  let target;
  for (let i = 0; i < 100 && !target; i++) {
    ({ targetInfos: [target] } = await cdp.send('Target.getTargets').then(({ targetInfos }) => ({ targetInfos: targetInfos.filter((t) => t.type === 'page' && t.url === url) })));
    if (!target) await new Promise((r) => setTimeout(r, 100));
  }
  if (!target) { await cdp.detach(); return null; }
  const { evaluate } = await attach(cdp, target.targetId);
  const waitFor = async (expression, timeout = 60000) => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await evaluate(expression);
      if (v) return v;
      if (Date.now() > end) throw new Error(`side panel: timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  return { targetId: target.targetId, evaluate, waitFor, close: () => cdp.detach() };
}

/** Routes every request of the context; returns the log of URLs seen. */
export async function fence(context, { officeStub, allowHosts = [] } = {}) {
  const log = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    log.push(url);
    if (url === OFFICE_JS && officeStub) {
      return route.fulfill({ status: 200, contentType: 'text/javascript', body: officeStub });
    }
    const u = new URL(url);
    if (['chrome-extension:', 'data:', 'blob:'].includes(u.protocol) || u.hostname === '127.0.0.1' || u.hostname === 'localhost' ||
        allowHosts.includes(u.hostname)) {
      return route.continue();
    }
    return route.abort('blockedbyclient');
  });
  return log;
}

/** Records CSP violations and console errors of a page from its first script on. */
export async function watchPage(page) {
  const problems = { console: [], pageErrors: [] };
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`));
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.console.push(m.text()); });
  page.on('pageerror', (e) => problems.pageErrors.push(e.message));
  return problems;
}

export function outsideRequests(log) {
  return log.filter((u) => {
    if (u === OFFICE_JS) return false;
    const p = new URL(u);
    return !['chrome-extension:', 'data:', 'blob:'].includes(p.protocol) && p.hostname !== '127.0.0.1' && p.hostname !== 'localhost';
  });
}

export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
