// A PostgreSQL server for tests: see pg_test_server.h.
#include "pg_test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace foldback::testing {
namespace {

namespace fs = std::filesystem;

// Who the server runs as: this process, or `nobody` when this is root.
struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Result<RunAs> Runner() {
  RunAs r;
  if (geteuid() != 0) return r;
  struct passwd* pw = getpwnam("nobody");
  if (!pw)
    return Status::Unavailable("running as root and there is no user 'nobody' to run postgres as");
  r.drop = true;
  r.uid = pw->pw_uid;
  r.gid = pw->pw_gid;
  return r;
}

Status Chown(const fs::path& p, const RunAs& as) {
  if (!as.drop) return Status::OK();
  if (::chown(p.c_str(), as.uid, as.gid) != 0) return Status::IOError("chown " + p.string());
  return Status::OK();
}

// Starts argv as `as`, output to `log`; the child dies with this process.
pid_t Spawn(const std::vector<std::string>& argv, const RunAs& as, const std::string& log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out >= 0) {
    dup2(out, 1);
    dup2(out, 2);
  }
  if (as.drop) {
    if (setgroups(0, nullptr) != 0 || setgid(as.gid) != 0 || setuid(as.uid) != 0) _exit(126);
  }
  prctl(PR_SET_PDEATHSIG, SIGQUIT);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 1500 ? s.substr(s.size() - 1500) : s;
}

Status RunToEnd(const std::vector<std::string>& argv, const RunAs& as, const std::string& log) {
  pid_t pid = Spawn(argv, as, log);
  if (pid < 0) return Status::IOError("fork");
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Status::IOError(argv[0] + " failed: " + Tail(log));
  }
  return Status::OK();
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

Result<std::string> BinDir() {
  std::vector<std::string> dirs;
  if (FILE* p = popen("pg_config --bindir 2>/dev/null", "r")) {
    char buf[512] = {0};
    if (fgets(buf, sizeof buf, p)) {
      std::string d(buf);
      while (!d.empty() && (d.back() == '\n' || d.back() == ' ')) d.pop_back();
      dirs.push_back(d);
    }
    pclose(p);
  }
  std::error_code ec;
  std::vector<std::string> versions;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    versions.push_back(e.path().string() + "/bin");
  }
  std::sort(versions.rbegin(), versions.rend());
  dirs.insert(dirs.end(), versions.begin(), versions.end());
  for (const std::string& d : dirs) {
    if (Exists(d + "/postgres") && Exists(d + "/initdb")) return d;
  }
  return Status::Unavailable(
      "no PostgreSQL server binaries (initdb, postgres) in `pg_config --bindir` or "
      "/usr/lib/postgresql/*/bin: install the Debian package postgresql");
}

