// Task-pane logic against office-addin-mock's Office.js mocks (Node, no browser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OfficeMockObject } from 'office-addin-mock';
import { listData, loadTs, readData } from './helpers/common.mjs';

const mail = await loadTs('outlook/mail.ts');
const word = await loadTs('word/word.ts');

function mailbox(item) {
  return new OfficeMockObject({ host: 'outlook', context: { mailbox: { item } } });
}

const ITEM = {
  itemId: 'AAMk-1',
  internetMessageId: '<abc@firm.example>',
  subject: 'Re: Termination notice',
  from: { displayName: 'Jane Partner', emailAddress: 'jane@firm.example' },
  to: [{ displayName: 'Client', emailAddress: 'gc@client.example' }],
  cc: [],
  dateTimeCreated: new Date('2024-05-02T10:00:00Z'),
  attachments: [{ name: 'notice.pdf', contentType: 'application/pdf', size: 20480, isInline: false }, { name: 'logo.png', size: 100, isInline: true }],
  body: { getAsync(coercion, cb) { cb({ status: 'succeeded', value: coercion === 'text' ? 'We accept the 90 day notice period.' : '<p>html</p>' }); } },
};

test('Outlook: the open message becomes a document (body as text, envelope, attachments)', async () => {
  const office = mailbox(ITEM);
  const doc = await mail.readMailItem(office.context.mailbox.item, 'acme-2024', 'text');
  assert.equal(doc.id, 'mail:<abc@firm.example>');
  assert.equal(doc.title, 'Re: Termination notice');
  assert.equal(doc.kind, 'email');
  assert.equal(doc.matter, 'acme-2024');
  assert.equal(doc.from, 'Jane Partner <jane@firm.example>');
  assert.deepEqual(doc.to, ['Client <gc@client.example>']);
  assert.equal(doc.date, '2024-05-02T10:00:00.000Z');
  assert.deepEqual(doc.attachments, [{ name: 'notice.pdf', contentType: 'application/pdf', size: 20480 }]);
  assert.match(doc.text, /^Re: Termination notice\n\nWe accept the 90 day notice period\./);
  assert.match(doc.text, /Attachments: notice\.pdf \(20 KB\)/);
  assert.ok(!doc.text.includes('logo.png'), 'inline images are not attachments');
});

test('Outlook: failures give clear errors', async () => {
  await assert.rejects(mail.readMailItem(null), /No message is open/);
  const failing = { ...ITEM, body: { getAsync(c, cb) { cb({ status: 'failed', value: undefined, error: { message: 'Internal error' } }); } } };
  await assert.rejects(mail.readMailItem(mailbox(failing).context.mailbox.item), /could not read the message body: Internal error/);
  const draft = { ...ITEM, internetMessageId: undefined, itemId: undefined };
  await assert.rejects(mail.readMailItem(mailbox(draft).context.mailbox.item), /no Internet message id/);
});

test('Outlook: .eml files the lawyer adds (real messages from the mail gem)', async () => {
  for (const f of await listData('mail', '.eml')) {
    const doc = await mail.emlToDoc(await readData('mail', f), f);
    assert.ok(doc.id.startsWith('mail:'), f);
    assert.ok(doc.text.length > 0, f);
    assert.equal(doc.kind, 'email');
  }
  const pdf = await mail.emlToDoc(await readData('mail', 'attachment_pdf.eml'), 'attachment_pdf.eml');
  assert.ok(pdf.attachments.some((a) => a.name.endsWith('.pdf')), 'attachment metadata kept');
  const inj = await mail.emlToDoc(await readData('injection', 'injection-mail.eml'), 'injection-mail.eml');
  assert.ok(!inj.text.includes('developer mode'), 'text hidden with display:none is not indexed');
  assert.ok(!inj.text.includes('document.cookie'), 'scripts are not text');
  assert.ok(inj.text.includes('<img src=http://evil.example/x>'), 'escaped markup stays as literal text');
  await assert.rejects(mail.emlToDoc(new Uint8Array(0), 'empty.eml'), /empty\.eml is empty/);
  await assert.rejects(mail.emlToDoc(new TextEncoder().encode('just some words, no headers'), 'notes.txt'), /no mail headers/);
});

