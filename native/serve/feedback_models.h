// What the feedback log teaches the users of `foldback serve`, built once
// and shared between requests: the fold-back (relevance feedback, the query
// adapter, rewrites as demos: foldback/feedback.h) and the learned reranker
// (foldback/rerank.h), each for one wall — the token's user's matters — so
// that a part trained from feedback applies only from matters inside the
// asker's walls.
//
// Both are keyed by (wall, index generation, the wall's feedback version):
// a publish of the index (a write) makes every wall's next request build
// afresh; a record appended by POST /v1/feedback (Appended, called after
// fsync and before its 200) does so for the walls that may see it — those
// holding a matter the record touches, or every wall for a record of no
// matter — so feedback is used by the very next search, and a wall that
// cannot see it keeps what it has. Any other change of the log file (its
// host::FeedbackLogStamp — inode, size, time — as the CLI and the C API key
// theirs — moved without an Appended) counts for every wall.
//
// Fold-backs go through the core's FoldBackCache (host::FoldBackOfDir), as
// every host's do; the one last built for each wall is also kept where a
// request finds it without waiting for a build of another wall (the core
// cache builds under its lock), and FoldBackReady tells the HTTP layer
// whether a search would build (then it runs on the worker pool, not on an
// I/O thread). Learned rerankers are kept in a small LRU (a few entries:
// users × walls may be many, and a reranker holds its labelled passages'
// vectors); a reranker being trained is waited for by the other requests
// of the same key, never trained twice, and never blocks other keys.
//
// Thread-safe.
#ifndef FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_
#define FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_

#include <cstdint>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/rerank.h"
#include "foldback/status.h"
#include "serve/metrics.h"

namespace foldback::serve {

struct FeedbackModelsOptions {
  // Fold-backs kept (one per wall of the current index generation and log
  // version). Default: 16.
  size_t fold_back_capacity = 16;
  // Learned rerankers kept, least recently used dropped first. Default: 4.
  size_t learned_capacity = 4;
};

class FeedbackModels {
 public:
  // `metrics` (not owned, outlives this) counts every build.
  FeedbackModels(std::string index_dir, FeedbackModelsOptions options, Metrics* metrics);

  using Walls = std::optional<std::set<std::string>>;

  // The fold-back of the log for a user behind `walls` over `index`, the
  // index published as `generation`. Null when the log holds no live record.
  Result<std::shared_ptr<const FoldBack>> FoldBackFor(const Index& index, uint64_t generation,
                                                      const Walls& walls);
  // True when FoldBackFor would not build (a stat of the log and a lookup).
  bool FoldBackReady(uint64_t generation, const Walls& walls);

  // `record` was appended to the log (durably) by this server; `index` the
  // published index it was checked against (the current matter of each
  // passage it shows). `replaces`: it may replace an earlier record (a
  // client-chosen record id): every wall builds again.
  void Appended(const Index& index, const FeedbackRecord& record, bool replaces);

  // The learned reranker trained on the log's records `walls` let through
  // (host::LearnedRerankerOfDir, as `--rerank learned`).
  Result<std::shared_ptr<const LearnedReranker>> LearnedFor(const Index& index, uint64_t generation,
                                                            const Walls& walls);

 private:
  // The version of the log as `walls` sees it: grows whenever a record
  // the wall may see was appended (and at any outside change of the file).
  uint64_t WallVersion(const Walls& walls);

  struct Key {
    Walls walls;
    uint64_t generation = 0;
    uint64_t log_version = 0;
    bool operator==(const Key& o) const {
      return generation == o.generation && log_version == o.log_version && walls == o.walls;
    }
  };
  using Learned = Result<std::shared_ptr<const LearnedReranker>>;
  struct Entry {
    Key key;
    std::shared_future<Learned> value;
  };

  const std::string index_dir_;
  const FeedbackModelsOptions options_;
  Metrics* metrics_;
  FoldBackCache fold_backs_;
  struct Ready {
    uint64_t generation = 0;
    uint64_t log_version = 0;
    std::shared_ptr<const FoldBack> fold_back;
  };
  std::mutex ready_mu_;
  std::map<Walls, Ready> ready_;  // the last fold-back built for each wall
  std::mutex mu_;
  std::list<Entry> learned_;  // most recently used first

  std::mutex versions_mu_;
  uint64_t every_ = 0;                       // bumps every wall sees
  uint64_t total_ = 0;                       // every bump (the "*" wall)
  std::map<std::string, uint64_t> matters_;  // bumps per matter touched
  std::string known_stamp_;                  // the log file as this server left it
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_
