// Boost.Beast and Boost.Asio stay in this file.
#include "serve/http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fmt/format.h>

#include <atomic>
#include <future>
#include <optional>
#include <thread>

namespace foldback::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

struct HttpServer::Rep {
  Api* api = nullptr;
  HttpServerOptions options;
  net::io_context ioc;
  std::optional<ssl::context> tls;
  // On a strand: the accept handler (which re-arms the accept) and the
  // drain (which closes the acceptor) run on different I/O threads
  // otherwise, and an acceptor is not safe for concurrent use — a handler
  // seeing it still open while it closes re-armed a closing descriptor,
  // and serve died by a signal now and then on SIGTERM.
  tcp::acceptor acceptor{net::make_strand(ioc)};
  net::thread_pool workers;
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};
  uint16_t port = 0;

  explicit Rep(int worker_threads) : workers(static_cast<size_t>(worker_threads)) {}
  void Accept();
};

namespace {

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>>, public Responder {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  template <class... Args>
  Session(HttpServer::Rep* server, Args&&... args)
      : server_(server), stream_(std::forward<Args>(args)...) {}

  void Start() {
    auto self = this->shared_from_this();
    net::dispatch(stream_.get_executor(), [self] {
      if constexpr (kTls) {
        beast::get_lowest_layer(self->stream_)
            .expires_after(Seconds(self->server_->options.request_timeout_s));
        self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return;  // a failed handshake: nothing to say over plain text
          self->DoRead();
        });
      } else {
        self->DoRead();
      }
    });
  }

  // ---- Responder (any thread)
  void Respond(HttpResponse r) override {
    auto self = this->shared_from_this();
    net::post(stream_.get_executor(),
              [self, r = std::move(r)]() mutable { self->Write(std::move(r)); });
  }

  bool BeginStream(int status, const std::string& content_type,
                   const std::vector<std::pair<std::string, std::string>>& headers) override {
    auto self = this->shared_from_this();
    return Await([self, status, content_type, headers](std::promise<bool>* done) {
      auto& res = self->stream_res_.emplace(static_cast<http::status>(status), 11);
      res.set(http::field::server, "foldback");
      res.set(http::field::content_type, content_type);
      for (const auto& [k, v] : headers) res.set(k, v);
      res.keep_alive(self->keep_alive_ && !self->server_->draining);
      res.chunked(true);
      self->stream_sr_.emplace(res);
      beast::get_lowest_layer(self->stream_)
          .expires_after(Seconds(self->server_->options.write_timeout_s));
      http::async_write_header(
          self->stream_, *self->stream_sr_,
          [self, done](beast::error_code ec, size_t) { done->set_value(!ec); });
    });
  }

  bool WriteChunk(std::string_view data) override {
    if (broken_) return false;
    auto self = this->shared_from_this();
    auto copy = std::make_shared<std::string>(data);
    bool ok = Await([self, copy](std::promise<bool>* done) {
      beast::get_lowest_layer(self->stream_)
          .expires_after(Seconds(self->server_->options.write_timeout_s));
      net::async_write(self->stream_, http::make_chunk(net::buffer(*copy)),
                       [self, copy, done](beast::error_code ec, size_t) { done->set_value(!ec); });
    });
    if (!ok) broken_ = true;
    return ok;
  }

  void EndStream() override {
    auto self = this->shared_from_this();
    bool broken = broken_;
    net::post(stream_.get_executor(), [self, broken] {
      if (broken) return self->Finish(true);
      beast::get_lowest_layer(self->stream_)
          .expires_after(Seconds(self->server_->options.write_timeout_s));
      net::async_write(self->stream_, http::make_chunk_last(),
                       [self](beast::error_code ec, size_t) {
                         bool close = ec || !self->stream_res_->keep_alive();
                         self->Finish(close);
                       });
    });
  }

 private:
  // Runs `start` on the strand and waits for it to report (worker threads
  // only: the I/O threads never wait).
  template <class F>
  bool Await(F start) {
    std::promise<bool> done;
    auto fut = done.get_future();
    net::post(stream_.get_executor(), [start, d = &done]() mutable { start(d); });
    // The I/O threads may have stopped (a drain that timed out): give up.
    while (fut.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (server_->ioc.stopped()) return false;
    }
    return fut.get();
  }

  void DoRead() {
    parser_.emplace();
    parser_->body_limit(server_->api->options().max_body_bytes);
    parser_->header_limit(16 * 1024);
    // The whole request must arrive in time: a client trickling bytes
    // (slowloris) is cut off, and an idle keep-alive connection closed.
    beast::get_lowest_layer(stream_).expires_after(Seconds(server_->options.request_timeout_s));
    auto self = this->shared_from_this();
    http::async_read(stream_, buffer_, *parser_,
                     [self](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted) {
      return DoClose();
    }
    if (ec) {
      if (ec.category() != http::make_error_code(http::error::body_limit).category() ||
          ec == http::error::partial_message) {
        return DoClose();  // the socket failed or the client left: nobody to answer
      }
      // A malformed or oversized request: say so, then close.
      keep_alive_ = false;
      server_->in_flight++;
      if (ec == http::error::body_limit) {
        Write(Api::Error(413, "body_too_large",
                         fmt::format(FMT_STRING("the body is larger than {} bytes"),
                                     server_->api->options().max_body_bytes)));
      } else if (ec == http::error::header_limit) {
        Write(Api::Error(431, "headers_too_large", "the request headers are too large"));
      } else {
        Write(Api::Error(400, "bad_request", "malformed HTTP request"));
      }
      return;
    }
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    server_->in_flight++;
    if (server_->draining) {
      keep_alive_ = false;
      return Write(Api::Error(503, "unavailable", "the server is shutting down"));
    }
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& f : msg) {
      std::string name(f.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      req.headers[name] = std::string(f.value());
    }
    req.body = std::move(msg.body());
    auto self = this->shared_from_this();
    if (server_->api->RunsLong(req)) {
      net::post(server_->workers,
                [self, req = std::move(req)] { self->server_->api->Handle(req, *self); });
    } else {
      server_->api->Handle(req, *this);
    }
  }

  // On the strand.
  void Write(HttpResponse r) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "foldback");
    if (!r.content_type.empty()) res->set(http::field::content_type, r.content_type);
    res->set("X-Content-Type-Options", "nosniff");
    for (const auto& [k, v] : r.headers) res->set(k, v);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !server_->draining);
    res->prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(Seconds(server_->options.write_timeout_s));
    auto self = this->shared_from_this();
    http::async_write(stream_, *res, [self, res](beast::error_code ec, size_t) {
      self->Finish(ec || res->need_eof());
    });
  }

  void Finish(bool close) {
    server_->in_flight--;
    if (close) return DoClose();
    DoRead();
  }

  void DoClose() {
    beast::error_code ec;
    if constexpr (kTls) {
      auto self = this->shared_from_this();
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self](beast::error_code) {});
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  HttpServer::Rep* server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  bool broken_ = false;
  std::optional<http::response<http::empty_body>> stream_res_;
  std::optional<http::response_serializer<http::empty_body>> stream_sr_;
};

}  // namespace

