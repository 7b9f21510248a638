// Status and Result<T>: how everything in foldback reports failure.
//
// No exception crosses foldback's public API. A function that can fail
// returns a Status (or a Result<T> carrying either a value or a Status).
// Code written against foldback reads:
//
//   foldback::Status s = index.Add(doc);
//   if (!s.ok()) return s;
//
// Third-party code that throws (hnswlib, protobuf) is caught at foldback's
// boundary and turned into a Status.
#ifndef FOLDBACK_STATUS_H_
#define FOLDBACK_STATUS_H_

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "foldback/export.h"

namespace foldback {

class FOLDBACK_EXPORT Status {
 public:
  // The codes are stable: the C API maps them one to one onto negative ints.
  enum class Code : int {
    kOk = 0,
    kInvalidArgument = 1,   // the caller passed something malformed
    kNotFound = 2,          // a named thing (document, chunk, trace) does not exist
    kCorruption = 3,        // stored bytes are damaged or not ours
    kNotSupported = 4,      // e.g. a snapshot version this build cannot read
    kIOError = 5,           // reported by a host (file, network)
    kOutOfRange = 6,        // a size or count limit was exceeded
    kDeadlineExceeded = 7,  // a host-reported or engine deadline passed
    kUnavailable = 8,       // an endpoint or resource could not be reached
    kPermissionDenied = 9,  // an ethical wall or an access rule said no
    kFailedPrecondition = 10,  // the object is not in a state to do this
    kInternal = 11,         // a bug in foldback: please report it
  };

  Status() = default;  // OK

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view msg) { return Status(Code::kInvalidArgument, msg); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status NotSupported(std::string_view msg) { return Status(Code::kNotSupported, msg); }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status OutOfRange(std::string_view msg) { return Status(Code::kOutOfRange, msg); }
  static Status DeadlineExceeded(std::string_view msg) { return Status(Code::kDeadlineExceeded, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status PermissionDenied(std::string_view msg) { return Status(Code::kPermissionDenied, msg); }
  static Status FailedPrecondition(std::string_view msg) {
    return Status(Code::kFailedPrecondition, msg);
  }
  static Status Internal(std::string_view msg) { return Status(Code::kInternal, msg); }
  // The Status of `code` with `msg` (OK, message dropped, for kOk). The one
  // code -> Status table: hosts that carry codes as numbers or names (the C
  // API's FB_E*, JS's {code: 'Unavailable'}) convert through it.
  static Status FromCode(Code code, std::string_view msg) {
    return code == Code::kOk ? Status() : Status(code, msg);
  }
  // The code whose CodeName is `name` ("Unavailable", "IO error"); false
  // for a name that is none.
  static bool CodeFromName(std::string_view name, Code* code);
  // Codes run from kOk to kLastCode without gaps.
  static constexpr Code kLastCode = Code::kInternal;

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }

  // "OK" or e.g. "Corruption: snapshot is truncated".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  // OK when a value is held.
  Status status() const { return ok() ? Status::OK() : std::get<Status>(v_); }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace foldback

// Returns early from the enclosing function when `expr` is not OK.
#define FB_RETURN_IF_ERROR(expr)            \
  do {                                      \
    ::foldback::Status _fb_s = (expr);      \
    if (!_fb_s.ok()) return _fb_s;          \
  } while (0)

#endif  // FOLDBACK_STATUS_H_
