// Record encoding for the log writer's hot path (feedback_log.cc).
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

}  // namespace foldback::feedback

#endif  // FOLDBACK_FEEDBACK_RECORD_INTERNAL_H_
