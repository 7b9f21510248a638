// The firm server as an engine: the same FoldbackClient the local engine
// implements (engine-adapter.ts), over `foldback serve`'s HTTP API
// (docs/serve.md, native/serve/openapi.json).
//
// What stays on the server: the index, the walls (from the token's user,
// never from this client), the LLM and its key, the traces, the feedback
// log and the exports. What this module does: build the requests, read the
// answers (an ask's hops as server-sent events, shown as they arrive), and
// turn HTTP errors into messages a lawyer can act on. The token goes in the
// Authorization header of each request and nowhere else: never in a URL, a
// body, a log line, a trace or a feedback record.
//
// `ServerSwitch` is what a plugin hands its UI: the local engine, or the
// firm server when Settings (or the firm's policy) name one.

import {
  AdapterError, LIMITS, normalizeAskOptions, type AskEvent, type AskOptions, type AskResult, type DocInput, type DocMeta,
  type EngineStatus, type ExportFormat, type FeedbackInput, type FeedbackRecord, type FoldbackClient, type HistoryEntry,
  type HopSource, type HopTrace, type LlmConfig, type Passage, type RewriteMode,
} from './engine-adapter';
import { endpointAllowed } from './endpoint-allowed';

export interface ServerConfig {
  /** Base URL of `foldback serve`, e.g. https://foldback.firm.example */
  url: string;
  /** The bearer token; empty when none was entered (every /v1 request then fails with 401). */
  token: string;
}

export interface RemoteEngineOptions extends ServerConfig {
  /** Origins a server may have: the build's FOLDBACK_SERVER_ORIGIN (what the page's CSP allows). */
  allowedOrigins: readonly string[];
  fetchFn?: typeof fetch;
}

const PROVISIONAL_SOURCE: Record<RewriteMode, HopSource> = { llm: 'llm', rm3: 'rm3', none: 'question' };

/** Whether `url` may be used as a firm server by a plugin built with `allowedOrigins`. */
export function serverAllowed(url: string, allowedOrigins: readonly string[]): boolean {
  return endpointAllowed(url, allowedOrigins);
}

interface ServerHit {
  chunk_id: string; doc_id: string; score: number;
  title?: string; section?: string; matter?: string; text?: string;
}

interface ServerAsk {
  trace_id: string;
  hops: Array<{ query: string; results: ServerHit[] }>;
  results: ServerHit[];
  answer?: string;
  citations?: Array<{ marker: number; chunk_id: string; doc_id: string }>;
  fallbacks: string[];
}

function toPassage(h: ServerHit): Passage {
  return {
    chunkId: h.chunk_id, docId: h.doc_id, title: h.title || h.doc_id, section: h.section ?? '',
    matter: h.matter ?? '', text: h.text ?? '', score: h.score,
  };
}

export class RemoteEngine implements FoldbackClient {
  private readonly base: URL;
  private readonly fetchFn: typeof fetch;
  /** This pane's questions (the server keeps the traces; it has no route to list them). */
  private readonly asked: HistoryEntry[] = [];
  /** Documents sent from this pane (the server lists none). */
  private readonly sent = new Map<string, DocMeta>();

  constructor(private readonly opts: RemoteEngineOptions) {
    let base: URL;
    try {
      base = new URL(opts.url);
    } catch {
      throw new AdapterError('Invalid argument', `the firm server must be a URL such as https://foldback.firm.example (got ${opts.url})`);
    }
    if (!serverAllowed(base.href, opts.allowedOrigins)) {
      throw new AdapterError('Permission denied', opts.allowedOrigins.length
        ? `${base.origin} is not a firm server this plugin may use (allowed: ${opts.allowedOrigins.join(', ')})`
        : `this plugin was built without a firm server origin, so its security policy blocks ${base.origin}: ask your IT to build it with FOLDBACK_SERVER_ORIGIN=${base.origin}`);
    }
    this.base = base;
    this.fetchFn = opts.fetchFn ?? ((...a) => fetch(...a));
  }

  get origin(): string { return this.base.origin; }

