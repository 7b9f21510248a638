// A PostgreSQL server of the tests' own, in a temporary folder: initdb
// (once per machine and user, into a cached template that each server
// copies), then `postgres` on a Unix socket in that folder (and a loopback
// port when asked), fsync and synchronous_commit at their defaults.
//
//   auto pg = PgTestServer::Start();
//   if (!pg.ok()) GTEST_SKIP() << ...;   // only when no server binaries exist
//   OpenJobStore((*pg)->url());
//
// As root (CI), initdb and postgres refuse to run: they run as `nobody`
// (the folder handed to it). The binaries come from `pg_config --bindir`
// or /usr/lib/postgresql/*/bin. The server dies with the thread that
// started it (PR_SET_PDEATHSIG: start and restart it from a thread that
// outlives it); Stop() and the destructor end it, and only it, by its pid.
//
// Roles: "foldback" (superuser, trust); SetPassword() adds a role that
// must log in with a password (scram-sha-256), for tests of bad passwords.
#ifndef FOLDBACK_TESTS_SUPPORT_PG_TEST_SERVER_H_
#define FOLDBACK_TESTS_SUPPORT_PG_TEST_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "foldback/status.h"

namespace foldback::testing {

class PgTestServer {
 public:
  struct Options {
    // Also listen on 127.0.0.1 (a free port); else the Unix socket only.
    bool tcp = false;
  };
  // Unavailable (with why) when no PostgreSQL server binaries are installed;
  // IOError when initdb or the server fails (the server log's tail).
  static Result<std::unique_ptr<PgTestServer>> Start(const Options& options);
  static Result<std::unique_ptr<PgTestServer>> Start() { return Start(Options()); }
  ~PgTestServer();
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;

  // postgresql:///postgres?host=<dir>&port=<port>&user=foldback (Unix
  // socket); with `tcp`, TcpUrl() is postgresql://foldback@127.0.0.1:<port>/postgres.
  std::string url() const;
  std::string TcpUrl() const;
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  // Runs SQL as the superuser (libpq).
  Status Sql(const std::string& sql) const;
  // Creates (or alters) `role`, able to log in only with `password`.
  Status SetPassword(const std::string& role, const std::string& password) const;

  // Stops the server: `immediate` = SIGQUIT (no checkpoint: crash
  // recovery at the next start, as after a power cut of the server
  // process), else SIGINT (fast shutdown). Waits for it to exit.
  Status Stop(bool immediate = false);
  // Starts it again on the same folder, socket and port.
  Status StartAgain();

 private:
  PgTestServer() = default;
  Status Launch();

  std::string bindir_, dir_;
  int port_ = 5432;
  bool tcp_ = false;
  pid_t pid_ = -1;
};

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_PG_TEST_SERVER_H_
