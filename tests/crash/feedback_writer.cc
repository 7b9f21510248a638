// The crash test's writer and checker (see kill_loop.sh).
//
//   feedback_writer write DIR [--batch N] [--count N] [--chunk BYTES] [--retry ID]...
//                             [--tear-after K]
//     Appends records to DIR/feedback.log through host::FeedbackLogFile and
//     prints each record id on stdout only once the write is acknowledged
//     (fsync'ed). Runs until --count records (default: forever). --chunk
//     splits each entry into writes of that many bytes, so that a kill -9
//     can tear an entry. --retry first re-sends records a previous, killed
//     writer may or may not have written (a client retrying after a crash).
//     --tear-after K: after K acknowledged batches, write part of one more
//     entry straight to the file — what a crash in the middle of a write
//     leaves — and wait to be killed.
//   feedback_writer compact DIR
//     Compacts the log (atomic replace); the loop kills some of these too.
//   feedback_writer check DIR
//     Prints the ids of the live records, one per line; on stderr a summary.
//     Exit 1 when the log has damage before its tail or a record id appears
//     twice in it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "host/feedback_log.h"
#include "host/ids.h"

namespace {

using foldback::FeedbackRecord;

// A record's content is a function of its id, so a retry re-sends the same
// record.
FeedbackRecord Make(const std::string& id) {
  uint64_t h = 1469598103934665603ull;
  for (char c : id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "trace-" + id.substr(0, 8);
  r.question = "Can the supplier terminate for convenience? (" + id + ")";
  r.matter = (h & 1) ? "acme" : "beta";
  r.rating = foldback::Rating::Stars(1 + static_cast<int>(h % 5));
  // Mostly small, sometimes several blocks long.
  size_t n = (h >> 8) % 16 == 0 ? 35000 + (h >> 16) % 30000 : (h >> 16) % 3000;
  r.critique.assign(n, static_cast<char>('a' + (h >> 24) % 26));
  r.consent_to_train = (h >> 32) & 1;
  return r;
}

int Write(const std::string& dir, int argc, char** argv) {
  size_t batch = 1, count = 0, tear_after = 0;
  foldback::host::FeedbackLogOptions options;
  std::vector<std::string> retry;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) break;
    if (a == "--batch") batch = std::strtoull(argv[++i], nullptr, 10);
    if (a == "--count") count = std::strtoull(argv[++i], nullptr, 10);
    if (a == "--chunk") options.write_chunk_bytes = std::strtoull(argv[++i], nullptr, 10);
    if (a == "--retry") retry.push_back(argv[++i]);
    if (a == "--tear-after") tear_after = std::strtoull(argv[++i], nullptr, 10);
  }
  if (batch == 0) batch = 1;
  auto log = foldback::host::FeedbackLogFile::Open(dir, nullptr, options);
  if (!log.ok()) {
    std::fprintf(stderr, "feedback_writer: %s\n", log.status().ToString().c_str());
    return 1;
  }
  for (const auto& id : retry) {
    foldback::Status s = (*log)->Append(Make(id));
    if (!s.ok()) {
      std::fprintf(stderr, "feedback_writer: retry %s: %s\n", id.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  size_t done = 0, batches = 0;
  while (count == 0 || done < count) {
    if (tear_after && batches == tear_after) {
      foldback::MemorySink framed;
      foldback::FeedbackLogWriter w(&framed, (*log)->size());
      FeedbackRecord r = Make(foldback::host::NewUuidV7());
      if (!w.Add(r).ok()) return 1;
      const std::string& b = framed.data();
      size_t part = 1 + std::hash<std::string>()(r.record_id) % (b.size() - 1);
      int fd = ::open(foldback::host::FeedbackLogPath(dir).c_str(), O_WRONLY | O_APPEND);
      if (fd < 0 || ::write(fd, b.data(), part) != static_cast<ssize_t>(part)) return 1;
      ::fdatasync(fd);
      for (;;) ::pause();  // "crashed": wait for the kill
    }
    ++batches;
    std::vector<FeedbackRecord> records;
    for (size_t i = 0; i < batch; ++i) records.push_back(Make(foldback::host::NewUuidV7()));
    foldback::Status s = batch == 1 ? (*log)->Append(records[0]) : (*log)->AppendBatch(records);
    if (!s.ok()) {
      std::fprintf(stderr, "feedback_writer: %s\n", s.ToString().c_str());
      return 1;
    }
    // Acknowledged: durable. Only now does anyone learn the ids.
    std::string out;
    for (const auto& r : records) out += r.record_id + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    done += batch;
  }
  return 0;
}

int Check(const std::string& dir) {
  auto contents = foldback::host::ReadFeedbackLogFile(dir);
  if (!contents.ok()) {
    std::fprintf(stderr, "feedback_writer: %s\n", contents.status().ToString().c_str());
    return 1;
  }
  std::map<std::string, int> seen;
  for (const auto& e : contents->entries) ++seen[e.record.record_id];
  int dups = 0;
  for (const auto& [id, n] : seen) dups += n > 1;
  foldback::FeedbackState state = foldback::ApplyFeedbackLog(*contents);
  for (const auto& r : state.records) {
    if (r.critique != Make(r.record_id).critique) {
      std::fprintf(stderr, "feedback_writer: record %s reads back differently\n",
                   r.record_id.c_str());
      return 1;
    }
    std::printf("%s\n", r.record_id.c_str());
  }
  std::fprintf(stderr, "entries=%zu live=%zu raw_duplicates=%d damage=%zu torn_tail=%llu\n",
               contents->entries.size(), state.records.size(), dups, contents->damage.size(),
               static_cast<unsigned long long>(contents->torn_tail_bytes));
  for (const auto& d : contents->damage) {
    std::fprintf(stderr, "damage at %llu: %s\n", static_cast<unsigned long long>(d.offset),
                 d.reason.c_str());
  }
  return contents->damage.empty() && dups == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "write") == 0) return Write(argv[2], argc - 3, argv + 3);
  if (argc == 3 && std::strcmp(argv[1], "check") == 0) return Check(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "compact") == 0) {
    auto log = foldback::host::FeedbackLogFile::Open(argv[2]);
    foldback::Status s = log.ok() ? (*log)->Compact() : log.status();
    if (!s.ok()) std::fprintf(stderr, "feedback_writer: %s\n", s.ToString().c_str());
    return s.ok() ? 0 : 1;
  }
  std::fprintf(stderr,
               "usage: feedback_writer write DIR [--batch N] [--count N] [--chunk BYTES] "
               "[--retry ID]... [--tear-after K]\n       feedback_writer check DIR\n"
               "       feedback_writer compact DIR\n");
  return 2;
}
