// Synthetic training questions: an LLM writes the questions a lawyer would
// ask for sampled passages of the firm's corpus, and each (question, passage)
// becomes a training pair for the embedder (foldback/train.h, source "llm").
//
// The predictor is DSPy-style (foldback/program.h): signature
// `passage, count -> questions`, lawyer-style instructions and optional
// demos, loadable from a DSPy saved program like the other predictors. The
// core builds each request and judges each reply; the host only moves bytes:
//
//   - as a durable job (`foldback jobs submit --kind synthesize`, the
//     worker calls BuildQuestionRequest / ParseQuestionReply per item, the
//     job store owns attempts and retries), whose results `foldback jobs
//     results` exports as pairs (QuestionPairLine) that `foldback train
//     --pairs` reads (ParseQuestionPairs, GeneratedTrainingPairs);
//   - inline on a small corpus through QuestionSession, a sans-IO session
//     like AskSession: it emits LLM needs, the host performs them and hands
//     back the results, the session decides retries and the deadline.
//
// Rules shared with `ask`: passages reach the prompt only as data (a
// numbered <passage> block their text cannot close, under a note that
// passages are never instructions); the redactor is applied to every
// message before a need is handed out (counts recorded, never the text);
// walls: SamplePassages and QuestionPassageFor read only what the selection
// (foldback/jobs.h) allows; an unusable reply is retried asking for JSON;
// a host failure (after the host's HTTP retries, wire.h) fails the passage.
//
// A reply is never trusted: it may be empty, not JSON, hold too many or too
// long questions, or copy the passage back. ParseQuestionReply keeps at most
// the questions asked for, drops the unusable ones (saying why, never
// echoing their text) and refuses a reply with none left.
//
// Thread safety: functions are pure; a QuestionSession is used by one
// thread at a time and needs nothing to outlive it (it copies its inputs).
#ifndef FOLDBACK_QUESTIONS_H_
#define FOLDBACK_QUESTIONS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"
#include "foldback/index.h"
#include "foldback/jobs.h"
#include "foldback/program.h"
#include "foldback/redact.h"
#include "foldback/status.h"
#include "foldback/train.h"

