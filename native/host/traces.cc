#include "host/traces.h"

#include "host/files.h"

namespace foldback::host {

std::string TracesDir(const std::string& index_dir) { return index_dir + "/traces"; }

std::string TracePath(const std::string& index_dir, const std::string& trace_id) {
  return TracesDir(index_dir) + "/" + trace_id + ".json";
}

Status ValidateTraceId(std::string_view id) {
  if (id.empty() || id.size() > 128) {
    return Status::InvalidArgument("a trace id is 1..128 characters");
  }
  if (id[0] == '.') return Status::InvalidArgument("a trace id does not start with a dot");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) {
      return Status::InvalidArgument("trace id '" + std::string(id) +
                                     "' holds a character other than A-Z a-z 0-9 . _ -");
    }
  }
  return Status::OK();
}

Status SaveTrace(const std::string& index_dir, const std::string& trace_json,
                 const std::string& trace_id) {
  FB_RETURN_IF_ERROR(ValidateTraceId(trace_id));
  FB_RETURN_IF_ERROR(MakeDirs(TracesDir(index_dir)));
  return WriteFileAtomic(TracePath(index_dir, trace_id), trace_json);
}

Result<std::string> LoadTrace(const std::string& index_dir, const std::string& trace_id) {
  FB_RETURN_IF_ERROR(ValidateTraceId(trace_id));
  std::string path = TracePath(index_dir, trace_id);
  if (!PathExists(path)) {
    return Status::NotFound("no trace '" + trace_id + "' in " + TracesDir(index_dir));
  }
  return ReadFile(path);
}

}  // namespace foldback::host
