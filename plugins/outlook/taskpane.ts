// The Outlook task pane: index the open message (and messages the lawyer
// adds), search and ask over the indexed mail, feedback.

import { byId, h, replace } from '../shared/dom';
import { LocalEngine } from '../shared/engine-adapter';
import { openStorage } from '@foldback/core/storage';
import { ALLOWED_ORIGINS, SERVER_ORIGINS, fatal, officeReady } from '../shared/boot';
import { ServerSwitch } from '../shared/remote-engine';
import { OfficeSettingsStore } from '../shared/settings';
import { fetchServedPolicy } from '../shared/policy';
import { App, documentList, formatDate } from '../shared/ui';
import { emlToDoc, followSelection, formatAddress, indexableMail, canReadFullMessage, type MailItemLike } from './mail';
import { unavailableReason } from '../shared/requirements';

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
  const store = await openStorage({ name: 'foldback-outlook' });
  const localEngine = await LocalEngine.open({
    storage: store, wasmUrl: new URL('foldback_core.wasm', location.href).href, allowedOrigins: ALLOWED_ORIGINS, policy: served.policy,
  });
  const settings = new OfficeSettingsStore(store, ALLOWED_ORIGINS, served.policy, SERVER_ORIGINS);
  // This computer's engine, or the firm server when Settings (or the firm's policy) name one.
  const engine = new ServerSwitch(localEngine, () => settings.serverConfig(), SERVER_ORIGINS);
  const mailbox = Office.context.mailbox;
  const requirements = Office.context.requirements;
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
          const { docs: found, full, fellBack } = await indexableMail(currentItem(), requirements, matter.value.trim(), Office.CoercionType.Text);
          const r = await engine.index(found);
          const parts = found.length - 1;
          app.setStatus(`Indexed “${found[0].title}”${full ? ` from the whole message${parts ? `, with ${parts} attachment${parts === 1 ? '' : 's'}` : ''}` : ''} (${r.chunks} passages).${
            fellBack ? ` Attachments were listed by name only: ${fellBack}.` : ''}`, 'ok');
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
      // What this Outlook cannot do, said once, in place of the missing behaviour.
      const limits = h('ul', { class: 'muted small limits', attrs: { id: 'client-limits' } });
      if (!canReadFullMessage(requirements)) limits.append(h('li', { data: { feature: 'fullMessage' } }, unavailableReason('fullMessage')));
      replace(container,
        h('h2', null, 'This message'), current,
        h('div', { class: 'row' }, indexBtn,
          h('span', { class: 'secondary file-button' }, 'Add .eml files…', files), matter),
        limits, docs);
      // A pinned pane follows the selection (Mailbox 1.5); elsewhere, say so.
      if (!followSelection(mailbox as never, requirements, Office.EventType.ItemChanged, () => { void showCurrent(); })) {
        limits.append(h('li', { data: { feature: 'followSelection' } }, `${unavailableReason('followSelection')} Reopen it for another message.`));
      }
      limits.hidden = limits.childElementCount === 0;
      await refreshDocs();
      await showCurrent();
    },
  }, settings);
  await app.start();
}

void main().catch((e) => fatal(byId('app'), `foldback could not start: ${(e as Error).message}`));
