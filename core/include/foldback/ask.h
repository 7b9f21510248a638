// Ask: multi-hop, query-rewriting retrieval as a sans-IO state machine.
//
// The session never calls an LLM or an embedding model itself. It emits
// *needs*; the host performs them (libcurl natively, fetch() in the browser,
// a C# HttpClient through the C API ...) and hands back the results, in any
// order, several at a time if it likes:
//
//   auto session = AskSession::Start(index, "Can they terminate early?", options);
//   while (!(*session)->done()) {
//     for (const Need& need : (*session)->TakeNeeds()) host.Start(need);
//     auto [id, result] = host.WaitForOne();          // any order
//     (*session)->Provide(id, std::move(result));
//   }
//   const AskResult& r = (*session)->result();         // passages, answer, trace
//
// The host is also the clock: it passes its monotonic time in milliseconds
// to Start, Provide and Tick, and the session derives each need's timeout
// from the per-question deadline.
//
// Per hop, the session writes a query (an LLM need per variant, RM3, or the
// question itself), embeds it when the index's embedder is external and the
// search mode uses vectors (an embedding need), searches the index behind
// the options' walls and filters, and keeps what is new: passages are
// de-duplicated across hops by chunk id and by near-identical text. It stops
// early when a hop adds nothing new or the query writer answers NONE (its
// way of saying no further search is needed). The final ranking fuses the
// hops with reciprocal rank fusion. With options.answer an answer writer then
// answers from the numbered passages; citations to anything but a passage it
// was shown are dropped.
//
// Retrieved text reaches prompts only as data: each passage sits in a
// numbered <passage> block whose text cannot close the block or forge a
// field marker, under a note that passages are never instructions.
//
// Thread safety: a session is used by one thread at a time. The Index must
// outlive the session and must not be mutated while it runs.
#ifndef FOLDBACK_ASK_H_
#define FOLDBACK_ASK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/export.h"
#include "foldback/index.h"
#include "foldback/search.h"
#include "foldback/status.h"

