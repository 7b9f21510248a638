// Word: the selection (or the paragraph around the cursor) as a question, and
// a chosen passage inserted with its citation. Pure logic over a
// Word.RequestContext (tested with office-addin-mock).

import type { Passage } from '../shared/engine-adapter';
import { supports, unavailableReason, type RequirementsLike } from '../shared/requirements';

/* Minimal shapes of the Word objects used here (see @types/office-js). */
interface Loadable { load(props: string): unknown }
interface ContextLike { document: { getSelection(): RangeLike }; sync(): Promise<void> }
interface RangeLike extends Loadable {
  text: string;
  paragraphs: { getFirst(): ParagraphLike };
  insertParagraph(text: string, where: 'Before' | 'After'): ParagraphLike;
  insertComment?(text: string): unknown;
}
interface ParagraphLike extends Loadable {
  text: string;
  insertContentControl(): ContentControlLike;
  font: { italic: boolean; size: number; color: string };
}
interface ContentControlLike {
  tag: string;
  title: string;
  appearance: string;
  cannotEdit: boolean;
  insertParagraph(text: string, where: 'Before' | 'After'): ParagraphLike;
}

export const MAX_QUESTION = 4000;

/** The selected text, or the paragraph holding the cursor when nothing is selected. */
export async function questionFromSelection(context: ContextLike): Promise<string> {
  const selection = context.document.getSelection();
  selection.load('text');
  await context.sync();
  let text = (selection.text ?? '').trim();
  if (!text) {
    const paragraph = selection.paragraphs.getFirst();
    paragraph.load('text');
    await context.sync();
    text = (paragraph.text ?? '').trim();
  }
  return text.replace(/\s+/g, ' ').slice(0, MAX_QUESTION);
}

export function citationFor(p: Passage): string {
  const parts = [p.title];
  if (p.section) parts.push(p.section);
  if (p.matter) parts.push(`matter ${p.matter}`);
  if (p.date) parts.push(p.date.slice(0, 10));
  return `Source: ${parts.join(', ')}`;
}

/** Content-control tags are at most 255 characters. */
export function tagFor(p: Passage): string {
  return `foldback:${p.chunkId}`.slice(0, 255);
}

/**
 * Inserts the passage after the selection as plain text in a content control
 * tagged with its chunk id and titled with its source, followed by the
 * citation in small italics. Text only: nothing is parsed as HTML or OOXML.
 */
export async function insertPassageWithCitation(context: ContextLike, p: Passage): Promise<void> {
  const selection = context.document.getSelection();
  const paragraph = selection.insertParagraph(p.text.trim(), 'After');
  const control = paragraph.insertContentControl();
  control.tag = tagFor(p);
  control.title = citationFor(p).slice(0, 255);
  control.appearance = 'BoundingBox';
  const cite = control.insertParagraph(citationFor(p), 'After');
  cite.font.italic = true;
  cite.font.size = 9;
  cite.font.color = '#555555';
  await context.sync();
}

/** Why "Cite as comment" cannot run here, or undefined where it can (WordApi 1.4, asked of the client). */
export function commentUnavailable(requirements: RequirementsLike | undefined | null): string | undefined {
  return supports(requirements, 'comments') ? undefined : unavailableReason('comments');
}

/** Attaches the passage and its citation as a comment on the selection (WordApi 1.4). */
export async function commentWithPassage(context: ContextLike, p: Passage, requirements: RequirementsLike | undefined | null): Promise<void> {
  const why = commentUnavailable(requirements);
  if (why) throw new Error(why);
  const selection = context.document.getSelection();
  if (typeof selection.insertComment !== 'function') throw new Error(unavailableReason('comments'));
  const excerpt = p.text.trim().length > 1500 ? `${p.text.trim().slice(0, 1500)}…` : p.text.trim();
  selection.insertComment(`${citationFor(p)}\n\n${excerpt}`);
  await context.sync();
}
