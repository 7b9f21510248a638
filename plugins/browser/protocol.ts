// Messages between the side panel, the background service worker and the
// offscreen document, and who may send them.

import type { AskEvent, AskOptions, DocInput, ExportFormat, FeedbackInput, LlmConfig } from '../shared/engine-adapter';
import type { Settings } from '../shared/settings';
import type { Policy } from '../shared/policy';

/** Requests the side panel (an extension page) may make. */
export type UiRequest =
  | { op: 'status' }
  | { op: 'index'; docs: DocInput[] }
  | { op: 'remove'; id: string }
  | { op: 'documents' }
  | { op: 'loadSnapshot'; bytes: number[]; name: string }
  | { op: 'search'; query: string; options?: { topK?: number } }
  | { op: 'ask'; question: string; options: AskOptions; llm?: LlmConfig }
  | { op: 'feedback'; input: FeedbackInput }
  | { op: 'history' }
  | { op: 'exportFeedback'; format?: ExportFormat }
  | { op: 'forgetMatter'; matter: string }
  | { op: 'settings.load' }
  | { op: 'settings.save'; settings: Settings }
  | { op: 'key.status' }
  | { op: 'key.set'; key: string; remember: boolean }
  | { op: 'key.clear' }
  | { op: 'token.status' }
  | { op: 'token.set'; token: string; remember: boolean }
  | { op: 'token.clear' }
  | { op: 'indexActiveTab'; matter?: string }
  | { op: 'policy' };

/** What the background forwards to the engine in the offscreen document. */
export type EngineOp = Extract<UiRequest, { op: 'status' | 'index' | 'remove' | 'documents' | 'loadSnapshot' | 'search' | 'ask' | 'feedback' | 'history' | 'exportFeedback' | 'forgetMatter' }> & {
  /** search and ask: the managed policy, attached by the background only (whatever the panel sent is replaced). */
  policy?: Policy;
  policyProblems?: string[];
};

export interface Envelope<T> { id: number; body: T }
export interface Reply { id: number; ok: boolean; value?: unknown; error?: string; event?: AskEvent }

/** The extension's own pages: same extension id and an extension-origin URL. */
export function isExtensionPage(sender: chrome.runtime.MessageSender | undefined, extensionId: string, baseUrl: string): boolean {
  if (!sender || sender.id !== extensionId) return false;
  const url = sender.url ?? '';
  const origin = (sender as { origin?: string }).origin;
  if (origin !== undefined && `${origin}/` !== baseUrl) return false;
  return url.startsWith(baseUrl);
}

/** Only the offscreen document opens the engine port. */
export function isOffscreenDocument(sender: chrome.runtime.MessageSender | undefined, extensionId: string, offscreenUrl: string): boolean {
  return Boolean(sender && sender.id === extensionId && !sender.tab && (sender.url ?? '').split('#')[0] === offscreenUrl);
}