namespace foldback {

class Program;  // program.h: DSPy-style predictors (prompts as data)
class Redactor;  // redact.h: patterns replaced before text leaves for an endpoint
class FoldBack;  // feedback.h: what lawyers' feedback teaches (demos, relevance, adapter)

// ---------------------------------------------------------------- needs

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

// An OpenAI-style chat completion the host should perform.
struct LlmRequest {
  std::vector<ChatMessage> messages;
  double temperature = 0;
  uint32_t max_tokens = 512;
  // When not empty: a JSON schema for the reply (the host sends it as
  // response_format where the endpoint supports it; the session parses the
  // reply either way).
  std::string json_schema;
  std::string json_schema_name;
};

// Texts the host should embed (external embedder or remote endpoint).
struct EmbedRequest {
  std::vector<std::string> texts;
};

struct Need {
  enum class Kind : int { kLlm = 0, kEmbed = 1 };
  uint64_t id = 0;  // unique within the session
  Kind kind = Kind::kLlm;
  uint32_t hop = 0;        // 1-based hop this need serves; 0 = the final answer
  std::string purpose;     // "rewrite" | "answer" | "embed-query" — for display
  LlmRequest llm;          // kind == kLlm
  EmbedRequest embed;      // kind == kEmbed
  // Time the host may spend on this need, including its retries, derived
  // from the question's deadline; 0 = no limit.
  double timeout_ms = 0;
};

// What the host hands back for a need.
struct NeedResult {
  // Non-OK when the host gave up (HTTP error after retries, timeout, endpoint
  // down). The message is shown to the lawyer in the trace: it must never
  // contain an API key.
  Status status;
  std::string text;                         // kLlm: the assistant's content
  std::vector<std::vector<float>> vectors;  // kEmbed: one per text
  std::string model;                        // model that answered, if known
  double elapsed_ms = 0;                    // host-measured, for the trace
  uint32_t attempts = 1;                    // HTTP attempts the host made
  // Token usage the endpoint reported (chat: usage.prompt_tokens,
  // usage.completion_tokens); -1: not reported.
  int64_t input_tokens = -1;
  int64_t output_tokens = -1;
};

// ---------------------------------------------------------------- options

enum class RewriteMode : int {
  kLlm = 0,   // an LLM writes each hop's query (falls back to RM3 on failure)
  kRm3 = 1,   // offline pseudo-relevance feedback
  kNone = 2,  // the question itself, every hop
};
const char* RewriteModeName(RewriteMode mode);  // "llm" | "rm3" | "none"
bool ParseRewriteMode(const std::string& name, RewriteMode* mode);

// RM3 (Lavrenko & Croft's relevance model, as Anserini implements it). An
// RM3 hop expands the question from feedback passages: at hop 1 the top
// fb_docs BM25 results of the question (classic BM25 + RM3), later the top
// fb_docs of the fused ranking so far. Anserini's fb_docs and fb_terms, but
// original_query_weight 0.9 instead of 0.5: measured on ContractNLI dev and
// CUAD (docs/rewrite.md), 0.5 cost ContractNLI 0.10 nDCG@10; 0.9 keeps it
// and still helps CUAD.
struct Rm3Params {
  uint32_t fb_docs = 10;   // feedback passages. Default: 10
  uint32_t fb_terms = 10;  // expansion terms. Default: 10
  double original_query_weight = 0.9;  // Default: 0.9
};

struct AskOptions {
  uint32_t hops = 2;     // Default: 2
  uint32_t depth = 5;    // passages retrieved per hop. Default: 5
  uint32_t top_k = 5;    // passages in the result. Default: 5
  bool answer = false;   // also write an answer with [n] citations
  RewriteMode rewrite = RewriteMode::kLlm;
  // LLM query variants requested in parallel per hop (fused by RRF).
  uint32_t variants = 1;  // Default: 1
  // Tokens of retrieved context per prompt (whitespace tokens). Default: 1500
  uint32_t context_token_budget = 1500;
  // Milliseconds for the whole question, measured on the host's clock;
  // 0 = none. When it passes, outstanding LLM work is abandoned and the
  // remaining hops use RM3 — recorded in the trace.
  double deadline_ms = 0;
  // Unusable LLM replies (unparseable, empty) tolerated per hop before the
  // hop falls back. Retries ask for a JSON reply. Default: 1
  uint32_t retry_budget = 1;
  // Passages whose word 3-shingle Jaccard similarity with an earlier passage
  // reaches this are duplicates (the same clause in two copies of a
  // contract, an attachment forwarded twice). Default: 0.9; 0 disables.
  double near_duplicate_jaccard = 0.9;
  // Search mode, filters and ethical walls applied at every hop (and to the
  // feedback RM3 reads). Its top_k and query_vector are ignored: depth sets
  // the hits per hop, and the session asks the host for query vectors. With
  // one_per_document, a document's first passage stands for it across hops
  // (fused by document; its other chunks are not new).
  SearchOptions search;
  Rm3Params rm3;
  // Host-supplied id of this question's trace (e.g. a UUIDv7); feedback
  // refers to it.
  std::string trace_id;
  // Kept in the trace for the feedback a lawyer later gives on it
  // (BuildFeedbackRecord, foldback/feedback.h): the matter the question was
  // asked in and the pseudonymous user who asked. Default: "" (none).
  std::string matter;
  std::string user;
  // When set: applied to every message of every LLM need and every text of
  // every embedding need before TakeNeeds hands the need out, so what the
  // rules match never reaches the host's endpoint; the trace's redactions
  // say which rule fired how often (never what it replaced). Default: none.
  std::shared_ptr<const Redactor> redactor;
};

// ---------------------------------------------------------------- results

struct TraceHit {
  std::string chunk_id;
  std::string doc_id;
  double score = 0;
};

struct TraceHop {
  uint32_t hop = 0;  // 1-based
  std::string query;  // RM3: "term^weight ..." of the expanded query
  // Every query searched at this hop when there were several LLM variants
  // (`query` is the first); empty otherwise.
  std::vector<std::string> variant_queries;
  // Where the query came from: "question" | "llm" | "rm3" | "fallback-rm3" |
  // "fallback-question".
  std::string source;
  std::vector<TraceHit> results;       // what this hop retrieved
  std::vector<std::string> new_chunks;  // results not seen in earlier hops
  double llm_ms = 0;                   // host-reported time of this hop's LLM calls
  uint32_t llm_attempts = 0;
  std::string note;                    // e.g. why it fell back
  // On the host's clock, in ms since the question started (Trace::calls).
  double start_ms = 0;
  double end_ms = 0;
};

// One need the host answered, for telemetry (foldback/telemetry.h): times
// on the host's clock in ms since the question started; no content.
struct TraceCall {
  uint32_t hop = 0;          // 0: the final answer
  std::string purpose;       // "rewrite" | "answer" | "embed-query"
  std::string operation;     // "chat" | "embeddings"
  double start_ms = 0;       // now_ms of the result - its elapsed_ms
  double end_ms = 0;         // now_ms of the result
  uint32_t attempts = 0;
  std::string model;         // the model that answered ("" unknown)
  int64_t input_tokens = -1;   // -1: not reported
  int64_t output_tokens = -1;
  std::string error;         // "" or the status' code name ("Unavailable")
};

struct Citation {
  uint32_t marker = 0;  // the n of "[n]"
  std::string chunk_id;
  std::string doc_id;
};

// One step of the trace, for hosts that show progress live.
struct TraceEvent {
  enum class Kind : int {
    kHopStarted = 0,
    kQuery = 1,      // the hop's query is known
    kRetrieved = 2,  // the hop's results are known
    kFallback = 3,
    kAnswer = 4,
    kDone = 5,
    kError = 6,
  };
  Kind kind = Kind::kHopStarted;
  uint32_t hop = 0;
  std::string message;
  // kRetrieved: the hop's results, best first (as in TraceHop::results),
  // so that hosts can show passages as each hop completes.
  std::vector<TraceHit> hits;
};

struct Trace {
  std::string trace_id;
  std::string question;
  std::vector<TraceHop> hops;
  std::vector<TraceHit> fused;          // final ranking across hops (RRF)
  std::vector<std::string> fallbacks;   // human-readable, one per fallback
  std::vector<std::string> errors;      // host-reported failures (no secrets)
  // One line per need the redactor changed, e.g. "hop 1 rewrite: ssn x2,
  // email x1" (AskOptions::redactor); never the redacted text.
  std::vector<std::string> redactions;
  std::string program_version;          // hash of the prompts used
  std::string model;                    // model that answered, if any
  // Feedback records whose well-rated rewrites were given to the query
  // writer as demos (FoldBack::DemosFor).
  std::vector<std::string> feedback_demos;
  bool stopped_early = false;           // a hop added nothing / the model said so
  // What a feedback record on this question keeps (BuildFeedbackRecord,
  // foldback/feedback.h), so that a saved trace is all a host needs:
  std::string answer;  // AskResult::answer (empty without options.answer)
  std::string matter;  // AskOptions::matter
  std::string user;    // AskOptions::user
  // The ethical wall the question was asked behind
  // (options.search.allowed_matters); unset: none.
  std::optional<std::set<std::string>> allowed_matters;
  // The scope it was searched in (options.search.filters: a contract's
  // doc_id, a date range): a feedback record keeps it, so that a reranker
  // trained on the record ranks its list in the scope the lawyer searched
  // (TrainSearchReranker, foldback/rerank.h). Empty: the whole index.
  std::vector<Filter> filters;
  // Every need the host answered, in order, and the question's whole time
  // (host clock, ms): what telemetry spans are built from.
  std::vector<TraceCall> calls;
  double elapsed_ms = 0;
};

struct AskResult {
  std::vector<SearchHit> passages;  // top_k, de-duplicated across hops
  std::string answer;               // when options.answer
  std::vector<Citation> citations;  // only markers pointing at retrieved chunks
  Trace trace;
};

// Trace as JSON (stable field names: trace_id, question, hops[{hop, query,
// variant_queries, source, results[{chunk_id, doc_id, score}], new_chunks,
// llm_ms, llm_attempts, note, start_ms, end_ms}], fused, fallbacks, errors,
// redactions (when any), program_version, model, stopped_early,
// feedback_demos, calls[{hop, purpose, operation, start_ms, end_ms,
// attempts, model, input_tokens, output_tokens, error}], elapsed_ms, and
// when set answer, matter, user, allowed_matters, filters[{field, op,
// value}] with op "=", ">=" or "<="), and back.
// TraceFromJson: InvalidArgument naming the field on malformed input;
// absent fields keep their defaults.
std::string TraceToJson(const Trace& trace);
Result<Trace> TraceFromJson(std::string_view json);

// ---------------------------------------------------------------- session

class FOLDBACK_EXPORT AskSession {
 public:
  // Starts a session. `program` (optional) supplies prompts and demos
  // (default: foldback's built-in program); `foldback` (optional) supplies
  // what feedback taught: its demos join the query writer's (walled by
  // options.search.allowed_matters, listed in trace.feedback_demos) and
  // every hop searches through FoldBack::Search (relevance feedback, query
  // adapter). Both must outlive the session.
  // InvalidArgument on an empty or oversized question (> 8 KiB), options out
  // of range (hops 1..16; depth, top_k 1..1000; variants 1..8;
  // context_token_budget >= 1; deadline_ms >= 0; rm3 fb_docs, fb_terms >= 1;
  // original_query_weight, near_duplicate_jaccard in [0, 1]) or a filter
  // naming an unknown field. The first needs are ready at once (TakeNeeds);
  // with rewrite none or rm3 and a lexical search the session may already
  // be done.
  static Result<std::unique_ptr<AskSession>> Start(const Index& index, std::string question,
                                                   const AskOptions& options, double now_ms,
                                                   const Program* program = nullptr,
                                                   const FoldBack* foldback = nullptr);
  virtual ~AskSession();

  // Needs emitted since the last call. Several may be outstanding at once.
  virtual std::vector<Need> TakeNeeds() = 0;
  // Hands back the result of a need, in any order. InvalidArgument for an
  // unknown or already answered id; nothing changes then. A result that
  // arrives once the deadline has passed, or for a need the session
  // abandoned, is accepted (OK) and ignored. A malformed result (vector
  // count or size wrong) counts as a failed need, reported in the trace.
  virtual Status Provide(uint64_t need_id, NeedResult result, double now_ms) = 0;
  // Tells the session the time when the host has no result to give (e.g.
  // its wait timed out). Once the deadline has passed, outstanding needs are
  // abandoned and the session finishes offline (RM3) within the call.
  virtual void Tick(double now_ms) = 0;
  // Progress events since the last call.
  virtual std::vector<TraceEvent> TakeEvents() = 0;
  // True once the result is final. Needs still in flight then were
  // abandoned: the host may cancel them.
  virtual bool done() const = 0;
  // REQUIRES: done()
  virtual const AskResult& result() const = 0;
};

}  // namespace foldback

#endif  // FOLDBACK_ASK_H_
