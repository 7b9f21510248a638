// FoldBackCache: fold-backs built from a log on demand, one per (index,
// index version, log version, wall), shared by every host, and kept
// current as records are appended (FoldBack::Add) instead of rebuilt.
//
// A build runs outside the lock: Gets of other keys are served meanwhile,
// and Gets of the same key wait for it. A record appended while a build
// runs is folded in when the build ends (the build may have read it
// already: FoldBack::Add ignores an id it holds).
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "foldback/feedback.h"

namespace foldback {

namespace {
using Walls = std::optional<std::set<std::string>>;
using Built = Result<std::shared_ptr<const FoldBack>>;
}  // namespace

struct FoldBackCache::Rep {
  struct Entry {
    const Index* index = nullptr;
    uint64_t index_version = 0;
    std::string log_version;
    Walls walls;
    std::shared_ptr<FoldBack> foldback;  // null: the log had no live record
    bool building = false;
    bool dropped = false;                  // while building: not kept when it ends
    std::shared_future<Built> done;        // while building
    std::vector<FeedbackRecord> appended;  // while building: to fold in after
  };
  FoldBackOptions options;
  size_t capacity = 8;
  mutable std::mutex mu;
  std::list<Entry> entries;  // oldest first

  bool Same(const Entry& e, const Index& index, uint64_t index_version,
            std::string_view log_version) const {
    return e.index == &index && e.index_version == index_version && e.log_version == log_version;
  }
  std::list<Entry>::iterator Find(const Index& index, uint64_t index_version,
                                  std::string_view log_version, const Walls& walls) {
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (!it->dropped && Same(*it, index, index_version, log_version) && it->walls == walls) {
        return it;
      }
    }
    return entries.end();
  }
  // Folds `record` into an entry's fold-back (a first record builds one).
  Status Fold(Entry* e, const FeedbackRecord& record) {
    if (e->foldback) return e->foldback->Add(*e->index, record).status();
    FoldBackOptions o = options;
    o.allowed_matters = e->walls;
    auto built = FoldBack::Build(*e->index, {record}, o);
    if (!built.ok()) return built.status();
    e->foldback = std::shared_ptr<FoldBack>(std::move(built.value()));
    return Status::OK();
  }
};

FoldBackCache::FoldBackCache(FoldBackOptions options, size_t capacity)
    : rep_(std::make_unique<Rep>()) {
  rep_->options = std::move(options);
  rep_->capacity = capacity > 0 ? capacity : 1;
}

FoldBackCache::~FoldBackCache() = default;

Result<std::shared_ptr<const FoldBack>> FoldBackCache::Get(
    const Index& index, uint64_t index_version, std::string_view log_version,
    const std::optional<std::set<std::string>>& walls,
    const std::function<Result<FeedbackLogContents>()>& read_log) {
  Rep& r = *rep_;
  // Made only for a build: a promise allocates its shared state, and most
  // Gets (every search of a host with feedback) find their entry.
  std::optional<std::promise<Built>> promise;
  std::list<Rep::Entry>::iterator mine;
  {
    std::unique_lock<std::mutex> lock(r.mu);
    auto it = r.Find(index, index_version, log_version, walls);
    if (it != r.entries.end()) {
      if (!it->building) return std::shared_ptr<const FoldBack>(it->foldback);
      std::shared_future<Built> done = it->done;
      lock.unlock();
      return done.get();  // the same key's build, by another caller
    }
    // Entries of other versions are stale: the host moved on.
    for (auto e = r.entries.begin(); e != r.entries.end();) {
      if (r.Same(*e, index, index_version, log_version)) {
        ++e;
      } else if (e->building) {
        (e++)->dropped = true;  // finished for those waiting on it, then dropped
      } else {
        e = r.entries.erase(e);
      }
    }
    while (r.entries.size() >= r.capacity) {
      auto victim = r.entries.begin();
      while (victim != r.entries.end() && victim->building) ++victim;
      if (victim == r.entries.end()) break;
      r.entries.erase(victim);
    }
    Rep::Entry e;
    e.index = &index;
    e.index_version = index_version;
    e.log_version = std::string(log_version);
    e.walls = walls;
    e.building = true;
    e.done = promise.emplace().get_future().share();
    mine = r.entries.insert(r.entries.end(), std::move(e));
  }
  // Built outside the lock.
  std::shared_ptr<FoldBack> fb;
  Status status;
  auto contents = read_log();
  if (!contents.ok()) {
    status = contents.status();
  } else {
    FeedbackState state = ApplyFeedbackLog(*contents);
    if (!state.records.empty()) {
      FoldBackOptions options = r.options;
      options.allowed_matters = walls;
      auto built = FoldBack::Build(index, state.records, options);
      if (built.ok()) {
        fb = std::shared_ptr<FoldBack>(std::move(built.value()));
      } else {
        status = built.status();
      }
    }
  }
  std::lock_guard<std::mutex> lock(r.mu);
  if (status.ok()) {
    // Records appended meanwhile (the entry was moved to their version).
    mine->foldback = fb;
    for (const FeedbackRecord& rec : mine->appended) {
      status = r.Fold(&*mine, rec);
      if (!status.ok()) break;
    }
    fb = mine->foldback;
  }
  Built result = status.ok() ? Built(std::shared_ptr<const FoldBack>(fb)) : Built(status);
  if (status.ok() && !mine->dropped) {
    mine->building = false;
    mine->appended.clear();
    mine->done = {};
  } else {
    r.entries.erase(mine);  // nothing is kept from a failed or dropped build
  }
  promise->set_value(result);
  return result;
}

