// Rerankers: a second stage over the top-N fused candidates of a search.
//
//   SearchRerankTraining t;            // the search it will rerank: plain, depth 50
//   auto trained = TrainSearchReranker(index, state.records, walls, t);
//   SearchOptions so;                  // walls in so.allowed_matters, as for any search
//   RerankOptions ro;                  // ro.depth = N candidates reordered
//   auto hits = SearchAndRerank(index, /*fold_back=*/nullptr, "who may terminate?", so,
//                               trained->get(), ro);
//
// The first stage (Index::Search, or FoldBack::Search when feedback is folded
// back) runs behind the caller's ethical walls; its top N hits go to the
// reranker, which reorders them; the hits below N keep their order after
// them. A reranker never sees a walled-off passage: candidates come from the
// walled search, and Rerank drops (never scores) any candidate whose matter
// the walls exclude, whoever hands it in.
//
// The learned reranker (LearnedReranker) is a pairwise logistic model
// (RankNet with a linear scorer) over features that a question does not
// determine — first-stage scores and ranks, query-term coverage and
// proximity, field matches, passage length, position and shape, metadata
// agreement — trained from lawyers' relevant / not-relevant labels, so that
// what it learns on some questions carries to new ones. A second, optional
// part ("memory") scores a candidate by its similarity to passages labelled
// for similar past questions (the same question on other contracts).
//
// Walls and learned models (docs/rerank.md has the full statement):
//   * Models are trained per scope: the set of matters a feedback record
//     touches (its own matter, the matters of every passage it shows or
//     labels, as recorded and as the index now says). Records of no matter
//     form the firm-wide scope "".
//   * A model applies to a search only when every matter of its scope is
//     inside the search's walls (SearchOptions::allowed_matters; unset: every
//     matter), or is marked shareable (LearnedRerankerOptions::
//     shareable_matters, an administrator's decision).
//   * What crosses a wall for a shareable matter: the model's feature weights
//     and scales only (a few dozen numbers, no text, no term, no passage id).
//     Its memory part (questions, passage ids) never crosses: it is used only
//     when the scope is inside the walls.
//   * Training honours consent and privilege: records without consent to
//     train, or privileged, are never used. Training behind a wall
//     (LearnedRerankerOptions::allowed_matters) refuses every record that
//     touches a matter outside it.
//   * ForgetMatter drops every model, current and past versions, whose scope
//     contains the matter; a later Update never brings it back unless new
//     records of that matter arrive.
//   * Every model has a version; Update keeps the previous ones
//     (LearnedRerankerOptions::max_versions) and Restore makes one current.
//
// Thread safety: const methods may run concurrently; Update, Restore and
// ForgetMatter need exclusive access.
#ifndef FOLDBACK_RERANK_H_
#define FOLDBACK_RERANK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/export.h"
#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/search.h"
#include "foldback/status.h"

