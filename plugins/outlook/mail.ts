// Outlook: what the task pane reads from the mailbox, and .eml files the
// lawyer adds. Pure logic over Office.js objects (tested with
// office-addin-mock) and bytes (postal-mime).

import { convert } from 'html-to-text';
import PostalMime from 'postal-mime';
import type { DocInput } from '../shared/engine-adapter';
import { supports, type RequirementsLike } from '../shared/requirements';

interface EmailAddress { displayName?: string; emailAddress?: string }
interface AttachmentLike { name?: string; contentType?: string; size?: number; isInline?: boolean; attachmentType?: string }

/** The parts of Office.context.mailbox.item (read mode) this pane uses. */
export interface MailItemLike {
  itemId?: string;
  internetMessageId?: string;
  subject?: string;
  from?: EmailAddress;
  to?: EmailAddress[];
  cc?: EmailAddress[];
  dateTimeCreated?: Date | string;
  attachments?: AttachmentLike[];
  body: { getAsync(coercion: unknown, callback: (r: AsyncResultLike<string>) => void): void };
  /** Mailbox 1.14: the whole message (RFC 822 / MIME), base64. */
  getAsFileAsync?(callback: (r: AsyncResultLike<string>) => void): void;
}

interface AsyncResultLike<T> { status: unknown; value: T; error?: { message: string } }

function asyncFailed(r: AsyncResultLike<unknown>): boolean {
  return r.status === 'failed' || (typeof r.status === 'number' && r.status !== 0) ||
    Boolean(r.status && typeof r.status === 'object' && String(r.status) === 'failed');
}

export function formatAddress(a?: EmailAddress): string {
  if (!a) return '';
  const name = (a.displayName ?? '').trim();
  const addr = (a.emailAddress ?? '').trim();
  if (name && addr && name !== addr) return `${name} <${addr}>`;
  return addr || name;
}

function humanSize(n?: number): string {
  if (!n && n !== 0) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Reads the body as plain text: item.body.getAsync('text'). */
export function getBodyText(item: MailItemLike, coercionText: unknown = 'text'): Promise<string> {
  return new Promise((resolve, reject) => {
    item.body.getAsync(coercionText, (r) => {
      if (asyncFailed(r) || typeof r.value !== 'string') reject(new Error(`could not read the message body: ${r.error?.message ?? 'unknown error'}`));
      else resolve(r.value);
    });
  });
}

export function mailText(parts: { subject: string; from: string; to: string[]; cc?: string[]; date?: string; attachments: AttachmentLike[]; body: string }): string {
  // Subject and body first (what a passage shows), the envelope after it (still searchable).
  const lines = [`From: ${parts.from}`];
  if (parts.to.length) lines.push(`To: ${parts.to.join(', ')}`);
  if (parts.cc?.length) lines.push(`Cc: ${parts.cc.join(', ')}`);
  if (parts.date) lines.push(`Date: ${parts.date}`);
  const files = parts.attachments.filter((a) => !a.isInline && a.name);
  if (files.length) lines.push(`Attachments: ${files.map((a) => `${a.name}${a.size ? ` (${humanSize(a.size)})` : ''}`).join('; ')}`);
  return `${parts.subject}\n\n${parts.body.trim()}\n\n${lines.join('\n')}\n`;
}

function isoDate(d?: Date | string): string | undefined {
  if (!d) return undefined;
  const t = d instanceof Date ? d : new Date(d);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

/** The open message as a document for the index. */
export async function readMailItem(item: MailItemLike | null | undefined, matter = '', coercionText: unknown = 'text'): Promise<DocInput> {
  if (!item) throw new Error('No message is open. Select a message in Outlook first.');
  const body = await getBodyText(item, coercionText);
  const id = item.internetMessageId || item.itemId;
  if (!id) throw new Error('This message has no Internet message id yet (is it still a draft?)');
  const from = formatAddress(item.from);
  const to = (item.to ?? []).map(formatAddress).filter(Boolean);
  const cc = (item.cc ?? []).map(formatAddress).filter(Boolean);
  const attachments = (item.attachments ?? []).map((a) => ({
    name: a.name ?? '', ...(a.contentType ? { contentType: a.contentType } : {}), ...(a.size !== undefined ? { size: a.size } : {}),
    ...(a.isInline ? { isInline: true } : {}),
  }));
  const date = isoDate(item.dateTimeCreated);
  const subject = (item.subject ?? '').trim() || '(no subject)';
  const doc: DocInput = {
    id: `mail:${id}`, title: subject, kind: 'email', source: 'Outlook', from, to,
    messageId: item.internetMessageId ?? '',
    attachments: attachments.filter((a) => !a.isInline).map(({ name, contentType, size }) => ({ name, ...(contentType ? { contentType } : {}), ...(size !== undefined ? { size } : {}) })),
    text: mailText({ subject, from, to, cc, attachments, body, ...(date ? { date } : {}) }),
  };
  if (date) doc.date = date;
  if (matter) doc.matter = matter;
  return doc;
}

/**
 * Text of an HTML mail body, without a DOM: nothing runs, nothing loads.
 * Images and link targets are dropped; elements hidden with inline styles
 * (a common way to plant instructions a reader never sees) are skipped.
 */
const HIDDEN = ['display:none', 'display: none', 'visibility:hidden', 'visibility: hidden', 'font-size:0', 'font-size: 0', 'opacity:0', 'opacity: 0'];
export function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { ignoreHref: true } },
      { selector: '[hidden]', format: 'skip' },
      ...HIDDEN.map((h) => ({ selector: `[style*="${h}"]`, format: 'skip' })),
    ],
  }).replace(/\n{3,}/g, '\n\n').trim();
}

