// Outlook: what the task pane reads from the mailbox, and .eml files the
// lawyer adds. Pure logic over Office.js objects (tested with
// office-addin-mock) and bytes (postal-mime).

import { convert } from 'html-to-text';
import PostalMime from 'postal-mime';
import type { DocInput } from '../shared/engine-adapter';

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
  body: { getAsync(coercion: unknown, callback: (r: { status: unknown; value: string; error?: { message: string } }) => void): void };
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
      const failed = r.status === 'failed' || (typeof r.status === 'number' && r.status !== 0) ||
        (r.status && typeof r.status === 'object' && String(r.status) === 'failed');
      if (failed || typeof r.value !== 'string') reject(new Error(`could not read the message body: ${r.error?.message ?? 'unknown error'}`));
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
