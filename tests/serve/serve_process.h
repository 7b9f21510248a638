// `foldback serve` started as a firm starts it (a child process on a
// loopback port), and the HTTP clients the serve tests talk to it with:
// cpp-httplib for ordinary requests, a raw socket for what a well-behaved
// client never sends (path tricks, partial requests).
#ifndef FOLDBACK_TESTS_SERVE_SERVE_PROCESS_H_
#define FOLDBACK_TESTS_SERVE_SERVE_PROCESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace foldback::testing {

inline std::string ReadWhole(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ServeProcess {
 public:
  // Runs `foldback serve ARGS --listen 127.0.0.1:0` (args split on spaces:
  // no spaces inside one), waits until it listens. port() is 0 when it did
  // not (then output() says why).
  bool Start(const std::vector<std::string>& args, const std::string& log_dir) {
    out_path_ = log_dir + "/serve-" + std::to_string(++runs_) + ".out";
    std::vector<std::string> argv = {FOLDBACK_CLI, "serve"};
    argv.insert(argv.end(), args.begin(), args.end());
    bool has_listen = false;
    for (const auto& a : args) has_listen |= a == "--listen";
    if (!has_listen) {
      argv.push_back("--listen");
      argv.push_back("127.0.0.1:0");
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, FOLDBACK_CLI, &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return false;
    std::regex re("listening on https?://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 400; ++i) {
      std::smatch m;
      std::string out = output();
      if (std::regex_search(out, m, re)) {
        port_ = std::stoi(m[1]);
        return true;
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return false;
  }

  ~ServeProcess() { Kill(); }

  void Signal(int sig) {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // Waits for the process to exit (at most `seconds`); its exit code, or -1.
  int Wait(double seconds = 20) {
    if (pid_ <= 0) return exit_code_;
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (WIFSIGNALED(status)) {  // said in output(), which a failing test prints
          std::ofstream(out_path_, std::ios::app)
              << "(test: the server died by signal " << WTERMSIG(status) << ")\n";
        }
        pid_ = -1;
        return exit_code_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -2;  // still running
  }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }
  std::string output() const { return ReadWhole(out_path_); }
  int exit_code() const { return exit_code_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
  int runs_ = 0;
  std::string out_path_;
};

// Connects to 127.0.0.1:port; -1 on failure.
inline int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Sends `bytes` as is and reads until the server closes (or 5 s pass).
inline std::string RawExchange(int port, const std::string& bytes) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SERVE_SERVE_PROCESS_H_