namespace foldback {

enum class RerankerKind : int {
  kNone = 0,     // first-stage order
  kLearned = 1,  // LearnedReranker
  kLlm = 2,      // the LLM listwise reranker (foldback/llm_rerank.h)
};
const char* RerankerKindName(RerankerKind kind);  // "none" / "learned" / "llm"
bool ParseRerankerKind(const std::string& name, RerankerKind* kind);

struct RerankOptions {
  // First-stage candidates reordered (N). Default: 50. The search is run
  // with top_k = max(N, SearchOptions::top_k) and cut back to top_k after.
  size_t depth = 50;
};

// What a reranker did to one list (for display and tests).
struct RerankReport {
  bool applied = false;
  size_t candidates = 0;     // hits handed in (after the wall check)
  size_t walled = 0;         // hits dropped because the walls exclude their matter
  size_t models = 0;         // models that applied
  bool memory_used = false;  // similar past questions contributed
  std::string note;          // why nothing was applied, when nothing was
};

// The interface of a second stage.
class FOLDBACK_EXPORT Reranker {
 public:
  virtual ~Reranker();
  virtual const char* name() const = 0;
  // Reorders `candidates` (first-stage hits, best first) for `query`.
  // `options` are the search's: its walls decide which candidates may be
  // seen and which models apply. Returns the candidates it may see, in the
  // new order (SearchHit::score becomes the reranker's score). Never adds a
  // hit.
  virtual Result<std::vector<SearchHit>> Rerank(const Index& index, std::string_view query,
                                                const std::vector<SearchHit>& candidates,
                                                const SearchOptions& options,
                                                RerankReport* report = nullptr) const = 0;
};

// The first stage (fold_back->Search when fold_back is not null, else
// index.Search) for max(depth, top_k) hits, the reranker over the first
// `depth` of them, then the first top_k. `reranker` may be null (first
// stage only).
Result<std::vector<SearchHit>> SearchAndRerank(const Index& index, const FoldBack* fold_back,
                                               std::string_view query, const SearchOptions& options,
                                               const Reranker* reranker,
                                               const RerankOptions& rerank_options,
                                               RerankReport* report = nullptr);

// ---------------------------------------------------------------- external scores

// A second stage whose scores come from outside the core — the JS package's
// ONNX cross-encoder, run by onnxruntime-web — while the core decides what
// may be scored and how the scores order the hits:
//
//   ExternalRerankInput in = PrepareExternalRerank(index, hits, search_options, ro);
//   ... the host scores (query, in.candidates[i].text) for each i ...
//   auto out = ApplyExternalScores(std::move(in), scores, &report);
struct ExternalRerankInput {
  // At most RerankOptions::depth hits, first-stage order, with the index's
  // text (the host scores that text): the ones the walls let through.
  std::vector<SearchHit> candidates;
  std::vector<SearchHit> rest;  // the admitted hits below the depth, kept after
  size_t walled = 0;            // dropped: outside SearchOptions::allowed_matters
  size_t gone = 0;              // dropped: no longer in the index
};

// Splits first-stage `hits` (best first) for scoring. A hit whose matter —
// as the index says or as the hit says — lies outside options.allowed_matters
// is dropped, never handed to the host.
FOLDBACK_EXPORT ExternalRerankInput PrepareExternalRerank(const Index& index,
                                                          const std::vector<SearchHit>& hits,
                                                          const SearchOptions& options,
                                                          const RerankOptions& rerank_options);

// input.candidates ordered by `scores` (one per candidate, higher first;
// ties keep the first-stage order; SearchHit::score becomes the score), then
// input.rest. InvalidArgument (nothing applied) when the counts differ or a
// score is not finite.
FOLDBACK_EXPORT Result<std::vector<SearchHit>> ApplyExternalScores(
    ExternalRerankInput input, const std::vector<double>& scores, RerankReport* report = nullptr);

// ---------------------------------------------------------------- learned

// The features, in model order. Names are stable (they key stored weights).
const std::vector<std::string>& RerankFeatureNames();
// How many of RerankFeatureNames() are generic (the rest are memory).
size_t RerankGenericFeatureCount();

struct LearnedRerankerOptions {
  // ---- the gate: a scope gets no model from fewer labels.
  // Labelled passages (relevant + not relevant). Default: 40.
  size_t min_labels = 40;
  // Relevant and not relevant labels, each. Default: 10.
  size_t min_relevant = 10;
  // Distinct questions (a model from one question learns that question).
  // Default: 3.
  size_t min_questions = 3;
  // Cross-validation by question before a model is kept: folds of distinct
  // questions are held out in turn, each scored as a new question is (the
  // generic part, and the memory of the training folds' similar questions),
  // and the gain in nDCG over their labelled passages against the first
  // stage's order is averaged per question. The gate closes when the held-out
  // questions show the model worse beyond their own noise: mean +
  // validation_z x standard error <= min_validation_gain. With a handful of
  // questions the mean alone is mostly noise (docs/rerank.md, "The gate
  // after BM25's new weighting"). Default: true, 0, z = 2.
  bool validate = true;
  double min_validation_gain = 0.0;
  double validation_z = 2.0;
  uint32_t folds = 5;  // Default: 5 (fewer when there are fewer questions)

