#include "host/log.h"

#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <ctime>
#include <mutex>

#include <nlohmann/json.hpp>

#include "foldback/telemetry.h"

namespace foldback::host {
namespace {

std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};
std::mutex g_write_mu;

// JSON's level names; text calls info lines "note", as the CLI always has.
const char* LevelName(LogLevel level, LogFormat format = LogFormat::kJson) {
  switch (level) {
    case LogLevel::kInfo:
      return format == LogFormat::kText ? "note" : "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// A JSON string literal; invalid UTF-8 replaced.
std::string Quoted(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// RFC 3339 UTC with milliseconds.
std::string Timestamp(double unix_ms) {
  auto ms = static_cast<int64_t>(std::floor(unix_ms));
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format(FMT_STRING("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z"), tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(ms % 1000));
}

bool IsOtelTraceId(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

double NowUnixMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Write(const std::string& line) {
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fflush(stderr);  // what stdio holds goes first
  size_t off = 0;
  while (off < line.size()) {
    ssize_t w = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (w <= 0) break;
    off += static_cast<size_t>(w);
  }
}

}  // namespace

bool ParseLogFormat(std::string_view name, LogFormat* format) {
  if (name == "text") {
    *format = LogFormat::kText;
  } else if (name == "json") {
    *format = LogFormat::kJson;
  } else {
    return false;
  }
  return true;
}

void SetLogFormat(LogFormat format) { g_format.store(static_cast<int>(format)); }

LogFormat GetLogFormat() { return static_cast<LogFormat>(g_format.load()); }

std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view msg,
                          const LogContext& c, double unix_ms) {
  if (format == LogFormat::kText) {
    return fmt::format(FMT_STRING("{}: {}"),
                       c.component.empty() ? LevelName(level, format) : c.component.c_str(), msg);
  }
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), FMT_STRING(R"({{"ts":"{}","level":"{}","msg":{})"),
                 Timestamp(unix_ms), LevelName(level), Quoted(msg));
  if (!c.component.empty())
    fmt::format_to(std::back_inserter(out), FMT_STRING(R"(,"component":{})"), Quoted(c.component));
  if (!c.trace_id.empty()) {
    // The OTel id the question's spans carry; the foldback id (a UUID: the
    // trace file's name) beside it when they differ.
    if (IsOtelTraceId(c.trace_id)) {
      fmt::format_to(std::back_inserter(out), FMT_STRING(R"(,"trace_id":"{}")"), c.trace_id);
    } else {
      fmt::format_to(std::back_inserter(out),
                     FMT_STRING(R"(,"trace_id":"{}","foldback_trace_id":{})"),
                     telemetry::OtelTraceId(c.trace_id), Quoted(c.trace_id));
    }
  }
  for (const auto& [k, v] : c.fields) {
    fmt::format_to(std::back_inserter(out), FMT_STRING(",{}:{}"), Quoted(k), Quoted(v));
  }
  out.push_back('}');
  return fmt::to_string(out);
}

void Log(LogLevel level, std::string_view msg, const LogContext& context) {
  Write(FormatLogLine(GetLogFormat(), level, msg, context, NowUnixMs()) + "\n");
}

void LogEvent(LogLevel level, std::string_view msg, const LogContext& context) {
  if (GetLogFormat() != LogFormat::kJson) return;
  Log(level, msg, context);
}

}  // namespace foldback::host
