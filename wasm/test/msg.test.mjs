// Outlook .msg from JS: the core's reader through embind (readMsg,
// engine.addMsg) on the generated files (tests/data/msg/generated, written
// by make_msg.py) and the real Outlook message (tests/data/msg/mail-parser).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const pkg = process.env.FOLDBACK_WASM_PKG || path.join(root, 'build/wasm/package/index.js');
const { createEngine, readMsg, FoldbackError } = await import(pkg);
const gen = (name) => readFile(path.join(root, 'tests/data/msg/generated', name));

test('every property of a generated message', async () => {
  const r = await readMsg(await gen('all_properties.msg'), { name: 'all_properties.msg', id: 'm' });
  assert.equal(r.format, 'msg');
  const [msg, inner] = r.documents;
  assert.equal(msg.id, 'm');
  assert.equal(msg.kind, 'email');
  assert.equal(msg.title, 'Übernahme – Entwurf SPA §4');
  assert.equal(msg.text, 'Dear Bob,\n\nplease find the draft share purchase agreement (€ 2.5m) attached.\n\nAlice');
  assert.deepEqual(msg.metadata.from, ['alice.aerger@lawfirm.example']);
  assert.deepEqual(msg.metadata.from_name, ['Alice Ärger']);
  assert.deepEqual(msg.metadata.to, ['bob@client.example', 'exch.person@lawfirm.example']);
  assert.deepEqual(msg.metadata.cc, ['cathy@client.example']);
  assert.deepEqual(msg.metadata.bcc, ['blind@lawfirm.example']);
  assert.deepEqual(msg.metadata.sent, ['2023-11-05T14:30:15Z']);
  assert.deepEqual(msg.metadata.date, ['2023-11-05']);
  assert.deepEqual(msg.metadata.message_id, ['abc-123@lawfirm.example']);
  assert.deepEqual(msg.metadata.references, ['root-0@client.example', 'prev-1@client.example']);
  // The embedded message, linked to its parent.
  assert.equal(inner.id, 'm/att-4-Fwd: Meridian escrow terms');
  assert.equal(inner.parentId, 'm');
  assert.equal(inner.text, 'The escrow releases on closing.\nSee the attached schedule.');
  // Text attachments became documents; the HTML one is left to the page, with its bytes.
  const notes = r.documents.find((d) => d.id === 'm/att-1-notes.txt');
  assert.ok(notes);
  assert.equal(notes.parentId, 'm');
  assert.match(notes.text, /Closing checklist/);
  assert.deepEqual(notes.metadata.from, ['alice.aerger@lawfirm.example']);
  assert.deepEqual(notes.metadata.content_type, ['text/plain']);
  const innerNotes = r.documents.find((d) => d.id === 'm/att-4-Fwd: Meridian escrow terms/att-1-inner-notes.txt');
  assert.equal(innerNotes.parentId, inner.id);
  assert.deepEqual(r.attachments.map((a) => a.id), ['m/att-3-memo.html']);
  assert.equal(r.attachments[0].mimeType, 'text/html');
  assert.ok(r.attachments[0].data instanceof Uint8Array);
  assert.match(new TextDecoder().decode(r.attachments[0].data), /Limitation of liability/);
  assert.deepEqual(r.warnings, []);
});

test('ANSI strings, RTF and HTML-in-RTF bodies', async () => {
  const ansi = await readMsg(await gen('ansi_1252.msg'), { id: 'a' });
  assert.equal(ansi.documents[0].title, 'Résumé – clause pénale €');
  assert.equal(ansi.documents[0].text, 'Présentation du contrat – coût 100 €\n\nFin.');
  const cyr = await readMsg(await gen('ansi_1251.msg'), { id: 'c' });
  assert.equal(cyr.documents[0].title, 'Договор № 7 — неустойка');
  const sj = await readMsg(await gen('ansi_932.msg'), { id: 'sj' });
  assert.deepEqual(sj.warnings, ['sj: code page 932 is not supported; ANSI text read as windows-1252']);
  const utf8 = await readMsg(await gen('ansi_utf8.msg'), { id: 'u' });
  assert.equal(utf8.documents[0].title, 'Договор поставки — 東京');
  const rtf = await readMsg(await gen('rtf_only.msg'), { id: 'r' });
  assert.match(rtf.documents[0].text, /^Force majeure: neither party is liable\nfor delay .*\(café, €100\)\./);
  const html = await readMsg(await gen('rtf_html.msg'), { id: 'h' });
  assert.equal(html.documents[0].text, 'Confidentiality survives termination é\n\nTerm: 3 years net');
});

