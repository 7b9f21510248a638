#include "serve/feedback_models.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include "host/feedback_record.h"
#include "host/log.h"

namespace foldback::serve {
namespace {

// The lists a learned reranker trains within (host::LearnedRerankerOfDir):
// those the request's first stage gives — fold-back with the server's
// options (as fold_backs_ is built) or the plain search, in its mode —
// to RerankOptions' depth.
SearchRerankTraining TrainingFor(const FirstStage& stage) {
  SearchRerankTraining t;
  t.fold_back = stage.fold_back;
  t.fold_back_options = FoldBackOptions();
  t.search.mode = stage.mode;
  return t;
}

}  // namespace

FeedbackModels::FeedbackModels(std::string index_dir, FeedbackModelsOptions options,
                               Metrics* metrics, Published published)
    : index_dir_(std::move(index_dir)),
      options_(options),
      metrics_(metrics),
      published_(std::move(published)),
      fold_backs_(FoldBackOptions(), options.fold_back_capacity) {
  known_stamp_ = host::FeedbackLogStamp(index_dir_);
  trainer_ = std::thread([this] { TrainerLoop(); });
}

FeedbackModels::~FeedbackModels() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  trainer_.join();
}

std::string FeedbackModels::LogVersion() {
  uint64_t appended;
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    appended = appended_;
  }
  std::string stamp = host::FeedbackLogStamp(index_dir_);
  std::lock_guard<std::mutex> lock(versions_mu_);
  // A stamp read across one of our appends (before it, compared after it)
  // says nothing about others' changes: only a quiet read counts.
  if (!appending_ && appended == appended_ && stamp != known_stamp_) {
    // Not this server's append: the file changed, every wall builds again.
    ++epoch_;
    ++every_;
    ++total_;
    known_stamp_ = std::move(stamp);
  }
  // Appends do not move it: each is folded into the kept fold-backs.
  return fmt::to_string(epoch_);
}

Result<std::shared_ptr<const FoldBack>> FeedbackModels::FoldBackFor(const Index& index,
                                                                    uint64_t generation,
                                                                    const Walls& walls) {
  // Read before the log (inside the build): a record appended after it is
  // folded into what this builds (FoldBackCache::Appended).
  std::string version = LogVersion();
  bool built = false;
  auto fb = fold_backs_.Get(index, generation, version, walls, [&] {
    built = true;
    return host::ReadFeedbackLogFile(index_dir_);
  });
  if (built) metrics_->AddModelBuild(Metrics::ModelKind::kFoldBack);
  return fb;
}

bool FeedbackModels::FoldBackReady(const Index& index, uint64_t generation, const Walls& walls) {
  return fold_backs_.Ready(index, generation, LogVersion(), walls);
}

Result<FeedbackRecord> FeedbackModels::BuildRecord(const Index& index,
                                                   const host::FeedbackInput& input,
                                                   FeedbackRecordNotes* notes) {
  LogVersion();  // notices a change of the file this server did not make
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    epoch = epoch_;
  }
  {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    if (state_ && state_epoch_ == epoch) {
      return host::BuildFeedbackRecord(index, index_dir_, input, *state_, notes);
    }
  }
  auto contents = host::ReadFeedbackLogFile(index_dir_);
  if (!contents.ok()) return contents.status();
  {
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    state_ = ApplyFeedbackLog(*contents);
    state_epoch_ = epoch;
  }
  std::shared_lock<std::shared_mutex> lock(state_mu_);
  return host::BuildFeedbackRecord(index, index_dir_, input, *state_, notes);
}

