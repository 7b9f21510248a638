#include "host/feedback_record.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include "foldback/train.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/traces.h"

namespace foldback::host {

Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& input, FeedbackRecordNotes* notes) {
  FB_RETURN_IF_ERROR(ValidateTraceId(input.trace_id));
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  return BuildFeedbackRecord(index, index_dir, input, ApplyFeedbackLog(*contents), notes);
}

Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& input, const FeedbackState& state,
                                           FeedbackRecordNotes* notes) {
  FB_RETURN_IF_ERROR(ValidateTraceId(input.trace_id));
  auto trace = LoadTrace(index_dir, input.trace_id);
  if (!trace.ok()) return trace.status();
  FeedbackInput in = input;
  if (in.time_ms == 0) in.time_ms = UnixMillis();
  if (in.record_id.empty()) in.record_id = NewUuidV7(in.time_ms);
  return foldback::BuildFeedbackRecord(index, *trace, in, state, notes);
}

std::string FeedbackLogStamp(const std::string& dir) {
  struct stat st;
  if (::stat(FeedbackLogPath(dir).c_str(), &st) != 0) return "";
  return fmt::format(FMT_STRING("{}:{}:{}.{}"), st.st_ino, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

Result<std::shared_ptr<const FoldBack>> FoldBackOfDir(
    FoldBackCache* cache, const Index& index, uint64_t index_version, const std::string& index_dir,
    const std::optional<std::set<std::string>>& walls, bool* built) {
  if (built) *built = false;
  return cache->Get(index, index_version, FeedbackLogStamp(index_dir), walls, [&] {
    if (built) *built = true;
    return ReadFeedbackLogFile(index_dir);
  });
}

Status ForgetFeedbackRecord(FeedbackLogFile* log, const std::string& index_dir,
                            const std::string& record_id, const std::string& user) {
  if (record_id.empty()) return Status::InvalidArgument("no record id to forget");
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  FeedbackState state = ApplyFeedbackLog(*contents);
  if (!state.Find(record_id)) {
    return Status::NotFound(state.deleted_records.count(record_id)
                                ? "record '" + record_id + "' is already forgotten"
                                : "no record '" + record_id + "' in " + index_dir);
  }
  Tombstone t;
  t.record_id = record_id;
  t.time_ms = UnixMillis();
  t.user = user;
  return log->Append(t);
}

Result<size_t> ForgetFeedbackMatter(FeedbackLogFile* log, const std::string& index_dir,
                                    const std::string& matter, const std::string& user) {
  if (matter.empty()) return Status::InvalidArgument("no matter to forget");
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  size_t affected = RecordsTouchingMatter(ApplyFeedbackLog(*contents), matter);
  Tombstone t;
  t.matter = matter;
  t.time_ms = UnixMillis();
  t.user = user;
  FB_RETURN_IF_ERROR(log->Append(t));
  return affected;
}

Status ForgetLoggedMattersInEmbedder(Index* index, const std::string& index_dir,
                                     std::string* action) {
  action->clear();
  EmbedderInfo info = DescribeEmbedder(*index);
  if (info.feedback_matters.empty() && info.previous_feedback_matters.empty()) return Status::OK();
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  return ForgetMattersInEmbedder(index, ApplyFeedbackLog(*contents).forgotten_matters, action);
}

Status ForgetMatterInIndexDir(const std::string& index_dir, const std::string& matter,
                              std::string* action) {
  action->clear();
  auto index = OpenIndex(index_dir, /*create=*/false);
  if (!index.ok()) return index.status();
  FB_RETURN_IF_ERROR(ForgetMatterInEmbedder(index->get(), matter, action));
  // Matters the log forgot before whose model a snapshot saved earlier
  // still holds (the process stopped between a tombstone and the save).
  std::string earlier;
  FB_RETURN_IF_ERROR(ForgetLoggedMattersInEmbedder(index->get(), index_dir, &earlier));
  if (!earlier.empty()) *action += (action->empty() ? "" : "; ") + earlier;
  if (action->empty()) return Status::OK();
  return SaveIndex(index_dir, **index);
}

Status ExportFeedbackFile(const Index& index, const std::string& index_dir, ExportFormat format,
                          const ExportOptions& options, const std::string& out_path,
                          ExportReport* report, std::vector<LogDamage>* damage) {
  if (out_path.empty()) return Status::InvalidArgument("no output file for the export");
  auto bytes = ExportFeedbackBytes(index, index_dir, format, options, report, damage);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomic(out_path, *bytes);
}

Result<std::string> ExportFeedbackBytes(const Index& index, const std::string& index_dir,
                                        ExportFormat format, const ExportOptions& options,
                                        ExportReport* report, std::vector<LogDamage>* damage) {
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  if (damage) *damage = contents->damage;
  FeedbackState state = ApplyFeedbackLog(*contents);
  return ExportFeedback(index, state.records, format, options, report);
}

Result<std::unique_ptr<LearnedReranker>> LearnedRerankerOfDir(
    const Index& index, const std::string& index_dir,
    const std::optional<std::set<std::string>>& walls, const SearchRerankTraining& training,
    RerankTrainStats* stats) {
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  // Learned only from what this user may see, within the lists it reorders.
  return TrainSearchReranker(index, ApplyFeedbackLog(*contents).records, walls, training, stats);
}

}  // namespace foldback::host
