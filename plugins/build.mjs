#!/usr/bin/env node
// Builds the plugins into build/plugins/{outlook,word,browser}.
//
//   node plugins/build.mjs
//
// Environment:
//   FOLDBACK_WASM_PKG      the npm package (default build/wasm/package)
//   FOLDBACK_ADDIN_ORIGIN  where the Office task panes are served from
//                          (default https://localhost:3000; must be https)
//   FOLDBACK_LLM_ORIGINS   comma-separated origins LLM endpoints may have, in
//                          addition to local ones (http://127.0.0.1:*,
//                          http://localhost:*), e.g. https://llm.firm.example
//   FOLDBACK_SERVER_ORIGIN comma-separated origins of the firm's `foldback
//                          serve` (https; http only on loopback), e.g.
//                          https://foldback.firm.example. Unset: the plugins
//                          cannot reach any firm server (their CSP blocks it)
//                          and Settings say so (docs/serve.md).
//
// Each page gets a strict Content-Security-Policy: scripts from itself only
// (plus Office.js from Microsoft's CDN in the task panes, which Office
// requires), images from itself or data: URLs, connections to itself and the
// allowed LLM origins (and the firm server's, when FOLDBACK_SERVER_ORIGIN
// names one) only.
import * as esbuild from 'esbuild';
import { zipSync } from 'fflate';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const defaultOut = path.join(root, 'build/plugins');
const wasmPkg = path.resolve(root, process.env.FOLDBACK_WASM_PKG || 'build/wasm/package');
const addinOrigin = (process.env.FOLDBACK_ADDIN_ORIGIN || 'https://localhost:3000').replace(/\/+$/, '');
const version = JSON.parse(await readFile(path.join(root, 'wasm/package.json'), 'utf8')).version;

export const OFFICE_JS = 'https://appsforoffice.microsoft.com/lib/1/hosted/office.js';
// The minimum requirement sets: what the task panes call without asking
// (plugins/shared/requirements.ts says the same; everything above it is
// behind isSetSupported there). Outlook: body.getAsync is Mailbox 1.3.
// Word: paragraphs.getFirst is WordApi 1.3.
export const OUTLOOK_MINIMUM = { name: 'Mailbox', version: '1.3' };
export const WORD_MINIMUM = { name: 'WordApi', version: '1.3' };
// The unified manifest's schema version (its JSON schema ships in the npm
// package @microsoft/app-manifest; manifests.test.mjs validates against it).
export const UNIFIED_MANIFEST_VERSION = '1.25';
const OUTLOOK_ADDIN_ID = 'ca57a201-ac3f-4810-925a-ff866af87abc';
export const LOCAL_LLM_ORIGINS = ['http://127.0.0.1:*', 'http://localhost:*'];

function fail(message) {
  console.error(`plugins/build.mjs: ${message}`);
  process.exit(1);
}

if (!existsSync(path.join(wasmPkg, 'index.js')) || !existsSync(path.join(wasmPkg, 'foldback_core.wasm'))) {
  fail(`the wasm package is missing in ${wasmPkg}: build it first (cmake --build build/wasm)`);
}
if (!/^https:\/\/[a-z0-9.-]+(:\d+)?$/i.test(addinOrigin)) {
  fail(`FOLDBACK_ADDIN_ORIGIN must be an https origin such as https://addins.firm.example (got ${addinOrigin})`);
}
const extraOrigins = (process.env.FOLDBACK_LLM_ORIGINS || '').split(',').map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean);
for (const o of extraOrigins) {
  if (!/^https:\/\/[a-z0-9.-]+(:(\d+|\*))?$/i.test(o)) fail(`FOLDBACK_LLM_ORIGINS entries must be https origins (got ${o})`);
}
const allowedOrigins = [...LOCAL_LLM_ORIGINS, ...extraOrigins];

