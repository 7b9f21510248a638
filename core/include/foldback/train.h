// Contrastive training of the index's static embedder on pairs mined from the
// corpus' own structure — no labels, no model file, no network.
//
// The model: the static embedder's word vectors and pooling weights (a
// text's vector is the weighted mean of its words' vectors, L2-normalized),
// initialised from the PPMI + SVD vectors the index already has (the
// approach of Model2Vec and sentence-transformers' StaticEmbedding), then
// trained with InfoNCE (sentence-transformers' MultipleNegativesRankingLoss):
// each anchor must score its positive above every other positive of its
// batch (other pairs with the same anchor, or the same positive passage,
// masked out) and above a BM25-mined hard negative from the same document. Lazy Adam on the rows a
// batch touches.
//
// Pairs come from document structure (MinePairs): a heading -> its section,
// a clause caption -> the clause, a defined term -> its definition, a
// sentence -> the rest of its passage (inverse cloze), a cross-reference
// ("as defined in Section 4.2") -> the section it names, a mail's subject
// -> its body, a reply's quoted text -> the reply. Consecutive documents that
// share a non-empty title are read as one document (corpora split into
// passages, as BEIR's are).
//
// Sans-IO and deterministic: no thread, no clock. The host starts a trainer,
// calls Step() until done() (showing the returned progress, keeping its own
// time), then Install()s the model into the index. The same index, options
// and seed give the same model, bit for bit, on every platform that
// evaluates float arithmetic the same way (native and wasm do).
//
// Versions: the installed model gets the current model's version + 1 and
// the current model is kept in the index (and its snapshot) as the previous
// one; RestorePreviousEmbedder swaps them back.
//
// Documents added later are embedded with the trained model by BuildDense
// (words it does not know contribute nothing). To learn from them, train
// again with `warm_start` (continues from the trained model, mining pairs
// from every document; new words stay unknown), or retrain the corpus model
// (Index::BuildDense(true), which learns the new words and keeps the trained
// model as the previous one) and train again from it.
//
// Walls: the model is trained on every document of the index, whatever its
// matter (like the BM25 statistics): what crosses a wall is word
// co-occurrence and structure statistics, never a passage. An index that must
// not mix matters is built per matter group.
#ifndef FOLDBACK_TRAIN_H_
#define FOLDBACK_TRAIN_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "foldback/export.h"
#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/status.h"

