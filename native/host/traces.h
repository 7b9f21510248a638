// Traces on disk: `foldback ask` saves each question's trace (TraceToJson,
// see foldback/ask.h) as <index dir>/traces/<trace id>.json, and
// `foldback feedback --trace ID` reads it back.
#ifndef FOLDBACK_NATIVE_HOST_TRACES_H_
#define FOLDBACK_NATIVE_HOST_TRACES_H_

#include <string>
#include <string_view>

#include "foldback/status.h"

namespace foldback::host {

// <index dir>/traces
std::string TracesDir(const std::string& index_dir);
// <index dir>/traces/<trace id>.json. REQUIRES: ValidateTraceId(trace_id).
std::string TracePath(const std::string& index_dir, const std::string& trace_id);

// A trace id names a file: 1..128 characters of [A-Za-z0-9._-], not
// starting with a dot (no path can be smuggled in). InvalidArgument
// otherwise.
Status ValidateTraceId(std::string_view trace_id);

// Writes the trace JSON atomically (temp file, fsync, rename, fsync the
// folder), creating the traces folder.
Status SaveTrace(const std::string& index_dir, const std::string& trace_json,
                 const std::string& trace_id);

// The trace JSON. NotFound naming the id when there is no such trace.
Result<std::string> LoadTrace(const std::string& index_dir, const std::string& trace_id);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_TRACES_H_
