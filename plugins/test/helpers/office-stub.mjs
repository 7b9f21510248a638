// Office.js stubs the tests serve in place of Microsoft's CDN script: the
// Outlook mailbox item and the Word object model the task panes use, with
// Office.js's load/sync contract (reading a property before load + sync
// throws), and a record of every call for the tests to inspect.
import PostalMime from 'postal-mime';

/** A mailbox item (read mode) from a real .eml file. */
export async function mailItemFromEml(bytes, index) {
  const m = await PostalMime.parse(bytes);
  const addr = (a) => ({ displayName: a?.name ?? '', emailAddress: a?.address ?? '' });
  const html = m.html ? m.html.replace(/<[^>]*>/g, ' ') : '';
  return {
    itemId: `AAMkAD-test-${index}`,
    internetMessageId: m.messageId || '',
    subject: m.subject || '',
    from: addr(m.from),
    to: (m.to ?? []).map(addr),
    cc: (m.cc ?? []).map(addr),
    dateTimeCreated: m.date || null,
    attachments: (m.attachments ?? []).map((a, i) => ({
      id: `att-${index}-${i}`, name: a.filename || 'attachment', contentType: a.mimeType,
      size: typeof a.content === 'string' ? a.content.length : a.content.byteLength,
      isInline: a.disposition === 'inline', attachmentType: 'file',
    })),
    bodyText: (m.text && m.text.trim()) ? m.text : html,
    // What getAsFileAsync (Mailbox 1.14) hands over: the message's own MIME bytes.
    mime: Buffer.from(bytes).toString('base64'),
  };
}

const COMMON = `
  const calls = [];
  const stub = (window.__officeStub = { calls, roaming: [], docSettings: [] });
  const Office = (window.Office = {
    AsyncResultStatus: { Succeeded: 'succeeded', Failed: 'failed' },
    CoercionType: { Text: 'text', Html: 'html', Ooxml: 'ooxml' },
    EventType: { ItemChanged: 'olkItemSelectedChanged' },
    HostType: { Outlook: 'Outlook', Word: 'Word' },
    onReady(cb) { const info = { host: HOST, platform: 'OfficeOnline' }; if (cb) cb(info); return Promise.resolve(info); },
    context: {
      // Versions compare part by part, as Office does (Mailbox 1.14 is above 1.5).
      requirements: { isSetSupported(name, v) {
        calls.push(['isSetSupported', name, v]);
        if (SETS[name] === undefined) return false;
        const [a, b] = String(v || '1.1').split('.').map(Number);
        const [c, d] = String(SETS[name]).split('.').map(Number);
        return a < c || (a === c && b <= d);
      } },
      // Never to be used for the key (nor anything else): recorded.
      roamingSettings: { get(k) { stub.roaming.push(['get', k]); }, set(k, v) { stub.roaming.push(['set', k, v]); }, saveAsync() { stub.roaming.push(['saveAsync']); } },
      document: { settings: { get(k) { stub.docSettings.push(['get', k]); }, set(k, v) { stub.docSettings.push(['set', k, v]); }, saveAsync() { stub.docSettings.push(['saveAsync']); } } },
    },
  });
`;

/** Office.js for Outlook: `items` from mailItemFromEml; the first is open. `sets`: what this client supports. */
export function outlookStub(items, sets = { Mailbox: '1.5' }) {
  return `(() => {
  const HOST = 'Outlook';
  const SETS = ${JSON.stringify(sets)};
  ${COMMON}
  const items = ${JSON.stringify(items)};
  let handlers = [];
  const wrap = (it) => it && ({
    itemId: it.itemId, internetMessageId: it.internetMessageId, subject: it.subject, from: it.from, to: it.to, cc: it.cc,
    dateTimeCreated: it.dateTimeCreated ? new Date(it.dateTimeCreated) : undefined, attachments: it.attachments,
    itemType: 'message',
    body: { getAsync(coercion, a, b) {
      const cb = typeof a === 'function' ? a : b;
      calls.push(['body.getAsync', coercion]);
      setTimeout(() => coercion === 'text'
        ? cb({ status: 'succeeded', value: it.bodyText })
        : cb({ status: 'failed', value: undefined, error: { message: 'only text is stubbed' } }), 5);
    } },
    // Present on every item, as in a real Office.js; only Mailbox 1.14 clients may call it.
    getAsFileAsync(a, b) {
      const cb = typeof a === 'function' ? a : b;
      calls.push(['getAsFileAsync']);
      setTimeout(() => cb({ status: 'succeeded', value: it.mime }), 5);
    },
  });
  Office.context.mailbox = {
    item: wrap(items[0]),
    addHandlerAsync(type, handler, cb) { calls.push(['addHandlerAsync', type]); handlers.push(handler); cb && cb({ status: 'succeeded' }); },
  };
  stub.select = (i) => { Office.context.mailbox.item = wrap(items[i]); handlers.forEach((h) => h({ type: 'olkItemSelectedChanged' })); };
  stub.count = items.length;
})();`;
}

/** Office.js for Word: a document whose selection the test sets. `sets`: what this client supports. */
export function wordStub(sets = { WordApi: '1.4' }) {
  return `(() => {
  const HOST = 'Word';
  const SETS = ${JSON.stringify(sets)};
  ${COMMON}
  stub.selection = '';
  stub.paragraph = '';
  stub.inserted = [];   // committed on sync, in order
  const loaded = (obj, props) => {
    const state = { pending: new Set(), ready: new Set() };
    for (const [name, get] of Object.entries(props)) {
      Object.defineProperty(obj, name, { get() {
        if (!state.ready.has(name)) throw new Error('PropertyNotLoaded: ' + name + ' (call load and sync first)');
        return get();
      } });
    }
    obj.load = (p) => { String(p).split(',').forEach((x) => state.pending.add(x.trim())); return obj; };
    return state;
  };
  window.Word = {
    async run(batch) {
      const queued = [];
      const states = [];
      const ctx = {
        async sync() { calls.push(['sync']); for (const s of states) { s.pending.forEach((p) => s.ready.add(p)); s.pending.clear(); } stub.inserted.push(...queued.splice(0)); },
        document: {
          getSelection() {
            const range = {};
            states.push(loaded(range, { text: () => stub.selection }));
            range.paragraphs = { getFirst() { const p = {}; states.push(loaded(p, { text: () => stub.paragraph })); return p; } };
            range.insertParagraph = (text, where) => {
              const para = { text, where, font: {}, kind: 'paragraph' };
              queued.push(para);
              para.insertContentControl = () => {
                const cc = { kind: 'contentControl', wraps: para, tag: '', title: '', appearance: '' };
                queued.push(cc);
                cc.insertParagraph = (t, w) => { const q = { text: t, where: w, font: {}, kind: 'paragraph' }; queued.push(q); return q; };
                return cc;
              };
              return para;
            };
            range.insertComment = (text) => { queued.push({ kind: 'comment', text }); return {}; };
            return range;
          },
        },
      };
      return batch(ctx);
    },
  };
})();`;
}