namespace foldback {

enum class PairSource : int {
  kHeading = 0,         // section heading -> a passage of the section
  kCaption = 1,         // "3.2 Termination. Either party..." -> the clause
  kDefinition = 2,      // defined term -> the passage defining it
  kInverseCloze = 3,    // a sentence -> the rest of its passage (or its neighbours)
  kCrossReference = 4,  // "... as defined in Section 4.2" -> Section 4.2
  kMailSubject = 5,     // a mail's subject -> its body
  kReply = 6,           // a reply's quoted text -> the reply
  // Not mined: questions an LLM wrote for sampled passages
  // (foldback/questions.h), supplied in EmbedderTrainOptions::generated_pairs.
  kGenerated = 7,
  // Not mined: lawyers' labels (FeedbackTrainingPairs), supplied in
  // EmbedderTrainOptions::feedback_pairs.
  kFeedback = 8,
};
inline constexpr int kPairSourceCount = 9;
// The sources MinePairs reads from the corpus' structure: 0 .. 6.
inline constexpr int kStructureSourceCount = 7;
// "heading", "caption", "definition", "cloze", "xref", "subject", "reply",
// "llm", "feedback".
const char* PairSourceName(PairSource source);

// Which sources to use; all by default (llm and feedback contribute only the
// pairs given in EmbedderTrainOptions::generated_pairs / feedback_pairs).
struct PairSources {
  bool enabled[kPairSourceCount] = {true, true, true, true, true, true, true, true, true};
  bool Has(PairSource s) const { return enabled[static_cast<int>(s)]; }
};
// Parses a comma-separated list of source names; "structure" stands for
// every structure source (not llm), "all" for every source. InvalidArgument
// on an unknown name or an empty list.
Result<PairSources> ParsePairSources(const std::string& list);

// How much each source's pairs count in the loss: an anchor's InfoNCE term
// is multiplied by its source's weight (its positive still serves as an
// in-batch negative for the others' anchors). 1 each by default.
struct SourceWeights {
  float weight[kPairSourceCount] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  float Of(PairSource s) const { return weight[static_cast<int>(s)]; }
};
// Parses "cloze=0.3,heading=2" (names as in ParsePairSources; "structure"
// and "all" set every structure source / every source). Unnamed sources keep
// 1; an empty list changes nothing. InvalidArgument on an unknown name, a
// missing '=', or a weight that is not a number in [0, 100].
Result<SourceWeights> ParseSourceWeights(const std::string& list);

struct TrainingPair {
  PairSource source = PairSource::kHeading;
  std::string anchor;
  std::string positive;
  // The chunk the positive comes from (never a negative for this anchor).
  std::string positive_chunk;
  // BM25-mined hard negative (a chunk's text), empty when none was found.
  std::string negative;
  // A negative the pair brings (a passage a lawyer labelled not relevant):
  // its chunk id; the trainer uses it instead of mining one. Empty: mined.
  std::string negative_chunk;
};

struct EmbedderTrainOptions {
  PairSources sources;
  // Passes over the pairs. Default: 2 (3 was no better on ContractNLI dev).
  uint32_t epochs = 2;
  // Pairs per step (in-batch negatives). Default: 64.
  uint32_t batch_size = 64;
  // At most this many pairs, sampled per source (llm pairs are all kept,
  // up to half; inverse-cloze pairs, the most plentiful, fill what the other
  // sources leave, up to half of the rest). Default: 20000.
  uint32_t max_pairs = 20000;
  // Mine one BM25 hard negative per pair: the best-ranked passage of the
  // positive's own document that is neither the positive, its neighbour nor
  // in its section (passages of other documents are too often the same
  // clause in another contract). Default: true.
  bool hard_negatives = true;
  // Adam step size. Default: 0.002 (0.0005 was no better on ContractNLI dev).
  float learning_rate = 0.002f;
  // Softmax temperature. Default: 0.2 (scale 5), tuned on ContractNLI dev:
  // sentence-transformers' 0.05 (scale 20) moved the PPMI vectors too far
  // and lowered nDCG@10 (docs/benchmarks.md).
  float temperature = 0.2f;
  // Also learn the per-word pooling weights (initialised with the idf).
  // Default: true.
  bool train_weights = true;
  // Start from the index's current model (a trained one included) instead of
  // its corpus-trained PPMI model (version 1 or the previous model, whichever
  // is the PPMI one). Default: false.
  bool warm_start = false;
  // Models averaged (a "model soup", Wortsman et al. 2022): train this many
  // models from the same start on the same pairs, each with its own order
  // of batches (drawn from `seed`), and install their mean; costs `soup`
  // times the steps (not the mining). Progress counts the members' epochs
  // one after the other (epochs * soup). 1 to 16 (InvalidArgument
  // otherwise). Default: 1.
  uint32_t soup = 1;
  // Weight-space interpolation with the starting model (WiSE-FT, Wortsman
  // et al. 2022): the installed word vectors and pooling weights are
  // (1 - interpolation) * start + interpolation * trained. 1 installs the
  // trained model as is, 0 the starting one. Must lie in [0, 1]
  // (InvalidArgument otherwise). Default: 1.
  float interpolation = 1.0f;
  // Loss weight per source (see SourceWeights). Each must lie in [0, 100],
  // and one enabled source must weigh more than 0 (InvalidArgument
  // otherwise). Default: 1 each.
  SourceWeights source_weights;
  // Seed for sampling and shuffling. Default: 42.
  uint64_t seed = 42;
  // Pairs from outside the corpus' structure (LLM-written questions:
  // foldback/questions.h GeneratedTrainingPairs), used when sources has
  // kGenerated, beside the mined ones and sampled like them. Each needs its
  // positive text and positive_chunk. Default: none.
  std::vector<TrainingPair> generated_pairs;
  // Pairs from lawyers' labels (FeedbackTrainingPairs), used when sources
  // has kFeedback, like generated_pairs (kept before them, up to half of
  // max_pairs); their labelled negatives are kept. Default: none.
  std::vector<TrainingPair> feedback_pairs;
  // The matters those records touch (UseFeedbackPairs sets them): the
  // installed model remembers them, with those of the model it continues
  // from, so that forgetting a matter drops it (ForgetMatterInEmbedder).
  std::set<std::string> feedback_matters;
};

// Epochs for training on lawyers' labels alone (the feedback source, a few
// hundred pairs: 2 epochs are a handful of steps). Tuned on ContractNLI dev,
// tuning seeds 101-110, new questions: 5 / 10 / 20 epochs gave +7.9 / +9.6 /
// +8.8 % with every fold-back method (docs/benchmarks.md).
inline constexpr uint32_t kFeedbackOnlyEpochs = 10;

// The epochs a host trains for when its user gives none: kFeedbackOnlyEpochs
// for the feedback source alone, else EmbedderTrainOptions' default.
uint32_t DefaultEpochs(const PairSources& sources);

// Whether the comma-separated `list` names `source` itself (not through
// "all"): a host then reports a source with no pairs as an error, where
// "all" quietly goes without it.
bool NamesPairSource(const std::string& list, PairSource source);

struct TrainProgress {
  uint32_t epoch = 0;  // 1-based epoch of the last step
  uint32_t epochs = 0;
  uint64_t step = 0;      // steps done
  uint64_t steps = 0;     // steps in all
  double loss = 0;        // the last step's mean loss
  double epoch_loss = 0;  // mean loss of the current epoch so far
};

// Mines the pairs of `options.sources` from `index` (without hard negatives,
// before sampling): what training would learn from. Deterministic.
std::vector<TrainingPair> MinePairs(const Index& index, const PairSources& sources);

// The `feedback` source: lawyers' labels as training pairs — each relevant
// passage under its question (and under the record's preferred rewrite),
// with a passage the record labels not relevant as its hard negative (in
// turn; none: the trainer mines one; options.unlabelled_negatives adds
// unlabelled passages shown above the last relevant one, as the triplets
// export does). The records ExportFeedback would read with `options`:
// consent to train, not privileged, every matter inside
// options.allowed_matters when set; passages gone or changed are skipped.
// Walls: the embedder is the index's, used by every search whatever the
// asker's walls, so a host trains it only from records it may share
// firm-wide — options.allowed_matters = the matters an administrator marks
// shareable (empty: records that touch no matter). *report counts as an
// export's (rows: pairs).
FOLDBACK_EXPORT std::vector<TrainingPair> FeedbackTrainingPairs(
    const Index& index, const std::vector<FeedbackRecord>& records, const ExportOptions& options,
    ExportReport* report = nullptr);

// Trains on the labels of `records` as the feedback source, firm-wide:
// options->feedback_pairs = FeedbackTrainingPairs of the records touching no
// matter or only `shareable_matters` (labelled negatives only), and the
// feedback source enabled. FailedPrecondition, saying why (consent,
// privilege, matters not shareable, no relevant passage left), when no
// record gives a pair; *report (may be null) counts as an export's. The
// CLI, the C API and the JS package call it.
FOLDBACK_EXPORT Status UseFeedbackPairs(const Index& index,
                                        const std::vector<FeedbackRecord>& records,
                                        const std::set<std::string>& shareable_matters,
                                        EmbedderTrainOptions* options,
                                        ExportReport* report = nullptr);

class FOLDBACK_EXPORT EmbedderTrainer {
 public:
  // Mines pairs and hard negatives from `index` and prepares the model.
  // FailedPrecondition when the index has no static embedder yet (build the
  // dense side first: Index::BuildDense) or the corpus yields fewer than
  // two pairs; InvalidArgument on bad options (zero batch size or epochs,
  // a non-positive temperature or step size, an interpolation outside
  // [0, 1], a soup of 0 or more than 16 models, a source weight outside
  // [0, 100] or every enabled source weighing 0).
  static Result<std::unique_ptr<EmbedderTrainer>> Start(const Index& index,
                                                        const EmbedderTrainOptions& options);
  ~EmbedderTrainer();
  EmbedderTrainer(const EmbedderTrainer&) = delete;
  EmbedderTrainer& operator=(const EmbedderTrainer&) = delete;

