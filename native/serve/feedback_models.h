// What the feedback log teaches the users of `foldback serve`, built once
// and shared between requests: the fold-back (relevance feedback, the query
// adapter, rewrites as demos: foldback/feedback.h) and the learned reranker
// (foldback/rerank.h), each for one wall — the token's user's matters — so
// that a part trained from feedback applies only from matters inside the
// asker's walls.
//
// Both are keyed by (wall, index generation, feedback log version): a
// publish of the index (a write) or an append to the log (a POST
// /v1/feedback, fsync'ed before its 200) makes the next request build
// afresh, so feedback is used by the very next search. The log version is
// host::FeedbackLogStamp (the file's inode, size and time), as for the CLI
// and the C API.
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

  // The learned reranker trained on the log's records `walls` let through
  // (host::LearnedRerankerOfDir, as `--rerank learned`).
  Result<std::shared_ptr<const LearnedReranker>> LearnedFor(const Index& index,
                                                            uint64_t generation,
                                                            const Walls& walls);

 private:
  struct Key {
    Walls walls;
    uint64_t generation = 0;
    std::string log_version;
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
    std::string log_version;
    std::shared_ptr<const FoldBack> fold_back;
  };
  std::mutex ready_mu_;
  std::map<Walls, Ready> ready_;  // the last fold-back built for each wall
  std::mutex mu_;
  std::list<Entry> learned_;  // most recently used first
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_FEEDBACK_MODELS_H_
