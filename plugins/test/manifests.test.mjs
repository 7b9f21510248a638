// Manifest and page checks, offline: well-formed XML, required elements in
// the schema's order, requirement sets, least permissions, CSP, and what the
// built bundles must never contain.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { DOMParser } from '@xmldom/xmldom';
import { pathToFileURL } from 'node:url';
import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { unzipSync } from 'fflate';
import { BUILD, PLUGINS, ROOT, ensureBuilt, loadTs } from './helpers/common.mjs';

before(ensureBuilt);

function parseXml(text) {
  const errors = [];
  const doc = new DOMParser({ onError: (level, msg) => { if (level !== 'warning') errors.push(msg); } }).parseFromString(text, 'text/xml');
  assert.deepEqual(errors, [], 'well-formed XML');
  return doc;
}

const children = (el) => [...el.childNodes].filter((n) => n.nodeType === 1);
const names = (el) => children(el).map((n) => n.localName);
const child = (el, name) => children(el).find((n) => n.localName === name);
const xsiType = (el) => el.getAttributeNS('http://www.w3.org/2001/XMLSchema-instance', 'type');

/** Checks that `actual` follows the order of `sequence` (optional elements may be missing). */
function assertInOrder(actual, sequence, where) {
  let i = 0;
  for (const name of actual) {
    const at = sequence.indexOf(name, i);
    assert.ok(at >= 0, `${where}: <${name}> is out of order or not allowed (order: ${sequence.join(', ')}; found: ${actual.join(', ')})`);
    i = at + 1;
  }
}

// The apps-for-Office schema (OfficeAppManifest v1.1): base sequence, then
// the MailApp / TaskPaneApp extensions.
const BASE = ['Id', 'AlternateId', 'Version', 'ProviderName', 'DefaultLocale', 'DisplayName', 'Description', 'IconUrl',
  'HighResolutionIconUrl', 'SupportUrl', 'AppDomains', 'Hosts'];
const MAIL = [...BASE, 'Requirements', 'FormSettings', 'Permissions', 'Rule', 'DisableEntityHighlighting', 'VersionOverrides'];
const TASKPANE = [...BASE, 'Requirements', 'DefaultSettings', 'Permissions', 'Dictionary', 'VersionOverrides'];
const VO = ['Description', 'Requirements', 'Hosts', 'Resources', 'VersionOverrides', 'WebApplicationInfo', 'EquivalentAddins', 'ExtendedPermissions'];

function checkResources(root) {
  const ids = new Set([...root.getElementsByTagName('*')].filter((e) => e.parentNode && ['Images', 'Urls', 'ShortStrings', 'LongStrings'].includes(e.parentNode.localName)).map((e) => e.getAttribute('id')));
  for (const e of root.getElementsByTagName('*')) {
    const resid = e.getAttribute && e.getAttribute('resid');
    if (resid) {
      assert.ok(ids.has(resid), `resid ${resid} is defined in Resources`);
      assert.ok(resid.length <= 32, `resid ${resid} is at most 32 characters`);
    }
  }
}

async function checkUrls(text, origin, dir) {
  const urls = [...text.matchAll(/DefaultValue="(https?:[^"]+)"/g)].map((m) => m[1]);
  assert.ok(urls.length > 0);
  for (const u of urls) {
    assert.ok(u.startsWith(`${origin}/`), `${u} is served from the add-in origin`);
    const file = path.join(BUILD, new URL(u).pathname);
    assert.ok(existsSync(file), `${u} exists in the build (${path.relative(BUILD, file)})`);
  }
  void dir;
}