/** The firm server origins of FOLDBACK_SERVER_ORIGIN (or build({serverOrigins})), checked. */
export function parseServerOrigins(list) {
  const origins = (Array.isArray(list) ? list : String(list || '').split(','))
    .map((s) => s.trim().replace(/\/+$/, '')).filter(Boolean);
  for (const o of origins) {
    const m = /^(https?):\/\/([a-z0-9.-]+)(:(\d+|\*))?$/i.exec(o);
    const loopback = m && (/^127\.\d+\.\d+\.\d+$/.test(m[2]) || m[2] === 'localhost');
    if (!m || (m[1] === 'http' && !loopback)) {
      throw new Error(`FOLDBACK_SERVER_ORIGIN entries must be https origins such as https://foldback.firm.example (http only on loopback; got ${o})`);
    }
  }
  return origins;
}
let envServerOrigins = [];
try {
  envServerOrigins = parseServerOrigins(process.env.FOLDBACK_SERVER_ORIGIN);
} catch (e) {
  fail(e.message);
}
let serverOrigins = envServerOrigins;

function connectSrc() {
  return ["'self'", ...allowedOrigins, ...serverOrigins.filter((o) => !allowedOrigins.includes(o))].join(' ');
}

function csp({ office }) {
  const script = ["'self'", "'wasm-unsafe-eval'", ...(office ? ['https://appsforoffice.microsoft.com'] : [])];
  return [
    "default-src 'self'",
    `script-src ${script.join(' ')}`,
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connectSrc()}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-src 'none'",
  ].join('; ');
}

// MV3 extension pages: the policy must keep script-src 'self' (+ wasm) and object-src.
export const EXTENSION_CSP = () => [
  "script-src 'self' 'wasm-unsafe-eval'",
  "object-src 'self'",
  "default-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  `connect-src ${connectSrc()}`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
].join('; ');

