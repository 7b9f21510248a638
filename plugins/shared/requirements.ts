// Office requirement sets: what each add-in declares as its minimum (the
// manifests built by plugins/build.mjs say the same; manifests.test.mjs
// checks both), and the one way the task panes ask for anything above it.

/** The part of Office.context.requirements the panes use. */
export interface RequirementsLike { isSetSupported(name: string, minVersion?: string): boolean }

/** Outlook: body.getAsync needs Mailbox 1.3. */
export const OUTLOOK_MINIMUM = { name: 'Mailbox', version: '1.3' } as const;
/** Word: paragraphs.getFirst needs WordApi 1.3. */
export const WORD_MINIMUM = { name: 'WordApi', version: '1.3' } as const;

/** Features above the minimum, each behind isSetSupported. */
export const OPTIONAL = {
  /** A pinned pane follows the selection (ItemChanged). */
  followSelection: { name: 'Mailbox', version: '1.5' },
  /** The whole message as MIME (item.getAsFileAsync): attachments indexed too. */
  fullMessage: { name: 'Mailbox', version: '1.14' },
  /** Range.insertComment. */
  comments: { name: 'WordApi', version: '1.4' },
} as const;

export type Optional = keyof typeof OPTIONAL;

/** False when the client does not say yes (no requirements object, or it throws). */
export function supports(requirements: RequirementsLike | undefined | null, feature: Optional): boolean {
  const { name, version } = OPTIONAL[feature];
  try {
    return Boolean(requirements?.isSetSupported(name, version));
  } catch {
    return false;
  }
}

/** Why a feature is unavailable, for the UI (a disabled button's reason). */
export function unavailableReason(feature: Optional): string {
  const { name, version } = OPTIONAL[feature];
  const what: Record<Optional, string> = {
    followSelection: 'This version of Outlook cannot let a pinned pane follow the selection',
    fullMessage: 'This version of Outlook cannot hand add-ins the whole message, so attachments are listed by name only',
    comments: 'This version of Word cannot add comments from an add-in',
  };
  return `${what[feature]} (needs ${name} ${version}).`;
}
