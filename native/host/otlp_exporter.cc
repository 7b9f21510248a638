#include "host/otlp_exporter.h"

#include <curl/curl.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

namespace foldback::host {
namespace {

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool PercentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      *out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    *out += static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return true;
}

// "k=v,k2=v2" (W3C baggage-like, as the OTel spec's list variables).
Status ParseList(const char* var, const std::string& text, std::vector<std::pair<std::string, std::string>>* out) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string item = Trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string key = eq == std::string::npos ? std::string() : Trim(item.substr(0, eq));
    std::string value;
    if (key.empty() || !PercentDecode(Trim(item.substr(eq + 1)), &value) ||
        key.find_first_of("\r\n:") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
      // Never the value: headers carry tokens.
      return Status::InvalidArgument(std::string(var) + ": every entry must be key=value (URL-encoded value), "
                                     "separated by commas");
    }
    out->emplace_back(std::move(key), std::move(value));
  }
  return Status::OK();
}

}  // namespace

Result<OtlpConfig> OtlpConfigFromEnv(const std::function<const char*(const char*)>& getenv) {
  auto var = [&](const char* name) {
    const char* v = getenv(name);
    return v ? Trim(v) : std::string();
  };
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  OtlpConfig c;
  if (lower(var("OTEL_SDK_DISABLED")) == "true") return c;
  std::string url = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  const char* url_var = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  if (url.empty()) {
    url = var("OTEL_EXPORTER_OTLP_ENDPOINT");
    url_var = "OTEL_EXPORTER_OTLP_ENDPOINT";
    if (!url.empty()) {
      while (!url.empty() && url.back() == '/') url.pop_back();
      url += "/v1/traces";
    }
  }
  if (url.empty()) return c;
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument(std::string(url_var) + " must be an http:// or https:// URL");
  }
  std::string protocol = lower(var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"));
  if (protocol.empty()) protocol = lower(var("OTEL_EXPORTER_OTLP_PROTOCOL"));
  if (protocol == "grpc") {
    return Status::InvalidArgument(
        "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: foldback sends OTLP over HTTP (JSON); point it at the "
        "collector's HTTP port (4318) with http/json");
  }
  if (!protocol.empty() && protocol != "http/json" && protocol != "http/protobuf") {
    return Status::InvalidArgument("OTEL_EXPORTER_OTLP_PROTOCOL must be http/json, http/protobuf or grpc");
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"}) {
    std::string h = var(name);
    if (!h.empty()) FB_RETURN_IF_ERROR(ParseList(name, h, &c.headers));
  }
  for (const char* name : {"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"}) {
    std::string t = var(name);
    if (t.empty()) continue;
    char* end = nullptr;
    double ms = std::strtod(t.c_str(), &end);
    if (!end || *end || !(ms > 0) || ms > 600000) {
      return Status::InvalidArgument(std::string(name) + " must be milliseconds in (0, 600000]");
    }
    c.timeout_ms = ms;
  }
  std::vector<std::pair<std::string, std::string>> resource;
  std::string r = var("OTEL_RESOURCE_ATTRIBUTES");
  if (!r.empty()) FB_RETURN_IF_ERROR(ParseList("OTEL_RESOURCE_ATTRIBUTES", r, &resource));
  for (auto& [k, v] : resource) {
    if (k == "service.name") {
      c.service_name = v;
      continue;
    }
    telemetry::Attribute a;
    a.key = k;
    a.value.s = v;
    c.resource.push_back(std::move(a));
  }
  std::string service = var("OTEL_SERVICE_NAME");
  if (!service.empty()) c.service_name = service;
  c.capture_content = lower(var("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")) == "true";
  c.url = std::move(url);
  c.enabled = true;
  return c;
}

struct OtlpExporter::Rep {
  OtlpConfig config;
  std::mutex mu;
  std::condition_variable wake;  // the sender: work or stop
  std::condition_variable idle;  // Flush: the queue drained
  std::deque<telemetry::Span> queue;
  size_t dropped = 0;
  bool sending = false;
  bool stop = false;
  std::atomic<bool> abort{false};
  std::string failure;  // since the last Flush
  std::thread thread;

