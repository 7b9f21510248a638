// Turning what a lawyer says about a question's results into a feedback
// record, checked against the question's saved trace (host/traces.h) and
// the index — shared by `foldback feedback` and the C API
// (fb_feedback_log_append) — plus forgetting and exporting.
#ifndef FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_
#define FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/status.h"
#include "host/feedback_log.h"

namespace foldback::host {

// What a host collected from the lawyer.
struct FeedbackInput {
  std::string record_id;  // "" = a new UUIDv7; a retried write reuses its id
  std::string trace_id;   // required: <index dir>/traces/<trace id>.json
  std::string rating;     // "up" | "down" | "1".."5" | "" (none)
  std::vector<std::string> relevant, partly, not_relevant;  // chunk ids
  std::string critique, corrected_answer, preferred_rewrite;
  std::vector<std::string> tags;
  std::string user;    // "" = the trace's, if it names one
  std::string matter;  // "" = the trace's, else the one matter of every passage shown
  bool consent_to_train = false;
  bool privileged = false;
  int64_t time_ms = 0;  // unix ms; 0 = now
};

// The parts of a saved trace (TraceToJson, foldback/ask.h) a record keeps:
// question, hop queries, program version, model, and the optional
// top-level fields a host may add ("answer", "matter", "user"); `shown`
// gets the (chunk id, doc id) pairs shown, fused ranking first (else every
// hop's results), without repeats. Corruption when the JSON is not a trace
// or names another trace id.
Status ReadTraceForFeedback(std::string_view trace_json, const std::string& trace_id,
                            FeedbackRecord* record,
                            std::vector<std::pair<std::string, std::string>>* shown);

// Builds the record: loads the trace (NotFound naming it when absent),
// records every passage shown with its rank, text hash and matter, checks
// every labelled chunk exists in `index` (NotFound) and is labelled once
// (InvalidArgument), parses the rating, refuses a record that says nothing
// (InvalidArgument), then ValidateFeedbackRecord. `missing_passages` (may be
// null) gets the number of shown passages no longer in the index. Nothing is
// written anywhere.
Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& input,
                                           size_t* missing_passages = nullptr);

// Appends a tombstone deleting one live record. NotFound when there is none
// with that id (saying so when it was already forgotten).
Status ForgetFeedbackRecord(FeedbackLogFile* log, const std::string& index_dir,
                            const std::string& record_id, const std::string& user);

// Appends a tombstone deleting every record of `matter` (past and retried
// ones). Returns the number of live records it touched (their matter, or
// the matter of a passage they show). InvalidArgument for an empty matter.
Result<size_t> ForgetFeedbackMatter(FeedbackLogFile* log, const std::string& index_dir,
                                    const std::string& matter, const std::string& user);

// Exports the live records of <index dir>/feedback.log (ExportFeedback,
// foldback/feedback.h) to `out_path`, written atomically. `damage` (may be
// null) gets the stretches of the log that could not be read.
Status ExportFeedbackFile(const Index& index, const std::string& index_dir, ExportFormat format,
                          const ExportOptions& options, const std::string& out_path,
                          ExportReport* report = nullptr, std::vector<LogDamage>* damage = nullptr);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_FEEDBACK_RECORD_H_
