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
  await word.commentWithPassage(context, PASSAGE);
  assert.match(inserted[0].text, /^Source: Mutual NDA \(Acme\)/);
  const old = wordContext({ selection: 'clause', paragraph: '', comments: false });
  await assert.rejects(word.commentWithPassage(old.context, PASSAGE), /WordApi 1\.4/);
});
