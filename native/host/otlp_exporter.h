// Sends a question's OpenTelemetry spans (foldback/telemetry.h builds them)
// to a collector over OTLP/HTTP with a JSON body — Debian has no
// OpenTelemetry C++ SDK, and every OTLP/HTTP receiver accepts JSON.
//
// Configured by the standard variables:
//   OTEL_SDK_DISABLED=true                       nothing is sent
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT           the full URL, as is
//   OTEL_EXPORTER_OTLP_ENDPOINT                  base URL; /v1/traces appended
//   OTEL_EXPORTER_OTLP_[TRACES_]HEADERS          "k=v,k2=v2" (values %-decoded)
//   OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT          ms per export. Default 10000
//   OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL         http/json or http/protobuf
//                                                (JSON is sent: receivers take
//                                                both); grpc is refused
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES  the resource
//   OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true
//                                                question, queries and answer
//                                                in spans (off by default)
// Unlike an SDK, nothing is sent unless an endpoint variable is set: a
// lawyer's tool does not talk to localhost:4318 on its own.
//
// Export never blocks and never fails a question: spans go to a queue that
// a background thread sends; a collector that is down costs one failed
// request per batch, reported by Flush, never thrown. Header values (they
// often carry tokens) appear in no message.
#ifndef FOLDBACK_NATIVE_HOST_OTLP_EXPORTER_H_
#define FOLDBACK_NATIVE_HOST_OTLP_EXPORTER_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "foldback/status.h"
#include "foldback/telemetry.h"

namespace foldback::host {

struct OtlpConfig {
  bool enabled = false;
  std::string url;  // where spans are POSTed
  std::vector<std::pair<std::string, std::string>> headers;
  std::string service_name = "foldback";
  std::vector<telemetry::Attribute> resource;
  double timeout_ms = 10000;
  bool capture_content = false;
};

// The configuration from the environment (`getenv` for tests). Disabled
// when no endpoint is set or OTEL_SDK_DISABLED is true. InvalidArgument,
// naming the variable (never a header value), for a malformed header list,
// timeout or URL, or the grpc protocol.
Result<OtlpConfig> OtlpConfigFromEnv(const std::function<const char*(const char*)>& getenv);

class OtlpExporter {
 public:
  explicit OtlpExporter(OtlpConfig config);
  ~OtlpExporter();  // abandons what is unsent (call Flush first)
  OtlpExporter(const OtlpExporter&) = delete;
  OtlpExporter& operator=(const OtlpExporter&) = delete;

  const OtlpConfig& config() const;

  // Queues spans; returns at once. Beyond 4096 queued spans the oldest are
  // dropped and counted.
  void Export(std::vector<telemetry::Span> spans);

  // Sends everything queued, waiting at most `timeout_ms`. OK when all of it
  // was delivered (2xx); else Unavailable saying why (the first failure,
  // spans dropped), and the spans are gone: telemetry is never retried at
  // the cost of the user's time.
  Status Flush(double timeout_ms);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// For a host that answers one question and exits (the CLI): the question's
// spans (telemetry::SpansFromTrace with `options`, content as the
// environment says) sent to the collector the environment names, waiting
// at most `flush_ms`. OK when telemetry is off. A bad OTEL_* variable or an
// undelivered batch is a Status to show as a warning — never a reason to
// fail the question.
Status ExportQuestionSpans(const Trace& trace, telemetry::SpanOptions options, double flush_ms);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_OTLP_EXPORTER_H_