/** An .eml file (RFC 5322 / MIME) as a document. */
export async function emlToDoc(bytes: ArrayBuffer | Uint8Array, fileName: string, matter = ''): Promise<DocInput> {
  if (bytes.byteLength === 0) throw new Error(`${fileName} is empty`);
  let email;
  try {
    email = await PostalMime.parse(bytes);
  } catch (e) {
    throw new Error(`${fileName} is not a readable e-mail message (${(e as Error).message})`);
  }
  const known = (email.headers ?? []).filter((h) => /^(from|to|cc|subject|date|message-id|mime-version|received|return-path)$/i.test(h.key));
  if (known.length === 0) throw new Error(`${fileName} has no mail headers: is it an .eml file?`);
  const addr = (a?: { name?: string; address?: string }) => formatAddress({ displayName: a?.name ?? '', emailAddress: a?.address ?? '' });
  const body = (email.text && email.text.trim()) ? email.text : (email.html ? htmlToText(email.html) : '');
  const subject = (email.subject ?? '').trim() || '(no subject)';
  const from = addr(email.from as { name?: string; address?: string } | undefined);
  const to = (email.to ?? []).map((a) => addr(a as { name?: string; address?: string })).filter(Boolean);
  const cc = (email.cc ?? []).map((a) => addr(a as { name?: string; address?: string })).filter(Boolean);
  const attachments = (email.attachments ?? []).map((a) => ({
    name: a.filename ?? '', contentType: a.mimeType ?? '',
    size: typeof a.content === 'string' ? a.content.length : (a.content as ArrayBuffer)?.byteLength ?? 0,
    isInline: a.disposition === 'inline' && !a.filename,
  }));
  const date = isoDate(email.date);
  const id = email.messageId?.trim() || `${fileName}:${subject}:${date ?? ''}`;
  const doc: DocInput = {
    id: `mail:${id}`, title: subject, kind: 'email', source: fileName, from, to, messageId: email.messageId ?? '',
    attachments: attachments.filter((a) => a.name).map(({ name, contentType, size }) => ({ name, contentType, size })),
    text: mailText({ subject, from, to, cc, attachments, body, ...(date ? { date } : {}) }),
  };
  if (date) doc.date = date;
  if (matter) doc.matter = matter;
  return doc;
}

// ------------------------------------------------------------------ the whole message (Mailbox 1.14)

/** Text a pane can read itself; other attachments (PDF, Word…) are listed by name. */
const TEXT_TYPES = /^(text\/(plain|markdown|csv|html)|message\/rfc822)$/i;
/** Attachments with more text than this are listed, not indexed (the engine's per-document limit is larger). */
export const MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024;
const MAX_EMBEDDED_DEPTH = 3;

/** An attachment's name as the CLI's mail reader puts it in ids (IdSafeName): 80 characters, no / \\ # or controls. */
export function idSafeName(name: string): string {
  return [...name].slice(0, 80).join('').replace(/[/\\#\u0000-\u001f\u007f]/g, '_');
}

function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** item.getAsFileAsync (Mailbox 1.14): the message as its MIME bytes. */
export function getItemMime(item: MailItemLike): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    if (typeof item.getAsFileAsync !== 'function') { reject(new Error('this Outlook cannot hand add-ins the whole message')); return; }
    item.getAsFileAsync((r) => {
      if (asyncFailed(r) || typeof r.value !== 'string' || !r.value) {
        reject(new Error(`could not read the whole message: ${r.error?.message ?? 'unknown error'}`));
        return;
      }
      try { resolve(base64ToBytes(r.value)); } catch { reject(new Error('could not read the whole message: it is not base64')); }
    });
  });
}

