// A tiny DOM builder that can only make inert markup.
//
// Everything a document, a mail, a web page or a model wrote reaches the page
// through text nodes (`textContent`), never through HTML parsing. Attributes
// are limited to a fixed list: no event-handler attributes, no `src`, no
// `href` (links to unknown hosts are never rendered), no `style`.

export type Child = Node | string | number | null | undefined | false | Child[];

export interface Props {
  class?: string;
  /** Safe attributes only (see SAFE_ATTRIBUTES). */
  attrs?: Record<string, string | number | boolean | undefined>;
  /** Event listeners. */
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
  /** data-* attributes (values are text). */
  data?: Record<string, string>;
}

const SAFE_ATTRIBUTES = new Set([
  'id', 'type', 'name', 'value', 'placeholder', 'title', 'role', 'tabindex', 'for', 'rows',
  'min', 'max', 'step', 'checked', 'disabled', 'hidden', 'autocomplete', 'spellcheck',
  'accept', 'multiple', 'open', 'datetime', 'lang', 'dir', 'maxlength', 'inputmode',
  'aria-label', 'aria-live', 'aria-pressed', 'aria-expanded', 'aria-controls', 'aria-busy',
  'aria-describedby', 'aria-labelledby', 'aria-selected', 'aria-hidden', 'aria-current',
]);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K, props: Props | null = null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    if (props.class) el.className = props.class;
    if (props.attrs) {
      for (const [name, value] of Object.entries(props.attrs)) {
        if (!SAFE_ATTRIBUTES.has(name)) throw new Error(`attribute not allowed: ${name}`);
        if (name.startsWith('aria-')) {  // ARIA states are the strings "true" / "false"
          if (value !== undefined) el.setAttribute(name, String(value));
          continue;
        }
        if (value === undefined || value === false) continue;
        el.setAttribute(name, value === true ? '' : String(value));
      }
    }
    if (props.data) {
      for (const [name, value] of Object.entries(props.data)) el.dataset[name] = value;
    }
    if (props.on) {
      for (const [name, fn] of Object.entries(props.on)) {
        if (fn) el.addEventListener(name, fn as EventListener);
      }
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el as T;
}
