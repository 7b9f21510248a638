// The engine adapter: the one module the plugin UIs talk to.
//
// The UIs depend on the `FoldbackClient` interface only. `LocalEngine`
// implements it on top of the WebAssembly package (@foldback/core) in the
// same page (Office task panes, the extension's offscreen document); the
// extension's side panel uses a proxy with the same interface
// (plugins/browser/sidepanel.ts).
//
// Everything that matters happens in the package: multi-hop asking with LLM
// or RM3 rewriting and its trace (engine.ask, the C++ ask session), LLM calls
// with the native host's retry and deadline policy (@foldback/core/host),
// feedback validated, durably logged and folded back (engine.feedback), the
// fine-tuning exports (engine.export), and IndexedDB persistence of the
// corpus, the feedback log and the traces (@foldback/core/storage). This file
// maps the package's shapes onto the UI's and keeps what only the plugins
// know: the documents' display metadata, the endpoint allow-list, the limits
// of the controls.

import { createEngine, type Engine, type SearchHit, type StoredTrace, type TraceHop as CoreHop, type TracePassage, type TraceHit } from '@foldback/core';
import { createLlmHost } from '@foldback/core/host';
import type { Storage } from '@foldback/core/storage';
import { enforcePolicy, type Policy } from './policy';

// ------------------------------------------------------------------ types

export type RewriteMode = 'llm' | 'rm3' | 'none';
export type ExportFormat = 'sft' | 'triplets' | 'dpo' | 'demos';
export type PassageLabel = 'relevant' | 'partly' | 'not_relevant';

export interface DocInput {
  id: string;
  title: string;
  text: string;
  kind?: 'document' | 'email' | 'web';
  matter?: string;
  /** ISO 8601 date of the document or message, when known. */
  date?: string;
  /** Where it came from: a URL, "Outlook", a file name. Shown as text only. */
  source?: string;
  from?: string;
  to?: string[];
  messageId?: string;
  attachments?: Array<{ name: string; contentType?: string; size?: number }>;
  /** The document this one is part of (an attachment's message), as the CLI's parent_id. */
  parentId?: string;
}

export type DocMeta = Omit<DocInput, 'text'> & { chunks: number; addedAt: number; textBytes: number };

export interface Passage {
  chunkId: string;
  docId: string;
  title: string;
  section: string;
  matter: string;
  text: string;
  score: number;
  date?: string;
  kind?: string;
  source?: string;
}

export interface AskOptions {
  hops?: number;      // 1..6, default 2
  depth?: number;     // passages per hop, 1..50, default 5
  topK?: number;      // passages in the result, 1..50, default 5
  rewrite?: RewriteMode;  // default 'rm3'
  answer?: boolean;   // write an answer with [n] citations (LLM only)
  allowedMatters?: string[];
  /** Milliseconds for the whole question (LLM calls), default 60 s. */
  deadlineMs?: number;
}

export interface LlmConfig {
  /** Base URL of an OpenAI-compatible API, e.g. https://llm.firm.example/v1 */
  endpoint: string;
  model: string;
  /** Given per call, never stored by the adapter, never in a trace. */
  apiKey?: string;
}

export type HopSource = 'question' | 'llm' | 'rm3' | 'fallback-rm3' | 'fallback-question';

export interface HopTrace {
  hop: number;
  query: string;
  source: HopSource;
  results: Passage[];
  newChunks: string[];
  llmMs: number;
  llmAttempts: number;
  note: string;
}

export interface Citation { marker: number; chunkId: string; docId: string }

export interface AskResult {
  traceId: string;
  question: string;
  options: Required<Omit<AskOptions, 'allowedMatters'>> & { allowedMatters?: string[] };
  hops: HopTrace[];
  passages: Passage[];
  answer: string;
  citations: Citation[];
  fallbacks: string[];
  errors: string[];
  /** The session stopped before the hops asked for: a hop found nothing new, or the model said NONE. */
  stoppedEarly: boolean;
  model: string;
  programVersion: string;
  timeMs: number;
  elapsedMs: number;
}