  // ---- training: pairwise logistic loss over (relevant, not relevant)
  // pairs of one record, each record weighing the same, plus l2 * |w|^2 / 2
  // on standardized features; Newton's method.
  double l2 = 0.1;           // Default: 0.1
  uint32_t iterations = 30;  // Default: 30 Newton steps (stops earlier when converged)
  // The model is fitted on top of the first stage's order: a fixed weight
  // of -first_stage_prior per standard deviation of log2(1 + first-stage
  // rank) is part of every margin, and the fitted weights add to it. L2
  // then pulls the model towards the order the search already had — what is
  // known without labels — and not towards all-zero weights, under which
  // any small weight reorders the list. 0: no prior (models before
  // rerank-v5). Default: 0.5 (ContractNLI dev tuning splits, seeds 101-110,
  // new questions, fold-back + reranker: +3.9 % at 0, +4.6 % at 0.5, +4.3 %
  // at 1, +2.7 % at 3; docs/benchmarks.md, the newq4 section).
  double first_stage_prior = 0.5;
  // A passage labelled "partly" ranks between relevant and not relevant.
  // Default: true (false: partly labels are ignored).
  bool use_partly = true;

  // ---- memory: similar past questions' labelled passages.
  bool memory = true;  // Default: true
  // Question similarity of a past question whose labels count as memory.
  // Default: 0.4 (tuned on ContractNLI dev splits; fold-back uses 0.7).
  double min_similarity = 0.4;
  size_t max_neighbours = 32;  // Default: 32 (in each group below)
  // Past questions at least this similar are "the same question asked
  // again": their labelled passages also feed a second group of memory
  // features (with a kNN vote of the nearest labelled passages), fitted on
  // top of the first group, which keeps the weights a new question's merely
  // similar neighbours are scored with. Above 1: no second group. Default:
  // 0.95 (fold-back's "same question" too).
  double same_question_similarity = 0.95;

  // ---- label prior: each candidate's best cosine to passages labelled
  // relevant / not relevant for dissimilar past questions (question
  // similarity below prior_max_similarity) in other documents — what
  // lawyers' labels say of this kind of passage, whatever the question. Part
  // of the generic model; its passages, like the memory's, never cross a
  // wall.
  bool label_prior = true;            // Default: true
  double prior_max_similarity = 0.3;  // Default: 0.3 (tuned on ContractNLI dev splits)

  // ---- walls, consent.
  // Training wall: records touching a matter outside it are refused
  // (TrainStats::walled). Unset: every record (a firm-wide training run; the
  // per-scope models still apply only inside each search's walls).
  std::optional<std::set<std::string>> allowed_matters;
  // Matters whose models' weights (not memory) apply to every search.
  std::set<std::string> shareable_matters;

