// The shared task-pane / side-panel UI: question, options, the trace as a
// live timeline, passages with their sources, feedback, history, settings.
//
// Every string that came from a document, a mail, a web page or a model is
// put in the page as text (dom.ts builds elements; no innerHTML anywhere).

import { append, h, replace, type Child } from './dom';
import type {
  AskEvent, AskResult, DocMeta, ExportFormat, FeedbackInput, FeedbackRecord, FoldbackClient, HistoryEntry, HopSource,
  HopTrace, Passage, PassageLabel,
} from './engine-adapter';
import { highlightNodes, highlightTerms } from './highlight';
import { askOptionsFrom, type Settings, type SettingsStore } from './settings';
import { endpointAllowed } from './engine-adapter';

export interface PassageAction {
  label: string;
  title?: string;
  /** Why this client cannot run the action (a requirement set it lacks): the button is shown disabled with the reason. */
  unavailable?: string;
  run(passage: Passage, result: AskResult): Promise<string | void>;
}

export interface HostIntegration {
  /** "Outlook", "Word", "Chromium". */
  hostName: string;
  /** Nouns for the corpus: ["message", "messages"] */
  unit: [string, string];
  /** Host controls above the question (index this message, load a corpus...). */
  renderSources(container: HTMLElement, app: App): void | Promise<void>;
  passageActions?: PassageAction[];
  /** Buttons that fill the question box (Word: the selection). */
  questionHelpers?: Array<{ label: string; title?: string; autoAsk?: boolean; run(): Promise<string> }>;
  questionPlaceholder?: string;
}

const SOURCE_LABEL: Record<HopSource, string> = {
  question: 'your question',
  llm: 'rewritten by the model',
  rm3: 'expanded from what was found (RM3)',
  'fallback-rm3': 'model unavailable, expanded with RM3',
  'fallback-question': 'your question again',
};

export function formatDate(iso?: string): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC' });
}

/**
 * A hop's query as a lawyer reads it: an RM3 query ("termin^0.18 notic^0.15
 * ...", the index's stemmed terms with their weights) becomes its terms,
 * strongest first; anything else is shown as written.
 */
export function displayQuery(query: string): string {
  const parts = query.trim().split(/\s+/);
  if (parts.length > 0 && parts.every((p) => /^[^\s^]+\^\d+(\.\d+)?(e-?\d+)?$/.test(p))) {
    return parts.map((p) => p.slice(0, p.lastIndexOf('^'))).join(' · ');
  }
  return query;
}

function plural(n: number, [one, many]: [string, string]): string {
  return `${n.toLocaleString('en-GB')} ${n === 1 ? one : many}`;
}

interface FeedbackDraft {
  rating: 'up' | 'down' | null;
  labels: Record<string, PassageLabel>;
  critique: string;
  correctedAnswer: string;
  consentToTrain: boolean;
  privileged: boolean;
}

function emptyDraft(): FeedbackDraft {
  return { rating: null, labels: {}, critique: '', correctedAnswer: '', consentToTrain: false, privileged: false };
}

function draftFrom(r?: FeedbackRecord): FeedbackDraft {
  if (!r) return emptyDraft();
  const labels: Record<string, PassageLabel> = {};
  for (const l of r.labels) labels[l.chunkId] = l.label;
  return {
    rating: r.rating || null, labels, critique: r.critique, correctedAnswer: r.correctedAnswer,
    consentToTrain: r.consentToTrain, privileged: r.privileged,
  };
}

export class App {
  private settings!: Settings;
  private current: AskResult | null = null;
  private draft: FeedbackDraft = emptyDraft();
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private busy = false;

  // Elements.
  private readonly corpusStatus = h('span', { class: 'corpus', attrs: { id: 'corpus-status', 'aria-live': 'polite' } });
  private readonly status = h('div', { class: 'status', attrs: { id: 'status', role: 'status', 'aria-live': 'polite' } });
  private readonly question = h('textarea', {
    attrs: { id: 'question', rows: 3, spellcheck: true, maxlength: 4000, 'aria-label': 'Question' },
  });
  private readonly askButton = h('button', { class: 'primary', attrs: { id: 'ask', type: 'submit' } }, 'Ask');
  private readonly optionsSummary = h('span', { attrs: { id: 'options-summary' } });
  private readonly hops = numberInput('hops', 1, 6);
  private readonly depth = numberInput('depth', 1, 50);
  private readonly topK = numberInput('top-k', 1, 50);
  private readonly rewriteRadios = (['llm', 'rm3', 'none'] as const).map((v) =>
    h('input', { attrs: { type: 'radio', name: 'rewrite', value: v, id: `rewrite-${v}` } }));
  private readonly answerBox = h('input', { attrs: { type: 'checkbox', id: 'write-answer' } });
  private readonly timeline = h('ol', { class: 'timeline', attrs: { id: 'trace', 'aria-label': 'How the search went' } });
  private readonly traceSection = h('section', { class: 'card trace', attrs: { hidden: true, 'aria-labelledby': 'trace-h' } },
    h('h2', { attrs: { id: 'trace-h' } }, 'How the search went'), this.timeline);
  private readonly answerSection = h('section', { class: 'card answer', attrs: { id: 'answer', hidden: true } });
  private readonly results = h('div', { class: 'results', attrs: { id: 'results' } });
  private readonly resultsSection = h('section', { attrs: { id: 'results-section', hidden: true, 'aria-labelledby': 'results-h' } });
  private readonly feedbackSection = h('section', { class: 'card feedback', attrs: { id: 'feedback', hidden: true } });
  private readonly historyList = h('ol', { class: 'history', attrs: { id: 'history-list' } });
  private readonly exportFormat = h('select', { attrs: { id: 'export-format', 'aria-label': 'Training data format' } },
    h('option', { attrs: { value: 'sft' } }, 'Chat fine-tuning (SFT, JSONL)'),
    h('option', { attrs: { value: 'dpo' } }, 'Preference pairs (DPO, JSONL)'),
    h('option', { attrs: { value: 'triplets' } }, 'Embedding triplets (JSONL)'),
    h('option', { attrs: { value: 'demos' } }, 'Query-writer demos (DSPy, JSON)'));
  private readonly forgetMatterInput = h('input', { attrs: { id: 'forget-matter', type: 'text', placeholder: 'Matter', autocomplete: 'off', 'aria-label': 'Matter whose feedback to forget' } });
  private readonly views: Record<string, HTMLElement> = {};
  private readonly tabs: Record<string, HTMLButtonElement> = {};

