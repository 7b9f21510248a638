// foldback_pg_test_server [--tcp]: a PostgreSQL server of its own in a temp
// folder (tests/support/pg_test_server.h), for scripts and benchmarks.
// Prints "url URL" (Unix socket), with --tcp "tcp_url URL", then "ready".
// Signals: SIGUSR1 restarts the server (immediate stop: crash recovery at
// the start, then up again; prints "restarted"); SIGUSR2 stops it (fast),
// the next SIGUSR2 starts it again ("down" / "up"); SIGINT or SIGTERM stop
// it and exit — and so does the end of the process that started this one.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "pg_test_server.h"

int main(int argc, char** argv) {
  foldback::testing::PgTestServer::Options o;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tcp") == 0) {
      o.tcp = true;
    } else {
      std::fprintf(stderr, "usage: foldback_pg_test_server [--tcp]\n");
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGUSR1, SIGUSR2, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  auto pg = foldback::testing::PgTestServer::Start(o);
  if (!pg.ok()) {
    std::fprintf(stderr, "%s\n", pg.status().ToString().c_str());
    return pg.status().code() == foldback::Status::Code::kUnavailable ? 77 : 1;
  }
  std::printf("url %s\n", (*pg)->url().c_str());
  if (o.tcp) std::printf("tcp_url %s\n", (*pg)->TcpUrl().c_str());
  std::printf("ready\n");
  std::fflush(stdout);
  bool down = false;
  while (true) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGUSR1) {
      (*pg)->Stop(/*immediate=*/true);
      foldback::Status s = (*pg)->StartAgain();
      std::printf("%s\n", s.ok() ? "restarted" : s.ToString().c_str());
    } else if (sig == SIGUSR2) {
      foldback::Status s = down ? (*pg)->StartAgain() : (*pg)->Stop();
      down = !down;
      std::printf("%s\n", s.ok() ? (down ? "down" : "up") : s.ToString().c_str());
    } else {
      break;
    }
    std::fflush(stdout);
  }
  pg->reset();
  return 0;
}
