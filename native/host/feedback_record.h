// Feedback records from files: the question's saved trace (host/traces.h)
// and the log handed to the core's BuildFeedbackRecord — shared by
// `foldback feedback` and the C API (fb_feedback_log_append) — plus
// forgetting and exporting.
#ifndef FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_
#define FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/rerank.h"
#include "foldback/status.h"
#include "host/feedback_log.h"

namespace foldback::host {

// What a host collected from the lawyer (foldback/feedback.h). Here
// record_id "" means a new UUIDv7 and time_ms 0 means now.
using FeedbackInput = foldback::FeedbackInput;

// The native side of BuildFeedbackRecord (foldback/feedback.h): loads
// <index dir>/traces/<trace id>.json (NotFound naming it when absent) and
// the log's state (<index dir>/feedback.log), fills in the record id and
// the time when the input leaves them empty, and lets the core build and
// check the record (walls, labels, forgotten matters, limits). Nothing is
// written anywhere.
Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& input,
                                           FeedbackRecordNotes* notes = nullptr);
// The same against the log's state the caller keeps (`foldback serve`
// keeps it in memory instead of reading the log for every record).
Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& input, const FeedbackState& state,
                                           FeedbackRecordNotes* notes = nullptr);

// What <index dir>/feedback.log teaches a user behind `walls`, through the
// core's FoldBackCache (foldback/feedback.h): the log file's inode, size and
// modification time are its log version, `index_version` the host's count
// of index changes. Null when the log holds no live record (search the
// index itself). Shared by `foldback search/ask --feedback`, the C API and
// `foldback serve`. `built` (may be null) is set to whether this call read
// the log and built a fold-back (a cache miss).
Result<std::shared_ptr<const FoldBack>> FoldBackOfDir(
    FoldBackCache* cache, const Index& index, uint64_t index_version, const std::string& index_dir,
    const std::optional<std::set<std::string>>& walls, bool* built = nullptr);

// The version of <index dir>/feedback.log that FoldBackOfDir keys its cache
// with: the file's inode, size and modification time ("" when there is no
// log). Every append changes it.
std::string FeedbackLogStamp(const std::string& index_dir);

// The learned reranker (foldback/rerank.h) trained on the live records of
// <index dir>/feedback.log that `walls` let through, by the core's
// TrainSearchReranker: each record within the list `training`'s search
// (the host's: plain or with fold-back, its mode, the reranker's depth)
// gives its question held out, in the scope the question was asked in.
// Records touching a matter outside `walls` are refused, so a user's
// reranker holds only models of what they may see. A log without enough
// labels gives a reranker whose gate is closed (its reports say why).
// Shared by `--rerank learned` (search, ask) and `foldback serve`.
Result<std::unique_ptr<LearnedReranker>> LearnedRerankerOfDir(
    const Index& index, const std::string& index_dir,
    const std::optional<std::set<std::string>>& walls,
    const SearchRerankTraining& training = SearchRerankTraining(),
    RerankTrainStats* stats = nullptr);

// Appends a tombstone deleting one live record. NotFound when there is none
// with that id (saying so when it was already forgotten).
Status ForgetFeedbackRecord(FeedbackLogFile* log, const std::string& index_dir,
                            const std::string& record_id, const std::string& user);

// Appends a tombstone deleting every record of `matter` (past and retried
// ones). Returns the number of live records it touched (their matter, or
// the matter of a passage they show). InvalidArgument for an empty matter.
Result<size_t> ForgetFeedbackMatter(FeedbackLogFile* log, const std::string& index_dir,
                                    const std::string& matter, const std::string& user);

// What the matters the feedback log in `index_dir` has forgotten taught
// `index`'s embedder, dropped (ForgetMattersInEmbedder) — for a snapshot
// saved before a tombstone. Reads the log only when a model learned from
// labels at all. *action: "" when nothing was dropped.
Status ForgetLoggedMattersInEmbedder(Index* index, const std::string& index_dir,
                                     std::string* action);

// The forgotten matter's influence on the index saved in `index_dir`: an
// embedder trained on its labels is dropped (ForgetMatterInEmbedder) and
// the index saved again. *action: "" when nothing had learned from it, else
// what was done.
Status ForgetMatterInIndexDir(const std::string& index_dir, const std::string& matter,
                              std::string* action);

// Exports the live records of <index dir>/feedback.log (ExportFeedback,
// foldback/feedback.h) to `out_path`, written atomically. `damage` (may be
// null) gets the stretches of the log that could not be read.
Status ExportFeedbackFile(const Index& index, const std::string& index_dir, ExportFormat format,
                          const ExportOptions& options, const std::string& out_path,
                          ExportReport* report = nullptr, std::vector<LogDamage>* damage = nullptr);

// The same export as bytes (what `foldback serve` returns from
// GET /v1/export): nothing is written.
Result<std::string> ExportFeedbackBytes(const Index& index, const std::string& index_dir,
                                        ExportFormat format, const ExportOptions& options,
                                        ExportReport* report = nullptr,
                                        std::vector<LogDamage>* damage = nullptr);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_
