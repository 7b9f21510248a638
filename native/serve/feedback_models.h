// What the feedback log teaches the users of `foldback serve`, kept
// current and shared between requests: the fold-back (relevance feedback,
// the query adapter, rewrites as demos: foldback/feedback.h) and the
// learned reranker (foldback/rerank.h), each for one wall — the token's
// user's matters — so that a part trained from feedback applies only from
// matters inside the asker's walls.
//
// Fold-backs go through the core's FoldBackCache, keyed by (index
// generation, this server's log version, wall). A record POSTed to
// /v1/feedback is appended to the log and folded into every kept
// fold-back of the current generation (FoldBackCache::Appended →
// FoldBack::Add, which leaves it out of a wall that may not see it) before
// its 200: the very next search uses it, and no wall rebuilds. What is
// immediate and what lags:
//   * demos, Rocchio (lexical and dense) and the Rocchio gate: at once, as
//     a rebuild would give them (the core's Add is exact);
//   * the query adapter: a background thread retrains it (FoldBack::Train)
//     and swaps it in; until then the previous adapter applies;
//   * the learned reranker: trained synchronously the first time a wall
//     asks for it; after a record that wall may see, the same thread
//     retrains it and swaps it in, and requests meanwhile get the previous
//     model (never a wait for training).
// The lag of both is bounded by the training running when the record
// arrives, the trainer's rest after it (FeedbackModelsOptions::
// trainer_share: 3 times that training by default) and one training of that
// part; a part whose records moved again while it trained is queued again. Index writes (a new
// generation), a tombstone (Forget: learned rerankers dropped, not served
// stale) and any change of the log file this server did not make (its
// host::FeedbackLogStamp) rebuild from the log.
//
// Thread-safe.
#ifndef FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_
#define FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/rerank.h"
#include "foldback/status.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "serve/metrics.h"

namespace foldback::serve {

struct FeedbackModelsOptions {
  // Fold-backs kept (one per wall of the current index generation).
  // Default: 16.
  size_t fold_back_capacity = 16;
  // Learned rerankers kept, least recently used dropped first. Default: 4.
  size_t learned_capacity = 4;
  // The share of one core the background trainer may take: after a
  // training of T seconds it rests T * (1 / share - 1) before the next, so
  // a stream of feedback does not take a core from searches. Default: 0.25
  // (rests 3 T).
  double trainer_share = 0.25;
};

// The first stage a learned reranker reorders: fold-back on or off (a
// request's `feedback`) and the search mode. Each gets its own model,
// trained within the lists that first stage gives.
struct FirstStage {
  bool fold_back = true;
  SearchMode mode = SearchMode::kHybrid;
  bool operator==(const FirstStage& o) const { return fold_back == o.fold_back && mode == o.mode; }
  bool operator!=(const FirstStage& o) const { return !(*this == o); }
};

class FeedbackModels {
 public:
  // The index as published now and its generation (the trainer trains
  // for it, holding it).
  using Published = std::function<std::shared_ptr<const Index>(uint64_t* generation)>;
  // `metrics` (not owned, outlives this) counts builds and updates.
  FeedbackModels(std::string index_dir, FeedbackModelsOptions options, Metrics* metrics,
                 Published published);
  ~FeedbackModels();  // stops the trainer (a training in progress ends first)

  using Walls = std::optional<std::set<std::string>>;

  // The fold-back of the log for a user behind `walls` over `index`, the
  // index published as `generation`. Null when the log holds no live record.
  Result<std::shared_ptr<const FoldBack>> FoldBackFor(const Index& index, uint64_t generation,
                                                      const Walls& walls);
  // True when FoldBackFor would not build (a stat of the log and a lookup).
  bool FoldBackReady(const Index& index, uint64_t generation, const Walls& walls);

  // The record of a POST /v1/feedback (host::BuildFeedbackRecord) checked
  // against the log's state kept in memory — read from the log once, again
  // after a change of the file this server did not make, and grown by
  // Append — instead of the whole log read and decoded for every record.
  Result<FeedbackRecord> BuildRecord(const Index& index, const host::FeedbackInput& input,
                                     FeedbackRecordNotes* notes);

