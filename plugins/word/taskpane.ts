// The Word task pane: "find clauses like this" from the selection, over a
// firm corpus snapshot the lawyer loads; insert a passage with its citation.

import { byId, h, replace } from '../shared/dom';
import { LocalEngine, type DocInput } from '../shared/engine-adapter';
import { openStorage } from '@foldback/core/storage';
import { ALLOWED_ORIGINS, SERVER_ORIGINS, fatal, officeReady } from '../shared/boot';
import { ServerSwitch } from '../shared/remote-engine';
import { OfficeSettingsStore } from '../shared/settings';
import { fetchServedPolicy } from '../shared/policy';
import { App } from '../shared/ui';
import { commentUnavailable, commentWithPassage, insertPassageWithCitation, questionFromSelection } from './word';

async function main(): Promise<void> {
  const root = byId('app');
  try {
    await officeReady();
  } catch (e) {
    fatal(root, (e as Error).message);
    return;
  }
  // The firm's policy, served next to this page (none when absent).
  const served = await fetchServedPolicy(new URL('foldback-settings.json', location.href).href);
  if (served.problems.length) {
    fatal(root, `foldback cannot start: the settings your firm served are not valid (${served.problems.join('; ')}). Please tell your IT.`);
    return;
  }
  const store = await openStorage({ name: 'foldback-word' });
  const localEngine = await LocalEngine.open({
    storage: store, wasmUrl: new URL('foldback_core.wasm', location.href).href, allowedOrigins: ALLOWED_ORIGINS, policy: served.policy,
  });
  const settings = new OfficeSettingsStore(store, ALLOWED_ORIGINS, served.policy, SERVER_ORIGINS);
  // This computer's engine, or the firm server when Settings (or the firm's policy) name one.
  const engine = new ServerSwitch(localEngine, () => settings.serverConfig(), SERVER_ORIGINS);
  let app: App;
  const noComments = commentUnavailable(Office.context.requirements);
  const findLikeThis = async () => {
    const text = await Word.run((context) => questionFromSelection(context as never));
    if (!text) throw new Error('Select a clause (or put the cursor in a paragraph) first.');
    return text;
  };
  app = new App(root, engine, {
    hostName: 'for Word',
    unit: ['document', 'documents'],
    questionPlaceholder: 'Select a clause and press “Find clauses like this”, or type what you are looking for.',
    questionHelpers: [{ label: 'Find clauses like this', autoAsk: true, title: 'Find clauses like the selected text (or the paragraph at the cursor)', run: findLikeThis }],
    passageActions: [
      {
        label: 'Insert with citation', title: 'Insert this passage after the selection, in a content control tagged with its source',
        async run(p) { await Word.run((context) => insertPassageWithCitation(context as never, p)); return `Inserted “${p.title}” with its citation.`; },
      },
      {
        label: 'Cite as comment', title: 'Add this passage and its source as a comment on the selection',
        ...(noComments ? { unavailable: noComments } : {}),
        async run(p) { await Word.run((context) => commentWithPassage(context as never, p, Office.context.requirements)); return 'Comment added.'; },
      },
    ],
    async renderSources(container, app) {
      const snapshot = h('input', { attrs: { type: 'file', id: 'corpus-file', 'aria-label': 'Load a corpus snapshot' } });
      const texts = h('input', { attrs: { type: 'file', id: 'text-files', accept: '.txt,.md,text/plain', multiple: true, 'aria-label': 'Add text documents' } });
      const info = h('p', { class: 'muted small', attrs: { id: 'corpus-info' } });
      const showInfo = async () => {
        const s = await engine.status();
        info.textContent = s.documents < 0
          ? `${s.corpusName}: your searches go to the firm's shared index (Settings to change).`
          : s.documents === 0
          ? 'Load your firm\'s corpus snapshot (made with the foldback CLI or exported from another pane), or add text files.'
          : `${s.corpusName || 'Local corpus'}: ${s.documents.toLocaleString('en-GB')} documents, ${s.chunks.toLocaleString('en-GB')} passages${s.vectors ? ', hybrid search' : ''}.`;
      };
      snapshot.addEventListener('change', async () => {
        const f = snapshot.files?.[0];
        if (!f) return;
        app.setStatus(`Loading ${f.name}…`);
        // The outcome is said once the pane's counts show it (the footer
        // lagged the message by a status call before).
        let said: [string, 'ok' | 'error'];
        try {
          const s = await engine.loadSnapshot(new Uint8Array(await f.arrayBuffer()), f.name);
          said = [`Loaded ${f.name}: ${s.documents} documents.`, 'ok'];
        } catch (e) {
          said = [`${f.name} could not be loaded: ${(e as Error).message}. The previous corpus is unchanged.`, 'error'];
        }
        snapshot.value = '';
        await showInfo();
        await app.refreshStatus();
        app.setStatus(...said);
      });
      texts.addEventListener('change', async () => {
        app.setStatus('Indexing…');
        const docs: DocInput[] = [];
        for (const f of [...(texts.files ?? [])]) {
          docs.push({ id: `file:${f.name}`, title: f.name.replace(/\.(txt|md)$/i, ''), text: await f.text(), kind: 'document', source: f.name });
        }
        let said: [string, 'ok' | 'error'];
        try {
          const r = await engine.index(docs);
          said = [`Added ${docs.length} document${docs.length === 1 ? '' : 's'} (${r.chunks} passages).`, 'ok'];
        } catch (e) {
          said = [(e as Error).message, 'error'];
        }
        texts.value = '';
        await showInfo();
        await app.refreshStatus();
        app.setStatus(...said);
      });
      replace(container, h('h2', null, 'Firm corpus'), info,
        h('div', { class: 'row' },
          h('span', { class: 'primary file-button' }, 'Load corpus snapshot…', snapshot),
          h('span', { class: 'secondary file-button' }, 'Add text files…', texts)));
      await showInfo();
    },
  }, settings);
  await app.start();
}

void main().catch((e) => fatal(byId('app'), `foldback could not start: ${(e as Error).message}`));
