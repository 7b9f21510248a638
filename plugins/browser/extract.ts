// Injected into the active tab on request (activeTab + scripting): returns
// the page's visible text. Self-contained: chrome.scripting serializes it.

export interface PageText { title: string; url: string; text: string; lang: string; date: string }

export function extractVisibleText(): PageText {
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'CANVAS', 'IFRAME', 'OBJECT', 'HEAD', 'TITLE', 'META', 'LINK']);
  const visibleCache = new Map<Element, boolean>();
  const visible = (el: Element | null): boolean => {
    if (!el) return true;
    const cached = visibleCache.get(el);
    if (cached !== undefined) return cached;
    let ok = !SKIP.has(el.tagName.toUpperCase());
    if (ok && el.getAttribute('aria-hidden') === 'true') ok = false;
    if (ok && (el as HTMLElement).hidden) ok = false;
    if (ok) {
      const style = getComputedStyle(el);
      if (style.display === 'none' || style.visibility === 'hidden' || style.visibility === 'collapse' ||
          Number(style.opacity) === 0 || parseFloat(style.fontSize) < 2 ||
          (style.clip === 'rect(0px, 0px, 0px, 0px)') || style.clipPath === 'inset(50%)') ok = false;
    }
    if (ok) {
      const r = el.getBoundingClientRect();
      const docW = Math.max(document.documentElement.scrollWidth, innerWidth);
      const docH = Math.max(document.documentElement.scrollHeight, innerHeight);
      if ((r.width === 0 && r.height === 0 && getComputedStyle(el).display !== 'contents') ||
          r.right + scrollX <= 0 || r.bottom + scrollY <= 0 || r.left + scrollX >= docW || r.top + scrollY >= docH) ok = false;
    }
    ok = ok && visible(el.parentElement);
    visibleCache.set(el, ok);
    return ok;
  };
  const blockOf = (el: Element): Element => {
    let e: Element | null = el;
    while (e && e !== document.body) {
      const d = getComputedStyle(e).display;
      if (d !== 'inline' && d !== 'contents') return e;
      e = e.parentElement;
    }
    return document.body;
  };
  const out: string[] = [];
  let lastBlock: Element | null = null;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue ?? '';
    if (!text.trim()) continue;
    const parent = node.parentElement;
    if (!parent || !visible(parent)) continue;
    const style = getComputedStyle(parent);
    if (style.color === style.backgroundColor && style.color !== 'rgba(0, 0, 0, 0)') continue;
    const block = blockOf(parent);
    if (lastBlock && block !== lastBlock) out.push('\n');
    lastBlock = block;
    out.push(text.replace(/\s+/g, ' '));
  }
  const text = out.join('').replace(/[ \t]+\n/g, '\n').replace(/\n{3,}/g, '\n\n').trim();
  // The page's own date, when it states one (DMS pages and articles often do).
  const stated = document.querySelector<HTMLMetaElement>(
    'meta[property="article:published_time"], meta[name="date"], meta[name="dcterms.date"], meta[name="DC.date"], meta[itemprop="dateCreated"]')?.content ||
    document.querySelector('time[datetime]')?.getAttribute('datetime') || '';
  const when = stated ? new Date(stated) : null;
  return {
    title: document.title || location.hostname,
    url: location.href.split('#')[0],
    text,
    lang: document.documentElement.lang || '',
    date: when && !Number.isNaN(when.getTime()) ? when.toISOString() : '',
  };
}
