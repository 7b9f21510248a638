// foldback_llm_test_server: the tests' OpenAI-compatible server, standalone,
// for manual tries and the examples.
//
//   foldback_llm_test_server [--port N] [--script FILE] [--echo] [--delay-ms N] [--quiet]
//
// --echo answers unscripted chats as a DSPy program expects (EchoReply):
// each hop's query is the question, the answer "Echo: <question> [1]".
//
// Prints "listening on http://127.0.0.1:PORT/v1" once it serves, logs one
// line per request to stderr (unless --quiet), and stops on SIGINT/SIGTERM.
// The script format is described in llm_test_server.h (ParseServerScript).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "llm_test_server.h"

namespace {

int Usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--port N] [--script FILE] [--echo] [--delay-ms N] [--quiet]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using foldback::testing::LlmTestServer;
  int port = 0;
  std::string script_path;
  bool quiet = false, echo = false;
  double delay_ms = -1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--port" && i + 1 < argc) {
      char* end = nullptr;
      long p = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || p < 0 || p > 65535) {
        std::fprintf(stderr, "error: --port wants a number in 0..65535\n");
        return 2;
      }
      port = static_cast<int>(p);
    } else if (a == "--script" && i + 1 < argc) {
      script_path = argv[++i];
    } else if (a == "--echo") {
      echo = true;
    } else if (a == "--delay-ms" && i + 1 < argc) {
      char* end = nullptr;
      delay_ms = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(delay_ms >= 0)) {
        std::fprintf(stderr, "error: --delay-ms wants a number >= 0\n");
        return 2;
      }
    } else if (a == "--quiet") {
      quiet = true;
    } else if (a == "--help" || a == "-h") {
      Usage(argv[0]);
      return 0;
    } else {
      return Usage(argv[0]);
    }
  }
  foldback::testing::ServerScript script;
  if (!script_path.empty()) {
    std::ifstream in(script_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "error: cannot read %s: %s\n", script_path.c_str(), std::strerror(errno));
      return 1;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    auto parsed = foldback::testing::ParseServerScript(buf.str());
    if (!parsed.ok()) {
      std::fprintf(stderr, "error: %s: %s\n", script_path.c_str(), parsed.status().message().c_str());
      return 1;
    }
    script = std::move(*parsed);
  }

  if (echo) script.options.echo = true;
  if (delay_ms >= 0) script.options.default_delay_ms = delay_ms;

  // Block the stop signals before any thread starts, then wait for them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = LlmTestServer::Start(script.options, port);
  if (!server.ok()) {
    std::fprintf(stderr, "error: %s\n", server.status().message().c_str());
    return 1;
  }
  for (auto& r : script.replies) (*server)->Script(std::move(r));
  std::printf("listening on %s\n", (*server)->base_url().c_str());
  std::fflush(stdout);

  std::thread logger;
  std::atomic<bool> done{false};
  if (!quiet) {
    logger = std::thread([&] {
      size_t seen = 0;
      while (!done.load()) {
        auto reqs = (*server)->requests();
        for (; seen < reqs.size(); ++seen) {
          std::fprintf(stderr, "%s %s -> %d\n", reqs[seen].method.c_str(), reqs[seen].path.c_str(),
                       reqs[seen].status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  int sig = 0;
  sigwait(&stop, &sig);
  done.store(true);
  if (logger.joinable()) logger.join();
  (*server)->Stop();
  return 0;
}