Status FeedbackModels::Append(host::FeedbackLogFile* log, const std::shared_ptr<const Index>& index,
                              uint64_t generation, FeedbackRecord* changed, bool replace_earlier) {
  std::lock_guard<std::mutex> order(append_mu_);
  const FeedbackRecord& record = *changed;
  if (log->Contains(record.record_id)) return log->Append(record);  // a retry: nothing new
  if (replace_earlier) {
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    if (state_) changed->replaces = EarlierJudgments(*state_, record);
  }
  {
    // Checked by BuildRecord against the state before a Forget that came
    // in between: the log would drop it, so no fold-back may take it.
    std::shared_lock<std::shared_mutex> lock(state_mu_);
    if (state_ && RecordTouchesMatters(record, state_->forgotten_matters)) {
      return Status::FailedPrecondition(
          "the record's matter was forgotten: its feedback is no longer recorded");
    }
  }
  std::string version = LogVersion();
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    appending_ = true;  // the file is about to change under our hands
  }
  Status s = log->Append(record);
  std::string stamp = host::FeedbackLogStamp(index_dir_);
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(versions_mu_);
    appending_ = false;
    known_stamp_.clear();  // the file is in doubt: the next request rebuilds from it
    return s;
  }
  // The matters that decide who may see the record (as FoldBack::Add and
  // the learned reranker decide it): its own, each shown passage's as
  // recorded and as the index says, each labelled passage's.
  std::set<std::string> touched;
  if (!record.matter.empty()) touched.insert(record.matter);
  auto add_chunk = [&](const std::string& chunk_id) {
    const Chunk* c = index->FindChunk(chunk_id);
    const Document* d = c ? index->FindDocument(c->doc_id) : nullptr;
    if (d && !d->matter.empty()) touched.insert(d->matter);
  };
  for (const ShownResult& r : record.results) {
    if (!r.matter.empty()) touched.insert(r.matter);
    add_chunk(r.chunk_id);
  }
  for (const LabelledPassage& l : record.labels) add_chunk(l.chunk_id);
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    if (touched.empty() || !record.replaces.empty()) {
      // A record of no matter is every wall's; one that replaces others
      // changes the walls of the records it removes as well.
      ++every_;
    } else {
      for (const std::string& m : touched) ++matters_[m];
    }
    ++total_;
    ++appended_;
    known_stamp_ = std::move(stamp);
    appending_ = false;
  }
  {
    // The next record's checks (a retried id) see this one.
    std::unique_lock<std::shared_mutex> lock(state_mu_);
    if (state_) ApplyReplacements(record, &*state_);  // the records it replaces leave
    if (state_ && !state_->Find(record.record_id)) state_->records.push_back(record);
  }
  // Folded in before the 200: the next search of every wall that may see
  // it uses it. A failure leaves the cache empty: the next search rebuilds
  // from the log, which holds the record.
  Status folded = fold_backs_.Appended(*index, generation, version, version, record);
  if (!folded.ok()) {
    host::Log(host::LogLevel::kWarning, "feedback fold-in failed, rebuilding: " + folded.message(),
              {"feedback", record.trace_id, {}});
  }
  metrics_->AddModelUpdate(Metrics::ModelKind::kFoldBack);
  {
    // The learned rerankers of walls that may see it retrain in the
    // background; the adapters too.
    std::lock_guard<std::mutex> lock(mu_);
    adapters_ = true;
    for (Entry& e : learned_) {
      if (e.generation != generation || !e.model || e.queued) continue;
      if (WallVersion(e.walls) == e.version) continue;
      e.queued = true;
      queue_.emplace_back(e.walls, e.stage);
    }
  }
  cv_.notify_all();
  return Status::OK();
}

Result<size_t> FeedbackModels::Forget(const std::function<Result<size_t>()>& write) {
  std::lock_guard<std::mutex> order(append_mu_);
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    appending_ = true;  // the file is about to change under our hands
  }
  Result<size_t> written = write();
  std::string stamp = host::FeedbackLogStamp(index_dir_);
  uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(versions_mu_);
    appending_ = false;
    if (!written.ok()) {
      known_stamp_.clear();  // the file is in doubt: the next request rebuilds from it
      return written;
    }
    // Every wall builds again, as after a change this server did not make.
    epoch = ++epoch_;
    ++every_;
    ++total_;
    ++forgets_;
    known_stamp_ = std::move(stamp);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    learned_.clear();  // waiting requests keep their shared futures
    queue_.clear();
  }
  // The records' state as the log now stands, before the next Append
  // (which checks a record against it): read here, under append_mu_.
  auto contents = host::ReadFeedbackLogFile(index_dir_);
  std::unique_lock<std::shared_mutex> lock(state_mu_);
  if (contents.ok()) {
    state_ = ApplyFeedbackLog(*contents);
    state_epoch_ = epoch;
  } else {
    state_.reset();  // read again by the next BuildRecord
  }
  return written;
}