export type AskEvent =
  | { kind: 'hop-started'; hop: number }
  | { kind: 'query'; hop: number; query: string; source: HopSource }
  | { kind: 'note'; hop: number; message: string }
  | { kind: 'retrieved'; hop: number; trace: HopTrace }
  | { kind: 'fallback'; hop: number; message: string }
  | { kind: 'answer'; answer: string; citations: Citation[] }
  | { kind: 'done'; result: AskResult }
  | { kind: 'error'; message: string };

export interface FeedbackInput {
  traceId: string;
  rating?: 'up' | 'down' | null;
  labels?: Record<string, PassageLabel>;
  critique?: string;
  correctedAnswer?: string;
  preferredRewrite?: string;
  consentToTrain?: boolean;
  privileged?: boolean;
  tags?: string[];
}

/** The core's FeedbackRecord (core/include/foldback/feedback.h), camelCased. */
export interface FeedbackRecord {
  version: 1;
  recordId: string;
  traceId: string;
  timeMs: number;
  user: string;
  matter: string;
  question: string;
  hopQueries: string[];
  results: Array<{ chunkId: string; docId: string; rank: number; score: number; textHash: string; matter: string }>;
  answer: string;
  rating: '' | 'up' | 'down';
  labels: Array<{ chunkId: string; label: PassageLabel }>;
  critique: string;
  correctedAnswer: string;
  preferredRewrite: string;
  tags: string[];
  consentToTrain: boolean;
  privileged: boolean;
  programVersion: string;
  model: string;
  /** The earlier judgments this one replaced, in the same write (absent from a server's answer). */
  replaces?: string[];
}

export interface HistoryEntry { result: AskResult; feedback?: FeedbackRecord }

export interface EngineStatus {
  documents: number;
  chunks: number;
  vectors: number;
  corpusName: string;
}

/** What every plugin UI uses. */
export interface FoldbackClient {
  status(): Promise<EngineStatus>;
  index(docs: DocInput[]): Promise<{ added: number; chunks: number; replaced: number }>;
  remove(id: string): Promise<void>;
  documents(): Promise<DocMeta[]>;
  /** Replaces the corpus with a snapshot (bytes from engine.snapshot() or the CLI). */
  loadSnapshot(bytes: Uint8Array, name: string): Promise<EngineStatus>;
  search(query: string, options?: { topK?: number; allowedMatters?: string[] }): Promise<Passage[]>;
  ask(question: string, options: AskOptions, onEvent: (e: AskEvent) => void, llm?: LlmConfig): Promise<AskResult>;
  feedback(input: FeedbackInput): Promise<FeedbackRecord>;
  history(): Promise<HistoryEntry[]>;
  /**
   * Fine-tuning data from the feedback (records with consent that are not
   * privileged): 'sft' (OpenAI chat JSONL, the default), 'triplets'
   * (sentence-transformers), 'dpo' (TRL), 'demos' (a DSPy program, JSON).
   */
  exportFeedback(format?: ExportFormat): Promise<string>;
  /** Forgets every feedback record of a matter, for good. */
  forgetMatter(matter: string): Promise<{ forgotten: number }>;
}

export class AdapterError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'AdapterError';
  }
}

// ------------------------------------------------------------------ limits

export const LIMITS = {
  hops: [1, 6], depth: [1, 50], topK: [1, 50],
  questionBytes: 4096,
  /** The core's FeedbackLimits::kMaxTextBytes. */
  textBytes: 64 * 1024,
  documentBytes: 20 * 1024 * 1024,
} as const;

/** Zero-width and bidi-control characters, removed from indexed text. */
export function stripInvisible(s: string): string {
  return s.replace(/[\u200B-\u200D\u2060-\u2064\uFEFF\u202A-\u202E\u2066-\u2069\u00AD]/g, '');
}

