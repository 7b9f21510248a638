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
    args: [...ARGS, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
  });
}

/** Routes every request of the context; returns the log of URLs seen. */
export async function fence(context, { officeStub } = {}) {
  const log = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    log.push(url);
    if (url === OFFICE_JS && officeStub) {
      return route.fulfill({ status: 200, contentType: 'text/javascript', body: officeStub });
    }
    const u = new URL(url);
    if (['chrome-extension:', 'data:', 'blob:'].includes(u.protocol) || u.hostname === '127.0.0.1' || u.hostname === 'localhost') {
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
