// The HTTP/1.1 layer of `foldback serve`: Boost.Beast over Boost.Asio,
// asynchronous (docs/serve.md says why): a few I/O threads serve every
// connection, so 200 keep-alive clients, event streams and slow clients
// cost sockets and buffers, not threads. Requests that may block (asks,
// feedback fsyncs, ingests, exports: Api::RunsLong) run on a worker pool and
// their responses are handed back to the connection's strand.
//
// Limits: a request (headers and body) must arrive within
// `request_timeout_s` (slowloris), headers are at most 16 KiB, a body at
// most Api's max_body_bytes (413 beyond), an idle keep-alive connection is
// closed after `idle_timeout_s`, and a response write must progress within
// `write_timeout_s`.
//
// Signals: SIGHUP reloads the users file; SIGTERM and SIGINT stop accepting,
// let in-flight requests finish (at most `drain_timeout_s`), then return.
//
// Boost's headers are included by http_server.cc only (they compile slowly).
#ifndef FOLDBACK_NATIVE_SERVE_HTTP_SERVER_H_
#define FOLDBACK_NATIVE_SERVE_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "foldback/status.h"
#include "serve/api.h"

namespace foldback::serve {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see HttpServer::port)
  int io_threads = 2;
  int workers = 32;  // threads for Api::RunsLong routes
  double request_timeout_s = 10;
  double idle_timeout_s = 60;
  double write_timeout_s = 30;
  double drain_timeout_s = 30;
  // TLS: PEM certificate chain and private key; both empty = plain HTTP.
  std::string cert_file, key_file;
};

class HttpServer {
 public:
  // Binds and listens (the port is known after this). InvalidArgument for
  // a bad address, IOError when the port cannot be bound or TLS files
  // cannot be loaded.
  static Result<std::unique_ptr<HttpServer>> Create(Api* api, const HttpServerOptions& options);
  ~HttpServer();

  uint16_t port() const;

  // Serves until SIGTERM/SIGINT (or Stop()), then drains. `on_event`
  // (may be empty) hears "reloaded users", "reload failed: ...", "draining".
  Status Run(const std::function<void(const std::string&)>& on_event);
  // Starts draining, from any thread.
  void Stop();

  struct Rep;

 private:
  explicit HttpServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace foldback::serve

#endif  // FOLDBACK_NATIVE_SERVE_HTTP_SERVER_H_
