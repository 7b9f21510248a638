// foldback serve --index DIR --users USERS.toml --listen HOST:PORT
//               [--cert PEM --key PEM] [--allow-plain-http]
//               [--endpoint URL --model NAME --api-key-env VAR]
//               [--watch FOLDER --matter M] ...
//
// One index served to many lawyers over HTTP (serve/api.h for the routes,
// serve/http_server.h for the HTTP layer, docs/serve.md for operations).
// Every request's walls come from its bearer token's user in USERS.toml;
// the LLM key from this process's environment, never from a client.
// Plain HTTP is refused on anything but a loopback address unless
// --allow-plain-http says so (e.g. behind a TLS-terminating proxy).
#include <execinfo.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/wire.h"
#include "host/ask_run.h"
#include "host/log.h"
#include "cli/config_flags.h"
#include "serve/api.h"
#include "serve/http_server.h"

namespace foldback::cli {
namespace {

struct ServeArgs {
  std::string index_dir, users, listen = "127.0.0.1:8080", cert, key, audit;
  bool allow_plain_http = false;
  std::string endpoint, model, api_key_env, provider = "openai", api_version;
  bool no_json_schema = false;
  std::string ca_bundle;
  std::vector<std::string> cors_origins;
  std::vector<std::string> redact;
  std::string watch, watch_matter;
  double watch_interval = 300;
  size_t snapshot_every = 100;
  double snapshot_interval = 30;
  double rate_limit = 50;
  size_t max_body = size_t{16} << 20;
  int threads = 2, workers = 32;
  double request_timeout = 10, drain_timeout = 30;
  RetryFlags retry;
};

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FOLDBACK_SERVE_SANITIZED 1
#endif
#elif defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FOLDBACK_SERVE_SANITIZED 1
#endif

// A server that dies by a signal says which, with a backtrace, on stderr
// (the operator's journal) before the signal takes it: a crash at 3 a.m.
// leaves something to read. Async-signal-safe calls only; the sanitizers'
// own reports are better, so they keep theirs.
void OnFatalSignal(int sig) {
  // (No formatting library here: none is async-signal-safe.)
  char num[4] = {static_cast<char>('0' + sig / 10 % 10), static_cast<char>('0' + sig % 10), 0, 0};
  const char* digits = sig >= 10 ? num : num + 1;
  (void)!::write(STDERR_FILENO, "serve: fatal signal ", 20);
  (void)!::write(STDERR_FILENO, digits, std::strlen(digits));
  (void)!::write(STDERR_FILENO, "; backtrace:\n", 13);
  void* frames[64];
  int depth = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void ReportFatalSignals() {
#ifndef FOLDBACK_SERVE_SANITIZED
  void* warm[1];
  ::backtrace(warm, 1);  // loads libgcc now, not inside the handler
  struct sigaction sa {};
  sa.sa_handler = OnFatalSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &sa, nullptr);
#endif
}

bool IsLoopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

int Run(const ServeArgs& a) {
  if (a.users.empty()) {
    return Fail(Status::InvalidArgument(
        "--users is required (or [[user]] tables in foldback.toml, or [serve] users)"));
  }
  serve::HttpServerOptions ho;
  size_t colon = a.listen.rfind(':');
  if (colon == std::string::npos)
    return Fail(Status::InvalidArgument("--listen must be HOST:PORT"));
  ho.host = a.listen.substr(0, colon);
  if (ho.host.size() > 2 && ho.host.front() == '[' && ho.host.back() == ']')
    ho.host = ho.host.substr(1, ho.host.size() - 2);
  if (ho.host == "localhost") ho.host = "127.0.0.1";
  try {
    int port = std::stoi(a.listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    ho.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return Fail(Status::InvalidArgument("--listen: bad port in " + a.listen));
  }
  bool tls = !a.cert.empty() || !a.key.empty();
  if (!tls && !IsLoopback(ho.host) && !a.allow_plain_http) {
    return Fail(Status::InvalidArgument(
        "refusing plain HTTP on " + ho.host +
        ": bearer tokens would cross the network in clear. Give --cert and --key, listen on "
        "127.0.0.1, or say --allow-plain-http (e.g. behind a TLS-terminating proxy)"));
  }
  ho.io_threads = a.threads;
  ho.workers = a.workers;
  ho.request_timeout_s = a.request_timeout;
  ho.drain_timeout_s = a.drain_timeout;
  ho.cert_file = a.cert;
  ho.key_file = a.key;

  serve::ApiOptions ao;
  ao.index_dir = a.index_dir;
  ao.users_path = a.users;
  ao.audit_path = a.audit;
  ao.rate_limit = a.rate_limit;
  ao.max_body_bytes = a.max_body;
  ao.cors_origins.insert(a.cors_origins.begin(), a.cors_origins.end());
  if (!a.endpoint.empty()) {
    // The key from this process's environment, as `foldback ask` reads it.
    auto c = host::EndpointFromFlags(a.endpoint, a.provider, a.model, a.api_key_env, a.api_version,
                                     !a.no_json_schema);
    if (!c.ok()) return Fail(c.status().WithContext("--endpoint"));
    ao.llm.chat = std::move(*c);
  }
  ao.llm.ca_bundle = a.ca_bundle;
  if (Status r = ApplyRetryFlags(a.retry, &ao.llm); !r.ok()) return Fail(r);
  if (!a.redact.empty()) {
    auto redactor = wire::CompileRedactionPatterns(a.redact);
    if (!redactor.ok()) return Fail(redactor.status().WithContext("--redact"));
    ao.redactor = std::move(redactor.value());
    ao.llm.redact_patterns = a.redact;
  }
  if (a.watch.empty() && !a.watch_matter.empty()) {
    return Fail(Status::InvalidArgument("--matter names the matter of --watch FOLDER's documents"));
  }
  ao.watch_folder = a.watch;
  ao.watch_matter = a.watch_matter;
  ao.watch_interval_s = a.watch_interval;
  ao.snapshot_every = a.snapshot_every;
  ao.snapshot_interval_s = a.snapshot_interval;
  ao.watch_say = [](const std::string& line) {
    host::Log(host::LogLevel::kInfo, TerminalSafe(line, false), {"watch", "", {}});
  };
  ReportFatalSignals();
  auto api = serve::Api::Create(std::move(ao));
  if (!api.ok()) return Fail(api.status());
  auto server = serve::HttpServer::Create(api->get(), ho);
  if (!server.ok()) return Fail(server.status());
  auto st = (*api)->index()->Stats();
  fmt::print(
      FMT_STRING("foldback serve: {} documents; listening on {}://{}:{}\n"),
      static_cast<unsigned long long>(st.documents), tls ? "https" : "http",
      ho.host.find(':') != std::string::npos ? ("[" + ho.host + "]").c_str() : ho.host.c_str(),
      static_cast<unsigned>((*server)->port()));
  std::fflush(stdout);
  Status s = (*server)->Run(
      [](const std::string& event) { host::Log(host::LogLevel::kInfo, event, {"serve", "", {}}); });
  if (!s.ok()) return Fail(s);
  host::Log(host::LogLevel::kInfo, "stopped", {"serve", "", {}});
  return 0;
}

}  // namespace

void RegisterServe(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve an index over HTTP to many users, walls from their tokens");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  cmd->add_option("--users", a->users,
                  "Users file (TOML: [[user]] name, token_sha256, matters, write; default: the "
                  "[[user]] tables of foldback.toml)");
  cmd->add_option("--listen", a->listen, "HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  cmd->add_option("--cert", a->cert, "TLS certificate chain (PEM)");
  cmd->add_option("--key", a->key, "TLS private key (PEM)");
  cmd->add_flag("--allow-plain-http", a->allow_plain_http,
                "Allow plain HTTP on a non-loopback address (behind a TLS proxy)");
  cmd->add_option("--audit-log", a->audit, "Audit log, JSON lines (default: DIR/audit.log)");
  cmd->add_option("--cors-origin", a->cors_origins, "Origin allowed by CORS (repeatable)");
  cmd->add_option("--rate-limit", a->rate_limit,
                  "Requests per second per user unless the users file says (0 = none)")
      ->capture_default_str();
  cmd->add_option("--max-body", a->max_body, "Largest request body in bytes")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "I/O threads")->capture_default_str();
  cmd->add_option("--workers", a->workers, "Threads for asks, feedback, exports and ingests")
      ->capture_default_str();
  cmd->add_option("--request-timeout", a->request_timeout,
                  "Seconds a request may take to arrive (slow clients are cut off); also the "
                  "keep-alive idle time")
      ->capture_default_str();
  cmd->add_option("--drain-timeout", a->drain_timeout,
                  "Seconds SIGTERM waits for requests in flight")
      ->capture_default_str();
  cmd->add_option("--endpoint", a->endpoint, "Chat endpoint base URL for asks (none: RM3)");
  cmd->add_option("--provider", a->provider, "openai, azure, ollama or vllm")
      ->capture_default_str();
  cmd->add_option("--model", a->model, "Model name (Azure: deployment name)");
  cmd->add_option("--api-key-env", a->api_key_env,
                  "Environment variable of this process holding the API key (never from clients)");
  cmd->add_option("--api-version", a->api_version, "Azure api-version");
  cmd->add_flag("--no-json-schema", a->no_json_schema, "Do not send response_format");
  cmd->add_option("--ca-bundle", a->ca_bundle, "PEM certificate authorities for the LLM endpoint");
  cmd->add_option("--redact", a->redact,
                  "Pattern redacted from everything every ask sends to the endpoint (repeatable; as "
                  "foldback ask --redact)");
  cmd->add_option("--watch", a->watch,
                  "Folder this server keeps its index in sync with, as `foldback watch` (new, "
                  "changed and deleted files; each file's change applied at once)");
  cmd->add_option("--matter", a->watch_matter, "Matter of the --watch folder's documents");
  cmd->add_option("--watch-interval", a->watch_interval,
                  "Seconds between full rescans of the --watch folder (inotify between them)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--snapshot-every", a->snapshot_every,
                  "Writes between background saves of the index snapshot (each write is in the "
                  "fsync'ed write log before it is acknowledged)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--snapshot-interval", a->snapshot_interval,
                  "Seconds after a write before the snapshot is saved in the background")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  AddRetryOptions(cmd, &a->retry);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