  static size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }
  static int Progress(void* self, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<Rep*>(self)->abort.load() ? 1 : 0;
  }

  // One POST; "" when delivered, else why not (no header values in it).
  std::string Send(const std::string& body) {
    CURL* easy = curl_easy_init();
    if (!easy) return "could not create an HTTP transfer";
    curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
    for (const auto& [k, v] : config.headers) h = curl_slist_append(h, (k + ": " + v).c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(easy, CURLOPT_URL, config.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(config.timeout_ms));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(config.timeout_ms, 3000.0)));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Rep::Discard);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &Rep::Progress);
    curl_easy_setopt(easy, CURLOPT_XFERINFODATA, this);
    CURLcode rc = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(easy);
    if (rc != CURLE_OK) return errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (status < 200 || status >= 300)
      return fmt::format(FMT_STRING("the collector answered HTTP {}"), status);
    return "";
  }

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stop || !queue.empty(); });
      if (stop) return;
      std::vector<telemetry::Span> batch;
      while (!queue.empty() && batch.size() < 512) {
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      sending = true;
      abort = false;  // a Flush that gave up aborted the batch before this one
      lock.unlock();
      std::string why = Send(telemetry::OtlpTracesJson(batch, config.service_name, config.resource));
      lock.lock();
      sending = false;
      if (!why.empty() && failure.empty()) {
        failure = "spans not delivered to " + config.url + ": " + why;
      }
      if (queue.empty()) idle.notify_all();
    }
  }
};

OtlpExporter::OtlpExporter(OtlpConfig config) : rep_(std::make_unique<Rep>()) {
  rep_->config = std::move(config);
  if (rep_->config.enabled) rep_->thread = std::thread([r = rep_.get()] { r->Run(); });
}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard<std::mutex> lock(rep_->mu);
    rep_->stop = true;
  }
  rep_->abort = true;
  rep_->wake.notify_all();
  if (rep_->thread.joinable()) rep_->thread.join();
}

const OtlpConfig& OtlpExporter::config() const { return rep_->config; }

void OtlpExporter::Export(std::vector<telemetry::Span> spans) {
  if (!rep_->config.enabled || spans.empty()) return;
  {
    std::lock_guard<std::mutex> lock(rep_->mu);
    for (auto& s : spans) rep_->queue.push_back(std::move(s));
    while (rep_->queue.size() > 4096) {
      rep_->queue.pop_front();
      ++rep_->dropped;
    }
  }
  rep_->wake.notify_all();
}

Status OtlpExporter::Flush(double timeout_ms) {
  if (!rep_->config.enabled) return Status::OK();
  std::unique_lock<std::mutex> lock(rep_->mu);
  bool drained = rep_->idle.wait_for(lock, std::chrono::duration<double, std::milli>(std::max(0.0, timeout_ms)),
                                     [&] { return rep_->queue.empty() && !rep_->sending; });
  std::string why = rep_->failure;
  rep_->failure.clear();
  if (!drained) {
    size_t left = rep_->queue.size();
    rep_->queue.clear();
    rep_->abort = true;  // the request in flight ends now
    why = fmt::format(FMT_STRING("spans not delivered to {} within {} ms{}"), rep_->config.url,
                      static_cast<long>(timeout_ms),
                      (left ? fmt::format(FMT_STRING(" ({} dropped)"), left) : std::string()));
  }
  if (rep_->dropped) {
    why += fmt::format(FMT_STRING("{}{} spans dropped (queue full)"), (why.empty() ? "" : "; "),
                       rep_->dropped);
    rep_->dropped = 0;
  }
  return why.empty() ? Status::OK() : Status::Unavailable("telemetry: " + why);
}

Status ExportQuestionSpans(const Trace& trace, telemetry::SpanOptions options, double flush_ms) {
  auto config = OtlpConfigFromEnv([](const char* name) { return std::getenv(name); });
  if (!config.ok()) return Status::InvalidArgument("telemetry: " + config.status().message());
  if (!config->enabled) return Status::OK();
  options.capture_content = config->capture_content;
  OtlpExporter exporter(std::move(*config));
  exporter.Export(telemetry::SpansFromTrace(trace, options));
  return exporter.Flush(flush_ms);
}

}  // namespace foldback::host