  // ---- versions.
  // Versions kept per scope, the current one included. Default: 5.
  size_t max_versions = 5;
  uint64_t seed = 42;
};

// One trained model.
struct RerankerModelInfo {
  std::string scope_key;           // matters joined by ",", "" = no matter
  std::vector<std::string> scope;  // the matters
  uint32_t version = 0;            // 1, 2, ... per scope
  bool current = false;
  bool gate_open = false;  // the model applies (else it is kept only for inspection)
  std::string note;        // why the gate is closed
  size_t records = 0, relevant = 0, not_relevant = 0, partly = 0, pairs = 0, questions = 0;
  double validation_gain = 0;  // nDCG gain over the first stage, held-out records
  // The same per held-out question: the mean over questions and its standard
  // error, which the gate decides on (LearnedRerankerOptions::validation_z).
  double validation_question_gain = 0, validation_stderr = 0;
  double l2 = 0;               // the L2 weight the model was fitted with
  double loss_before = 0, loss_after = 0;
  bool memory = false;  // has a memory part
  uint64_t fingerprint = 0;
  std::vector<double> weights;  // by feature, on raw feature values
  // The range of each feature over the labelled passages the model was
  // fitted on (by feature; empty: no range, as in models stored before).
  // Scoring clips a candidate's features to it: a linear model is not
  // trusted beyond what it was fitted on.
  std::vector<double> feature_min, feature_max;
};

struct RerankTrainStats {
  size_t records = 0;           // records given
  size_t used = 0;              // records that contributed labels
  size_t no_consent = 0;        // refused: no consent to train
  size_t privileged = 0;        // refused: privileged
  size_t walled = 0;            // refused: a matter outside the training wall
  size_t no_labels = 0;         // no relevant / not-relevant label
  size_t stale_labels = 0;      // passage gone or changed since labelled
  size_t unlabelled_shown = 0;  // shown, unlabelled: never used as negatives
  size_t trained = 0;           // models (re)trained by this call
  size_t unchanged = 0;         // scopes whose data had not changed
  size_t dropped = 0;           // scopes with no records left (models dropped)
};

// Features of one candidate (inspection and tests).
struct RerankFeatureRow {
  std::string chunk_id;
  std::vector<double> values;  // by RerankFeatureNames()
};

// The first stage's candidates for a record's question, by record id: the
// list the reranker will reorder when such a question comes (HeldOutLists).
// A record then trains on its labelled passages' features *within this
// list* — their ranks and scores in it, and every feature relative to the
// list — instead of within the list the lawyer was shown: a model fitted on
// the shown top 5 or 10 of the plain search and applied over fold-back's
// top 50 reads first-stage ranks and scores that mean something else. A
// candidate whose matter is not among the record's own (its matter and its
// passages') is ignored: a list never widens what a record trains on, nor
// crosses a wall.
using RerankTrainingLists = std::map<std::string, std::vector<SearchHit>>;

// Each record's list as the first stage ranks it for a question it has never
// seen: fold-back (options `fold_back`; every method off: the plain search)
// built from the records of the *other* questions, asked the record's
// question with options_for(record) (its scope and walls), its first `depth`
// hits, behind the record's own matters (its matter and its shown passages',
// within options_for's walls when it sets them): no other matter's passage
// or labels shape a record's list. One fold-back per distinct question. A
// record options_for gives nullopt for gets no list (it trains within its
// shown list).
FOLDBACK_EXPORT Result<RerankTrainingLists> HeldOutLists(
    const Index& index, const std::vector<FeedbackRecord>& records,
    const FoldBackOptions& fold_back, size_t depth,
    const std::function<std::optional<SearchOptions>(const FeedbackRecord&)>& options_for);

class FOLDBACK_EXPORT LearnedReranker : public Reranker {
 public:
  // Trains one model per scope from the live records of a feedback log.
  // Never fails for lack of labels: a scope below the gate gets a model
  // whose gate is closed (the note says why). InvalidArgument on bad
  // options. `lists` (may be null): the first-stage lists to train within
  // (RerankTrainingLists); a record without one trains within its shown
  // list.
  static Result<std::unique_ptr<LearnedReranker>> Train(
      const Index& index, const std::vector<FeedbackRecord>& records,
      const LearnedRerankerOptions& options = LearnedRerankerOptions(),
      RerankTrainStats* stats = nullptr, const RerankTrainingLists* lists = nullptr);
  ~LearnedReranker() override;

  const char* name() const override { return "learned"; }
  Result<std::vector<SearchHit>> Rerank(const Index& index, std::string_view query,
                                        const std::vector<SearchHit>& candidates,
                                        const SearchOptions& options,
                                        RerankReport* report = nullptr) const override;

  // Retrains from the records now live: a scope whose training data (records,
  // labels, passages) changed gets a new version (the previous kept); a
  // scope with no record left is dropped with its history.
  Status Update(const Index& index, const std::vector<FeedbackRecord>& records,
                RerankTrainStats* stats = nullptr, const RerankTrainingLists* lists = nullptr);
  // Makes an earlier (or later) kept version of a scope current.
  // NotFound for an unknown scope or version.
  Status Restore(const std::string& scope_key, uint32_t version);
  // Drops every model (all versions) whose scope contains `matter`; returns
  // how many scopes were dropped.
  size_t ForgetMatter(const std::string& matter);