test('Outlook manifest: MailApp, schema order, Mailbox requirement set, ReadItem', async () => {
  const text = await readFile(path.join(BUILD, 'outlook/manifest.xml'), 'utf8');
  const root = parseXml(text).documentElement;
  assert.equal(root.localName, 'OfficeApp');
  assert.equal(root.namespaceURI, 'http://schemas.microsoft.com/office/appforoffice/1.1');
  assert.equal(xsiType(root), 'MailApp');
  const order = names(root);
  assertInOrder(order, MAIL, 'OfficeApp');
  for (const required of ['Id', 'Version', 'ProviderName', 'DefaultLocale', 'DisplayName', 'Description', 'Requirements', 'FormSettings', 'Rule']) {
    assert.ok(order.includes(required), `required <${required}>`);
  }
  assert.match(child(root, 'Id').textContent, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.match(child(root, 'Version').textContent, /^\d+(\.\d+){0,3}$/);
  assert.equal(child(root, 'Permissions').textContent, 'ReadItem', 'least permission');
  const set = child(child(child(root, 'Requirements'), 'Sets'), 'Set');
  assert.equal(set.getAttribute('Name'), 'Mailbox');
  assert.match(set.getAttribute('MinVersion'), /^1\.\d+$/);
  const form = child(child(root, 'FormSettings'), 'Form');
  assert.equal(xsiType(form), 'ItemRead');
  assert.deepEqual(names(child(form, 'DesktopSettings')), ['SourceLocation', 'RequestedHeight']);
  const h = Number(child(child(form, 'DesktopSettings'), 'RequestedHeight').textContent);
  assert.ok(h >= 32 && h <= 450, 'RequestedHeight within 32..450');
  const rule = child(root, 'Rule');
  assert.ok(['ItemIs', 'RuleCollection'].includes(xsiType(rule)));
  const vo = child(root, 'VersionOverrides');
  assert.equal(vo.namespaceURI, 'http://schemas.microsoft.com/office/mailappversionoverrides');
  assert.equal(xsiType(vo), 'VersionOverridesV1_0');
  assertInOrder(names(vo), VO, 'VersionOverrides 1.0');
  const vo11 = child(vo, 'VersionOverrides');
  assert.equal(xsiType(vo11), 'VersionOverridesV1_1');
  assertInOrder(names(vo11), VO, 'VersionOverrides 1.1');
  const sets11 = child(child(vo11, 'Requirements'), 'Sets');
  assert.equal(sets11.getAttribute('DefaultMinVersion'), '1.5', 'pinning (SupportsPinning) needs Mailbox 1.5');
  assert.equal(vo11.getElementsByTagName('SupportsPinning')[0].textContent, 'true');
  for (const action of root.getElementsByTagName('Action')) {
    assert.equal(xsiType(action), 'ShowTaskpane');
  }
  assert.equal(root.getElementsByTagName('ExtendedPermissions').length, 0);
  checkResources(root);
  await checkUrls(text, 'https://localhost:3000', 'outlook');
});

test('Word manifest: TaskPaneApp, Document host, WordApi requirement set, schema order', async () => {
  const text = await readFile(path.join(BUILD, 'word/manifest.xml'), 'utf8');
  const root = parseXml(text).documentElement;
  assert.equal(xsiType(root), 'TaskPaneApp');
  const order = names(root);
  assertInOrder(order, TASKPANE, 'OfficeApp');
  for (const required of ['Id', 'Version', 'ProviderName', 'DefaultLocale', 'DisplayName', 'Description', 'DefaultSettings', 'Permissions']) {
    assert.ok(order.includes(required), `required <${required}>`);
  }
  assert.equal(child(child(root, 'Hosts'), 'Host').getAttribute('Name'), 'Document');
  assert.equal(child(root, 'Permissions').textContent, 'ReadWriteDocument', 'reads the selection, inserts passages');
  const set = child(child(child(root, 'Requirements'), 'Sets'), 'Set');
  assert.equal(set.getAttribute('Name'), 'WordApi');
  assert.match(set.getAttribute('MinVersion'), /^1\.\d+$/);
  assert.match(child(child(root, 'DefaultSettings'), 'SourceLocation').getAttribute('DefaultValue'), /\/word\/taskpane\.html$/);
  const vo = child(root, 'VersionOverrides');
  assert.equal(vo.namespaceURI, 'http://schemas.microsoft.com/office/taskpaneappversionoverrides');
  assertInOrder(names(vo), ['Description', 'Requirements', 'Hosts', 'Resources'], 'VersionOverrides');
  const dff = vo.getElementsByTagName('DesktopFormFactor')[0];
  assertInOrder(names(dff), ['GetStarted', 'FunctionFile', 'ExtensionPoint'], 'DesktopFormFactor');
  assertInOrder(names(vo.getElementsByTagName('Control')[0]), ['Label', 'Supertip', 'Icon', 'Action'], 'Control');
  checkResources(root);
  await checkUrls(text, 'https://localhost:3000', 'word');
});

test('extension manifest: MV3, least permissions, strict CSP, files present', async () => {
  const m = JSON.parse(await readFile(path.join(BUILD, 'browser/manifest.json'), 'utf8'));
  assert.equal(m.manifest_version, 3);
  assert.ok(m.permissions.every((p) => ['activeTab', 'scripting', 'storage', 'offscreen', 'sidePanel'].includes(p)), `permissions: ${m.permissions}`);
  for (const key of ['host_permissions', 'optional_host_permissions', 'optional_permissions', 'content_scripts', 'web_accessible_resources', 'externally_connectable']) {
    assert.equal(m[key], undefined, `no ${key}`);
  }
  const csp = m.content_security_policy.extension_pages;
  const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
  assert.deepEqual(directives['script-src'], ["'self'", "'wasm-unsafe-eval'"]);
  assert.deepEqual(directives['object-src'], ["'self'"]);
  assert.deepEqual(directives['img-src'], ["'self'", 'data:']);
  assert.ok(directives['connect-src'].every((s) => s === "'self'" || /^https?:\/\/[^*]+(:\*|:\d+)?$/.test(s)), 'connect-src lists origins only');
  assert.ok(!csp.includes("'unsafe-eval'") && !csp.includes("'unsafe-inline'"));
  assert.equal(m.background.service_worker, 'background.js');
  for (const f of [m.background.service_worker, m.side_panel.default_path, 'offscreen.html', 'offscreen.js', 'sidepanel.js', 'foldback_core.wasm', ...Object.values(m.icons)]) {
    assert.ok(existsSync(path.join(BUILD, 'browser', f)), `${f} is in the extension`);
  }
});

test('pages: CSP in every task pane, no inline script, no HTML sinks or eval in the bundles', async () => {
  for (const pane of ['outlook', 'word']) {
    const html = await readFile(path.join(BUILD, pane, 'taskpane.html'), 'utf8');
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    assert.ok(meta, `${pane}: CSP meta`);
    const d = Object.fromEntries(meta[1].split(';').map((x) => x.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    assert.deepEqual(d['default-src'], ["'self'"]);
    assert.deepEqual(d['img-src'], ["'self'", 'data:']);
    assert.deepEqual(d['script-src'], ["'self'", "'wasm-unsafe-eval'", 'https://appsforoffice.microsoft.com']);
    assert.deepEqual(d['object-src'], ["'none'"]);
    assert.ok(d['connect-src'].includes("'self'"));
    assert.ok(!/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/.test(html), `${pane}: no inline script`);
    assert.ok(!/\son\w+=/.test(html), `${pane}: no inline event handlers`);
  }
  for (const dir of ['outlook', 'word', 'browser']) {
    for (const f of (await readdir(path.join(BUILD, dir))).filter((x) => x.endsWith('.js'))) {
      const js = await readFile(path.join(BUILD, dir, f), 'utf8');
      for (const sink of ['.innerHTML', '.outerHTML =', 'insertAdjacentHTML', 'document.write(', 'new Function(', 'eval(', 'insertHtml(', 'insertOoxml(', 'roamingSettings']) {
        assert.ok(!js.includes(sink), `${dir}/${f} must not contain ${sink}`);
      }
    }
  }
});

test('extension: the engine lives in the worker the offscreen document starts (its WORKERS reason), the action is not the side panel\'s', async () => {
  const worker = await readFile(path.join(BUILD, 'browser/engine-worker.js'), 'utf8');
  const offscreen = await readFile(path.join(BUILD, 'browser/offscreen.js'), 'utf8');
  const background = await readFile(path.join(BUILD, 'browser/background.js'), 'utf8');
  assert.ok(worker.includes('foldback_core.wasm') && worker.includes('foldback-browser'), 'the engine and its storage are in the worker');
  assert.ok(!offscreen.includes('foldback_core.wasm') && !offscreen.includes('createEngine'), 'not in the offscreen document');
  assert.match(offscreen, /new Worker\(new URL\("engine-worker\.js"/);
  assert.match(background, /reasons: \["WORKERS"\]/);
  assert.match(background, /openPanelOnActionClick: false/);
  assert.match(background, /chrome\.action\.onClicked\.addListener/);
});

// ------------------------------------------------------------------ requirement sets and the unified manifest

test('requirement sets: both manifests declare what the panes call without asking (shared/requirements.ts)', async () => {
  const req = await loadTs('shared/requirements.ts');
  const outlook = parseXml(await readFile(path.join(BUILD, 'outlook/manifest.xml'), 'utf8')).documentElement;
  const set = child(child(child(outlook, 'Requirements'), 'Sets'), 'Set');
  assert.deepEqual({ name: set.getAttribute('Name'), version: set.getAttribute('MinVersion') }, { ...req.OUTLOOK_MINIMUM });
  assert.equal(req.OUTLOOK_MINIMUM.version, '1.3', 'body.getAsync is Mailbox 1.3');
  const vo = child(outlook, 'VersionOverrides');
  assert.equal(child(child(vo, 'Requirements'), 'Sets').getAttribute('DefaultMinVersion'), req.OUTLOOK_MINIMUM.version);
  const word = parseXml(await readFile(path.join(BUILD, 'word/manifest.xml'), 'utf8')).documentElement;
  const wsets = child(child(word, 'Requirements'), 'Sets');
  assert.deepEqual({ name: child(wsets, 'Set').getAttribute('Name'), version: child(wsets, 'Set').getAttribute('MinVersion') }, { ...req.WORD_MINIMUM });
  assert.equal(req.WORD_MINIMUM.version, '1.3', 'paragraphs.getFirst is WordApi 1.3');
  // Everything optional is above the minimum of its host (else it needs no guard).
  const v = (x) => x.split('.').map(Number);
  for (const [feature, { name, version }] of Object.entries(req.OPTIONAL)) {
    const min = name === 'Mailbox' ? req.OUTLOOK_MINIMUM : req.WORD_MINIMUM;
    assert.equal(min.name, name, feature);
    const [a, b] = [v(version), v(min.version)];
    assert.ok(a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]), `${feature}: ${name} ${version} is above ${min.version}`);
  }
  // No pane relies on OfficeRuntime.storage (no shared runtime is declared).
  for (const pane of ['outlook', 'word']) {
    const js = await readFile(path.join(BUILD, pane, 'taskpane.js'), 'utf8');
    assert.ok(!js.includes('OfficeRuntime'), `${pane}: no OfficeRuntime.storage path`);
  }
  assert.equal(outlook.getElementsByTagName('Runtimes').length + word.getElementsByTagName('Runtimes').length, 0);
});

test('Outlook unified manifest (JSON): valid against the Microsoft 365 app manifest schema, same add-in as the XML', async () => {
  const manifest = JSON.parse(await readFile(path.join(BUILD, 'outlook/unified/manifest.json'), 'utf8'));
  const { UNIFIED_MANIFEST_VERSION } = await import(pathToFileURL(path.join(PLUGINS, 'build.mjs')).href);
  const schemaFile = path.join(ROOT, `node_modules/@microsoft/app-manifest/build/json-schemas/teams/v${UNIFIED_MANIFEST_VERSION}/MicrosoftTeams.schema.json`);
  const schema = JSON.parse(await readFile(schemaFile, 'utf8'));
  const ajv = new AjvDraft04({ allErrors: true, strict: false });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const ok = validate(manifest);
  assert.ok(ok, `schema errors: ${JSON.stringify(validate.errors, null, 1)}`);
  // The validator rejects what the schema forbids (this test can fail).
  const broken = structuredClone(manifest);
  broken.extensions[0].requirements.scopes = ['calendar'];
  delete broken.developer;
  assert.equal(validate(broken), false);
  assert.ok(validate.errors.some((e) => e.params?.missingProperty === 'developer'));
  assert.ok(validate.errors.some((e) => e.instancePath.includes('/scopes/0')));

  const xml = parseXml(await readFile(path.join(BUILD, 'outlook/manifest.xml'), 'utf8')).documentElement;
  assert.equal(manifest.id, child(xml, 'Id').textContent, 'the same add-in id');
  assert.equal(`${manifest.version}.0`, child(xml, 'Version').textContent);
  const [ext] = manifest.extensions;
  assert.deepEqual(ext.requirements.capabilities, [{ name: 'Mailbox', minVersion: '1.3' }]);
  assert.deepEqual(manifest.authorization.permissions.resourceSpecific, [{ name: 'MailboxItem.Read.User', type: 'Delegated' }], 'least permission, as ReadItem');
  assert.equal(ext.runtimes[0].code.page, 'https://localhost:3000/outlook/taskpane.html');
  assert.deepEqual(ext.ribbons[0].contexts, ['mailRead']);
  const actionIds = new Set(ext.runtimes.flatMap((r) => r.actions.map((a) => a.id)));
  for (const c of ext.ribbons.flatMap((r) => r.tabs.flatMap((t) => t.groups.flatMap((g) => g.controls)))) {
    assert.ok(actionIds.has(c.actionId), `control ${c.id} runs a declared action`);
    for (const i of c.icons) assert.ok(existsSync(path.join(BUILD, new URL(i.url).pathname)), `${i.url} is built`);
  }
  // The package's icons, at the sizes the schema documents.
  const size = async (f) => { const b = await readFile(path.join(BUILD, 'outlook/unified', f)); return [b.readUInt32BE(16), b.readUInt32BE(20)]; };
  assert.deepEqual(await size(manifest.icons.color), [192, 192]);
  assert.deepEqual(await size(manifest.icons.outline), [32, 32]);
  // The app package to upload: exactly these three files, at the root of the zip.
  const zip = unzipSync(new Uint8Array(await readFile(path.join(BUILD, 'outlook/foldback-outlook.zip'))));
  assert.deepEqual(Object.keys(zip).sort(), ['color.png', 'manifest.json', 'outline.png']);
  for (const [name, bytes] of Object.entries(zip)) {
    assert.deepEqual(Buffer.from(bytes), await readFile(path.join(BUILD, 'outlook/unified', name)), `${name} in the zip`);
  }
});

test('firm server origin: in every CSP only when configured at build time; http only on loopback', async () => {
  const { build, parseServerOrigins } = await import(pathToFileURL(path.join(PLUGINS, 'build.mjs')).href);
  const connectSrc = (csp) => csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('connect-src')).split(/\s+/).slice(1);
  const pageCsp = async (dir, pane) => /Content-Security-Policy" content="([^"]+)"/.exec(await readFile(path.join(dir, pane, 'taskpane.html'), 'utf8'))[1];
  const extCsp = async (dir) => JSON.parse(await readFile(path.join(dir, 'browser/manifest.json'), 'utf8')).content_security_policy.extension_pages;
  const origin = 'https://foldback.firm.example';
  // The default build (FOLDBACK_SERVER_ORIGIN unset, as run.sh builds it): no server origin anywhere.
  if (!process.env.FOLDBACK_SERVER_ORIGIN) {
    for (const pane of ['outlook', 'word']) assert.ok(!connectSrc(await pageCsp(BUILD, pane)).includes(origin), pane);
    assert.ok(!connectSrc(await extCsp(BUILD)).includes(origin));
  }
  const out = path.join(ROOT, 'build/plugins-origin-test');
  try {
    await build({ out, serverOrigins: [origin] });
    for (const pane of ['outlook', 'word']) assert.ok(connectSrc(await pageCsp(out, pane)).includes(origin), pane);
    assert.ok(connectSrc(await extCsp(out)).includes(origin));
    // The bundles know it too (Settings refuse any other server).
    assert.match(await readFile(path.join(out, 'word/taskpane.js'), 'utf8'), /foldback\.firm\.example/);
  } finally {
    const { rm } = await import('node:fs/promises');
    await rm(out, { recursive: true, force: true });
  }
  assert.deepEqual(parseServerOrigins('https://a.example, http://127.0.0.1:8080 ,'), ['https://a.example', 'http://127.0.0.1:8080']);
  for (const bad of ['http://foldback.firm.example', 'https://a.example/v1', 'javascript:alert(1)', "https://a.example 'unsafe-inline'"]) {
    assert.throws(() => parseServerOrigins(bad), /FOLDBACK_SERVER_ORIGIN/, bad);
  }
});