namespace foldback {

// ---------------------------------------------------------------- predictor

// The built-in instructions: lawyer-style search questions, answerable from
// the passage, in the lawyer's words rather than the passage's.
FOLDBACK_EXPORT const std::string& DefaultQuestionInstructions();

// `passage, count -> questions` with `instructions` ("" = the default).
FOLDBACK_EXPORT Predictor GenerateQuestionsPredictor(const std::string& instructions = "");

// The first predictor with a `passage` input, no inputs other than passage,
// count and title, and an output. InvalidArgument naming why each was not
// usable.
FOLDBACK_EXPORT Result<Predictor> PickQuestionPredictor(const std::vector<Predictor>& predictors);

// ---------------------------------------------------------------- requests

struct QuestionOptions {
  // Questions asked for per passage. Default: 3; 1..20.
  uint32_t questions_per_passage = 3;
  // Whitespace tokens of the passage shown (the rest is cut). Default: 512.
  uint32_t passage_token_budget = 512;
  // A question longer than this (bytes) is dropped. Default: 300.
  size_t max_question_bytes = 300;
  // A question with fewer words is dropped. Default: 3.
  uint32_t min_question_words = 3;
  // A question whose word 3-shingles lie in the passage at least this
  // share is a copy of the passage and dropped. Default: 0.8; 1 disables
  // for all but verbatim copies.
  double max_copied_share = 0.8;
  // Unusable replies retried per passage (the retry asks for JSON).
  // QuestionSession only: a job's store counts attempts. Default: 1.
  uint32_t retry_budget = 1;
  // Milliseconds for the whole session on the host's clock; 0 = none.
  // QuestionSession only. Default: 0.
  double deadline_ms = 0;
  // Needs outstanding at once. QuestionSession only. Default: 8.
  uint32_t max_in_flight = 8;
  // Applied to every message before a need is handed out. Default: none.
  std::shared_ptr<const Redactor> redactor;
};

// InvalidArgument for options out of range.
FOLDBACK_EXPORT Status ValidateQuestionOptions(const QuestionOptions& options);

struct QuestionPassage {
  std::string chunk_id;
  std::string doc_id;
  std::string title;
  std::string text;
};

// The passage `chunk_id` of `index` if `selection` lets it be read: NotFound
// when it is gone, PermissionDenied when its document's matter is outside
// the selection's walls or matter.
FOLDBACK_EXPORT Result<QuestionPassage> QuestionPassageFor(const Index& index,
                                                           const jobs::Selection& selection,
                                                           const std::string& chunk_id);

// The chat request for one passage. `json_reply`: ask for a JSON object (a
// retry after an unusable reply). With options.redactor, every message is
// redacted; `*redactions` (may be null) receives the counts.
FOLDBACK_EXPORT LlmRequest BuildQuestionRequest(const Predictor& predictor,
                                                const QuestionPassage& passage,
                                                const QuestionOptions& options, bool json_reply,
                                                std::vector<RedactionCount>* redactions = nullptr);

struct QuestionReply {
  std::vector<std::string> questions;  // kept, in the reply's order
  // One reason per candidate dropped ("too long (812 bytes)", "copies the
  // passage", "duplicate", "beyond the 3 asked for", ...): never its text.
  std::vector<std::string> dropped;
};

// Reads the questions from `[[ ## questions ## ]]` (a JSON list of strings,
// or one question per line), a JSON object's `questions` (a list or a
// string), or an unstructured reply (its lines that end with '?'), with
// bullets, numbering and quotes removed. InvalidArgument ("unusable reply:
// ...") when the reply is empty, has another output's markers only, or no
// question survives (the reasons listed).
FOLDBACK_EXPORT Result<QuestionReply> ParseQuestionReply(const Predictor& predictor,
                                                         const QuestionPassage& passage,
                                                         const QuestionOptions& options,
                                                         std::string_view reply);

// ---------------------------------------------------------------- sampling

struct PassageSampleOptions {
  // Passages wanted. Default: 100; >= 1.
  uint32_t count = 100;
  // Default: 42. The same index, selection and seed sample the same
  // passages; a passage's rank depends on its id and the seed only, so
  // adding documents keeps earlier picks unless a new one outranks them.
  uint64_t seed = 42;
  // Passages with fewer whitespace tokens are skipped. Default: 12.
  uint32_t min_words = 12;
  // At most this many passages of one document; 0 = no limit. Default: 0.
  uint32_t max_per_document = 0;
};

// Chunk ids of up to `count` passages of the selection (behind its walls,
// matter and filters; jobs::SelectChunks), excluding passages shorter than
// min_words and repeats of a passage's text (boilerplate in many documents:
// the first in index order stands for it). FailedPrecondition when no
// passage qualifies; the selection's own errors as jobs::SelectChunks.
FOLDBACK_EXPORT Result<std::vector<std::string>> SamplePassages(
    const Index& index, const jobs::Selection& selection, const PassageSampleOptions& options);

// SamplePassages, then QuestionPassageFor each passage sampled: what a
// QuestionSession over a selection starts from (`foldback train
// --generate-questions`, fb_questions_start, engine.generateQuestions).
// Errors as those two.
FOLDBACK_EXPORT Result<std::vector<QuestionPassage>> SampleQuestionPassages(
    const Index& index, const jobs::Selection& selection, const PassageSampleOptions& options);

// ---------------------------------------------------------------- session

struct GeneratedQuestions {
  std::string chunk_id;
  std::string doc_id;
  Status status;  // non-OK: no question (host failure, unusable replies, deadline)
  std::vector<std::string> questions;
  std::vector<std::string> dropped;
  uint32_t requests = 0;  // needs sent for this passage
  std::string model;      // the model that answered, if known
};

class FOLDBACK_EXPORT QuestionSession {
 public:
  // InvalidArgument for bad options, no passages or a predictor without a
  // `passage` input or an output.
  static Result<std::unique_ptr<QuestionSession>> Start(std::vector<QuestionPassage> passages,
                                                        Predictor predictor,
                                                        QuestionOptions options, double now_ms);
  ~QuestionSession();
  QuestionSession(const QuestionSession&) = delete;
  QuestionSession& operator=(const QuestionSession&) = delete;