  // Appends `record` to `log` (fsync'ed) and folds it into the kept
  // fold-backs of `index` (published as `generation`, the index the record
  // was checked against) before returning; wakes the trainer for what
  // lags. One append at a time, so that every fold-back takes records in
  // the log's order. A record the log already holds (a retried write) is
  // acknowledged and changes nothing. With `replace_earlier` (the record
  // was built with FeedbackInput::replace_earlier) its `replaces` is listed
  // again from the state under the append lock (EarlierJudgments): a
  // changed judgment appended meanwhile by the same user is replaced too.
  Status Append(host::FeedbackLogFile* log, const std::shared_ptr<const Index>& index,
                uint64_t generation, FeedbackRecord* record, bool replace_earlier = false);

  // A tombstone: `write` appends it to the log (host::ForgetFeedbackMatter,
  // host::ForgetFeedbackRecord) in the order of appends; then every wall
  // builds again from the log — fold-backs, the records' state, learned
  // rerankers, which are dropped rather than served stale while retrained
  // (a model that learned from what was forgotten never applies again; a
  // training that read the log before the tombstone is not kept). Returns
  // what `write` returned; on its error nothing is dropped.
  Result<size_t> Forget(const std::function<Result<size_t>()>& write);

  // The learned reranker trained on the log's records `walls` let through
  // (host::LearnedRerankerOfDir, as `--rerank learned`), within the lists
  // `stage` gives each feedback question held out: the last one trained for
  // this wall, first stage and generation, retrained in the background when
  // the wall's records moved.
  Result<std::shared_ptr<const LearnedReranker>> LearnedFor(
      const std::shared_ptr<const Index>& index, uint64_t generation, const Walls& walls,
      FirstStage stage = FirstStage());

 private:
  // This server's version of the log: an epoch bumped when the file changed
  // outside Append (every fold-back rebuilds), and the records appended.
  std::string LogVersion();
  // Grows whenever a record the wall may see was appended (and at any
  // outside change of the file): when a learned reranker is stale.
  uint64_t WallVersion(const Walls& walls);
  uint64_t Forgets();  // tombstones written so far
  // The background trainer: learned rerankers whose wall moved, then the
  // fold-backs' adapters.
  void TrainerLoop();

  const std::string index_dir_;
  const FeedbackModelsOptions options_;
  Metrics* metrics_;
  Published published_;
  FoldBackCache fold_backs_;

  std::mutex append_mu_;  // one Append at a time

  std::shared_mutex state_mu_;
  std::optional<FeedbackState> state_;  // the log's meaning, for BuildRecord
  uint64_t state_epoch_ = 0;            // the epoch_ it was read in

  std::mutex versions_mu_;
  bool appending_ = false;                   // an Append is between write and fold
  uint64_t epoch_ = 0;                       // outside changes of the file
  uint64_t appended_ = 0;                    // records appended by this server
  uint64_t every_ = 0;                       // bumps every wall sees
  uint64_t total_ = 0;                       // every bump (the "*" wall)
  std::map<std::string, uint64_t> matters_;  // bumps per matter touched
  std::string known_stamp_;                  // the log file as this server left it
  uint64_t forgets_ = 0;                     // tombstones written (Forget)

  using Learned = Result<std::shared_ptr<const LearnedReranker>>;
  struct Entry {
    Walls walls;
    FirstStage stage;
    uint64_t generation = 0;
    uint64_t version = 0;                          // the wall version `model` was trained for
    std::shared_ptr<const LearnedReranker> model;  // null until the first training ends
    std::shared_future<Learned> first;             // the first training
    bool queued = false;                           // a retraining is queued or running
  };
  std::mutex mu_;  // learned_, queue_, adapters_, stop_
  std::condition_variable cv_;
  std::list<Entry> learned_;  // most recently used first
  // Walls (and first stages) whose reranker the trainer retrains.
  std::list<std::pair<Walls, FirstStage>> queue_;
  bool adapters_ = false;     // the trainer looks at the fold-backs' adapters
  bool stop_ = false;
  std::thread trainer_;
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_
