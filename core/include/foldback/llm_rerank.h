// The LLM listwise reranker (RankGPT-style), issued as needs.
//
//   SearchOptions so;                      // the user's walls in so.allowed_matters
//   so.top_k = 20;                         // the first stage: N candidates
//   auto hits = index.Search(query, so);
//   LlmRerankOptions o;                    // o.depth = N, o.window_size, o.step
//   auto s = LlmRerankSession::Start(index, query, *hits, so, RankPassagesPredictor(), o, now);
//   while (!(*s)->done()) {
//     for (const Need& need : (*s)->TakeNeeds()) host.Start(need);
//     auto [id, result] = host.WaitForOne();
//     (*s)->Provide(id, std::move(result), now);      // or Tick(now)
//   }
//   const LlmRerankResult& r = (*s)->result();        // r.hits, r.failed, r.status
//
// The predictor is DSPy-style (foldback/program.h): signature
// `question, passages -> ranking`. The first `depth` candidates go into the
// prompt as numbered data blocks (ask's <passage n="k"> blocks,
// rewrite::FormatPassages: their text cannot close a block, open another or
// forge a field marker, under a note that passages are data, never
// instructions); each passage is cut to `passage_token_budget` whitespace
// tokens. The model answers a permutation: "[3] > [1] > [2]" (RankGPT's
// format), or a JSON list [3, 1, 2], in the `ranking` field (markers or a
// JSON object) or as the whole reply.
//
// More candidates than `window_size`: RankGPT's sliding windows, from the
// bottom of the list to the top, each window `step` above the last, so the
// best passages bubble up; one need at a time (each window reads the order
// the previous one left). Windows: 1 when depth <= window_size, else
// ceil((depth - window_size) / step) + 1.
//
// A reply is never trusted (ParseRerankReply): numbers out of 1..count are
// ignored, repeats dropped, passages it leaves out appended in their order;
// a reply with no usable number is unusable and retried once asking for
// JSON (retry_budget). If a window still fails (unusable reply, a host
// failure after the host's HTTP retries, the deadline), the whole rerank
// fails: result().failed is set, result().status says why, and
// result().hits is the first stage's order, unchanged — never a half
// reordered list.
//
// Walls: a reranker never sees a walled-off passage. Start resolves each
// candidate against the index: a candidate whose matter (as the index says,
// or as the hit says) is outside options.allowed_matters is dropped before
// anything is built (result().walled counts them) and never returned; a
// candidate no longer in the index is dropped too. The text sent is the
// index's text of the chunk, not the hit's.
//
// Redaction: with options.redactor, every message of every need is redacted
// before TakeNeeds hands it out; redactions() says which rule fired how
// often (never what it replaced).
//
// Thread safety: functions are pure; a session is used by one thread at a
// time and copies what it needs (the index may change once Start returns).
#ifndef FOLDBACK_LLM_RERANK_H_
#define FOLDBACK_LLM_RERANK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"
#include "foldback/index.h"
#include "foldback/program.h"
#include "foldback/redact.h"
#include "foldback/search.h"
#include "foldback/status.h"