function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).length;
}

function intIn(name: string, value: unknown, [lo, hi]: readonly [number, number], dflt: number): number {
  if (value === undefined || value === null || value === '') return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < lo || n > hi) {
    throw new AdapterError('Invalid argument', `${name} must be a whole number from ${lo} to ${hi} (got ${String(value)})`);
  }
  return n;
}

export function normalizeAskOptions(o: AskOptions): AskResult['options'] {
  const rewrite = o.rewrite ?? 'rm3';
  if (!['llm', 'rm3', 'none'].includes(rewrite)) {
    throw new AdapterError('Invalid argument', `rewrite must be llm, rm3 or none (got ${String(rewrite)})`);
  }
  const out: AskResult['options'] = {
    hops: intIn('hops', o.hops, LIMITS.hops, 2),
    depth: intIn('depth', o.depth, LIMITS.depth, 5),
    topK: intIn('top-k', o.topK, LIMITS.topK, 5),
    rewrite,
    answer: Boolean(o.answer),
    deadlineMs: intIn('deadline', o.deadlineMs, [1000, 600000], 60000),
  };
  if (o.allowedMatters) out.allowedMatters = [...o.allowedMatters];
  return out;
}

export { endpointAllowed } from './endpoint-allowed';

function isEmptyFeedback(i: FeedbackInput): boolean {
  return !i.rating && Object.keys(i.labels ?? {}).length === 0 && !i.critique && !i.correctedAnswer &&
    !i.preferredRewrite && !(i.tags ?? []).length;
}

// ------------------------------------------------------------------ the local engine

export interface LocalEngineOptions {
  /** IndexedDB persistence: openStorage() from '@foldback/core/storage'. */
  storage: Storage;
  /** Where foldback_core.wasm is served from (browsers). */
  wasmUrl?: string;
  /** Origins LLM endpoints may have (the page's CSP connect-src says the same). */
  allowedOrigins?: readonly string[];
  fetchFn?: typeof fetch;
  /** Pseudonymous user id recorded in traces and feedback. */
  user?: string;
  /** What the firm's IT set (shared/policy.ts): enforced on every search and ask. */
  policy?: Policy;
  /** Set when the policy present could not be used: searches and asks are refused (fail closed). */
  policyProblems?: string[];
}

/** The name the corpus, its feedback log and its traces are kept under. */
const CORPUS = 'corpus';
const DOC_PREFIX = 'doc/';

const PROVISIONAL_SOURCE: Record<RewriteMode, HopSource> = { llm: 'llm', rm3: 'rm3', none: 'question' };