// The initialized cluster every server copies: initdb once per machine,
// user and PostgreSQL version, under a lock (tests run in parallel).
// Where servers and the template go: the temp folder, or /tmp when the
// server's user (nobody) could not enter it.
fs::path Base(const RunAs& as) {
  fs::path base = fs::temp_directory_path();
  struct stat st;
  if (as.drop && (stat(base.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0)) return "/tmp";
  return base;
}

Result<fs::path> Template(const std::string& bindir, const RunAs& as) {
  std::error_code ec;
  uintmax_t size = fs::file_size(bindir + "/postgres", ec);
  std::string tag = "v2-" + std::to_string(as.drop ? as.uid : geteuid()) + "-" +
                    std::to_string(size) + "-" +
                    std::to_string(std::hash<std::string>()(bindir) % 100000);
  fs::path base = Base(as);
  fs::path tmpl = base / ("foldback-pg-template-" + tag);
  fs::path lock = base / ("foldback-pg-template-" + tag + ".lock");
  int fd = open(lock.c_str(), O_RDWR | O_CREAT, 0600);
  if (fd < 0) return Status::IOError("cannot open " + lock.string());
  flock(fd, LOCK_EX);
  Status s;
  if (!Exists(tmpl / "data" / "PG_VERSION")) {
    std::string stage_s = (base / "foldback-pg-stage-XXXXXX").string();
    if (!mkdtemp(stage_s.data())) {
      close(fd);
      return Status::IOError("mkdtemp");
    }
    fs::path stage(stage_s);
    s = Chown(stage, as);
    if (s.ok()) {
      s = RunToEnd({bindir + "/initdb", "-D", (stage / "data").string(), "-U", "foldback",
                    "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions",
                    // 1 MB WAL segments instead of 16: less to copy per server
                    "--wal-segsize=1"},
                   as, (stage / "initdb.log").string());
    }
    if (s.ok()) {
      fs::remove_all(tmpl, ec);
      fs::rename(stage, tmpl, ec);
      if (ec) s = Status::IOError("cannot move the initdb template into place: " + ec.message());
    }
    if (!s.ok()) fs::remove_all(stage, ec);
  }
  flock(fd, LOCK_UN);
  close(fd);
  if (!s.ok()) return s;
  return tmpl;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

}  // namespace

Result<std::unique_ptr<PgTestServer>> PgTestServer::Start(const Options& options) {
  auto bindir = BinDir();
  if (!bindir.ok()) return bindir.status();
  auto as = Runner();
  if (!as.ok()) return as.status();
  auto tmpl = Template(*bindir, *as);
  if (!tmpl.ok()) return tmpl.status();

  std::unique_ptr<PgTestServer> pg(new PgTestServer());
  pg->bindir_ = *bindir;
  pg->tcp_ = options.tcp;
  std::string dir = (Base(*as) / "foldback-pg-XXXXXX").string();
  if (!mkdtemp(dir.data())) return Status::IOError("mkdtemp");
  pg->dir_ = dir;
  Status s = Chown(dir, *as);
  if (!s.ok()) return s;
  // A copy of the template (cp -a keeps the owner), then our own pg_hba.
  s = RunToEnd({"/bin/cp", "-a", (*tmpl / "data").string(), dir + "/data"}, RunAs(),
               dir + "/cp.log");
  if (!s.ok()) return s;
  {
    std::ofstream hba(dir + "/data/pg_hba.conf", std::ios::trunc);
    hba << "local all +pwrequired scram-sha-256\n"
           "local all all trust\n"
           "host all +pwrequired 127.0.0.1/32 scram-sha-256\n"
           "host all all 127.0.0.1/32 trust\n";
  }
  s = Chown(dir + "/data/pg_hba.conf", *as);
  if (!s.ok()) return s;
  if (pg->tcp_) {
    pg->port_ = FreePort();
    if (pg->port_ == 0) return Status::IOError("no free loopback port");
  }
  s = pg->Launch();
  if (!s.ok()) return s;
  return pg;
}

Status PgTestServer::Launch() {
  auto as = Runner();
  if (!as.ok()) return as.status();
  std::string log = dir_ + "/server.log";
  pid_ =
      Spawn({bindir_ + "/postgres", "-D", dir_ + "/data", "-k", dir_, "-p", std::to_string(port_),
             "-c", std::string("listen_addresses=") + (tcp_ ? "127.0.0.1" : ""), "-c",
             "shared_buffers=16MB", "-c", "max_connections=40"},
            *as, log);
  if (pid_ < 0) return Status::IOError("fork");
  std::string ping = "host=" + dir_ + " port=" + std::to_string(port_) +
                     " dbname=postgres user=foldback connect_timeout=2";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (PQping(ping.c_str()) == PQPING_OK) return Status::OK();
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::IOError("postgres exited at start: " + Tail(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Status::IOError("postgres did not accept connections within 60 s: " + Tail(log));
}

PgTestServer::~PgTestServer() {
  Stop(/*immediate=*/true);  // no shutdown checkpoint: the folder goes away
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

std::string PgTestServer::url() const {
  return "postgresql:///postgres?host=" + dir_ + "&port=" + std::to_string(port_) +
         "&user=foldback";
}

std::string PgTestServer::TcpUrl() const {
  return "postgresql://foldback@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

Status PgTestServer::Sql(const std::string& sql) const {
  PGconn* c = PQconnectdb(url().c_str());
  Status s;
  if (PQstatus(c) != CONNECTION_OK) {
    s = Status::IOError(std::string("connect: ") + PQerrorMessage(c));
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      s = Status::IOError(std::string("sql: ") + PQerrorMessage(c));
    }
    PQclear(r);
  }
  PQfinish(c);
  return s;
}

Status PgTestServer::SetPassword(const std::string& role, const std::string& password) const {
  return Sql(
      "DO $$ BEGIN CREATE ROLE pwrequired NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END "
      "$$; DO $$ BEGIN CREATE ROLE \"" +
      role +
      "\" LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$; "
      "GRANT pwrequired TO \"" +
      role + "\"; ALTER ROLE \"" + role + "\" PASSWORD '" + password + "'");
}

Status PgTestServer::Stop(bool immediate) {
  if (pid_ <= 0) return Status::OK();
  kill(pid_, immediate ? SIGQUIT : SIGINT);
  int status = 0;
  for (int i = 0; i < 2000; ++i) {  // 20 s
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::OK();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return Status::IOError("postgres did not stop within 20 s; killed");
}

Status PgTestServer::StartAgain() {
  if (pid_ > 0) return Status::FailedPrecondition("the server is running");
  return Launch();
}

}  // namespace foldback::testing