function page({ title, script, office, cspMeta }) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
${cspMeta ? `<meta http-equiv="Content-Security-Policy" content="${csp({ office })}">\n` : ''}<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="styles.css">
${office ? `<script src="${OFFICE_JS}"></script>\n` : ''}<script type="module" src="${script}"></script>
</head>
<body>
<div id="app"><p class="loading">Starting foldback…</p></div>
</body>
</html>
`;
}

const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

function outlookManifest() {
  const u = (p) => esc(`${addinOrigin}/outlook/${p}`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- foldback for Outlook: add-in only manifest (MailApp). Least permission: ReadItem. -->
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
           xsi:type="MailApp">
  <Id>${OUTLOOK_ADDIN_ID}</Id>
  <Version>${version}.0</Version>
  <ProviderName>foldback</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="foldback"/>
  <Description DefaultValue="Search and ask across your mail, see how the search went, and tell foldback what was relevant. Runs on this computer."/>
  <IconUrl DefaultValue="${u('icon-64.png')}"/>
  <HighResolutionIconUrl DefaultValue="${u('icon-128.png')}"/>
  <SupportUrl DefaultValue="${u('taskpane.html')}"/>
  <AppDomains>
    <AppDomain>${esc(addinOrigin)}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Mailbox"/>
  </Hosts>
  <Requirements>
    <Sets>
      <Set Name="Mailbox" MinVersion="${OUTLOOK_MINIMUM.version}"/>
    </Sets>
  </Requirements>
  <FormSettings>
    <Form xsi:type="ItemRead">
      <DesktopSettings>
        <SourceLocation DefaultValue="${u('taskpane.html')}"/>
        <RequestedHeight>450</RequestedHeight>
      </DesktopSettings>
    </Form>
  </FormSettings>
  <Permissions>ReadItem</Permissions>
  <Rule xsi:type="RuleCollection" Mode="Or">
    <Rule xsi:type="ItemIs" ItemType="Message" FormType="Read"/>
  </Rule>
  <DisableEntityHighlighting>true</DisableEntityHighlighting>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides" xsi:type="VersionOverridesV1_0">
    <Requirements>
      <bt:Sets DefaultMinVersion="${OUTLOOK_MINIMUM.version}">
        <bt:Set Name="Mailbox"/>
      </bt:Sets>
    </Requirements>
    <Hosts>
      <Host xsi:type="MailHost">
        <DesktopFormFactor>
          <ExtensionPoint xsi:type="MessageReadCommandSurface">
            <OfficeTab id="TabDefault">
              <Group id="foldback.msgRead.group">
                <Label resid="Group.Label"/>
                <Control xsi:type="Button" id="foldback.msgRead.open">
                  <Label resid="Button.Label"/>
                  <Supertip>
                    <Title resid="Button.Label"/>
                    <Description resid="Button.Tooltip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="Icon.16"/>
                    <bt:Image size="32" resid="Icon.32"/>
                    <bt:Image size="80" resid="Icon.80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <SourceLocation resid="Taskpane.Url"/>
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>
        </DesktopFormFactor>
      </Host>
    </Hosts>
    <Resources>
      <bt:Images>
        <bt:Image id="Icon.16" DefaultValue="${u('icon-16.png')}"/>
        <bt:Image id="Icon.32" DefaultValue="${u('icon-32.png')}"/>
        <bt:Image id="Icon.80" DefaultValue="${u('icon-80.png')}"/>
      </bt:Images>
      <bt:Urls>
        <bt:Url id="Taskpane.Url" DefaultValue="${u('taskpane.html')}"/>
      </bt:Urls>
      <bt:ShortStrings>
        <bt:String id="Group.Label" DefaultValue="foldback"/>
        <bt:String id="Button.Label" DefaultValue="Search mail"/>
      </bt:ShortStrings>
      <bt:LongStrings>
        <bt:String id="Button.Tooltip" DefaultValue="Index this message and ask questions across the mail you indexed."/>
      </bt:LongStrings>
    </Resources>
    <VersionOverrides xmlns="http://schemas.microsoft.com/office/mailappversionoverrides/1.1" xsi:type="VersionOverridesV1_1">
      <Requirements>
        <bt:Sets DefaultMinVersion="1.5">
          <bt:Set Name="Mailbox"/>
        </bt:Sets>
      </Requirements>
      <Hosts>
        <Host xsi:type="MailHost">
          <DesktopFormFactor>
            <ExtensionPoint xsi:type="MessageReadCommandSurface">
              <OfficeTab id="TabDefault">
                <Group id="foldback.msgRead.group">
                  <Label resid="Group.Label"/>
                  <Control xsi:type="Button" id="foldback.msgRead.open">
                    <Label resid="Button.Label"/>
                    <Supertip>
                      <Title resid="Button.Label"/>
                      <Description resid="Button.Tooltip"/>
                    </Supertip>
                    <Icon>
                      <bt:Image size="16" resid="Icon.16"/>
                      <bt:Image size="32" resid="Icon.32"/>
                      <bt:Image size="80" resid="Icon.80"/>
                    </Icon>
                    <Action xsi:type="ShowTaskpane">
                      <SourceLocation resid="Taskpane.Url"/>
                      <SupportsPinning>true</SupportsPinning>
                    </Action>
                  </Control>
                </Group>
              </OfficeTab>
            </ExtensionPoint>
          </DesktopFormFactor>
        </Host>
      </Hosts>
      <Resources>
        <bt:Images>
          <bt:Image id="Icon.16" DefaultValue="${u('icon-16.png')}"/>
          <bt:Image id="Icon.32" DefaultValue="${u('icon-32.png')}"/>
          <bt:Image id="Icon.80" DefaultValue="${u('icon-80.png')}"/>
        </bt:Images>
        <bt:Urls>
          <bt:Url id="Taskpane.Url" DefaultValue="${u('taskpane.html')}"/>
        </bt:Urls>
        <bt:ShortStrings>
          <bt:String id="Group.Label" DefaultValue="foldback"/>
          <bt:String id="Button.Label" DefaultValue="Search mail"/>
        </bt:ShortStrings>
        <bt:LongStrings>
          <bt:String id="Button.Tooltip" DefaultValue="Index this message and ask questions across the mail you indexed."/>
        </bt:LongStrings>
      </Resources>
    </VersionOverrides>
  </VersionOverrides>
</OfficeApp>
`;
}

/**
 * The same Outlook add-in in the unified manifest for Microsoft 365 (JSON),
 * Microsoft's current format for Outlook: the app package is this file with
 * color.png (192x192) and outline.png (32x32) beside it, zipped.
 */
