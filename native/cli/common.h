// Helpers shared by the foldback subcommands.
#ifndef FOLDBACK_NATIVE_CLI_COMMON_H_
#define FOLDBACK_NATIVE_CLI_COMMON_H_

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "foldback/index.h"
#include "foldback/search.h"

namespace foldback::cli {

// Each subcommand registers itself on the app; the callback runs it and
// stores the process exit code in *exit_code.
void RegisterDemo(CLI::App& app, int* exit_code);
void RegisterIngest(CLI::App& app, int* exit_code);
void RegisterSearch(CLI::App& app, int* exit_code);
void RegisterInfo(CLI::App& app, int* exit_code);
void RegisterEval(CLI::App& app, int* exit_code);
void RegisterAsk(CLI::App& app, int* exit_code);
void RegisterWatch(CLI::App& app, int* exit_code);
void RegisterExtract(CLI::App& app, int* exit_code);
void RegisterFeedback(CLI::App& app, int* exit_code);  // cmd_feedback.cc
void RegisterCompact(CLI::App& app, int* exit_code);   // cmd_feedback.cc
void RegisterExport(CLI::App& app, int* exit_code);    // cmd_export.cc
void RegisterJobs(CLI::App& app, int* exit_code);      // cmd_jobs.cc
void RegisterTrain(CLI::App& app, int* exit_code);     // cmd_train.cc
void RegisterServe(CLI::App& app, int* exit_code);     // cmd_serve.cc
void RegisterConfig(CLI::App& app, int* exit_code);    // cmd_config.cc
void RegisterDelete(CLI::App& app, int* exit_code);    // cmd_delete.cc

// Prints "error: <status>" to stderr and returns 1 (or 2 for bad usage).
int Fail(const Status& s);

// "a,b,c" -> {"a","b","c"} (empty items dropped).
std::set<std::string> SplitCommaSet(const std::string& s);

double SecondsSince(std::chrono::steady_clock::time_point t0);

// Text from documents, mail or a model made safe to print on a terminal:
// control characters (C0 but \n and \t when `keep_newlines`, DEL, C1 —
// which start escape sequences: OSC 8 hyperlinks, OSC 52 clipboard writes,
// screen clears) and bidirectional overrides (which reorder what the
// reader sees) become U+FFFD. Without `keep_newlines`, \n and \t do too.
std::string TerminalSafe(const std::string& text, bool keep_newlines = true);

// Dumped JSON made safe for a terminal without changing what it means: DEL,
// C1 controls and bidirectional overrides (which JSON allows raw inside
// strings) written as \uXXXX escapes. (C0 controls are escaped by the
// serializer already.)
std::string JsonTerminalSafe(const std::string& dumped);

// One-line passage for terminals: whitespace collapsed, cut at `width`
// characters (UTF-8 aware) with an ellipsis, TerminalSafe.
std::string OneLine(const std::string& text, size_t width);

// Human-readable hit list.
void PrintHits(const std::vector<SearchHit>& hits, size_t width = 110);

// Document id of `file` found under `root`: its path relative to root
// without the extension ("contracts/nda-1"); a file given directly: its name
// without the extension.
std::string IdFor(const std::string& root, const std::string& file);

// The same with the extension kept ("contracts/nda-1.pdf"): the id used when
// two files would otherwise share one.
std::string IdWithExtension(const std::string& root, const std::string& file);

// Files, documents and failures of one format in a run.
struct FormatTally {
  size_t files = 0;
  size_t documents = 0;
  size_t failed = 0;
  size_t warnings = 0;
  uint64_t bytes = 0;
};

// "  format  files  documents  failed  MB" table, one row per format.
void PrintFormatTable(const std::map<std::string, FormatTally>& tally);

// Counts files and bytes and prints "files, MB/s, ETA" on one line when
// stderr is a terminal (and nothing otherwise).
class Progress {
 public:
  Progress(size_t total_files, uint64_t total_bytes);
  void Step(uint64_t bytes, const std::string& current);
  void Done();

 private:
  size_t total_files_, files_ = 0;
  uint64_t total_bytes_, bytes_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_COMMON_H_