/**
 * An e-mail message (RFC 822 / MIME bytes) as documents: the message, then
 * one document per attachment whose text the pane can read (text, HTML,
 * embedded messages, recursively), each with parentId = the message's id,
 * as the CLI's mail reader does for .eml. Other attachments stay in the
 * message's attachment list.
 */
export async function emlToDocs(bytes: ArrayBuffer | Uint8Array, fileName: string, matter = '', depth = 0): Promise<DocInput[]> {
  const message = await emlToDoc(bytes, fileName, matter);
  const email = await PostalMime.parse(bytes, { forceRfc822Attachments: true });
  const docs: DocInput[] = [message];
  let i = 0;
  for (const a of email.attachments ?? []) {
    i++;
    const type = (a.mimeType ?? '').toLowerCase();
    if (!TEXT_TYPES.test(type)) continue;
    const content = typeof a.content === 'string' ? new TextEncoder().encode(a.content) : new Uint8Array(a.content as ArrayBuffer);
    if (content.byteLength === 0 || content.byteLength > MAX_ATTACHMENT_BYTES) continue;
    const name = a.filename || (type === 'message/rfc822' ? `message-${i}.eml` : `attachment-${i}`);
    // The ids and parents the CLI's mail reader gives .eml attachments: <message id>/att-<n>-<name>.
    const id = `${message.id}/att-${i}-${idSafeName(name)}`;
    if (type === 'message/rfc822') {
      if (depth + 1 > MAX_EMBEDDED_DEPTH) continue;
      let inner: DocInput[];
      try { inner = await emlToDocs(content, name, matter, depth + 1); } catch { continue; }
      const [first, ...rest] = inner;
      const innerId = first.id;
      docs.push({ ...first, id, parentId: message.id, source: `${fileName} › ${name}` });
      // The embedded message's own attachments hang under it.
      for (const r of rest) docs.push({ ...r, id: `${id}/${r.id.slice(innerId.length + 1)}`, parentId: r.parentId === innerId || !r.parentId ? id : r.parentId });
      continue;
    }
    const raw = new TextDecoder('utf-8').decode(content);
    const text = type === 'text/html' ? htmlToText(raw) : raw;
    if (!text.trim()) continue;
    const doc: DocInput = {
      id, title: name, kind: 'document', source: `${fileName} › ${name}`,
      text, parentId: message.id,
    };
    if (message.date) doc.date = message.date;
    if (matter) doc.matter = matter;
    docs.push(doc);
  }
  return docs;
}

/** Whether the pane can read the whole message (Mailbox 1.14), from the client's own answer. */
export function canReadFullMessage(requirements: RequirementsLike | undefined | null): boolean {
  return supports(requirements, 'fullMessage');
}

/**
 * The open message for the index. Where Mailbox 1.14 is present, its full
 * MIME through the mail reader (attachments included); otherwise, or if
 * Outlook refuses the file, the body as text with the attachments by name.
 * `fellBack` says why the full message was not used, when it was tried.
 */
export async function indexableMail(item: MailItemLike | null | undefined, requirements: RequirementsLike | undefined | null,
                                    matter = '', coercionText: unknown = 'text'): Promise<{ docs: DocInput[]; full: boolean; fellBack?: string }> {
  if (!item) throw new Error('No message is open. Select a message in Outlook first.');
  if (canReadFullMessage(requirements)) {
    try {
      const docs = await emlToDocs(await getItemMime(item), 'Outlook', matter);
      const id = item.internetMessageId || item.itemId;
      // Keep the id the pane knows the message by (the MIME's Message-ID is the same, but a draft's may differ).
      if (id && docs[0].id !== `mail:${id}`) {
        const old = docs[0].id;
        for (const d of docs) {
          if (d.id.startsWith(old)) d.id = `mail:${id}${d.id.slice(old.length)}`;
          if (d.parentId?.startsWith(old)) d.parentId = `mail:${id}${d.parentId.slice(old.length)}`;
        }
      }
      return { docs, full: true };
    } catch (e) {
      return { docs: [await readMailItem(item, matter, coercionText)], full: false, fellBack: (e as Error).message };
    }
  }
  return { docs: [await readMailItem(item, matter, coercionText)], full: false };
}

/** Registers `handler` for ItemChanged where Mailbox 1.5 is present; says whether it did. */
export function followSelection(mailbox: { addHandlerAsync(type: unknown, handler: () => void): void }, requirements: RequirementsLike | undefined | null,
                                itemChanged: unknown, handler: () => void): boolean {
  if (!supports(requirements, 'followSelection')) return false;
  mailbox.addHandlerAsync(itemChanged, handler);
  return true;
}