Result<std::shared_ptr<const LearnedReranker>> FeedbackModels::LearnedFor(
    const std::shared_ptr<const Index>& index, uint64_t generation, const Walls& walls,
    FirstStage stage) {
  LogVersion();  // notices an outside change of the log
  // The version is read before the log: a record appended in between makes
  // the model stale, never one kept under a newer version than it holds.
  const uint64_t version = WallVersion(walls);
  const uint64_t forgets = Forgets();
  std::promise<Learned> promise;
  std::shared_future<Learned> first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = learned_.begin(); it != learned_.end(); ++it) {
      if (it->walls != walls || it->stage != stage || it->generation != generation) continue;
      learned_.splice(learned_.begin(), learned_, it);  // the most recently used
      Entry& e = learned_.front();
      if (!e.model) {
        first = e.first;
        break;
      }
      if (e.version != version && !e.queued) {
        // Stale: served as it is while the trainer retrains it.
        e.queued = true;
        queue_.emplace_back(walls, stage);
        cv_.notify_all();
      }
      return e.model;
    }
    if (!first.valid()) {
      Entry e;
      e.walls = walls;
      e.stage = stage;
      e.generation = generation;
      e.version = version;
      e.first = promise.get_future().share();
      learned_.push_front(std::move(e));
      // An entry dropped while being trained is still finished for those
      // already waiting on it.
      while (learned_.size() > std::max<size_t>(1, options_.learned_capacity)) learned_.pop_back();
    }
  }
  if (first.valid()) return first.get();  // this wall's first training, by another request
  // The first training of this wall: trained here, outside the lock (other
  // walls are served meanwhile; this wall's other requests wait for it).
  auto forget = [&] {  // a failed training is not kept: the next request tries again
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = learned_.begin(); it != learned_.end(); ++it) {
      if (it->walls == walls && it->stage == stage && it->generation == generation && !it->model) {
        learned_.erase(it);
        break;
      }
    }
  };
  try {
    auto trained = host::LearnedRerankerOfDir(*index, index_dir_, walls, TrainingFor(stage));
    metrics_->AddModelBuild(Metrics::ModelKind::kLearnedReranker);
    if (!trained.ok()) {
      forget();
      promise.set_value(trained.status());
      return trained.status();
    }
    std::shared_ptr<const LearnedReranker> model(std::move(trained.value()));
    if (Forgets() == forgets) {  // else it read the log before a tombstone: not kept
      std::lock_guard<std::mutex> lock(mu_);
      for (Entry& e : learned_) {
        if (e.walls == walls && e.stage == stage && e.generation == generation && !e.model) {
          e.model = model;
        }
      }
    }
    promise.set_value(model);
    return model;
  } catch (...) {
    forget();
    promise.set_exception(std::current_exception());
    throw;
  }
}

void FeedbackModels::TrainerLoop() {
  using Clock = std::chrono::steady_clock;
  const double share = std::clamp(options_.trainer_share, 0.01, 1.0);
  Clock::time_point rest_until = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty() || adapters_; });
    if (stop_) return;
    if (cv_.wait_until(lock, rest_until, [&] { return stop_; })) return;
    const Clock::time_point start = Clock::now();
    uint64_t generation = 0;
    if (!queue_.empty()) {
      Walls walls = std::move(queue_.front().first);
      const FirstStage stage = queue_.front().second;
      queue_.pop_front();
      lock.unlock();
      // Held while training: the server does not change this copy meanwhile.
      std::shared_ptr<const Index> index = published_(&generation);
      const uint64_t version = WallVersion(walls);  // before the log is read
      const uint64_t forgets = Forgets();
      auto trained = host::LearnedRerankerOfDir(*index, index_dir_, walls, TrainingFor(stage));
      metrics_->AddModelBuild(Metrics::ModelKind::kLearnedReranker);
      lock.lock();
      for (Entry& e : learned_) {
        if (e.walls != walls || e.stage != stage || !e.queued) continue;
        e.queued = false;
        if (!trained.ok() || e.generation != generation) break;  // kept as it was
        if (Forgets() != forgets) {  // read the log before a tombstone: again
          e.queued = true;
          queue_.emplace_back(walls, stage);
          break;
        }
        e.model = std::shared_ptr<const LearnedReranker>(std::move(trained.value()));
        e.version = version;
        if (WallVersion(walls) != version) {  // records came while it trained: again
          e.queued = true;
          queue_.emplace_back(walls, stage);
        }
        break;
      }
      if (!trained.ok()) {
        host::Log(host::LogLevel::kWarning,
                  "learned reranker retraining failed: " + trained.status().message(),
                  {"feedback", {}, {}});
      }
    } else {
      adapters_ = false;
      lock.unlock();
      std::shared_ptr<const Index> index = published_(&generation);
      size_t n = fold_backs_.TrainPending(*index, generation);
      for (size_t i = 0; i < n; ++i) metrics_->AddModelUpdate(Metrics::ModelKind::kAdapter);
      // Records that came while it trained leave it pending: again.
      bool again = fold_backs_.TrainingPending(*index, generation);
      lock.lock();
      adapters_ = adapters_ || again;
    }
    const auto took = Clock::now() - start;
    rest_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(took * (1 / share - 1));
  }
}

uint64_t FeedbackModels::Forgets() {
  std::lock_guard<std::mutex> lock(versions_mu_);
  return forgets_;
}

uint64_t FeedbackModels::WallVersion(const Walls& walls) {
  std::lock_guard<std::mutex> lock(versions_mu_);
  if (!walls) return total_;
  uint64_t v = every_;
  for (const std::string& m : *walls) {
    auto it = matters_.find(m);
    if (it != matters_.end()) v += it->second;
  }
  return v;  // grows with every bump this wall sees: never an older value again
}

}  // namespace foldback::serve
