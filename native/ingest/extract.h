// Turning files into Documents (host side: the core never opens a file).
//
// One entry point dispatches on the file's extension. Every extractor either
// returns documents or a Status saying why the file was skipped; none aborts
// a run over many files.
#ifndef FOLDBACK_NATIVE_INGEST_EXTRACT_H_
#define FOLDBACK_NATIVE_INGEST_EXTRACT_H_

#include <string>
#include <vector>

#include "foldback/document.h"
#include "foldback/status.h"

namespace foldback::ingest {

// Extensions with an extractor (lower case, with the dot).
bool IsSupported(const std::string& path);

// Reads `path` and returns the documents in it: one for a plain file, one per
// record for BEIR .jsonl, one per message (plus text-like attachments as
// child documents) for mail. `id` is the id for a single-document file;
// multi-document files derive ids from it. NotSupported for unknown
// extensions; InvalidArgument / Corruption for broken files.
Result<std::vector<Document>> ExtractFile(const std::string& path, const std::string& id);

// Plain text and Markdown.
Result<std::vector<Document>> ExtractText(const std::string& path, const std::string& id);
// BEIR corpus.jsonl.
Result<std::vector<Document>> ExtractBeirCorpus(const std::string& path);

// Lower-cased extension of a path, with the dot ("" when none).
std::string Extension(const std::string& path);

}  // namespace foldback::ingest

#endif  // FOLDBACK_NATIVE_INGEST_EXTRACT_H_