function outlookUnifiedManifest() {
  const u = (p) => `${addinOrigin}/outlook/${p}`;
  const icons = [16, 32, 80].map((size) => ({ size, url: u(`icon-${size}.png`) }));
  const mailbox = (version) => ({ capabilities: [{ name: 'Mailbox', minVersion: version }] });
  return {
    $schema: `https://developer.microsoft.com/json-schemas/teams/v${UNIFIED_MANIFEST_VERSION}/MicrosoftTeams.schema.json`,
    manifestVersion: UNIFIED_MANIFEST_VERSION,
    version,
    id: OUTLOOK_ADDIN_ID,
    developer: {
      name: 'foldback',
      websiteUrl: u('taskpane.html'),
      privacyUrl: u('taskpane.html'),
      termsOfUseUrl: u('taskpane.html'),
    },
    name: { short: 'foldback', full: 'foldback for Outlook' },
    description: {
      short: 'Search and ask across your mail, on this computer.',
      full: 'Search and ask across your mail, see how the search went, and tell foldback what was relevant. Runs on this computer.',
    },
    icons: { outline: 'outline.png', color: 'color.png' },
    accentColor: '#1F4E79',
    validDomains: [new URL(addinOrigin).host],
    // Least permission: read the item the pane is opened on.
    authorization: { permissions: { resourceSpecific: [{ name: 'MailboxItem.Read.User', type: 'Delegated' }] } },
    extensions: [{
      requirements: { scopes: ['mail'], ...mailbox(OUTLOOK_MINIMUM.version) },
      runtimes: [{
        requirements: mailbox(OUTLOOK_MINIMUM.version),
        id: 'TaskPaneRuntime',
        type: 'general',
        code: { page: u('taskpane.html') },
        lifetime: 'short',
        actions: [{ id: 'openTaskPane', type: 'openPage', pinnable: true }],
      }],
      ribbons: [{
        contexts: ['mailRead'],
        tabs: [{
          builtInTabId: 'TabDefault',
          groups: [{
            id: 'msgReadGroup',
            label: 'foldback',
            icons,
            controls: [{
              id: 'msgReadOpenPaneButton',
              type: 'button',
              label: 'Search mail',
              icons,
              supertip: { title: 'Search mail', description: 'Index this message and ask questions across the mail you indexed.' },
              actionId: 'openTaskPane',
            }],
          }],
        }],
      }],
    }],
  };
}