function wordContext({ selection, paragraph, comments = true }) {
  const inserted = [];
  const range = {
    text: selection,
    paragraphs: { getFirst: () => paragraphMock(paragraph) },
    insertParagraph(text, where) {
      const p = paragraphMock(text);
      inserted.push({ kind: 'paragraph', text, where, p });
      p.insertContentControl = () => {
        const cc = { tag: '', title: '', appearance: '', cannotEdit: false };
        inserted.push({ kind: 'contentControl', cc });
        cc.insertParagraph = (t, w) => { const q = paragraphMock(t); inserted.push({ kind: 'paragraph', text: t, where: w, p: q }); return q; };
        return cc;
      };
      return p;
    },
  };
  if (comments) range.insertComment = (text) => { inserted.push({ kind: 'comment', text }); };
  const mock = new OfficeMockObject({ host: 'word', context: { document: { range } } });
  // getSelection returns the mocked range (load/sync tracked by office-addin-mock).
  mock.context.document.getSelection = () => mock.context.document.range;
  return { context: mock.context, inserted };
}
function paragraphMock(text) {
  return { text, font: { italic: false, size: 11, color: '' }, load() {} };
}

test('Word: the selection is the question; an empty selection falls back to the paragraph', async () => {
  const { context } = wordContext({ selection: '  Either party may terminate\n on notice.  ', paragraph: 'unused' });
  assert.equal(await word.questionFromSelection(context), 'Either party may terminate on notice.');
  const empty = wordContext({ selection: '', paragraph: 'The Supplier shall indemnify the Customer.' });
  assert.equal(await word.questionFromSelection(empty.context), 'The Supplier shall indemnify the Customer.');
});

test('Word: reading the selection without load + sync fails (the mock enforces it)', async () => {
  const { context } = wordContext({ selection: 'x', paragraph: '' });
  const range = context.document.getSelection();
  assert.notEqual(range.text, 'x', 'office-addin-mock hides unloaded properties');
});

const PASSAGE = { chunkId: 'nda-7#3', docId: 'nda-7', title: 'Mutual NDA (Acme)', section: '9. Term', matter: 'acme', text: 'Either party may terminate on 30 days notice.', score: 1, date: '2021-03-04T00:00:00Z' };

test('Word: a passage goes in as plain text in a tagged content control, then its citation', async () => {
  const { context, inserted } = wordContext({ selection: 'x', paragraph: '' });
  await word.insertPassageWithCitation(context, PASSAGE);
  assert.equal(inserted[0].kind, 'paragraph');
  assert.equal(inserted[0].text, PASSAGE.text);
  assert.equal(inserted[0].where, 'After');
  const cc = inserted[1].cc;
  assert.equal(cc.tag, 'foldback:nda-7#3');
  assert.equal(cc.title, 'Source: Mutual NDA (Acme), 9. Term, matter acme, 2021-03-04');
  assert.equal(inserted[2].text, cc.title);
  assert.equal(inserted[2].p.font.italic, true);
  const long = { ...PASSAGE, chunkId: 'x'.repeat(400) };
  const again = wordContext({ selection: '', paragraph: '' });
  await word.insertPassageWithCitation(again.context, long);
  assert.equal(again.inserted[1].cc.tag.length, 255, 'tags are capped at 255 characters');
});

test('Word: cite as comment; a clear error where comments are not available', async () => {
  const { context, inserted } = wordContext({ selection: 'clause', paragraph: '' });
  await word.commentWithPassage(context, PASSAGE, requirementsAt({ WordApi: '1.4' }));
  assert.match(inserted[0].text, /^Source: Mutual NDA \(Acme\)/);
  const old = wordContext({ selection: 'clause', paragraph: '', comments: false });
  await assert.rejects(word.commentWithPassage(old.context, PASSAGE, requirementsAt({ WordApi: '1.4' })), /WordApi 1\.4/);
});

// ------------------------------------------------------------------ requirement-set guards, at the declared minimum

const req = await loadTs('shared/requirements.ts');

/** Office.context.requirements of a client that supports `sets` ({ Mailbox: '1.3' }), compared part by part (1.14 > 1.5). */
function requirementsAt(sets) {
  const parts = (v) => String(v ?? '1.1').split('.').map(Number);
  const asked = [];
  return {
    asked,
    isSetSupported(name, version) {
      asked.push([name, version]);
      if (!(name in sets)) return false;
      const [a, b] = parts(version);
      const [c, d] = parts(sets[name]);
      return a < c || (a === c && b <= d);
    },
  };
}
/** office-addin-mock's Office object for a client at `sets`. */
function officeAt(host, sets, context = {}) {
  return new OfficeMockObject({ host, context: { requirements: requirementsAt(sets), ...context } });
}
const MIN_OUTLOOK = { Mailbox: req.OUTLOOK_MINIMUM.version };
const MIN_WORD = { WordApi: req.WORD_MINIMUM.version };

