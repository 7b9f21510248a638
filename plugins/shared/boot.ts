// Start-up helpers shared by the task panes and the side panel.

/** Build-time configuration (plugins/build.mjs defines these). */
declare const __FOLDBACK_ALLOWED_ORIGINS__: string[];
declare const __FOLDBACK_VERSION__: string;
declare const __FOLDBACK_SERVER_ORIGINS__: string[];

export const ALLOWED_ORIGINS: readonly string[] = __FOLDBACK_ALLOWED_ORIGINS__;
/** Origins a firm server may have (FOLDBACK_SERVER_ORIGIN at build time); empty: the CSP allows none. */
export const SERVER_ORIGINS: readonly string[] = __FOLDBACK_SERVER_ORIGINS__;
export const PLUGIN_VERSION: string = __FOLDBACK_VERSION__;

export function fatal(root: HTMLElement, message: string): void {
  root.replaceChildren();
  const p = document.createElement('p');
  p.className = 'fatal';
  p.setAttribute('role', 'alert');
  p.textContent = message;
  root.append(p);
  root.dataset.ready = 'error';
}

/** Waits for Office.onReady, with a clear error when Office.js is missing. */
export function officeReady(): Promise<{ host: unknown }> {
  const g = globalThis as { Office?: { onReady(cb?: (info: { host: unknown }) => void): Promise<{ host: unknown }> } };
  if (!g.Office) return Promise.reject(new Error('Office.js did not load. Open this page from Outlook or Word.'));
  return g.Office.onReady();
}