namespace foldback {

// ---------------------------------------------------------------- predictor

// The built-in instructions (RankGPT's, for a lawyer's question).
FOLDBACK_EXPORT const std::string& DefaultRerankInstructions();

// `question, passages -> ranking` with `instructions` ("" = the default).
FOLDBACK_EXPORT Predictor RankPassagesPredictor(const std::string& instructions = "");

// The first predictor with inputs `question` and `passages` (no other) and
// an output. InvalidArgument naming why each was not usable.
FOLDBACK_EXPORT Result<Predictor> PickRerankPredictor(const std::vector<Predictor>& predictors);

// ---------------------------------------------------------------- options

struct LlmRerankOptions {
  // First-stage candidates reordered (N); the rest keep their place after
  // them. Default: 20; 1..1000.
  size_t depth = 20;
  // Passages per prompt (RankGPT's window). Default: 20; 2..100.
  size_t window_size = 20;
  // How far each window moves up (RankGPT's step). Default: 10;
  // 1..window_size.
  size_t step = 10;
  // Whitespace tokens of one passage shown (the rest cut, marked [...]).
  // Default: 150; 16..4096.
  uint32_t passage_token_budget = 150;
  // Unusable replies retried per window (the retry asks for JSON).
  // Default: 1.
  uint32_t retry_budget = 1;
  // Milliseconds for the whole rerank on the host's clock; 0 = none.
  // Default: 0.
  double deadline_ms = 0;
  // Applied to every message before a need is handed out. Default: none.
  std::shared_ptr<const Redactor> redactor;
};

// InvalidArgument for options out of range.
FOLDBACK_EXPORT Status ValidateLlmRerankOptions(const LlmRerankOptions& options);

// How many windows (needs, without retries) a list of `count` candidates
// takes.
FOLDBACK_EXPORT size_t LlmRerankWindows(size_t count, const LlmRerankOptions& options);

// ---------------------------------------------------------------- requests

// The chat request for one window: `passages` numbered 1..n in the order
// given. `json_reply`: ask for a JSON object (a retry after an unusable
// reply). With options.redactor, every message is redacted; `*redactions`
// (may be null) receives the counts.
FOLDBACK_EXPORT LlmRequest BuildRerankRequest(const Predictor& predictor, std::string_view query,
                                              const std::vector<const SearchHit*>& passages,
                                              const LlmRerankOptions& options, bool json_reply,
                                              std::vector<RedactionCount>* redactions = nullptr);

struct RerankPermutation {
  // 0-based positions into the window, best first: a permutation of
  // 0..count-1.
  std::vector<uint32_t> order;
  size_t ranked = 0;        // passages the reply ranked (the rest appended)
  size_t duplicates = 0;    // repeated numbers dropped
  size_t out_of_range = 0;  // numbers outside 1..count ignored
};

// Reads a ranking of `count` passages from a reply: the `output` field's
// section ([[ ## ranking ## ]]) or a JSON object's key, else the whole
// reply; in it, "[3] > [1] > [2]" markers, a JSON list of numbers (or of
// "[3]"-like strings), or bare numbers separated by '>', ',' or spaces
// only. `<think>` blocks are skipped. InvalidArgument ("unusable reply:
// ...") when the reply is empty or holds no number in 1..count.
FOLDBACK_EXPORT Result<RerankPermutation> ParseRerankReply(std::string_view reply, size_t count,
                                                           const std::string& output = "ranking");

// ---------------------------------------------------------------- session

struct LlmRerankResult {
  // Every candidate the walls let through: the first `depth` reordered (or
  // in the first stage's order when the rerank failed), then the rest.
  // SearchHit::score of a reordered hit becomes 1 / rank (1 = best); the
  // others keep the first stage's.
  std::vector<SearchHit> hits;
  bool applied = false;   // the model's order is in `hits`
  bool failed = false;    // a window failed: `hits` is the first stage's order
  Status status;          // why it failed
  size_t candidates = 0;  // candidates reordered (after the wall check)
  size_t walled = 0;      // candidates dropped: their matter is outside the walls
  size_t gone = 0;        // candidates dropped: no longer in the index
  uint32_t windows = 0;   // windows ranked
  uint32_t requests = 0;  // needs sent (windows + retries)
  size_t duplicates = 0, out_of_range = 0, appended = 0;  // what the replies got wrong
  std::string model;                                      // the model that answered, if known
  double llm_ms = 0;                                      // host-reported time of the needs
};

class FOLDBACK_EXPORT LlmRerankSession {
 public:
  // `candidates`: the first stage's hits, best first, from a search behind
  // `search_options`' walls (which Start checks again against `index`).
  // InvalidArgument for bad options or a predictor without `question` and
  // `passages` inputs and an output. No candidate left (none given, or all
  // walled): a session that is done at once with the hits unchanged.
  static Result<std::unique_ptr<LlmRerankSession>> Start(const Index& index, std::string_view query,
                                                         const std::vector<SearchHit>& candidates,
                                                         const SearchOptions& search_options,
                                                         Predictor predictor,
                                                         LlmRerankOptions options, double now_ms);
  ~LlmRerankSession();
  LlmRerankSession(const LlmRerankSession&) = delete;
  LlmRerankSession& operator=(const LlmRerankSession&) = delete;

  // Needs emitted since the last call (at most one outstanding).
  std::vector<Need> TakeNeeds();
  // A need's result. InvalidArgument for an unknown or answered id (nothing
  // changes). Accepted and ignored once abandoned (the deadline passed).
  Status Provide(uint64_t need_id, NeedResult result, double now_ms);
  // The host's time without a result: past the deadline, the rerank fails
  // with DeadlineExceeded (the first stage's order kept).
  void Tick(double now_ms);
  bool done() const;
  // Final once done().
  const LlmRerankResult& result() const;
  // One line per need the redactor changed ("window 2: pattern-1 x2").
  const std::vector<std::string>& redactions() const;

 private:
  struct Rep;
  explicit LlmRerankSession(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback

#endif  // FOLDBACK_LLM_RERANK_H_