test('requirements: the client is asked, versions compare part by part, a throwing or missing API means no', () => {
  assert.equal(req.supports(requirementsAt({ Mailbox: '1.5' }), 'fullMessage'), false, '1.14 is above 1.5');
  assert.equal(req.supports(requirementsAt({ Mailbox: '1.14' }), 'followSelection'), true);
  assert.equal(req.supports(undefined, 'comments'), false);
  assert.equal(req.supports({ isSetSupported() { throw new Error('boom'); } }, 'comments'), false);
  const r = requirementsAt(MIN_WORD);
  req.supports(r, 'comments');
  assert.deepEqual(r.asked, [['WordApi', '1.4']]);
});

test('guard Mailbox 1.5 (a pinned pane follows the selection): at the minimum no handler, and the reason; at 1.5 the handler', () => {
  for (const [sets, expected] of [[MIN_OUTLOOK, false], [{ Mailbox: '1.5' }, true]]) {
    const added = [];
    const office = officeAt('outlook', sets, { mailbox: { item: ITEM } });
    const mailboxLike = { addHandlerAsync: (type, handler) => added.push([type, handler]) };
    const followed = mail.followSelection(mailboxLike, office.context.requirements, 'olkItemSelectedChanged', () => {});
    assert.equal(followed, expected, `Mailbox ${sets.Mailbox}`);
    assert.equal(added.length, expected ? 1 : 0);
  }
  assert.match(req.unavailableReason('followSelection'), /needs Mailbox 1\.5/);
});

/** A message with every kind of part, as Outlook's getAsFileAsync returns it (MIME, base64). */
function generatedMime() {
  const inner = [
    'From: Counsel <counsel@other.example>', 'To: Jane Partner <jane@firm.example>', 'Subject: Draft side letter',
    'Message-ID: <inner-1@other.example>', 'Date: Tue, 30 Apr 2024 09:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="in"', '',
    '--in', 'Content-Type: text/plain; charset=utf-8', '', 'The side letter caps liability at twelve months of fees.', '',
    '--in', 'Content-Type: text/plain; charset=utf-8', 'Content-Disposition: attachment; filename="cap-table.txt"', '',
    'Liability cap schedule: twelve months of fees, excluding indemnities.', '', '--in--', '',
  ].join('\r\n');
  const lines = [
    'From: Jane Partner <jane@firm.example>', 'To: Client <gc@client.example>', 'Subject: Re: Termination notice',
    'Message-ID: <abc@firm.example>', 'Date: Thu, 02 May 2024 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"', '',
    '--b', 'Content-Type: text/plain; charset=utf-8', '', 'We accept the 90 day notice period.', '',
    '--b', 'Content-Type: text/plain; charset=utf-8', 'Content-Disposition: attachment; filename="notice-terms.txt"', '',
    'Notice must be given in writing ninety days before the renewal date.', '',
    '--b', 'Content-Type: text/html; charset=utf-8', 'Content-Disposition: attachment; filename="summary.html"', '',
    '<p>Summary: <b>renewal</b> is automatic.</p><p style="display:none">HIDDEN-ATTACHMENT-TEXT</p>', '',
    '--b', 'Content-Type: application/pdf', 'Content-Disposition: attachment; filename="notice.pdf"', 'Content-Transfer-Encoding: base64', '',
    Buffer.from('%PDF-1.4 not read in the pane').toString('base64'), '',
    '--b', 'Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="side-letter.eml"', '', inner,
    '--b--', '',
  ];
  return Buffer.from(lines.join('\r\n')).toString('base64');
}

test('guard Mailbox 1.14 (the whole message): at the minimum, the body as text and getAsFileAsync never called', async () => {
  let fileCalls = 0;
  const item = { ...ITEM, getAsFileAsync(cb) { fileCalls++; cb({ status: 'succeeded', value: generatedMime() }); } };
  const office = officeAt('outlook', MIN_OUTLOOK, { mailbox: { item } });
  assert.equal(mail.canReadFullMessage(office.context.requirements), false);
  const r = await mail.indexableMail(office.context.mailbox.item, office.context.requirements, 'acme', 'text');
  assert.equal(fileCalls, 0, 'Mailbox 1.14 is not assumed');
  assert.equal(r.full, false);
  assert.equal(r.docs.length, 1);
  assert.match(r.docs[0].text, /We accept the 90 day notice period/);
  assert.match(req.unavailableReason('fullMessage'), /needs Mailbox 1\.14/);
});

