// Ingesting a file or a folder into an index: every file is read by the
// extractor for its type (ingest/extract.h) and its documents are added.
// A file with no extractor, or one that fails, is reported and skipped;
// the run always goes on to the next file.
//
// Used by the C API's fb_index_ingest_path; the same ids as `foldback
// ingest` (a file's path relative to the folder given, without its
// extension, unless two files would then share an id).
#ifndef FOLDBACK_NATIVE_HOST_INGEST_PATH_H_
#define FOLDBACK_NATIVE_HOST_INGEST_PATH_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "foldback/status.h"
#include "ingest/extract.h"

namespace foldback::host {

// Document id of `file` found under `root`: its path relative to root
// without the extension ("contracts/nda-1"); a file given directly: its name
// without the extension.
std::string DocumentIdFor(const std::string& root, const std::string& file);
// The same with the extension kept ("contracts/nda-1.pdf"): the id used when
// two files would otherwise share one.
std::string DocumentIdWithExtension(const std::string& root, const std::string& file);

// What happened to one file.
struct IngestFileOutcome {
  enum class Kind : int {
    kIndexed = 0,      // every document of the file was added
    kFailed = 1,       // unreadable or broken (status says why); nothing or part added
    kUnsupported = 2,  // no extractor for this type; skipped
  };
  Kind kind = Kind::kIndexed;
  std::string path;
  std::string doc_id;  // id of the file's (first) document; "" when none was added
  std::string format;  // "mail", "pdf", ... ("" when unsupported)
  Status status;       // non-OK for kFailed and kUnsupported
  std::vector<std::string> warnings;
  uint32_t documents = 0;  // documents added (mbox messages, attachments included)
  uint32_t chunks = 0;
  uint64_t bytes = 0;  // size of the file
  // Progress after this file.
  uint64_t files_done = 0, files_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;
};

struct IngestPathReport {
  uint64_t files = 0;        // files found
  uint64_t indexed = 0;      // files fully indexed
  uint64_t failed = 0;       // broken files, reported and skipped
  uint64_t unsupported = 0;  // files of no supported type, skipped
  uint64_t documents = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;  // bytes of the files indexed or failed
  uint64_t warnings = 0;
  uint64_t replaced = 0;  // undecodable + invalid UTF-8 sequences replaced by U+FFFD
};

struct IngestPathOptions {
  // Matter every document is put in (ethical walls); "" = none.
  std::string matter;
  ingest::ExtractOptions extract;
};

using IngestFileFn = std::function<void(const IngestFileOutcome& outcome)>;

// Ingests `path` (a file or a folder, recursively) into `index`, calling
// `on_file` (may be empty) after each file. Returns OK once every file was
// tried, whatever happened to each (the report and the callbacks say);
// NotFound / IOError only when `path` itself cannot be listed. Does not
// build the dense side (Index::BuildDense).
Status IngestPath(Index* index, const std::string& path, const IngestPathOptions& options,
                  const IngestFileFn& on_file, IngestPathReport* report);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_INGEST_PATH_H_
