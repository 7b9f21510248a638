// Record encoding for the log writer's hot path (feedback_log.cc), and what
// a record teaches that both fold-back and the exports read.
#ifndef FOLDBACK_FEEDBACK_RECORD_INTERNAL_H_
#define FOLDBACK_FEEDBACK_RECORD_INTERNAL_H_

#include <string>

#include "foldback/feedback.h"

namespace google::protobuf {
class Arena;
}  // namespace google::protobuf

namespace foldback::feedback {

// Validates `record` and appends its protobuf bytes to *out, building the
// message on `arena` (batches share one: far fewer allocations). On error
// *out is unchanged.
Status AppendEncodedRecord(const FeedbackRecord& record, google::protobuf::Arena* arena,
                           std::string* out);

// The query rewrite a record teaches: its preferred rewrite, else — when the
// answer was rated positive — its first hop query that differs from the
// question; "" when it teaches none (no question, or neither). Fold-back's
// demos and the `dspy` export's augmented demos both use it.
std::string TaughtRewrite(const FeedbackRecord& record);

}  // namespace foldback::feedback

#endif  // FOLDBACK_FEEDBACK_RECORD_INTERNAL_H_