test('guard Mailbox 1.14: the full MIME through the mail reader, attachments (and an embedded message) as child documents', async () => {
  let fileCalls = 0;
  const item = { ...ITEM, getAsFileAsync(cb) { fileCalls++; cb({ status: 'succeeded', value: generatedMime() }); } };
  const office = officeAt('outlook', { Mailbox: '1.14' }, { mailbox: { item } });
  const r = await mail.indexableMail(office.context.mailbox.item, office.context.requirements, 'acme', 'text');
  assert.equal(fileCalls, 1);
  assert.equal(r.full, true);
  const [message, ...parts] = r.docs;
  assert.equal(message.id, 'mail:<abc@firm.example>', 'the id the pane knows the message by');
  assert.equal(message.parentId, undefined);
  assert.match(message.text, /We accept the 90 day notice period/);
  assert.deepEqual(message.attachments.map((a) => a.name).sort(), ['notice-terms.txt', 'notice.pdf', 'side-letter.eml', 'summary.html']);
  const byName = Object.fromEntries(parts.map((d) => [d.source.split(' › ').pop(), d]));
  assert.deepEqual(Object.keys(byName).sort(), ['cap-table.txt', 'notice-terms.txt', 'side-letter.eml', 'summary.html'], 'the PDF is listed, not read');
  assert.match(byName['notice-terms.txt'].text, /ninety days before the renewal date/);
  assert.equal(byName['notice-terms.txt'].parentId, message.id);
  assert.equal(byName['notice-terms.txt'].matter, 'acme');
  assert.match(byName['summary.html'].text, /renewal is automatic/i);
  assert.ok(!byName['summary.html'].text.includes('HIDDEN-ATTACHMENT-TEXT'), 'hidden HTML is not indexed');
  const embedded = byName['side-letter.eml'];
  assert.equal(embedded.kind, 'email');
  assert.equal(embedded.parentId, message.id);
  assert.match(embedded.text, /caps liability at twelve months/);
  assert.equal(byName['cap-table.txt'].parentId, embedded.id, "the embedded message's attachment hangs under it");
  assert.equal(new Set(r.docs.map((d) => d.id)).size, r.docs.length, 'ids are unique');
  // The CLI mail reader's scheme: <message id>/att-<n>-<name>, nested under an embedded message.
  assert.equal(byName['notice-terms.txt'].id, 'mail:<abc@firm.example>/att-1-notice-terms.txt');
  assert.equal(embedded.id, 'mail:<abc@firm.example>/att-4-side-letter.eml');
  assert.match(byName['cap-table.txt'].id, /^mail:<abc@firm\.example>\/att-4-side-letter\.eml\/att-1-cap-table\.txt$/);
  assert.equal(mail.idSafeName('a/b\\c#d\u0001e'), 'a_b_c_d_e');
});

test('guard Mailbox 1.14: when Outlook refuses the file, the body as text, and the reason', async () => {
  const item = { ...ITEM, getAsFileAsync(cb) { cb({ status: 'failed', value: undefined, error: { message: 'The item is too large' } }); } };
  const office = officeAt('outlook', { Mailbox: '1.14' }, { mailbox: { item } });
  const r = await mail.indexableMail(office.context.mailbox.item, office.context.requirements, '', 'text');
  assert.equal(r.full, false);
  assert.match(r.fellBack, /could not read the whole message: The item is too large/);
  assert.match(r.docs[0].text, /We accept the 90 day notice period/);
  await assert.rejects(mail.indexableMail(null, office.context.requirements), /No message is open/);
});

test('guard WordApi 1.4 (comments): at the minimum the action is unavailable with its reason and nothing is inserted, even where the range has insertComment', async () => {
  const office = officeAt('word', MIN_WORD);
  const why = word.commentUnavailable(office.context.requirements);
  assert.match(why, /cannot add comments.*needs WordApi 1\.4/);
  const { context, inserted } = wordContext({ selection: 'clause', paragraph: '' });
  await assert.rejects(word.commentWithPassage(context, PASSAGE, office.context.requirements), /needs WordApi 1\.4/);
  assert.deepEqual(inserted, []);
  // The other Word calls work at the minimum: the selection and the paragraph fallback (WordApi 1.3).
  const empty = wordContext({ selection: '', paragraph: 'The Supplier shall indemnify the Customer.' });
  assert.equal(await word.questionFromSelection(empty.context), 'The Supplier shall indemnify the Customer.');
  const at14 = officeAt('word', { WordApi: '1.4' });
  assert.equal(word.commentUnavailable(at14.context.requirements), undefined);
  await word.commentWithPassage(context, PASSAGE, at14.context.requirements);
  assert.equal(inserted.filter((x) => x.kind === 'comment').length, 1);
});