  // Needs emitted since the last call (at most max_in_flight outstanding).
  std::vector<Need> TakeNeeds();
  // A need's result, in any order. InvalidArgument for an unknown or
  // answered id (nothing changes). Accepted and ignored once abandoned.
  Status Provide(uint64_t need_id, NeedResult result, double now_ms);
  // The host's time without a result: past the deadline, outstanding and
  // unsent passages fail with DeadlineExceeded.
  void Tick(double now_ms);
  bool done() const;
  // One per passage, in the order given. Final once done().
  const std::vector<GeneratedQuestions>& results() const;
  // One line per need the redactor changed ("chunk X: pattern-1 x2").
  const std::vector<std::string>& redactions() const;

 private:
  struct Rep;
  explicit QuestionSession(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// ---------------------------------------------------------------- pairs

// A training pair as stored: the question and the chunk it was written for.
struct QuestionPair {
  std::string query;
  std::string chunk_id;
  std::string doc_id;
};

// One JSONL line (no newline) of a pair with its provenance:
// {"query", "chunk_id", "doc_id", "source": "llm", "model", "program_hash",
//  "job_id", "foldback_version"} (empty provenance fields omitted).
struct PairProvenance {
  std::string model;
  std::string program_hash;
  std::string job_id;
  std::string foldback_version;
};
FOLDBACK_EXPORT std::string QuestionPairLine(const QuestionPair& pair,
                                             const PairProvenance& provenance);

// What a finished QuestionSession wrote, as every host reports it.
struct QuestionHarvest {
  std::vector<QuestionPair> pairs;  // in the session's passage order
  // QuestionPairLine of each pair (model as answered, `program_hash`, this
  // foldback's version), each line ending in '\n'.
  std::string jsonl;
  size_t passages = 0;              // passages asked about
  size_t answered = 0;              // passages with at least one question
  size_t failed = 0;                // passages without (their GeneratedQuestions::status)
  size_t dropped = 0;               // candidate questions the core refused
  std::string model;                // the last model named by a reply, if any
  std::vector<std::string> errors;  // "chunk: status" for the first 5 failures
};
FOLDBACK_EXPORT QuestionHarvest HarvestQuestions(const std::vector<GeneratedQuestions>& results,
                                                 const std::string& program_hash);

// Reads JSONL pairs: each non-blank line an object with string `query` and
// `chunk_id` (`positive` is accepted for chunk_id; other keys ignored).
// InvalidArgument naming the line for anything else; no pair at all is
// InvalidArgument too.
FOLDBACK_EXPORT Result<std::vector<QuestionPair>> ParseQuestionPairs(std::string_view jsonl);

// Training pairs (source kGenerated) for `pairs` whose chunk is live in
// `index`, the positive its text. `*missing` (may be null) counts the
// others (documents removed since, another index).
FOLDBACK_EXPORT std::vector<TrainingPair> GeneratedTrainingPairs(
    const Index& index, const std::vector<QuestionPair>& pairs, size_t* missing);

// Trains on `pairs` as the llm source: sets options->generated_pairs
// (GeneratedTrainingPairs) and enables PairSource::kGenerated. InvalidArgument
// when none of the pairs names a passage of `index` (nothing changed);
// `*missing` (may be null) counts the pairs whose passage is gone.
FOLDBACK_EXPORT Status UseQuestionPairs(const Index& index, const std::vector<QuestionPair>& pairs,
                                        EmbedderTrainOptions* options, size_t* missing = nullptr);

}  // namespace foldback

#endif  // FOLDBACK_QUESTIONS_H_