  // One step (one batch). FailedPrecondition once done().
  Result<TrainProgress> Step();
  bool done() const;
  TrainProgress progress() const;

  // Pairs used, and how many came from each source.
  const std::vector<TrainingPair>& pairs() const;
  std::vector<size_t> PairsPerSource() const;
  // Mean loss over every pair (fixed batches, no update): compare before
  // and after training.
  double MeanLoss() const;

  // Installs the model in `index` (which must be the index Start read, or
  // hold the same documents): the current model becomes the previous one,
  // every chunk is re-embedded and the dense index rebuilt. The trainer can
  // install only once (FailedPrecondition afterwards).
  Status Install(Index* index);

 private:
  struct Rep;
  explicit EmbedderTrainer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Swaps the index's model with the previous one and re-embeds every chunk.
// FailedPrecondition when there is no previous model.
Status RestorePreviousEmbedder(Index* index);

struct EmbedderInfo {
  bool present = false;  // false: no static embedder
  uint32_t version = 0;
  std::string training;
  uint32_t dimension = 0;
  size_t vocabulary = 0;
  bool has_previous = false;
  uint32_t previous_version = 0;
  std::string previous_training;
  // The matters whose lawyers' labels trained each model (sorted).
  std::vector<std::string> feedback_matters, previous_feedback_matters;
};
EmbedderInfo DescribeEmbedder(const Index& index);

// A forgotten matter's influence on the embedder (`--forget-matter`): a
// model trained on that matter's labels (EmbedderInfo::feedback_matters)
// is dropped. The current one gives way to the previous model when that
// one did not learn from the matter, else to a corpus model retrained
// from the documents (Index::BuildDense(retrain)); a previous model that
// learned from it is dropped without a replacement, so it cannot be
// restored. Re-embeds every chunk when the current model changes.
// *action (may be null): "" when nothing learned from the matter, else
// what was done, for the host to say.
FOLDBACK_EXPORT Status ForgetMatterInEmbedder(Index* index, const std::string& matter,
                                              std::string* action = nullptr);

// ForgetMatterInEmbedder for every matter of `forgotten` (a feedback log's
// FeedbackState::forgotten_matters) that a model still remembers: what a
// host runs after writing a matter's tombstone, and when it opens an index
// whose snapshot may predate a tombstone (a crash between the tombstone and
// the save: the log is the record of what was forgotten, the snapshot
// catches up). *action (may be null): "matter M: what was done" per
// matter acted on, joined by "; "; "" when no model learned from any.
FOLDBACK_EXPORT Status ForgetMattersInEmbedder(Index* index, const std::set<std::string>& forgotten,
                                               std::string* action = nullptr);

}  // namespace foldback

#endif  // FOLDBACK_TRAIN_H_