function wordManifest() {
  const u = (p) => esc(`${addinOrigin}/word/${p}`);
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- foldback for Word: add-in only manifest (TaskPaneApp). Reads the selection, inserts passages. -->
<OfficeApp xmlns="http://schemas.microsoft.com/office/appforoffice/1.1"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
           xmlns:bt="http://schemas.microsoft.com/office/officeappbasictypes/1.0"
           xsi:type="TaskPaneApp">
  <Id>dac16128-f5d9-4bc1-8e74-71d0755048f2</Id>
  <Version>${version}.0</Version>
  <ProviderName>foldback</ProviderName>
  <DefaultLocale>en-US</DefaultLocale>
  <DisplayName DefaultValue="foldback"/>
  <Description DefaultValue="Find clauses like the one you are drafting in your firm's precedents, and insert them with their citation."/>
  <IconUrl DefaultValue="${u('icon-32.png')}"/>
  <HighResolutionIconUrl DefaultValue="${u('icon-64.png')}"/>
  <SupportUrl DefaultValue="${u('taskpane.html')}"/>
  <AppDomains>
    <AppDomain>${esc(addinOrigin)}</AppDomain>
  </AppDomains>
  <Hosts>
    <Host Name="Document"/>
  </Hosts>
  <Requirements>
    <Sets DefaultMinVersion="${WORD_MINIMUM.version}">
      <Set Name="WordApi" MinVersion="${WORD_MINIMUM.version}"/>
    </Sets>
  </Requirements>
  <DefaultSettings>
    <SourceLocation DefaultValue="${u('taskpane.html')}"/>
  </DefaultSettings>
  <Permissions>ReadWriteDocument</Permissions>
  <VersionOverrides xmlns="http://schemas.microsoft.com/office/taskpaneappversionoverrides" xsi:type="VersionOverridesV1_0">
    <Hosts>
      <Host xsi:type="Document">
        <DesktopFormFactor>
          <FunctionFile resid="Taskpane.Url"/>
          <ExtensionPoint xsi:type="PrimaryCommandSurface">
            <OfficeTab id="TabHome">
              <Group id="foldback.home.group">
                <Label resid="Group.Label"/>
                <Icon>
                  <bt:Image size="16" resid="Icon.16"/>
                  <bt:Image size="32" resid="Icon.32"/>
                  <bt:Image size="80" resid="Icon.80"/>
                </Icon>
                <Control xsi:type="Button" id="foldback.home.open">
                  <Label resid="Button.Label"/>
                  <Supertip>
                    <Title resid="Button.Label"/>
                    <Description resid="Button.Tooltip"/>
                  </Supertip>
                  <Icon>
                    <bt:Image size="16" resid="Icon.16"/>
                    <bt:Image size="32" resid="Icon.32"/>
                    <bt:Image size="80" resid="Icon.80"/>
                  </Icon>
                  <Action xsi:type="ShowTaskpane">
                    <TaskpaneId>foldback.taskpane</TaskpaneId>
                    <SourceLocation resid="Taskpane.Url"/>
                  </Action>
                </Control>
              </Group>
            </OfficeTab>
          </ExtensionPoint>
        </DesktopFormFactor>
      </Host>
    </Hosts>
    <Resources>
      <bt:Images>
        <bt:Image id="Icon.16" DefaultValue="${u('icon-16.png')}"/>
        <bt:Image id="Icon.32" DefaultValue="${u('icon-32.png')}"/>
        <bt:Image id="Icon.80" DefaultValue="${u('icon-80.png')}"/>
      </bt:Images>
      <bt:Urls>
        <bt:Url id="Taskpane.Url" DefaultValue="${u('taskpane.html')}"/>
      </bt:Urls>
      <bt:ShortStrings>
        <bt:String id="Group.Label" DefaultValue="foldback"/>
        <bt:String id="Button.Label" DefaultValue="Find clauses"/>
      </bt:ShortStrings>
      <bt:LongStrings>
        <bt:String id="Button.Tooltip" DefaultValue="Find clauses like the selection in your firm's precedents and insert them with their citation."/>
      </bt:LongStrings>
    </Resources>
  </VersionOverrides>
</OfficeApp>
`;
}

function extensionManifest() {
  return {
    manifest_version: 3,
    name: 'foldback',
    short_name: 'foldback',
    version,
    description: 'Search and ask across the pages you index (web DMS, webmail), see how the search went, give feedback. Runs locally.',
    minimum_chrome_version: '116',
    icons: { 16: 'icon-16.png', 32: 'icon-32.png', 48: 'icon-48.png', 128: 'icon-128.png' },
    action: { default_title: 'foldback', default_icon: { 16: 'icon-16.png', 32: 'icon-32.png' } },
    side_panel: { default_path: 'sidepanel.html' },
    background: { service_worker: 'background.js', type: 'module' },
    permissions: ['activeTab', 'scripting', 'storage', 'offscreen', 'sidePanel'],
    // IT's policy (chrome.storage.managed), shared/policy.ts.
    storage: { managed_schema: 'managed_schema.json' },
    content_security_policy: { extension_pages: EXTENSION_CSP() },
  };
}

async function bundle(entry, outfile, extra = {}) {
  await esbuild.build({
    entryPoints: [path.join(here, entry)],
    outfile,
    bundle: true,
    format: 'esm',
    target: ['chrome116', 'es2022'],
    platform: 'browser',
    charset: 'utf8',
    legalComments: 'eof',
    logLevel: 'warning',
    alias: {
      '@foldback/core': path.join(wasmPkg, 'index.js'),
      '@foldback/core/storage': path.join(wasmPkg, 'storage.js'),
      '@foldback/core/host': path.join(wasmPkg, 'host.js'),
    },
    // The package reads the .wasm with node:fs only under Node; never in a page.
    external: ['node:*'],
    define: {
      __FOLDBACK_ALLOWED_ORIGINS__: JSON.stringify(allowedOrigins),
      __FOLDBACK_SERVER_ORIGINS__: JSON.stringify(serverOrigins),
      __FOLDBACK_VERSION__: JSON.stringify(version),
    },
    ...extra,
  });
}

async function common(dir) {
  await mkdir(dir, { recursive: true });
  await copyFile(path.join(wasmPkg, 'foldback_core.wasm'), path.join(dir, 'foldback_core.wasm'));
  await copyFile(path.join(here, 'shared/styles.css'), path.join(dir, 'styles.css'));
  for (const size of [16, 32, 48, 64, 80, 128]) {
    await copyFile(path.join(here, `shared/icons/icon-${size}.png`), path.join(dir, `icon-${size}.png`));
  }
}

/**
 * Builds every plugin. `options.out`: another output folder (tests);
 * `options.serverOrigins`: the firm server origins instead of
 * FOLDBACK_SERVER_ORIGIN's.
 */
export async function build(options = {}) {
  const out = options.out ? path.resolve(options.out) : defaultOut;
  serverOrigins = options.serverOrigins ? parseServerOrigins(options.serverOrigins) : envServerOrigins;
  await rm(out, { recursive: true, force: true });
  const outlook = path.join(out, 'outlook');
  const word = path.join(out, 'word');
  const browser = path.join(out, 'browser');
  for (const d of [outlook, word, browser]) await common(d);

  await bundle('outlook/taskpane.ts', path.join(outlook, 'taskpane.js'));
  await writeFile(path.join(outlook, 'taskpane.html'), page({ title: 'foldback for Outlook', script: 'taskpane.js', office: true, cspMeta: true }));
  await writeFile(path.join(outlook, 'manifest.xml'), outlookManifest());
  const unified = path.join(outlook, 'unified');
  await mkdir(unified, { recursive: true });
  await writeFile(path.join(unified, 'manifest.json'), JSON.stringify(outlookUnifiedManifest(), null, 2) + '\n');
  await copyFile(path.join(here, 'shared/icons/icon-192.png'), path.join(unified, 'color.png'));
  await copyFile(path.join(here, 'shared/icons/icon-outline-32.png'), path.join(unified, 'outline.png'));
  // The app package the admin center and Teams take: the three files at the zip's root.
  const files = {};
  for (const f of ['manifest.json', 'color.png', 'outline.png']) files[f] = new Uint8Array(await readFile(path.join(unified, f)));
  await writeFile(path.join(outlook, 'foldback-outlook.zip'), zipSync(files, { level: 9, mtime: new Date('2020-01-01T00:00:00Z') }));

  await bundle('word/taskpane.ts', path.join(word, 'taskpane.js'));
  await writeFile(path.join(word, 'taskpane.html'), page({ title: 'foldback for Word', script: 'taskpane.js', office: true, cspMeta: true }));
  await writeFile(path.join(word, 'manifest.xml'), wordManifest());

  await bundle('browser/background.ts', path.join(browser, 'background.js'));
  await bundle('browser/offscreen.ts', path.join(browser, 'offscreen.js'));
  await bundle('browser/engine-worker.ts', path.join(browser, 'engine-worker.js'));
  await bundle('browser/sidepanel.ts', path.join(browser, 'sidepanel.js'));
  await writeFile(path.join(browser, 'sidepanel.html'), page({ title: 'foldback', script: 'sidepanel.js', office: false, cspMeta: false }));
  await writeFile(path.join(browser, 'offscreen.html'), page({ title: 'foldback engine', script: 'offscreen.js', office: false, cspMeta: false }));
  await writeFile(path.join(browser, 'manifest.json'), JSON.stringify(extensionManifest(), null, 2) + '\n');
  await copyFile(path.join(here, 'browser/managed_schema.json'), path.join(browser, 'managed_schema.json'));
  return { out, allowedOrigins, serverOrigins, addinOrigin };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  const r = await build();
  console.log(`plugins built in ${Date.now() - t} ms: ${path.relative(root, r.out)}/{outlook,word,browser} (task panes served from ${r.addinOrigin}; firm server: ${r.serverOrigins.join(', ') || 'none'})`);
}