  constructor(private readonly root: HTMLElement, readonly client: FoldbackClient,
              private readonly host: HostIntegration, private readonly settingsStore: SettingsStore) {}

  async start(): Promise<void> {
    this.settings = await this.settingsStore.load();
    this.build();
    this.applySettingsToControls();
    await this.refreshStatus();
    this.root.dataset.ready = 'true';
  }

  // ---------------------------------------------------------------- layout

  private build(): void {
    const tabs = (['ask', 'history', 'settings'] as const).map((name) => {
      const label = { ask: 'Ask', history: 'History', settings: 'Settings' }[name];
      const b = h('button', {
        class: 'tab', attrs: { type: 'button', id: `tab-${name}`, role: 'tab', 'aria-controls': `view-${name}` },
        on: { click: () => { void this.show(name); } },
      }, label);
      this.tabs[name] = b;
      return b;
    });
    const header = h('header', { class: 'bar' },
      h('div', { class: 'brand' }, h('span', { class: 'mark', attrs: { 'aria-hidden': true } }, '§'),
        h('span', { class: 'name' }, 'foldback'), h('span', { class: 'host' }, this.host.hostName)),
      h('nav', { class: 'tabs', attrs: { role: 'tablist' } }, tabs));

    const sources = h('div', { class: 'sources', attrs: { id: 'sources' } });
    const helpers = (this.host.questionHelpers ?? []).map((hp) => h('button', {
      class: 'link', attrs: { type: 'button', title: hp.title ?? hp.label },
      on: { click: () => { void this.runHelper(hp); } },
    }, hp.label));
    this.question.placeholder = this.host.questionPlaceholder ?? 'Ask about your documents, e.g. "Can either party terminate for convenience?"';
    this.question.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); void this.ask(); }
    });

    const rewrite = h('fieldset', { class: 'segmented' }, h('legend', null, 'Query rewriting'),
      this.rewriteRadios.map((r) => h('label', { attrs: { for: r.id } }, r,
        h('span', null, { llm: 'LLM', rm3: 'RM3 (offline)', none: 'None' }[r.value as 'llm' | 'rm3' | 'none']))));
    const options = h('details', { class: 'options', attrs: { id: 'options' } },
      h('summary', null, 'Search options · ', this.optionsSummary),
      h('div', { class: 'option-grid' },
        labelled('Hops', this.hops, 'Rounds of searching; each round writes a new query from what was found.'),
        labelled('Depth', this.depth, 'Passages retrieved per hop.'),
        labelled('Top-k', this.topK, 'Passages shown at the end.')),
      rewrite,
      h('label', { class: 'check', attrs: { for: 'write-answer' } }, this.answerBox,
        h('span', null, 'Write an answer with citations (needs an LLM endpoint)')));
    for (const el of [this.hops, this.depth, this.topK, this.answerBox, ...this.rewriteRadios]) {
      el.addEventListener('change', () => { void this.saveOptions(); });
    }

    const form = h('form', { class: 'ask', attrs: { id: 'ask-form' }, on: { submit: (e) => { e.preventDefault(); void this.ask(); } } },
      h('div', { class: 'question-head' }, h('label', { attrs: { for: 'question' } }, 'Question'), helpers),
      this.question,
      h('div', { class: 'ask-row' }, options, this.askButton));

    this.resultsSection.append(h('h2', { attrs: { id: 'results-h' } }, 'Passages'), this.results);
    const askView = h('section', { class: 'view', attrs: { id: 'view-ask', role: 'tabpanel' } },
      sources, form, this.status, this.traceSection, this.answerSection, this.resultsSection, this.feedbackSection);
    const historyView = h('section', { class: 'view', attrs: { id: 'view-history', role: 'tabpanel', hidden: true } },
      h('h2', null, 'Earlier questions'),
      h('p', { class: 'muted' }, 'Questions asked in this pane, with the feedback you gave. Open one to review or change it.'),
      this.historyList,
      h('h3', null, 'Training data'),
      h('p', { class: 'muted small' }, 'Only feedback you allowed to be used, never privileged feedback, never a forgotten matter.'),
      h('div', { class: 'row' }, this.exportFormat, h('button', {
        class: 'secondary', attrs: { type: 'button', id: 'export-feedback' }, on: { click: () => { void this.exportFeedback(); } },
      }, 'Export')),
      h('h3', null, 'Forget a matter'),
      h('p', { class: 'muted small' }, 'Deletes every piece of feedback about a matter, for good: it will not be used or exported again.'),
      h('div', { class: 'row' }, this.forgetMatterInput, h('button', {
        class: 'secondary', attrs: { type: 'button', id: 'forget-matter-button' }, on: { click: () => { void this.forgetMatter(); } },
      }, 'Forget')));
    const settingsView = h('section', { class: 'view', attrs: { id: 'view-settings', role: 'tabpanel', hidden: true } });
    this.views.ask = askView;
    this.views.history = historyView;
    this.views.settings = settingsView;
    replace(this.root, header, h('main', null, askView, historyView, settingsView),
      h('footer', { class: 'foot' }, this.corpusStatus));
    this.tabs.ask.setAttribute('aria-selected', 'true');
    void this.host.renderSources(sources, this);
  }

  async show(name: 'ask' | 'history' | 'settings'): Promise<void> {
    for (const [n, v] of Object.entries(this.views)) v.hidden = n !== name;
    for (const [n, t] of Object.entries(this.tabs)) t.setAttribute('aria-selected', String(n === name));
    if (name === 'history') await this.renderHistory();
    if (name === 'settings') await this.renderSettings();
  }

  // ---------------------------------------------------------------- status

  setStatus(text: string, kind: 'info' | 'error' | 'ok' = 'info'): void {
    this.status.textContent = text;
    this.status.dataset.kind = kind;
  }

  async refreshStatus(): Promise<void> {
    try {
      const s = await this.client.status();
      if (s.documents < 0) {  // a firm server: its size is not this pane's to show
        this.corpusStatus.textContent = s.corpusName;
        this.corpusStatus.dataset.server = 'true';
        delete this.corpusStatus.dataset.documents;
        return;
      }
      delete this.corpusStatus.dataset.server;
      const unit = this.host.unit;
      const parts = [plural(s.documents, unit), plural(s.chunks, ['passage', 'passages'])];
      if (s.corpusName) parts.unshift(s.corpusName);
      this.corpusStatus.textContent = s.documents === 0 && !s.corpusName ? `Nothing indexed yet` : parts.join(' · ');
      this.corpusStatus.dataset.documents = String(s.documents);
    } catch (e) {
      this.corpusStatus.textContent = `Engine unavailable: ${(e as Error).message}`;
    }
  }

  // ---------------------------------------------------------------- options

  private applySettingsToControls(): void {
    const s = this.settings;
    this.hops.value = String(s.hops);
    this.depth.value = String(s.depth);
    this.topK.value = String(s.topK);
    for (const r of this.rewriteRadios) r.checked = r.value === s.rewrite;
    this.answerBox.checked = s.answer;
    this.updateOptionsSummary();
  }

  private updateOptionsSummary(): void {
    const s = this.settings;
    const rw = { llm: 'LLM rewriting', rm3: 'RM3', none: 'no rewriting' }[s.rewrite];
    this.optionsSummary.textContent = `${plural(s.hops, ['hop', 'hops'])} · depth ${s.depth} · top ${s.topK} · ${rw}`;
  }

  private readControls(): Settings {
    const rewrite = (this.rewriteRadios.find((r) => r.checked)?.value ?? 'rm3') as Settings['rewrite'];
    return {
      ...this.settings,
      hops: Number(this.hops.value), depth: Number(this.depth.value), topK: Number(this.topK.value),
      rewrite, answer: this.answerBox.checked,
    };
  }

  private async saveOptions(): Promise<void> {
    const next = this.readControls();
    for (const [name, v, lo, hi] of [['Hops', next.hops, 1, 6], ['Depth', next.depth, 1, 50], ['Top-k', next.topK, 1, 50]] as const) {
      if (!Number.isInteger(v) || v < lo || v > hi) {
        this.setStatus(`${name} must be a whole number from ${lo} to ${hi}.`, 'error');
        return;
      }
    }
    this.settings = next;
    this.updateOptionsSummary();
    await this.settingsStore.save(this.settings);
  }

  private async runHelper(hp: { label: string; autoAsk?: boolean; run(): Promise<string> }): Promise<void> {
    try {
      const text = await hp.run();
      if (!text.trim()) { this.setStatus('Nothing selected in the document.', 'error'); return; }
      this.question.value = text.slice(0, 4000);
      this.question.focus();
      if (hp.autoAsk) await this.ask();
    } catch (e) {
      this.setStatus((e as Error).message, 'error');
    }
  }

  // ---------------------------------------------------------------- asking

  async ask(): Promise<void> {
    if (this.busy) return;
    const question = this.question.value.trim();
    if (!question) { this.setStatus('Type a question first.', 'error'); this.question.focus(); return; }
    // Busy before the first await: a second click, or anyone watching, sees it at once.
    this.busy = true;
    this.askButton.disabled = true;
    this.askButton.textContent = 'Searching…';
    this.setStatus('Searching…');
    try {
      await this.saveOptions();
      const s = this.settings;
      // With a firm server, the LLM (and its key) are the server's: nothing of this pane's endpoint is sent.
      const server = await this.settingsStore.serverConfig();
      const llm = server ? undefined : await this.settingsStore.llmConfig();
      if (s.rewrite === 'llm' && !llm && !server) {
        this.setStatus('LLM rewriting needs an endpoint. Set one in Settings, or choose RM3 (offline).', 'error');
        return;
      }
      this.current = null;
      this.draft = emptyDraft();
      this.timeline.replaceChildren();
      this.timeline.dataset.state = 'running';
      this.traceSection.hidden = false;
      this.answerSection.hidden = true;
      this.resultsSection.hidden = true;
      this.feedbackSection.hidden = true;
      const options = askOptionsFrom(s);
      if (!(options.rewrite !== 'none' && s.answer && (llm || server))) options.answer = false;
      try {
        const result = await this.client.ask(question, options, (e) => this.onEvent(e), llm);
        this.showResult(result, undefined);
        let extra = result.fallbacks.length ? ` · ${plural(result.fallbacks.length, ['fallback', 'fallbacks'])}` : '';
        if (result.stoppedEarly && result.hops.length < result.options.hops) {
          extra += ` · stopped after ${plural(result.hops.length, ['hop', 'hops'])}: nothing new to find`;
        }
        this.setStatus(`${plural(result.passages.length, ['passage', 'passages'])} in ${(result.elapsedMs / 1000).toFixed(1)} s${extra}`, 'ok');
      } catch (e) {
        this.setStatus((e as Error).message, 'error');
        this.traceSection.hidden = this.timeline.childElementCount === 0;
      }
    } finally {
      this.busy = false;
      this.timeline.dataset.state = 'done';
      this.askButton.disabled = false;
      this.askButton.textContent = 'Ask';
    }
  }

  private hopNode(hop: number): HTMLLIElement {
    let li = this.timeline.querySelector<HTMLLIElement>(`li[data-hop="${hop}"]`);
    if (!li) {
      li = h('li', { class: 'hop pending', data: { hop: String(hop) } },
        h('div', { class: 'hop-head' }, h('span', { class: 'hop-no' }, `Hop ${hop}`), h('span', { class: 'hop-source' }, 'searching…')),
        h('blockquote', { class: 'hop-query' }),
        h('div', { class: 'hop-note', attrs: { hidden: true } }),
        h('div', { class: 'hop-found' }));
      this.timeline.append(li);
    }
    return li;
  }

  private onEvent(e: AskEvent): void {
    switch (e.kind) {
      case 'hop-started': {
        this.hopNode(e.hop);
        this.setStatus(`Hop ${e.hop} of ${this.settings.hops}…`);
        break;
      }
      case 'query': {
        const li = this.hopNode(e.hop);
        li.querySelector('.hop-source')!.textContent = SOURCE_LABEL[e.source] ?? e.source;
        const q = li.querySelector<HTMLElement>('.hop-query')!;
        q.textContent = displayQuery(e.query);
        q.title = e.query;
        li.dataset.source = e.source;
        break;
      }
      case 'fallback': {
        if (e.hop > 0) {
          const note = this.hopNode(e.hop).querySelector<HTMLElement>('.hop-note')!;
          note.hidden = false;
          note.textContent = e.message;
        } else {
          this.setStatus(e.message, 'error');
        }
        break;
      }
      case 'retrieved': this.renderHop(e.trace); break;
      case 'answer': break;  // shown with the result
      case 'done': break;
      case 'note': {
        if (e.hop > 0) {
          const note = this.hopNode(e.hop).querySelector<HTMLElement>('.hop-note')!;
          note.hidden = false;
          note.textContent = e.message;
        }
        break;
      }
      case 'error': this.setStatus(e.message, 'error'); break;
    }
  }

  private renderHop(t: HopTrace): void {
    const li = this.hopNode(t.hop);
    li.classList.remove('pending');
    li.dataset.source = t.source;
    li.querySelector('.hop-source')!.textContent = SOURCE_LABEL[t.source] ?? t.source;
    const q = li.querySelector<HTMLElement>('.hop-query')!;
    q.textContent = displayQuery(t.query);
    q.title = t.query;
    if (t.note) {
      const note = li.querySelector<HTMLElement>('.hop-note')!;
      note.hidden = false;
      note.textContent = t.note;
    }
    const fresh = new Set(t.newChunks);
    const found = li.querySelector<HTMLElement>('.hop-found')!;
    replace(found,
      h('div', { class: 'hop-count' }, `${plural(t.results.length, ['passage', 'passages'])}, ${t.newChunks.length} new`,
        t.llmMs ? ` · model ${(t.llmMs / 1000).toFixed(1)} s` : ''),
      h('ul', { class: 'hop-hits' }, t.results.map((p) => h('li', { class: fresh.has(p.chunkId) ? 'new' : 'seen', data: { chunk: p.chunkId } },
        h('span', { class: 'hit-title' }, p.title), p.section ? h('span', { class: 'hit-section' }, ` — ${p.section}`) : null))));
  }

  showResult(result: AskResult, feedback: FeedbackRecord | undefined): void {
    this.current = result;
    this.draft = draftFrom(feedback);
    this.question.value = result.question;
    this.timeline.replaceChildren();
    for (const hop of result.hops) this.renderHop(hop);
    this.timeline.dataset.hops = String(result.hops.length);
    this.traceSection.hidden = result.hops.length === 0;
    this.renderAnswer(result);
    this.renderPassages(result);
    this.renderFeedback(result);
  }

  private renderAnswer(result: AskResult): void {
    if (!result.answer) { this.answerSection.hidden = true; return; }
    const body = h('p', { class: 'answer-text', attrs: { id: 'answer-text' } });
    // Text with [n] markers turned into buttons; everything else stays text.
    const re = /\[(\d{1,3})\]/g;
    let last = 0;
    let m: RegExpExecArray | null;
    const cited = new Set(result.citations.map((c) => c.marker));
    while ((m = re.exec(result.answer)) !== null) {
      append(body, [result.answer.slice(last, m.index)]);
      const n = Number(m[1]);
      if (cited.has(n)) {
        body.append(h('button', {
          class: 'cite', attrs: { type: 'button', title: `Passage ${n}` },
          on: { click: () => this.results.querySelector<HTMLElement>(`[data-rank="${n}"]`)?.scrollIntoView({ behavior: 'smooth' }) },
        }, `[${n}]`));
      }
      last = m.index + m[0].length;
    }
    append(body, [result.answer.slice(last)]);
    replace(this.answerSection, h('h2', null, 'Answer'), body,
      h('p', { class: 'muted small' }, `Written by ${result.model || 'the model'} from the passages below. Check it against them.`));
    this.answerSection.hidden = false;
  }

  private renderPassages(result: AskResult): void {
    const stems = highlightTerms([result.question, ...result.hops.map((x) => displayQuery(x.query))]);
    this.results.replaceChildren();
    if (result.passages.length === 0) {
      this.results.append(h('p', { class: 'empty' }, 'Nothing found. Try other words, more hops, or index more documents.'));
    }
    result.passages.forEach((p, i) => this.results.append(this.passageCard(p, i + 1, stems, result)));
    this.resultsSection.hidden = false;
  }

  private passageCard(p: Passage, rank: number, stems: string[], result: AskResult): HTMLElement {
    const meta: Child[] = [];
    const date = formatDate(p.date);
    if (date) meta.push(h('span', { class: 'date' }, date));
    if (p.matter) meta.push(h('span', { class: 'matter' }, `Matter ${p.matter}`));
    if (p.section) meta.push(h('span', { class: 'section' }, p.section));
    const text = h('p', { class: 'passage-text clamp' }, highlightNodes(p.text, stems));
    const more = h('button', {
      class: 'link small', attrs: { type: 'button', 'aria-expanded': false },
      on: {
        click: () => {
          const open = text.classList.toggle('clamp');
          more.textContent = open ? 'Show full passage' : 'Show less';
          more.setAttribute('aria-expanded', String(!open));
        },
      },
    }, 'Show full passage');
    const label = (value: PassageLabel, caption: string) => h('button', {
      class: `label ${value}`, attrs: { type: 'button', 'aria-pressed': this.draft.labels[p.chunkId] === value },
      data: { label: value },
      on: {
        click: (e) => {
          const current = this.draft.labels[p.chunkId];
          if (current === value) delete this.draft.labels[p.chunkId];
          else this.draft.labels[p.chunkId] = value;
          const card = (e.currentTarget as HTMLElement).closest('article')!;
          for (const b of card.querySelectorAll<HTMLElement>('button.label')) {
            b.setAttribute('aria-pressed', String(this.draft.labels[p.chunkId] === b.dataset.label));
          }
          this.scheduleSave();
        },
      },
    }, caption);
    const actions = (this.host.passageActions ?? []).map((a) => h('button', {
      class: 'secondary small',
      attrs: { type: 'button', title: a.unavailable ?? a.title ?? a.label, disabled: Boolean(a.unavailable) },
      ...(a.unavailable ? { data: { unavailable: a.unavailable } } : {}),
      on: {
        click: async () => {
          try {
            const msg = await a.run(p, result);
            this.setStatus(msg || `${a.label}: done`, 'ok');
          } catch (err) {
            this.setStatus(`${a.label} failed: ${(err as Error).message}`, 'error');
          }
        },
      },
    }, a.label));
    const kind = p.kind === 'email' ? 'Mail' : p.kind === 'web' ? 'Web page' : 'Document';
    return h('article', { class: 'passage', data: { rank: String(rank), chunk: p.chunkId, doc: p.docId } },
      h('header', null, h('span', { class: 'rank' }, String(rank)),
        h('div', { class: 'head' }, h('h3', { class: 'title', attrs: { title: `${kind}: ${p.title}` } }, p.title),
          h('div', { class: 'meta' }, meta))),
      text, more,
      h('footer', null,
        h('div', { class: 'judge', attrs: { role: 'group', 'aria-label': 'Is this passage relevant?' } },
          label('relevant', 'Relevant'), label('not_relevant', 'Not relevant')),
        h('div', { class: 'actions' }, actions)));
  }

  private renderFeedback(result: AskResult): void {
    const d = this.draft;
    const thumb = (value: 'up' | 'down', caption: string, glyph: string) => h('button', {
      class: `thumb ${value}`, attrs: { type: 'button', id: `thumb-${value}`, 'aria-pressed': d.rating === value, title: caption },
      on: {
        click: () => {
          d.rating = d.rating === value ? null : value;
          for (const b of this.feedbackSection.querySelectorAll<HTMLElement>('button.thumb')) {
            b.setAttribute('aria-pressed', String(b.id === `thumb-${d.rating}`));
          }
          this.scheduleSave();
        },
      },
    }, h('span', { attrs: { 'aria-hidden': true } }, glyph), ` ${caption}`);
    const critique = h('textarea', { attrs: { id: 'critique', rows: 2, maxlength: 20000, placeholder: 'What is missing or wrong? (optional)' } });
    critique.value = d.critique;
    const corrected = h('textarea', { attrs: { id: 'corrected-answer', rows: 3, maxlength: 20000, placeholder: 'The answer you would have given (optional)' } });
    corrected.value = d.correctedAnswer;
    const consent = h('input', { attrs: { type: 'checkbox', id: 'consent' } });
    consent.checked = d.consentToTrain;
    const privileged = h('input', { attrs: { type: 'checkbox', id: 'privileged' } });
    privileged.checked = d.privileged;
    const saved = h('span', { class: 'saved muted small', attrs: { id: 'feedback-saved', 'aria-live': 'polite' } });
    const save = h('button', {
      class: 'primary', attrs: { type: 'button', id: 'save-feedback' },
      on: {
        click: () => {
          d.critique = critique.value;
          d.correctedAnswer = corrected.value;
          d.consentToTrain = consent.checked;
          d.privileged = privileged.checked;
          void this.saveFeedback();
        },
      },
    }, 'Save feedback');
    consent.addEventListener('change', () => { d.consentToTrain = consent.checked; this.scheduleSave(); });
    privileged.addEventListener('change', () => {
      d.privileged = privileged.checked;
      if (privileged.checked) { consent.checked = false; d.consentToTrain = false; }
      this.scheduleSave();
    });
    replace(this.feedbackSection,
      h('h2', null, 'Your judgment'),
      h('div', { class: 'thumbs', attrs: { role: 'group', 'aria-label': result.answer ? 'Was the answer helpful?' : 'Were these results helpful?' } },
        h('div', { class: 'prompt' }, result.answer ? 'Was the answer helpful?' : 'Were these results helpful?'),
        h('div', { class: 'row' }, thumb('up', 'Helpful', '👍'), thumb('down', 'Not helpful', '👎'))),
      h('details', { class: 'more-feedback', attrs: { open: Boolean(d.critique || d.correctedAnswer) } },
        h('summary', null, 'Critique or correct the answer'),
        h('label', { attrs: { for: 'critique' } }, 'Critique'), critique,
        h('label', { attrs: { for: 'corrected-answer' } }, 'Corrected answer'), corrected),
      h('label', { class: 'check', attrs: { for: 'consent' } }, consent,
        h('span', null, 'May be used to improve search and models (training export)')),
      h('label', { class: 'check', attrs: { for: 'privileged' } }, privileged,
        h('span', null, 'Privileged — never exported')),
      h('div', { class: 'row' }, save, saved));
    this.feedbackSection.hidden = false;
  }

  private scheduleSave(): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => { void this.saveFeedback(); }, 600);
  }

  async saveFeedback(): Promise<FeedbackRecord | undefined> {
    if (this.saveTimer) { clearTimeout(this.saveTimer); this.saveTimer = null; }
    if (!this.current) return undefined;
    const d = this.draft;
    const input: FeedbackInput = {
      traceId: this.current.traceId, rating: d.rating, labels: { ...d.labels }, critique: d.critique,
      correctedAnswer: d.correctedAnswer, consentToTrain: d.consentToTrain, privileged: d.privileged,
    };
    const saved = this.feedbackSection.querySelector<HTMLElement>('#feedback-saved');
    try {
      const record = await this.client.feedback(input);
      const t = new Date(record.timeMs).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
      if (saved) { saved.textContent = `Saved ${t}`; saved.dataset.recordId = record.recordId; }
      return record;
    } catch (e) {
      if (saved) saved.textContent = '';
      this.setStatus(`Feedback not saved: ${(e as Error).message}`, 'error');
      return undefined;
    }
  }

  // ---------------------------------------------------------------- history

  private async renderHistory(): Promise<void> {
    let entries: HistoryEntry[];
    try {
      entries = await this.client.history();
    } catch (e) {
      replace(this.historyList, h('li', { class: 'error' }, (e as Error).message));
      return;
    }
    if (entries.length === 0) {
      replace(this.historyList, h('li', { class: 'empty' }, 'No questions yet.'));
      return;
    }
    replace(this.historyList, entries.map((entry) => {
      const r = entry.result;
      const f = entry.feedback;
      const badges: Child[] = [];
      if (f?.rating === 'up') badges.push(h('span', { class: 'badge up' }, 'Helpful'));
      if (f?.rating === 'down') badges.push(h('span', { class: 'badge down' }, 'Not helpful'));
      if (f?.labels.length) badges.push(h('span', { class: 'badge' }, plural(f.labels.length, ['passage judged', 'passages judged'])));
      if (f?.critique) badges.push(h('span', { class: 'badge' }, 'Critique'));
      if (f?.correctedAnswer) badges.push(h('span', { class: 'badge' }, 'Corrected'));
      if (f?.privileged) badges.push(h('span', { class: 'badge priv' }, 'Privileged'));
      if (!f) badges.push(h('span', { class: 'badge none' }, 'No feedback yet'));
      const when = new Date(r.timeMs).toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
      return h('li', { data: { trace: r.traceId } },
        h('button', {
          class: 'history-item', attrs: { type: 'button' },
          on: { click: () => { void this.show('ask').then(() => this.showResult(r, f)); } },
        },
        h('span', { class: 'q' }, r.question),
        h('span', { class: 'when muted small' }, `${when} · ${plural(r.hops.length, ['hop', 'hops'])} · ${r.options.rewrite.toUpperCase()}`),
        h('span', { class: 'badges' }, badges)),
        f?.critique ? h('p', { class: 'critique small' }, f.critique) : null);
    }));
  }

  private async exportFeedback(): Promise<void> {
    const format = this.exportFormat.value as ExportFormat;
    let text: string;
    try {
      text = await this.client.exportFeedback(format);
    } catch (e) {
      this.setStatus(`Export failed: ${(e as Error).message}`, 'error');
      return;
    }
    if (!text.trim() || (format === 'demos' && !/"question"/.test(text))) {
      this.setStatus('Nothing to export in this format: no feedback with consent that is not privileged (and, for triplets and preference pairs, no passage judgments or corrected answers).', 'error');
      return;
    }
    const json = format === 'demos';
    const blob = new Blob([text], { type: json ? 'application/json' : 'application/jsonl' });
    const a = document.createElement('a');
    a.download = `foldback-${format}-${new Date().toISOString().slice(0, 10)}.${json ? 'json' : 'jsonl'}`;
    a.href = URL.createObjectURL(blob);  // a blob: URL of our own making, never document text
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    const rows = json ? 1 : text.trim().split('\n').length;
    this.setStatus(json ? 'Exported the query-writer demos.' : `Exported ${plural(rows, ['line', 'lines'])}.`, 'ok');
  }

  private async forgetMatter(): Promise<void> {
    const matter = this.forgetMatterInput.value.trim();
    if (!matter) { this.setStatus('Type the matter whose feedback should be forgotten.', 'error'); return; }
    try {
      const { forgotten } = await this.client.forgetMatter(matter);
      this.forgetMatterInput.value = '';
      this.setStatus(`Forgot ${plural(forgotten, ['feedback record', 'feedback records'])} of matter ${matter}.`, 'ok');
      await this.renderHistory();
    } catch (e) {
      this.setStatus((e as Error).message, 'error');
    }
  }

  // ---------------------------------------------------------------- settings

  /**
   * Settings' "Firm server" section: search the firm's `foldback serve`
   * (URL + token) instead of this computer's engine. The token is kept
   * where the LLM key is kept and is never shown back.
   */
  private async serverSettings(): Promise<HTMLElement[]> {
    const store = this.settingsStore;
    const s = await store.load();
    const token = await store.tokenStatus();
    const url = h('input', { attrs: { id: 'server-url', type: 'url', placeholder: 'https://foldback.yourfirm.example', autocomplete: 'off', spellcheck: false, disabled: store.serverPinned } });
    url.value = s.serverUrl;
    const tokenInput = h('input', { attrs: { id: 'server-token', type: 'password', autocomplete: 'off', spellcheck: false, placeholder: token.set ? 'A token is set — type to replace it' : 'Paste the token your IT gave you' } });
    const remember = h('input', { attrs: { type: 'checkbox', id: 'remember-token' } });
    remember.checked = token.remembered;
    const message = h('p', { class: 'small', attrs: { id: 'server-message', role: 'status' } });
    const state = h('p', { class: 'small', attrs: { id: 'server-state' } },
      s.serverUrl ? `Searching the firm server ${s.serverUrl}. ${token.set ? (token.remembered ? 'A token is set and remembered on this device.' : 'A token is set for this session.') : 'No token set.'}`
        : 'Searching the documents on this computer.');
    const say = (text: string, kind: 'ok' | 'error') => { message.textContent = text; message.dataset.kind = kind; };
    const save = h('button', {
      class: 'primary', attrs: { type: 'button', id: 'save-server' },
      on: {
        click: async () => {
          const u = store.serverPinned ? s.serverUrl : url.value.trim();
          if (u) {
            let parsed: URL | null = null;
            try { parsed = new URL(u); } catch { parsed = null; }
            if (!parsed || !/^https?:$/.test(parsed.protocol)) { say('The firm server must be a URL such as https://foldback.yourfirm.example.', 'error'); return; }
            if (!endpointAllowed(u, store.serverOrigins)) {
              say(store.serverOrigins.length
                ? `This server is not one this plugin may use. Allowed: ${store.serverOrigins.join(', ')}`
                : 'This plugin was built without a firm server, so its security policy blocks every server. Ask your IT for a build made with FOLDBACK_SERVER_ORIGIN.', 'error');
              return;
            }
          }
          this.settings = { ...this.readControls(), serverUrl: u };
          await store.save(this.settings);
          if (tokenInput.value) {
            await store.setToken(tokenInput.value, remember.checked);
            tokenInput.value = '';  // never kept in the page
          }
          await this.renderSettings();
          const m = this.views.settings.querySelector<HTMLElement>('#server-message')!;
          m.textContent = u ? `Using the firm server ${u}.` : 'Using this computer\'s engine.';
          m.dataset.kind = 'ok';
          await this.refreshStatus();
        },
      },
    }, 'Use this server');
    const local = h('button', {
      class: 'secondary', attrs: { type: 'button', id: 'use-local', disabled: store.serverPinned || !s.serverUrl },
      on: {
        click: async () => {
          this.settings = { ...this.readControls(), serverUrl: '' };
          await store.save(this.settings);
          await this.renderSettings();
          await this.refreshStatus();
        },
      },
    }, 'Use this computer');
    const forget = h('button', {
      class: 'secondary', attrs: { type: 'button', id: 'forget-token', disabled: !token.set },
      on: { click: async () => { await store.clearToken(); await this.renderSettings(); } },
    }, 'Forget token');
    const parts: Array<HTMLElement | null> = [
      h('h2', null, 'Firm server'),
      h('p', { class: 'muted' }, store.serverPinned
        ? 'Your firm searches one shared index on its foldback server; your walls come from your token.'
        : 'Optional. Search your firm\'s shared foldback server instead of this computer. The server decides which matters you may see from your token.'),
      h('label', { attrs: { for: 'server-url' } }, 'Server URL'), url,
      h('label', { attrs: { for: 'server-token' } }, 'Token'), tokenInput,
      store.canRemember ? h('label', { class: 'check', attrs: { for: 'remember-token' } }, remember, h('span', null, 'Remember the token on this device')) : null,
      state,
      h('p', { class: 'note small' }, store.keyNote.replace(/\bkey\b/g, 'token')),
      h('div', { class: 'row' }, save, local, forget), message,
    ];
    return parts.filter((x): x is HTMLElement => x !== null);
  }

  private async renderSettings(): Promise<void> {
    const view = this.views.settings;
    const s = await this.settingsStore.load();
    const key = await this.settingsStore.keyStatus();
    const endpoint = h('input', { attrs: { id: 'endpoint', type: 'url', placeholder: 'https://llm.yourfirm.example/v1', autocomplete: 'off', spellcheck: false } });
    endpoint.value = s.endpoint;
    const model = h('input', { attrs: { id: 'model', type: 'text', placeholder: 'e.g. gpt-4o-mini', autocomplete: 'off', spellcheck: false } });
    model.value = s.model;
    const apiKey = h('input', { attrs: { id: 'api-key', type: 'password', autocomplete: 'off', spellcheck: false, placeholder: key.set ? 'A key is set — type to replace it' : 'Paste the API key' } });
    const remember = h('input', { attrs: { type: 'checkbox', id: 'remember-key' } });
    remember.checked = key.remembered;
    const keyState = h('p', { class: 'small', attrs: { id: 'key-state' } },
      key.set ? (key.remembered ? 'A key is set and remembered on this device.' : 'A key is set for this session.') : 'No key set.');
    const message = h('p', { class: 'small', attrs: { id: 'settings-message', role: 'status' } });
    const saveBtn = h('button', {
      class: 'primary', attrs: { type: 'button', id: 'save-settings' },
      on: {
        click: async () => {
          const ep = endpoint.value.trim();
          if (ep && !endpointAllowed(ep, this.settingsStore.allowedOrigins)) {
            message.textContent = `This endpoint is not allowed by this plugin's configuration. Allowed: ${this.settingsStore.allowedOrigins.join(', ')}`;
            message.dataset.kind = 'error';
            return;
          }
          this.settings = { ...this.readControls(), endpoint: ep, model: model.value.trim() };
          await this.settingsStore.save(this.settings);
          if (apiKey.value) {
            await this.settingsStore.setKey(apiKey.value, remember.checked);
            apiKey.value = '';  // never kept in the page
          }
          message.textContent = 'Settings saved.';
          message.dataset.kind = 'ok';
          await this.renderSettings();
          (this.views.settings.querySelector('#settings-message') as HTMLElement).textContent = 'Settings saved.';
        },
      },
    }, 'Save settings');
    const forget = h('button', {
      class: 'secondary', attrs: { type: 'button', id: 'forget-key', disabled: !key.set },
      on: { click: async () => { await this.settingsStore.clearKey(); await this.renderSettings(); } },
    }, 'Forget key');
    replace(view, ...(await this.serverSettings()),
      h('h2', null, 'Language model endpoint'),
      h('p', { class: 'muted' }, 'Optional. Without it, foldback rewrites queries offline (RM3) and nothing leaves this computer.'),
      h('label', { attrs: { for: 'endpoint' } }, 'Endpoint (OpenAI-compatible)'), endpoint,
      h('label', { attrs: { for: 'model' } }, 'Model'), model,
      h('label', { attrs: { for: 'api-key' } }, 'API key'), apiKey,
      this.settingsStore.canRemember ? h('label', { class: 'check', attrs: { for: 'remember-key' } }, remember, h('span', null, 'Remember the key on this device')) : null,
      keyState,
      h('p', { class: 'note small' }, this.settingsStore.keyNote),
      h('p', { class: 'note small' }, `Allowed endpoints: ${this.settingsStore.allowedOrigins.join(', ')}. The page's security policy blocks every other host.`),
      h('div', { class: 'row' }, saveBtn, forget), message);
  }
}

function numberInput(id: string, min: number, max: number): HTMLInputElement {
  return h('input', { attrs: { id, type: 'number', min, max, step: 1, inputmode: 'numeric' } });
}

function labelled(caption: string, input: HTMLInputElement, hint: string): HTMLElement {
  return h('label', { class: 'field', attrs: { for: input.id, title: hint } }, h('span', null, caption), input);
}

/** A list of indexed documents with remove buttons (used by every host). */
export function documentList(docs: DocMeta[], onRemove: (id: string) => void): HTMLElement {
  if (docs.length === 0) return h('p', { class: 'muted small', attrs: { id: 'doc-list' } }, 'Nothing indexed yet.');
  return h('ul', { class: 'doc-list', attrs: { id: 'doc-list' } }, docs.slice(0, 50).map((d) => h('li', { data: { doc: d.id } },
    h('span', { class: 'doc-title' }, d.title),
    h('span', { class: 'muted small' }, [formatDate(d.date), d.from].filter(Boolean).join(' · ')),
    h('button', { class: 'link small', attrs: { type: 'button', title: `Remove ${d.title} from the index` }, on: { click: () => onRemove(d.id) } }, 'Remove'))));
}