test('text attachments are decoded as the native host decodes them', async () => {
  const r = await readMsg(await gen('text_attachments.msg'), { id: 't' });
  const text = (id) => r.documents.find((d) => d.id === id).text;
  // windows-1252 (not ISO-8859-1, which Node's decoder gives for that label), undefined bytes as U+FFFD.
  assert.equal(text('t/att-1-latin.txt'), 'Café – 5 €, undefined:\uFFFD.');
  assert.equal(text('t/att-2-bom.txt'), '\uFEFFWith a byte-order mark.');
  assert.equal(text('t/att-3-nul.txt'), 'before\uFFFDafter');
  assert.deepEqual(r.warnings, ['t: attachment latin.txt: no usable charset declared and not valid UTF-8; read as windows-1252']);
});

test('protected and broken files are refused with a reason', async () => {
  const cases = [
    ['smime_encrypted.msg', /Not supported: a signed or encrypted message \(message class IPM\.Note\.SMIME\)/],
    ['smime_signed.msg', /signed or encrypted/],
    ['broken_fat_loop.msg', /chain loops/],
    ['broken_dir_cycle.msg', /directory tree has a cycle/],
    ['broken_truncated.msg', /truncated/],
    ['broken_not_message.msg', /not an Outlook message/],
    ['broken_garbage.msg', /not an OLE2 compound file/],
  ];
  for (const [file, says] of cases) {
    await assert.rejects(readMsg(await gen(file)), (e) => e instanceof FoldbackError && says.test(e.message), file);
  }
  await assert.rejects(readMsg(new Uint8Array(0)), FoldbackError);
  // Embedded messages 20 deep: within the limit (100, as MIME nesting in mail).
  const deep = await readMsg(await gen('nested_20.msg'), { id: 'n' });
  assert.equal(deep.documents.length, 21);
  assert.equal(deep.documents[20].title, 'level 20');
  await assert.rejects(readMsg(42), FoldbackError);
});

test('engine.addMsg indexes the message, its embedded message and text attachments behind a wall', async () => {
  const e = await createEngine({ index: { embedder: 'none' } });
  const r = e.addMsg(await gen('all_properties.msg'), { name: 'all_properties.msg', id: 'mail/outlook', matter: 'm1' });
  assert.equal(r.documents.length, 5);
  assert.equal(e.stats().documents, 5);
  const hits = e.search('escrow schedule Meridian', { mode: 'bm25', filter: { parent_id: 'mail/outlook/att-4-Fwd: Meridian escrow terms' } });
  assert.equal(hits[0].docId, 'mail/outlook/att-4-Fwd: Meridian escrow terms/att-1-inner-notes.txt');
  assert.equal(e.search('escrow', { mode: 'bm25', allowedMatters: ['other'] }).length, 0);
  e.dispose();
});

test('the real Outlook message', async () => {
  const bytes = await readFile(path.join(root, 'tests/data/msg/mail-parser/mail_outlook_1.msg'));
  const r = await readMsg(bytes, { id: 'o' });
  assert.equal(r.documents[0].title, 'Newsletter Prüfung Personalwesen / Prüfung Eröffnungsbilanz');
  assert.deepEqual(r.documents[0].metadata.from, ['nueblingv@w-vwa.de']);
  assert.match(r.documents[0].text, /Sehr geehrte Frau Gaiser-Schönenborn/);
});
