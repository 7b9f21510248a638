// Running the foldback CLI from the CLI tests, as a user runs it (a shell
// command line), and the small file helpers those tests share.
#ifndef FOLDBACK_TESTS_CLI_CLI_TEST_UTIL_H_
#define FOLDBACK_TESTS_CLI_CLI_TEST_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace foldback::testing {

struct CliRun {
  int code = -1;
  std::string out;  // stdout (and stderr, when merged)
  std::string err;  // stderr, when kept apart
  double ms = 0;    // wall time of the command
};

enum class Stderr { kMerged, kSeparate };

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::filesystem::path& p, const std::string& data) {
  std::ofstream(p, std::ios::binary) << data;
}

// `s` single-quoted for sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs `foldback ARGS` through the shell (ARGS is a command line: quote it).
inline CliRun RunCli(const std::string& args, Stderr mode = Stderr::kMerged) {
  static int n = 0;
  namespace fs = std::filesystem;
  std::string err_path;
  std::string cmd = std::string(FOLDBACK_CLI) + " " + args;
  if (mode == Stderr::kMerged) {
    cmd += " 2>&1";
  } else {
    err_path = (fs::temp_directory_path() /
                ("foldback-cli-err-" + std::to_string(getpid()) + "-" + std::to_string(n++)))
                   .string();
    cmd += " 2>" + err_path;
  }
  CliRun r;
  auto t0 = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t got;
  while ((got = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), got);
  int status = pclose(p);
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!err_path.empty()) {
    r.err = ReadFile(err_path);
    fs::remove(err_path);
  }
  return r;
}

// A fresh, empty folder for one test: <tmp>/foldback-<tag>-<name>-<pid>.
inline std::string FreshTempDir(const std::string& tag, const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("foldback-" + tag + "-" + name + "-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_CLI_CLI_TEST_UTIL_H_