  // Current models, by scope key.
  std::vector<RerankerModelInfo> Models() const;
  // Every kept version of a scope, oldest first.
  std::vector<RerankerModelInfo> History(const std::string& scope_key) const;
  // Current models with an open gate that a search with these walls uses.
  std::vector<RerankerModelInfo> Applicable(
      const std::optional<std::set<std::string>>& allowed_matters) const;

  // Feature rows of candidates as Rerank computes them (walled candidates
  // are skipped).
  Result<std::vector<RerankFeatureRow>> Features(const Index& index, std::string_view query,
                                                 const std::vector<SearchHit>& candidates,
                                                 const SearchOptions& options) const;

  // Portable bytes (JSON) of every kept version, and back. Corruption on
  // bytes that are not a reranker, NotSupported on an unknown format version.
  Result<std::string> Serialize() const;
  static Result<std::unique_ptr<LearnedReranker>> Deserialize(
      std::string_view bytes, const LearnedRerankerOptions& options = LearnedRerankerOptions());
  // In the index snapshot, section "foldback.rerank.learned".
  Status SaveTo(Index* index) const;
  // NotFound when the index holds no reranker.
  static Result<std::unique_ptr<LearnedReranker>> LoadFrom(
      const Index& index, const LearnedRerankerOptions& options = LearnedRerankerOptions());

  const LearnedRerankerOptions& options() const;

  struct Rep;

 private:
  explicit LearnedReranker(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// ---------------------------------------------------------------- a host's reranker

// The search a host's learned reranker will reorder. Every host — `foldback
// search/ask --rerank learned`, `foldback serve`, the C API, the JS package
// — trains its reranker with TrainSearchReranker, the training `foldback
// eval --feedback-queries` measures: each record within the list its
// question gets from this search when the question is new (HeldOutLists),
// not within the list the lawyer was shown.
struct SearchRerankTraining {
  // The first stage the host searches with: fold-back from the feedback log
  // (FoldBack::Search with fold_back_options) when true — a host searching
  // with feedback folded back —, else the plain search. Default: false.
  bool fold_back = false;
  FoldBackOptions fold_back_options;
  // The search's own options (mode, fusion, dense weight, syntax, ...).
  // Its filters, walls, top_k and query vector are set per record.
  SearchOptions search;
  // Candidates the reranker reorders (RerankOptions::depth): each record's
  // list is the first `depth` hits. Default: 50.
  size_t depth = RerankOptions().depth;
  LearnedRerankerOptions reranker;
};

// Each record's training list as `training`'s search ranks it for the
// record's question held out (HeldOutLists), behind `walls` (the asker's
// allowed matters; unset: a firm-wide user) and the record's own matters,
// in the scope the question was asked in: the record's stored filters
// (FeedbackRecord::filters) — a record without them, or one naming a field
// this index no longer has, is ranked over its matters alone. A record
// touching a matter outside `walls` (its own, a shown passage's) gets no
// list: training refuses it. The fold-back that ranks the lists is built
// only from records inside `walls`.
FOLDBACK_EXPORT Result<RerankTrainingLists> SearchRerankLists(
    const Index& index, const std::vector<FeedbackRecord>& records,
    const std::optional<std::set<std::string>>& walls, const SearchRerankTraining& training);

// The learned reranker a host searches with: LearnedReranker::Train over
// the records within SearchRerankLists, behind `walls` (training refuses
// every record touching a matter outside them, on top of
// training.reranker.allowed_matters). InvalidArgument on a bad depth or bad
// options.
FOLDBACK_EXPORT Result<std::unique_ptr<LearnedReranker>> TrainSearchReranker(
    const Index& index, const std::vector<FeedbackRecord>& records,
    const std::optional<std::set<std::string>>& walls, const SearchRerankTraining& training,
    RerankTrainStats* stats = nullptr);

}  // namespace foldback

#endif  // FOLDBACK_RERANK_H_