  private url(path: string, query?: Record<string, string>): string {
    const u = new URL(path.replace(/^\//, ''), this.base.href.endsWith('/') ? this.base.href : this.base.href + '/');
    for (const [k, v] of Object.entries(query ?? {})) u.searchParams.set(k, v);
    return u.href;
  }

  /** One request; HTTP and network errors become AdapterErrors with the server's message. */
  private async request(method: string, path: string, init: { query?: Record<string, string>; json?: unknown; accept?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: init.accept ?? 'application/json' };
    if (this.opts.token) headers.Authorization = `Bearer ${this.opts.token}`;
    if (init.json !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(this.url(path, init.query), {
        method, headers, credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      });
    } catch (e) {
      throw new AdapterError('Unavailable', `the firm server ${this.origin} cannot be reached (${(e as Error).message}); check its address in Settings`);
    }
    if (res.ok) return res;
    let message = '';
    try {
      const body = JSON.parse(await res.text()) as { error?: { message?: string } };
      message = String(body.error?.message ?? '');
    } catch { /* not our JSON: the status says enough */ }
    if (res.status === 401) {
      throw new AdapterError('Unauthenticated', `the firm server did not accept your token (HTTP 401): enter the token your IT gave you in Settings`);
    }
    if (res.status === 403) throw new AdapterError('Permission denied', `the firm server refused: ${message || 'forbidden'} (HTTP 403)`);
    if (res.status === 429) throw new AdapterError('Resource exhausted', 'the firm server is busy with your earlier requests: try again in a moment (HTTP 429)');
    if (res.status === 404) throw new AdapterError('Not found', `${message || 'not found'} (HTTP 404)`);
    throw new AdapterError(res.status >= 500 ? 'Internal' : 'Invalid argument', `the firm server answered HTTP ${res.status}${message ? `: ${message}` : ''}`);
  }

  async status(): Promise<EngineStatus> {
    await this.request('GET', '/healthz');
    return { documents: -1, chunks: -1, vectors: -1, corpusName: `Firm server ${this.base.host}` };
  }

  async index(docs: DocInput[]): Promise<{ added: number; chunks: number; replaced: number }> {
    let chunks = 0;
    for (const d of docs) {
      if (!d.matter) throw new AdapterError('Invalid argument', `choose the matter ${d.title || d.id} goes in: the firm server files every document under a matter`);
      const res = await this.request('POST', '/v1/documents', { json: { matter: d.matter, id: d.id, title: d.title || d.id, text: d.text } });
      const body = await res.json() as { documents: Array<{ id: string; chunks: number }> };
      for (const r of body.documents) chunks += r.chunks;
      const { text, ...rest } = d;
      this.sent.set(d.id, { ...rest, chunks: body.documents[0]?.chunks ?? 0, addedAt: Date.now(), textBytes: new TextEncoder().encode(text).length });
    }
    return { added: docs.length, chunks, replaced: 0 };
  }

  async remove(id: string): Promise<void> {
    await this.request('DELETE', `/v1/documents/${id.split('/').map(encodeURIComponent).join('/')}`);
    this.sent.delete(id);
  }

  async documents(): Promise<DocMeta[]> {
    return [...this.sent.values()].sort((a, b) => b.addedAt - a.addedAt);
  }

  async loadSnapshot(): Promise<EngineStatus> {
    throw new AdapterError('Failed precondition', 'this pane searches your firm server: its corpus is loaded on the server, not here. Switch back to "this computer" in Settings to load a snapshot.');
  }

  async search(query: string, options: { topK?: number; allowedMatters?: string[] } = {}): Promise<Passage[]> {
    if (!query.trim()) throw new AdapterError('Invalid argument', 'the query is empty');
    const topK = options.topK ?? 10;
    // The wall comes from the token; a matter list from this client could only narrow it, and the server takes none.
    const res = await this.request('GET', '/v1/search', { query: { q: query, top_k: String(topK) } });
    const body = await res.json() as { results: ServerHit[] };
    return body.results.map(toPassage);
  }

  async ask(question: string, options: AskOptions, onEvent: (e: AskEvent) => void, _llm?: LlmConfig): Promise<AskResult> {
    const q = String(question ?? '').replace(/\s+/g, ' ').trim();
    if (!q) throw new AdapterError('Invalid argument', 'the question is empty');
    if (new TextEncoder().encode(q).length > LIMITS.questionBytes) {
      throw new AdapterError('Out of range', `the question is longer than ${LIMITS.questionBytes} bytes`);
    }
    const o = normalizeAskOptions(options);
    const emit = (e: AskEvent) => { try { onEvent(e); } catch { /* a UI error must not stop the question */ } };
    const started = Date.now();
    // The LLM and its key are the server's: the endpoint of this pane's Settings is not sent.
    const res = await this.request('POST', '/v1/ask', {
      accept: 'text/event-stream',
      json: { question: q, hops: o.hops, depth: o.depth, top_k: o.topK, rewrite: o.rewrite, answer: o.answer, deadline_ms: o.deadlineMs },
    });
    const source = PROVISIONAL_SOURCE[o.rewrite];
    const queries = new Map<number, string>();
    const fellBack = new Set<number>();
    const seen = new Set<string>();
    let result: ServerAsk | null = null;
    const onServerEvent = (event: string, data: string) => {
      const d = JSON.parse(data) as Record<string, unknown>;
      const hop = Number(d.hop ?? 0);
      if (event === 'query') {
        if (!queries.has(hop)) emit({ kind: 'hop-started', hop });
        queries.set(hop, String(d.query ?? ''));
        emit({ kind: 'query', hop, query: String(d.query ?? ''), source: fellBack.has(hop) ? 'fallback-rm3' : source });
      } else if (event === 'retrieved') {
        const results = (d.results as ServerHit[]).map(toPassage);
        const newChunks = results.map((p) => p.chunkId).filter((id) => !seen.has(id));
        for (const id of newChunks) seen.add(id);
        emit({
          kind: 'retrieved', hop, trace: {
            hop, query: queries.get(hop) ?? '', source: fellBack.has(hop) ? 'fallback-rm3' : source, results, newChunks,
            llmMs: 0, llmAttempts: 0, note: '',
          },
        });
      } else if (event === 'fallback') {
        if (hop > 0) fellBack.add(hop);
        emit({ kind: 'fallback', hop, message: String(d.message ?? '') });
      } else if (event === 'error') {
        const err = (d as { error?: { code?: string; message?: string } }).error;
        throw new AdapterError('Internal', `the firm server could not answer: ${err?.message ?? 'error'}`);
      } else if (event === 'result') {
        result = d as unknown as ServerAsk;
      }
    };
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream') && res.body) {
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (value) buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (data.length) onServerEvent(event, data.join('\n'));
        }
        if (done) break;
      }
    } else {
      result = await res.json() as ServerAsk;
    }
    if (!result) throw new AdapterError('Unavailable', 'the firm server closed the connection before the answer');
    const r: ServerAsk = result;
    const hopsSeen = new Set<string>();
    const hops: HopTrace[] = r.hops.map((h, i) => {
      const results = h.results.map(toPassage);
      const newChunks = results.map((p) => p.chunkId).filter((id) => !hopsSeen.has(id));
      for (const id of newChunks) hopsSeen.add(id);
      return {
        hop: i + 1, query: h.query, source: i === 0 ? 'question' : fellBack.has(i + 1) ? 'fallback-rm3' : source,
        results, newChunks, llmMs: 0, llmAttempts: 0, note: '',
      };
    });
    const out: AskResult = {
      traceId: r.trace_id, question: q, options: o, hops, passages: r.results.map(toPassage),
      answer: r.answer ?? '', citations: (r.citations ?? []).map((c) => ({ marker: c.marker, chunkId: c.chunk_id, docId: c.doc_id })),
      fallbacks: r.fallbacks ?? [], errors: [], stoppedEarly: hops.length < o.hops, model: '', programVersion: '',
      timeMs: started, elapsedMs: Date.now() - started,
    };
    if (out.answer) emit({ kind: 'answer', answer: out.answer, citations: out.citations });
    emit({ kind: 'done', result: out });
    this.asked.unshift({ result: out });
    return out;
  }

  async feedback(input: FeedbackInput): Promise<FeedbackRecord> {
    const traceId = String(input?.traceId ?? '');
    const labels = Object.entries(input.labels ?? {});
    const blank: FeedbackRecord = {
      version: 1, recordId: '', traceId, timeMs: Date.now(), user: '', matter: '', question: '', hopQueries: [], results: [],
      answer: '', rating: '', labels: [], critique: '', correctedAnswer: '', preferredRewrite: '', tags: [],
      consentToTrain: false, privileged: false, programVersion: '', model: '',
    };
    const empty = !input.rating && labels.length === 0 && !input.critique && !input.correctedAnswer && !input.preferredRewrite && !(input.tags ?? []).length;
    // The latest judgment of a question replaces the earlier one, as on this
    // computer's engine: the server writes the new record with the earlier
    // ones it replaces (replace_earlier, one write), so that one consented
    // before and now privileged is no longer used or exported; a judgment
    // taken back forgets the earlier record (its author may).
    const entry = this.asked.find((e) => e.result.traceId === traceId);
    const previous = entry?.feedback?.recordId ?? '';
    if (empty) {
      if (previous) await this.forgetRecord(previous);
      if (entry) delete entry.feedback;
      return blank;
    }
    const pick = (l: string) => labels.filter(([, v]) => v === l).map(([k]) => k);
    const privileged = Boolean(input.privileged);
    // Only what the lawyer judged goes: never the token (it is in the header), never the key.
    const body = {
      trace_id: traceId, ...(input.rating ? { rating: input.rating } : {}),
      relevant: pick('relevant'), partly: pick('partly'), irrelevant: pick('not_relevant'),
      ...(input.critique ? { critique: input.critique } : {}), ...(input.correctedAnswer ? { correction: input.correctedAnswer } : {}),
      ...(input.preferredRewrite ? { preferred_rewrite: input.preferredRewrite } : {}), ...(input.tags?.length ? { tags: input.tags } : {}),
      consent: Boolean(input.consentToTrain) && !privileged, privileged, replace_earlier: true,
    };
    const res = await this.request('POST', '/v1/feedback', { json: body });
    const r = await res.json() as { record_id: string; trace_id: string; matter: string; replaces?: string[] };
    const record: FeedbackRecord = {
      ...blank, recordId: r.record_id, matter: r.matter ?? '', rating: input.rating ?? '',
      labels: labels.map(([chunkId, label]) => ({ chunkId, label })), critique: input.critique ?? '',
      correctedAnswer: input.correctedAnswer ?? '', preferredRewrite: input.preferredRewrite ?? '', tags: input.tags ?? [],
      consentToTrain: body.consent, privileged, replaces: r.replaces ?? [],
    };
    if (entry) entry.feedback = record;
    return record;
  }

  /** Forgets one of this user's records; one already gone (404) is no error. */
  private async forgetRecord(recordId: string): Promise<void> {
    try {
      await this.request('POST', '/v1/feedback/forget', { json: { record_id: recordId } });
    } catch (e) {
      if (!(e instanceof AdapterError && e.code === 'Not found')) throw e;
    }
  }

  async history(): Promise<HistoryEntry[]> {
    return [...this.asked];
  }

  async exportFeedback(format: ExportFormat = 'sft'): Promise<string> {
    const res = await this.request('GET', '/v1/export', { query: { format }, accept: '*/*' });
    return res.text();
  }

  /** POST /v1/feedback/forget: the server lets a user who may write to the matter forget it (else HTTP 403). */
  async forgetMatter(matter: string): Promise<{ forgotten: number }> {
    const m = String(matter ?? '').trim();
    if (!m) throw new AdapterError('Invalid argument', 'name the matter whose feedback should be forgotten');
    const res = await this.request('POST', '/v1/feedback/forget', { json: { matter: m } });
    const r = await res.json() as { forgotten: number };
    for (const e of this.asked) if (e.feedback?.matter === m) delete e.feedback;
    return { forgotten: Number(r.forgotten ?? 0) };
  }
}

