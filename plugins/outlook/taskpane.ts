// The Outlook task pane: index the open message (and messages the lawyer
// adds), search and ask over the indexed mail, feedback.

import { byId, h, replace } from '../shared/dom';
import { LocalEngine } from '../shared/engine-adapter';
import { openStorage } from '@foldback/core/storage';
import { ALLOWED_ORIGINS, fatal, officeReady } from '../shared/boot';
import { OfficeSettingsStore } from '../shared/settings';
import { App, documentList, formatDate } from '../shared/ui';
import { emlToDoc, formatAddress, readMailItem, type MailItemLike } from './mail';

async function main(): Promise<void> {
  const root = byId('app');
  try {
    await officeReady();
  } catch (e) {
    fatal(root, (e as Error).message);
    return;
  }
  const store = await openStorage({ name: 'foldback-outlook' });
  const engine = await LocalEngine.open({
    storage: store, wasmUrl: new URL('foldback_core.wasm', location.href).href, allowedOrigins: ALLOWED_ORIGINS,
  });
  const settings = new OfficeSettingsStore(store, ALLOWED_ORIGINS);
  const mailbox = Office.context.mailbox;
  const currentItem = () => mailbox.item as unknown as MailItemLike | null;

  const app = new App(root, engine, {
    hostName: 'for Outlook',
    unit: ['message', 'messages'],
    questionPlaceholder: 'Ask about your indexed mail, e.g. "What did they agree about the delivery date?"',
    async renderSources(container, app) {
      const matter = h('input', { attrs: { id: 'matter', type: 'text', placeholder: 'Matter (optional)', autocomplete: 'off', 'aria-label': 'Matter for indexed mail' } });
      matter.value = (await store.getItem<string>('matter')) ?? '';
      matter.addEventListener('change', () => { void store.setItem('matter', matter.value.trim()); });
      const current = h('div', { attrs: { id: 'current-message' } });
      const indexBtn = h('button', { class: 'primary', attrs: { type: 'button', id: 'index-message' } }, 'Index this message');
      const files = h('input', { attrs: { type: 'file', id: 'eml-files', accept: '.eml,message/rfc822', multiple: true, 'aria-label': 'Add .eml files' } });
      const docs = h('details', { class: 'docs', attrs: { id: 'docs' } }, h('summary', null, 'Indexed messages'), h('div'));

      const refreshDocs = async () => {
        const list = await engine.documents();
        replace(docs.lastElementChild as HTMLElement, documentList(list, (id) => {
          void engine.remove(id).then(async () => { await refreshDocs(); await app.refreshStatus(); showCurrent(); });
        }));
        return list;
      };
      const showCurrent = async () => {
        const item = currentItem();
        if (!item) {
          replace(current, h('p', { class: 'muted' }, 'Select a message to index it. Pin this pane to add several.'));
          indexBtn.disabled = true;
          return;
        }
        const indexed = (await engine.documents()).some((d) => d.id === `mail:${item.internetMessageId || item.itemId}`);
        const atts = (item.attachments ?? []).filter((a) => !a.isInline);
        replace(current,
          h('div', { class: 'item-title' }, item.subject || '(no subject)'),
          h('div', { class: 'item-meta' }, [formatAddress(item.from), formatDate(item.dateTimeCreated instanceof Date ? item.dateTimeCreated.toISOString() : String(item.dateTimeCreated ?? '')),
            atts.length ? `${atts.length} attachment${atts.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(' · ')));
        indexBtn.disabled = false;
        indexBtn.textContent = indexed ? 'Re-index this message' : 'Index this message';
      };
      indexBtn.addEventListener('click', async () => {
        indexBtn.disabled = true;
        app.setStatus('Indexing the message…');
        try {
          const doc = await readMailItem(currentItem(), matter.value.trim(), Office.CoercionType.Text);
          const r = await engine.index([doc]);
          app.setStatus(`Indexed “${doc.title}” (${r.chunks} passages).`, 'ok');
        } catch (e) {
          app.setStatus((e as Error).message, 'error');
        }
        await refreshDocs();
        await app.refreshStatus();
        await showCurrent();
      });
      files.addEventListener('change', async () => {
        const picked = [...(files.files ?? [])];
        app.setStatus(`Reading ${picked.length} file${picked.length === 1 ? '' : 's'}…`);
        const docsIn = [];
        const errors: string[] = [];
        for (const f of picked) {
          try { docsIn.push(await emlToDoc(await f.arrayBuffer(), f.name, matter.value.trim())); } catch (e) { errors.push((e as Error).message); }
        }
        try {
          if (docsIn.length) {
            const r = await engine.index(docsIn);
            app.setStatus(`Added ${docsIn.length} message${docsIn.length === 1 ? '' : 's'} (${r.chunks} passages).${errors.length ? ' Skipped: ' + errors.join('; ') : ''}`, errors.length ? 'error' : 'ok');
          } else if (errors.length) {
            app.setStatus(`Nothing added: ${errors.join('; ')}`, 'error');
          }
        } catch (e) {
          app.setStatus((e as Error).message, 'error');
        }
        files.value = '';
        await refreshDocs();
        await app.refreshStatus();
      });
      replace(container,
        h('h2', null, 'This message'), current,
        h('div', { class: 'row' }, indexBtn,
          h('span', { class: 'secondary file-button' }, 'Add .eml files…', files), matter),
        docs);
      // A pinned pane follows the selection (Mailbox 1.5).
      if (Office.context.requirements?.isSetSupported?.('Mailbox', '1.5')) {
        mailbox.addHandlerAsync(Office.EventType.ItemChanged, () => { void showCurrent(); });
      }
      await refreshDocs();
      await showCurrent();
    },
  }, settings);
  await app.start();
}

void main().catch((e) => fatal(byId('app'), `foldback could not start: ${(e as Error).message}`));
