#include "foldback/status.h"

#include "foldback/version.h"

namespace foldback {

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "Invalid argument";
    case Code::kNotFound: return "Not found";
    case Code::kCorruption: return "Corruption";
    case Code::kNotSupported: return "Not supported";
    case Code::kIOError: return "IO error";
    case Code::kOutOfRange: return "Out of range";
    case Code::kDeadlineExceeded: return "Deadline exceeded";
    case Code::kUnavailable: return "Unavailable";
    case Code::kPermissionDenied: return "Permission denied";
    case Code::kFailedPrecondition: return "Failed precondition";
    case Code::kInternal: return "Internal error";
  }
  return "Unknown";
}

bool Status::CodeFromName(std::string_view name, Code* code) {
  for (int i = 0; i <= static_cast<int>(kLastCode); ++i) {
    if (name == CodeName(static_cast<Code>(i))) {
      *code = static_cast<Code>(i);
      return true;
    }
  }
  return false;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

const char* Version() { return FOLDBACK_VERSION_STRING; }

}  // namespace foldback