export class LocalEngine implements FoldbackClient {
  private engine!: Engine;
  private docs = new Map<string, DocMeta>();
  private corpusName = '';
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: LocalEngineOptions) {}

  /** Replaces the policy (the extension's background sends the managed one with each request). */
  setPolicy(policy: Policy, problems: string[] = []): void {
    this.opts.policy = policy;
    this.opts.policyProblems = problems;
  }

  /** The policy's decision for a request; throws when a policy is present but unusable. */
  private decide(endpoint: string | undefined, allowedMatters: readonly string[] | undefined): ReturnType<typeof enforcePolicy> {
    if (this.opts.policyProblems?.length) {
      throw new AdapterError('Failed precondition', `your firm's foldback policy cannot be used: ${this.opts.policyProblems.join('; ')}`);
    }
    return enforcePolicy(this.opts.policy ?? {}, this.opts.allowedOrigins ?? [], {
      ...(endpoint ? { endpoint } : {}), ...(allowedMatters ? { allowedMatters } : {}),
    });
  }

  private engineOptions(): { wasmUrl?: string; user?: string } {
    return { ...(this.opts.wasmUrl ? { wasmUrl: this.opts.wasmUrl } : {}), ...(this.opts.user ? { user: this.opts.user } : {}) };
  }

  /** Opens the engine with the corpus, feedback and traces kept in `storage`. */
  static async open(opts: LocalEngineOptions): Promise<LocalEngine> {
    const self = new LocalEngine(opts);
    const { storage } = opts;
    let snapshot: Uint8Array | null = null;
    let damaged = false;
    try {
      snapshot = await storage.loadSnapshot(CORPUS);
    } catch {
      damaged = true;  // stored chunks disagree with their header
    }
    try {
      if (damaged) throw new Error('damaged');
      self.engine = await createEngine({ ...self.engineOptions(), storage, name: CORPUS, ...(snapshot ? { snapshot } : {}) });
    } catch (e) {
      // Only a snapshot that does not load is treated as damaged; storage
      // failures (quota, a blocked database) are reported as they are.
      const code = (e as { code?: string }).code;
      if (!damaged && !(snapshot && (code === 'Corruption' || code === 'Not supported'))) throw e;
      // A damaged corpus must not lock the lawyer out: start empty, keep the bytes.
      if (snapshot) await storage.setItem('snapshot.damaged', snapshot);
      await storage.deleteSnapshot(CORPUS);
      self.engine = await createEngine({ ...self.engineOptions(), storage, name: CORPUS, index: {} });
      for (const { key } of await storage.listItems(DOC_PREFIX)) await storage.removeItem(key);
    }
    for (const { value } of await storage.listItems<DocMeta>(DOC_PREFIX)) self.docs.set(value.id, value);
    self.corpusName = (await storage.getItem<string>('corpusName')) ?? '';
    return self;
  }

  /** One operation at a time: the engine must not change while a question runs. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  async status(): Promise<EngineStatus> {
    const s = this.engine.stats();
    return { documents: s.documents, chunks: s.chunks, vectors: s.vectors, corpusName: this.corpusName };
  }

  index(docs: DocInput[]): Promise<{ added: number; chunks: number; replaced: number }> {
    return this.serial(async () => {
      const checked = docs.map((d, i) => {
        if (!d || typeof d.id !== 'string' || !d.id) throw new AdapterError('Invalid argument', `document ${i + 1} has no id`);
        if (typeof d.text !== 'string') throw new AdapterError('Invalid argument', `document ${d.id} has no text`);
        if (utf8Bytes(d.text) > LIMITS.documentBytes) {
          throw new AdapterError('Out of range', `document ${d.id} is larger than ${LIMITS.documentBytes >> 20} MiB`);
        }
        // Invisible characters hide instructions from the reader: drop them.
        return { ...d, text: stripInvisible(d.text), title: stripInvisible(d.title || d.id) };
      });
      let chunks = 0;
      let replaced = 0;
      const metas: DocMeta[] = [];
      for (const d of checked) {
        const metadata: Record<string, string | string[]> = {};
        if (d.date) metadata.date = d.date;
        if (d.from) metadata.from = d.from;
        if (d.to?.length) metadata.to = d.to;
        if (d.messageId) metadata.message_id = d.messageId;
        if (d.source) metadata.source = d.source;
        const report = this.engine.add({
          id: d.id, title: d.title || d.id, text: d.text, kind: d.kind ?? 'document', metadata,
          ...(d.matter ? { matter: d.matter } : {}), ...(d.parentId ? { parentId: d.parentId } : {}),
        });
        chunks += report.chunks;
        if (report.replaced) replaced++;
        const { text, ...rest } = d;
        metas.push({ ...rest, chunks: report.chunks, addedAt: Date.now(), textBytes: utf8Bytes(text) });
      }
      this.tryBuildDense();
      for (const m of metas) {
        this.docs.set(m.id, m);
        await this.opts.storage.setItem(DOC_PREFIX + m.id, m);
      }
      await this.engine.save();
      return { added: checked.length - replaced, chunks, replaced };
    });
  }

  private tryBuildDense(): void {
    const s = this.engine.stats();
    if (s.chunks < 120) return;  // the static embedder needs a corpus to train on
    try { this.engine.buildDense(); } catch { /* too small or too uniform: BM25 alone */ }
  }

  remove(id: string): Promise<void> {
    return this.serial(async () => {
      // The engine removes the document with its attachments: forget each.
      for (const gone of this.engine.remove(id)) {
        this.docs.delete(gone);
        await this.opts.storage.removeItem(DOC_PREFIX + gone);
      }
      await this.engine.save();
    });
  }

  async documents(): Promise<DocMeta[]> {
    return [...this.docs.values()].sort((a, b) => b.addedAt - a.addedAt);
  }

  loadSnapshot(bytes: Uint8Array, name: string): Promise<EngineStatus> {
    return this.serial(async () => {
      if (!(bytes instanceof Uint8Array) || bytes.length === 0) {
        throw new AdapterError('Invalid argument', 'the corpus file is empty');
      }
      // Load first: a bad file leaves the current corpus untouched.
      const next = await createEngine({ ...this.engineOptions(), storage: this.opts.storage, name: CORPUS, snapshot: bytes });
      this.engine.dispose();
      this.engine = next;
      this.corpusName = name;
      for (const id of this.docs.keys()) await this.opts.storage.removeItem(DOC_PREFIX + id);
      this.docs.clear();
      await this.engine.save();
      await this.opts.storage.setItem('corpusName', name);
      return this.status();
    });
  }

  private toPassage(h: TracePassage | SearchHit): Passage {
    const meta = this.docs.get(h.docId);
    const p: Passage = {
      chunkId: h.chunkId, docId: h.docId, title: h.title || meta?.title || h.docId, section: h.section,
      matter: h.matter, text: h.text, score: h.score,
    };
    if (meta?.date) p.date = meta.date;
    if (meta?.kind) p.kind = meta.kind;
    if (meta?.source) p.source = meta.source;
    return p;
  }

  private toHop(h: CoreHop): HopTrace {
    return {
      hop: h.hop, query: h.query, source: h.source, results: h.results.filter((p) => p.text).map((p) => this.toPassage(p)),
      newChunks: h.newChunks, llmMs: h.llmMs, llmAttempts: h.llmAttempts, note: h.note,
    };
  }

  private mode(): 'hybrid' | 'bm25' {
    return this.engine.stats().vectors > 0 ? 'hybrid' : 'bm25';
  }

  search(query: string, options: { topK?: number; allowedMatters?: string[] } = {}): Promise<Passage[]> {
    return this.serial(async () => {
      if (!query.trim()) throw new AdapterError('Invalid argument', 'the query is empty');
      const wall = this.decide(undefined, options.allowedMatters).allowedMatters;
      const hits = this.engine.search(query, {
        topK: intIn('top-k', options.topK, LIMITS.topK, 10), mode: this.mode(),
        ...(wall ? { allowedMatters: wall } : {}),
      });
      return hits.map((h) => this.toPassage(h));
    });
  }

  ask(question: string, options: AskOptions, onEvent: (e: AskEvent) => void, llm?: LlmConfig): Promise<AskResult> {
    return this.serial(async () => {
      const q = String(question ?? '').replace(/\s+/g, ' ').trim();
      if (!q) throw new AdapterError('Invalid argument', 'the question is empty');
      if (utf8Bytes(q) > LIMITS.questionBytes) {
        throw new AdapterError('Out of range', `the question is longer than ${LIMITS.questionBytes} bytes`);
      }
      const o = normalizeAskOptions(options);
      if (o.rewrite === 'llm' && !llm?.endpoint) {
        throw new AdapterError('Failed precondition', 'LLM rewriting needs an endpoint: set one in Settings, or choose RM3');
      }
      let host = null;
      const calls = Boolean(llm?.endpoint && (o.rewrite === 'llm' || o.answer));
      const decision = this.decide(calls ? llm?.endpoint : undefined, o.allowedMatters);
      if (llm?.endpoint && calls) {
        if (!decision.endpointAllowed) {
          throw new AdapterError('Permission denied', `${decision.reason}: ${new URL(llm.endpoint, 'http://x').origin}`);
        }
        host = createLlmHost({
          endpoint: llm.endpoint, model: llm.model, ...(llm.apiKey ? { apiKey: llm.apiKey } : {}),
          ...(this.opts.fetchFn ? { fetch: this.opts.fetchFn } : {}),
        });
      }
      const emit = (e: AskEvent) => { try { onEvent(e); } catch { /* a UI error must not stop the question */ } };
      // The live view of a hop, until the result replaces it: the query and
      // the hits come from the engine's events; the source is what the mode
      // implies unless the hop fell back, and "new" is what no earlier hop
      // showed (the final trace also counts near-duplicates as seen).
      const fellBack = new Set<number>();
      const queries = new Map<number, string>();
      const seen = new Set<string>();
      const run = this.engine.ask(q, {
        hops: o.hops, depth: o.depth, topK: o.topK, rewrite: o.rewrite, answer: o.answer && host !== null,
        deadlineMs: o.deadlineMs, mode: this.mode(),
        ...(decision.allowedMatters ? { allowedMatters: decision.allowedMatters } : {}),
        ...(decision.redactPatterns.length ? { redactPatterns: decision.redactPatterns } : {}),
        ...(this.opts.user ? { user: this.opts.user } : {}),
        onEvent: (e) => {
          switch (e.kind) {
            case 'hop-started': emit({ kind: 'hop-started', hop: e.hop }); break;
            case 'query':
              queries.set(e.hop, e.query);
              emit({ kind: 'query', hop: e.hop, query: e.query, source: fellBack.has(e.hop) ? 'fallback-rm3' : PROVISIONAL_SOURCE[o.rewrite] });
              break;
            case 'retrieved': {
              const results = e.hits.filter((p) => p.text).map((p) => this.toPassage(p));
              const newChunks = results.map((p) => p.chunkId).filter((id) => !seen.has(id));
              for (const id of newChunks) seen.add(id);
              emit({
                kind: 'retrieved', hop: e.hop, trace: {
                  hop: e.hop, query: queries.get(e.hop) ?? '', source: fellBack.has(e.hop) ? 'fallback-rm3' : PROVISIONAL_SOURCE[o.rewrite],
                  results, newChunks, llmMs: 0, llmAttempts: 0, note: '',
                },
              });
              break;
            }
            case 'fallback':
              if (e.hop > 0) fellBack.add(e.hop);
              emit({ kind: 'fallback', hop: e.hop, message: e.message });
              break;
            case 'error': emit({ kind: 'note', hop: e.hop, message: e.message }); break;
            default: break;
          }
        },
      }, host);
      const r = await run;
      const result: AskResult = {
        traceId: r.traceId, question: r.question, options: o, hops: r.trace.hops.map((h) => this.toHop(h)),
        passages: r.passages.map((p) => this.toPassage(p)), answer: r.answer, citations: r.citations,
        fallbacks: r.trace.fallbacks, errors: r.trace.errors, stoppedEarly: r.trace.stoppedEarly, model: r.trace.model,
        programVersion: r.trace.programVersion, timeMs: r.timeMs, elapsedMs: r.elapsedMs,
      };
      if (result.answer) emit({ kind: 'answer', answer: result.answer, citations: result.citations });
      emit({ kind: 'done', result });
      return result;
    });
  }

  private latestRecord(traceId: string): FeedbackRecord | undefined {
    let latest: FeedbackRecord | undefined;
    for (const r of this.engine.feedbackRecords() as FeedbackRecord[]) {
      if (r.traceId === traceId && (!latest || r.recordId > latest.recordId)) latest = r;
    }
    return latest;
  }

  feedback(input: FeedbackInput): Promise<FeedbackRecord> {
    return this.serial(async () => {
      const traceId = String(input?.traceId ?? '');
      const previous = this.latestRecord(traceId);
      if (isEmptyFeedback(input)) {
        // The lawyer took their judgment back: the earlier record goes.
        if (!(await this.engine.trace(traceId))) throw new AdapterError('Not found', `unknown question (trace '${traceId}')`);
        if (previous) await this.engine.forgetRecord(previous.recordId);
        return {
          version: 1, recordId: '', traceId, timeMs: Date.now(), user: this.opts.user ?? '', matter: '', question: '',
          hopQueries: [], results: [], answer: '', rating: '', labels: [], critique: '', correctedAnswer: '',
          preferredRewrite: '', tags: [], consentToTrain: false, privileged: false, programVersion: '', model: '',
        };
      }
      const record = await this.engine.feedback({
        traceId, labels: { ...(input.labels ?? {}) },
        ...(input.rating ? { rating: input.rating } : {}),
        ...(input.critique ? { critique: input.critique } : {}),
        ...(input.correctedAnswer ? { correctedAnswer: input.correctedAnswer } : {}),
        ...(input.preferredRewrite ? { preferredRewrite: input.preferredRewrite } : {}),
        ...(input.tags ? { tags: input.tags } : {}),
        consentToTrain: Boolean(input.consentToTrain) && !input.privileged, privileged: Boolean(input.privileged),
        ...(this.opts.user ? { user: this.opts.user } : {}),
        // The latest judgment of a question replaces the earlier one, in the
        // same write (the core's replace_earlier): a record once consented
        // and now privileged never stays exportable, whatever stops midway.
        replaceEarlier: true,
      }) as FeedbackRecord;
      return record;
    });
  }

  private fromStored(t: StoredTrace): AskResult {
    const resolve = (hits: TraceHit[]): TracePassage[] => {
      const info = this.engine.chunks(hits.map((h) => h.chunkId));
      return hits.flatMap((h, i) => {
        const c = info[i];
        return c ? [{ ...h, text: c.text, title: c.title, section: c.section, matter: c.matter }] : [];
      });
    };
    const so = t.options as Partial<AskOptions> & { rewrite?: RewriteMode };
    const options: AskResult['options'] = {
      hops: Number(so.hops ?? t.trace.hops.length), depth: Number(so.depth ?? 5), topK: Number(so.topK ?? 5),
      rewrite: so.rewrite ?? 'rm3', answer: Boolean(so.answer), deadlineMs: Number(so.deadlineMs ?? 60000),
    };
    if (so.allowedMatters) options.allowedMatters = [...so.allowedMatters];
    return {
      traceId: t.traceId, question: t.question, options,
      hops: t.trace.hops.map((h) => this.toHop({ ...h, results: resolve(h.results) })),
      passages: resolve(t.trace.fused).map((p) => this.toPassage(p)),
      answer: t.answer, citations: t.citations, fallbacks: t.trace.fallbacks, errors: t.trace.errors,
      stoppedEarly: t.trace.stoppedEarly, model: t.trace.model, programVersion: t.trace.programVersion, timeMs: t.timeMs, elapsedMs: t.elapsedMs,
    };
  }

  history(): Promise<HistoryEntry[]> {
    return this.serial(async () => {
      const traces = await this.engine.traces();
      return traces.map((t) => {
        const result = this.fromStored(t);
        const feedback = this.latestRecord(t.traceId);
        return feedback ? { result, feedback } : { result };
      });
    });
  }

  exportFeedback(format: ExportFormat = 'sft'): Promise<string> {
    return this.serial(async () => this.engine.export(format));
  }

  forgetMatter(matter: string): Promise<{ forgotten: number }> {
    return this.serial(async () => {
      if (!String(matter ?? '').trim()) throw new AdapterError('Invalid argument', 'name the matter whose feedback should be forgotten');
      return this.engine.forgetMatter(String(matter).trim());
    });
  }
}
