#include "serve/feedback_models.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "host/feedback_record.h"

namespace foldback::serve {

FeedbackModels::FeedbackModels(std::string index_dir, FeedbackModelsOptions options,
                               Metrics* metrics)
    : index_dir_(std::move(index_dir)),
      options_(options),
      metrics_(metrics),
      fold_backs_(FoldBackOptions(), options.fold_back_capacity) {}

Result<std::shared_ptr<const FoldBack>> FeedbackModels::FoldBackFor(const Index& index,
                                                                    uint64_t generation,
                                                                    const Walls& walls) {
  // Read before the log (inside FoldBackOfDir): what is kept under this
  // version holds at least what the log held then.
  uint64_t version = WallVersion(walls);
  {
    std::lock_guard<std::mutex> lock(ready_mu_);
    auto it = ready_.find(walls);
    if (it != ready_.end() && it->second.generation == generation &&
        it->second.log_version == version) {
      return it->second.fold_back;
    }
  }
  bool built = false;
  auto fb = host::FoldBackOfDir(&fold_backs_, index, generation, index_dir_, walls, &built);
  if (built) metrics_->AddModelBuild(Metrics::ModelKind::kFoldBack);
  if (!fb.ok()) return fb;
  std::lock_guard<std::mutex> lock(ready_mu_);
  auto it = ready_.find(walls);
  if (it == ready_.end() && ready_.size() >= std::max<size_t>(1, options_.fold_back_capacity)) {
    // Room for this wall: a stale entry first, else the first one.
    auto victim = ready_.begin();
    for (auto e = ready_.begin(); e != ready_.end(); ++e) {
      if (e->second.generation != generation || e->second.log_version != version) {
        victim = e;
        break;
      }
    }
    ready_.erase(victim);
  }
  ready_[walls] = Ready{generation, version, *fb};
  return fb;
}

bool FeedbackModels::FoldBackReady(uint64_t generation, const Walls& walls) {
  uint64_t version = WallVersion(walls);
  std::lock_guard<std::mutex> lock(ready_mu_);
  auto it = ready_.find(walls);
  return it != ready_.end() && it->second.generation == generation &&
         it->second.log_version == version;
}

Result<std::shared_ptr<const LearnedReranker>> FeedbackModels::LearnedFor(const Index& index,
                                                                          uint64_t generation,
                                                                          const Walls& walls) {
  // The version is read before the log: an append in between makes the
  // next request train again, never keeps a stale model under a newer key.
  Key key{walls, generation, WallVersion(walls)};
  std::promise<Learned> promise;
  std::shared_future<Learned> value;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = learned_.begin(); it != learned_.end(); ++it) {
      if (it->key == key) {
        learned_.splice(learned_.begin(), learned_, it);  // the most recently used
        value = it->value;
        break;
      }
    }
    if (!value.valid()) {
      owner = true;
      value = promise.get_future().share();
      learned_.push_front({key, value});
      // An entry dropped while being trained is still finished for those
      // already waiting on it.
      while (learned_.size() > std::max<size_t>(1, options_.learned_capacity)) learned_.pop_back();
    }
  }
  if (owner) {
    // Trained outside the lock: other keys are served meanwhile; this key's
    // other requests wait for this one.
    auto forget = [&] {  // a failed training is not kept: the next request tries again
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = learned_.begin(); it != learned_.end(); ++it) {
        if (it->key == key) {
          learned_.erase(it);
          break;
        }
      }
    };
    try {
      auto trained = host::LearnedRerankerOfDir(index, index_dir_, walls);
      metrics_->AddModelBuild(Metrics::ModelKind::kLearnedReranker);
      if (trained.ok()) {
        promise.set_value(std::shared_ptr<const LearnedReranker>(std::move(trained.value())));
      } else {
        forget();
        promise.set_value(trained.status());
      }
    } catch (...) {
      forget();
      promise.set_exception(std::current_exception());
    }
  }
  return value.get();
}

uint64_t FeedbackModels::WallVersion(const Walls& walls) {
  std::string stamp = host::FeedbackLogStamp(index_dir_);
  std::lock_guard<std::mutex> lock(versions_mu_);
  if (stamp != known_stamp_) {
    // Not this server's append (or one whose Appended is on its way): the
    // file changed, every wall builds again.
    ++every_;
    ++total_;
    known_stamp_ = std::move(stamp);
  }
  if (!walls) return total_;
  uint64_t v = every_;
  for (const std::string& m : *walls) {
    auto it = matters_.find(m);
    if (it != matters_.end()) v += it->second;
  }
  return v;  // grows with every bump this wall sees: never an older value again
}

void FeedbackModels::Appended(const Index& index, const FeedbackRecord& record, bool replaces) {
  // The matters that decide who may see the record (as FoldBack::Build and
  // the learned reranker decide it): its own, each shown passage's as
  // recorded and as the index says, each labelled passage's.
  std::set<std::string> touched;
  if (!record.matter.empty()) touched.insert(record.matter);
  auto add_chunk = [&](const std::string& chunk_id) {
    const Chunk* c = index.FindChunk(chunk_id);
    const Document* d = c ? index.FindDocument(c->doc_id) : nullptr;
    if (d && !d->matter.empty()) touched.insert(d->matter);
  };
  for (const ShownResult& s : record.results) {
    if (!s.matter.empty()) touched.insert(s.matter);
    add_chunk(s.chunk_id);
  }
  for (const LabelledPassage& l : record.labels) add_chunk(l.chunk_id);
  std::string stamp = host::FeedbackLogStamp(index_dir_);
  std::lock_guard<std::mutex> lock(versions_mu_);
  if (replaces || touched.empty()) {
    ++every_;  // a record of no matter is every wall's
  } else {
    for (const std::string& m : touched) ++matters_[m];
  }
  ++total_;
  known_stamp_ = std::move(stamp);
}

}  // namespace foldback::serve