void HttpServer::Rep::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (draining || !acceptor.is_open()) return;  // a connection that came in as the drain began
    if (ec) {
      // A failed accept (a client gone before it was taken, no descriptors left): go on.
    } else if (tls) {
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(this, std::move(socket), *tls)
          ->Start();
    } else {
      std::make_shared<Session<beast::tcp_stream>>(this, std::move(socket))->Start();
    }
    Accept();
  });
}

HttpServer::HttpServer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
HttpServer::~HttpServer() {
  rep_->workers.stop();
  rep_->workers.join();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(Api* api, const HttpServerOptions& options) {
  auto rep = std::make_unique<Rep>(std::max(1, options.workers));
  rep->api = api;
  rep->options = options;
  if (!options.cert_file.empty() || !options.key_file.empty()) {
    if (options.cert_file.empty() || options.key_file.empty()) {
      return Status::InvalidArgument("TLS needs both --cert and --key");
    }
    rep->tls.emplace(ssl::context::tls_server);
    beast::error_code ec;
    rep->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1,
                          ec);
    rep->tls->use_certificate_chain_file(options.cert_file, ec);
    if (ec) return Status::IOError("--cert " + options.cert_file + ": " + ec.message());
    rep->tls->use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) return Status::IOError("--key " + options.key_file + ": " + ec.message());
  }
  beast::error_code ec;
  auto addr = net::ip::make_address(options.host, ec);
  if (ec) return Status::InvalidArgument("not an IP address: " + options.host);
  tcp::endpoint ep(addr, options.port);
  rep->acceptor.open(ep.protocol(), ec);
  if (!ec) rep->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) rep->acceptor.bind(ep, ec);
  if (!ec) rep->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Status::IOError(fmt::format(FMT_STRING("cannot listen on {}:{}: {}"), options.host,
                                       options.port, ec.message()));
  rep->port = rep->acceptor.local_endpoint().port();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(rep)));
}

uint16_t HttpServer::port() const { return rep_->port; }

void HttpServer::Stop() {
  Rep* r = rep_.get();
  net::post(r->acceptor.get_executor(), [r] {  // the acceptor's strand
    if (r->draining.exchange(true)) return;
    beast::error_code ec;
    r->acceptor.close(ec);
    // Wait for in-flight requests, then stop the I/O threads.
    auto timer = std::make_shared<net::steady_timer>(r->ioc);
    auto deadline = std::chrono::steady_clock::now() + Seconds(r->options.drain_timeout_s);
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [r, timer, deadline, poll] {
      if (r->in_flight.load() <= 0 || std::chrono::steady_clock::now() > deadline) {
        r->ioc.stop();
        *poll = nullptr;  // break the cycle
        return;
      }
      timer->expires_after(std::chrono::milliseconds(20));
      timer->async_wait([poll](beast::error_code) {
        if (*poll) (*poll)();
      });
    };
    (*poll)();
  });
}

Status HttpServer::Run(const std::function<void(const std::string&)>& on_event) {
  Rep* r = rep_.get();
  net::signal_set signals(r->ioc, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> arm = [&] {
    signals.async_wait([&](beast::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        Status s = r->api->ReloadUsers();
        if (on_event) on_event(s.ok() ? "reloaded users" : "reload failed: " + s.ToString());
        arm();
        return;
      }
      if (on_event) on_event("draining");
      Stop();
    });
  };
  arm();
  r->Accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < std::max(1, r->options.io_threads); ++i)
    threads.emplace_back([r] { r->ioc.run(); });
  r->ioc.run();
  for (auto& t : threads) t.join();
  signals.cancel();
  return Status::OK();
}

}  // namespace foldback::serve