bool FoldBackCache::Ready(const Index& index, uint64_t index_version, std::string_view log_version,
                          const std::optional<std::set<std::string>>& walls) const {
  Rep& r = *rep_;
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.Find(index, index_version, log_version, walls);
  return it != r.entries.end() && !it->building;
}

Status FoldBackCache::Appended(const Index& index, uint64_t index_version,
                               std::string_view log_version, std::string_view new_log_version,
                               const FeedbackRecord& record) {
  if (!record.replaces.empty()) {
    Clear();  // records left the log: no fold-back can take that in
    return Status::OK();
  }
  Rep& r = *rep_;
  std::vector<std::shared_ptr<FoldBack>> built;
  Status status;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    for (auto it = r.entries.begin(); it != r.entries.end();) {
      if (!r.Same(*it, index, index_version, log_version)) {
        // Another version: it would be rebuilt anyway (one being built is
        // left to finish for those waiting on it, and dropped then).
        if (it->building) {
          (it++)->dropped = true;
        } else {
          it = r.entries.erase(it);
        }
        continue;
      }
      it->log_version = std::string(new_log_version);
      if (it->building) {
        it->appended.push_back(record);
      } else if (it->foldback) {
        built.push_back(it->foldback);
      } else {
        Status s = r.Fold(&*it, record);  // the first record: a one-record build
        if (!s.ok()) {
          status = s;
          it = r.entries.erase(it);
          continue;
        }
      }
      ++it;
    }
  }
  // Outside the lock: a fold-back's Add excludes only its own searches'
  // planning, and only briefly.
  for (const auto& fb : built) {
    auto added = fb->Add(index, record);
    if (!added.ok()) {
      // Not kept: the next Get rebuilds this wall from the log.
      Clear();
      return added.status();
    }
  }
  return status;
}

size_t FoldBackCache::TrainPending(const Index& index, uint64_t index_version) {
  Rep& r = *rep_;
  std::vector<std::shared_ptr<FoldBack>> lagging;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    for (const auto& e : r.entries) {
      if (e.index != &index || e.index_version != index_version) continue;
      if (!e.building && e.foldback && e.foldback->training_pending()) {
        lagging.push_back(e.foldback);
      }
    }
  }
  size_t trained = 0;
  for (const auto& fb : lagging) trained += fb->Train().ok();
  return trained;
}

bool FoldBackCache::TrainingPending(const Index& index, uint64_t index_version) const {
  Rep& r = *rep_;
  std::lock_guard<std::mutex> lock(r.mu);
  for (const auto& e : r.entries) {
    if (e.index != &index || e.index_version != index_version) continue;
    if (!e.building && e.foldback && e.foldback->training_pending()) return true;
  }
  return false;
}

void FoldBackCache::Clear() {
  std::lock_guard<std::mutex> lock(rep_->mu);
  for (auto it = rep_->entries.begin(); it != rep_->entries.end();) {
    if (it->building) {
      (it++)->dropped = true;
    } else {
      it = rep_->entries.erase(it);
    }
  }
}

}  // namespace foldback
