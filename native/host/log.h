// The native host's diagnostics on stderr, in one of two formats chosen
// once per process (`foldback --log-format text|json`, or [log] format in
// foldback.toml):
//
//   text  what the CLI has always printed: "warning: ...", "error: ...",
//         "note: ...", "serve: ..." — one line per message, for a person.
//   json  JSON lines for a log collector, one object per line:
//         {"ts":"2026-12-05T23:10:04.123Z","level":"warning","msg":"...",
//          "component":"serve","trace_id":"<32 hex>","foldback_trace_id":"<uuid>", ...}
//         `trace_id` is the OpenTelemetry trace id of the question (or of
//         the job request) the line is about — the id its spans carry
//         (telemetry::OtelTraceId) — so a log line leads to its spans and,
//         through foldback_trace_id, to the saved trace and its feedback.
//
// Events (LogEvent) are lines only a collector wants — one per question
// answered by serve, one per job request — and are written in json format
// only: the text format stays what a person at a terminal reads.
//
// Callers pass text made safe for a terminal (the CLI's TerminalSafe); JSON
// escaping is done here. Never pass a key: nothing here can redact one.
//
// Thread safety: every function may be called from any thread; a line is
// written whole, with one write, so lines of threads never interleave.
#ifndef FOLDBACK_NATIVE_HOST_LOG_H_
#define FOLDBACK_NATIVE_HOST_LOG_H_

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace foldback::host {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

// "text" | "json"; false for anything else.
bool ParseLogFormat(std::string_view name, LogFormat* format);
// The process's format. Default: kText.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// What a line is about.
struct LogContext {
  // The text label of a line ("serve", "fallback", "rerank"); "" = the
  // level's own ("note", "warning", "error"). JSON: "component" when set.
  std::string component;
  // A foldback trace id (the question's UUID) or an OTel trace id (32 hex
  // digits); "" when the line is about no question.
  std::string trace_id;
  // More fields, JSON only (strings).
  std::vector<std::pair<std::string, std::string>> fields;
};

// One line in `format` (without the newline), at `unix_ms`. For tests and
// for Log.
std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view msg,
                          const LogContext& context, double unix_ms);

// Writes one line to stderr in the process's format.
void Log(LogLevel level, std::string_view msg, const LogContext& context = {});

// The same, in json format only (no-op in text format).
void LogEvent(LogLevel level, std::string_view msg, const LogContext& context);

// fmt-formatted messages (format strings checked at compile time).
template <typename... Args>
void Logf(LogLevel level, const LogContext& context, fmt::format_string<Args...> format,
          Args&&... args) {
  Log(level, fmt::format(format, std::forward<Args>(args)...), context);
}

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_LOG_H_
