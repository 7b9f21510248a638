// FoldBackCache: fold-backs built from a log on demand, one per (index,
// index version, log version, wall), shared by every host.
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "foldback/feedback.h"

namespace foldback {

struct FoldBackCache::Rep {
  struct Entry {
    const Index* index = nullptr;
    uint64_t index_version = 0;
    std::string log_version;
    std::optional<std::set<std::string>> walls;
    std::shared_ptr<const FoldBack> foldback;  // null: the log had no live record
  };
  FoldBackOptions options;
  size_t capacity = 8;
  std::mutex mu;
  std::vector<Entry> entries;  // oldest first
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
  std::lock_guard<std::mutex> lock(rep_->mu);
  auto& entries = rep_->entries;
  for (const Rep::Entry& e : entries) {
    if (e.index == &index && e.index_version == index_version && e.log_version == log_version &&
        e.walls == walls) {
      return e.foldback;
    }
  }
  auto contents = read_log();
  if (!contents.ok()) return contents.status();
  FeedbackState state = ApplyFeedbackLog(*contents);
  std::shared_ptr<const FoldBack> fb;
  if (!state.records.empty()) {
    FoldBackOptions options = rep_->options;
    options.allowed_matters = walls;
    auto built = FoldBack::Build(index, state.records, options);
    if (!built.ok()) return built.status();
    fb = std::shared_ptr<const FoldBack>(std::move(built.value()));
  }
  // Entries of other versions are stale: the host moved on.
  for (auto it = entries.begin(); it != entries.end();) {
    bool stale =
        it->index != &index || it->index_version != index_version || it->log_version != log_version;
    it = stale || it->walls == walls ? entries.erase(it) : it + 1;
  }
  if (entries.size() >= rep_->capacity) entries.erase(entries.begin());
  entries.push_back({&index, index_version, std::string(log_version), walls, fb});
  return fb;
}

void FoldBackCache::Clear() {
  std::lock_guard<std::mutex> lock(rep_->mu);
  rep_->entries.clear();
}

}  // namespace foldback