/**
 * What a plugin's UI talks to: the firm server when `server()` names one,
 * else the local engine. `server()` is asked on every call, so a change in
 * Settings applies to the next request.
 */
export class ServerSwitch implements FoldbackClient {
  private cached: { key: string; engine: RemoteEngine } | null = null;

  constructor(readonly local: FoldbackClient,
              private readonly server: () => Promise<ServerConfig | undefined>,
              private readonly allowedOrigins: readonly string[],
              private readonly fetchFn?: typeof fetch) {}

  /** The client for the next request (throws when the configured server is not allowed). */
  async current(): Promise<FoldbackClient> {
    const s = await this.server();
    if (!s?.url) { this.cached = null; return this.local; }
    const key = `${s.url}\n${s.token}`;
    if (this.cached?.key !== key) {
      this.cached = {
        key, engine: new RemoteEngine({ ...s, allowedOrigins: this.allowedOrigins, ...(this.fetchFn ? { fetchFn: this.fetchFn } : {}) }),
      };
    }
    return this.cached.engine;
  }

  async status(): Promise<EngineStatus> { return (await this.current()).status(); }
  async index(docs: DocInput[]) { return (await this.current()).index(docs); }
  async remove(id: string): Promise<void> { return (await this.current()).remove(id); }
  async documents(): Promise<DocMeta[]> { return (await this.current()).documents(); }
  async loadSnapshot(bytes: Uint8Array, name: string): Promise<EngineStatus> { return (await this.current()).loadSnapshot(bytes, name); }
  async search(query: string, options?: { topK?: number; allowedMatters?: string[] }): Promise<Passage[]> {
    return (await this.current()).search(query, options);
  }
  async ask(question: string, options: AskOptions, onEvent: (e: AskEvent) => void, llm?: LlmConfig): Promise<AskResult> {
    return (await this.current()).ask(question, options, onEvent, llm);
  }
  async feedback(input: FeedbackInput): Promise<FeedbackRecord> { return (await this.current()).feedback(input); }
  async history(): Promise<HistoryEntry[]> { return (await this.current()).history(); }
  async exportFeedback(format?: ExportFormat): Promise<string> { return (await this.current()).exportFeedback(format); }
  async forgetMatter(matter: string): Promise<{ forgotten: number }> { return (await this.current()).forgetMatter(matter); }
}
