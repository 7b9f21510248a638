// foldback ingest --index DIR [--matter M] PATH...
#include <cstdio>

#include "cli/common.h"
#include "host/files.h"
#include "host/index_dir.h"
#include "ingest/extract.h"

namespace foldback::cli {
namespace {

struct IngestArgs {
  std::string index_dir;
  std::string matter;
  std::vector<std::string> paths;
  bool no_dense = false;
};

// Id of a file found under `root`: its path relative to root, without the
// extension ("contracts/nda-1"); a file given directly: its name without
// the extension.
std::string IdFor(const std::string& root, const std::string& file) {
  std::string rel = file;
  if (root != file && file.compare(0, root.size(), root) == 0) {
    rel = file.substr(root.size());
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  } else {
    size_t slash = file.find_last_of('/');
    if (slash != std::string::npos) rel = file.substr(slash + 1);
  }
  std::string ext = ingest::Extension(rel);
  if (!ext.empty()) rel.resize(rel.size() - ext.size());
  return rel;
}

int Run(const IngestArgs& a) {
  auto t0 = std::chrono::steady_clock::now();
  auto opened = host::OpenIndex(a.index_dir, /*create=*/true);
  if (!opened.ok()) return Fail(opened.status());
  Index& index = **opened;

  struct Item {
    std::string root, file;
  };
  std::vector<Item> items;
  uint64_t total_bytes = 0;
  for (const std::string& p : a.paths) {
    auto files = host::ListFiles(p);
    if (!files.ok()) return Fail(files.status());
    for (const auto& f : *files) {
      items.push_back({p, f});
      total_bytes += host::FileSize(f);
    }
  }
  Progress progress(items.size(), total_bytes);
  size_t files_ok = 0, skipped = 0, failed = 0, docs = 0, chunks = 0, replaced = 0;
  uint64_t bad_utf8 = 0, bytes = 0;
  for (const Item& it : items) {
    uint64_t size = host::FileSize(it.file);
    if (!ingest::IsSupported(it.file)) {
      ++skipped;
      progress.Step(size, it.file);
      continue;
    }
    auto extracted = ingest::ExtractFile(it.file, IdFor(it.root, it.file));
    if (!extracted.ok()) {
      progress.Done();
      std::fprintf(stderr, "  skipped %s: %s\n", it.file.c_str(), extracted.status().ToString().c_str());
      ++failed;
      progress.Step(size, it.file);
      continue;
    }
    bool file_ok = true;
    for (Document& d : *extracted) {
      if (!a.matter.empty()) d.matter = a.matter;
      auto added = index.Add(d);
      if (!added.ok()) {
        progress.Done();
        std::fprintf(stderr, "  skipped %s (%s): %s\n", it.file.c_str(), d.id.c_str(),
                     added.status().ToString().c_str());
        file_ok = false;
        continue;
      }
      ++docs;
      chunks += added->chunks;
      bad_utf8 += added->invalid_utf8;
      replaced += added->replaced;
    }
    if (file_ok) ++files_ok; else ++failed;
    bytes += size;
    progress.Step(size, it.file);
  }
  progress.Done();
  double ingest_s = SecondsSince(t0);
  auto t1 = std::chrono::steady_clock::now();
  Status dense = a.no_dense ? Status::OK() : index.BuildDense();
  double dense_s = SecondsSince(t1);
  Status saved = host::SaveIndex(a.index_dir, index);
  if (!saved.ok()) return Fail(saved);
  IndexStats st = index.Stats();
  std::printf("ingested %zu files (%zu documents, %zu chunks, %.1f MB) in %.2fs — %.1f MB/s\n", files_ok,
              docs, chunks, static_cast<double>(bytes) / 1e6, ingest_s,
              static_cast<double>(bytes) / 1e6 / std::max(ingest_s, 1e-9));
  if (replaced) std::printf("  %zu documents replaced an earlier version\n", replaced);
  if (skipped) std::printf("  %zu files skipped: no extractor for their type\n", skipped);
  if (failed) std::printf("  %zu files failed (reported above)\n", failed);
  if (bad_utf8) std::printf("  %llu invalid UTF-8 sequences replaced by U+FFFD\n",
                            static_cast<unsigned long long>(bad_utf8));
  if (!dense.ok()) {
    std::printf("  dense index not built: %s\n", dense.ToString().c_str());
  } else if (!a.no_dense && st.vectors) {
    std::printf("  dense index: %llu vectors in %.2fs\n", static_cast<unsigned long long>(st.vectors),
                dense_s);
  }
  std::printf("index %s now holds %llu documents, %llu chunks\n", a.index_dir.c_str(),
              static_cast<unsigned long long>(st.documents), static_cast<unsigned long long>(st.chunks));
  return failed ? 3 : 0;
}

}  // namespace

void RegisterIngest(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "ingest", "Add files to an index: BEIR corpus.jsonl, folders of .txt/.md files");
  cmd->add_option("--index", args->index_dir, "Index folder (created if missing)")->required();
  cmd->add_option("--matter", args->matter, "Matter the documents belong to (ethical walls)");
  cmd->add_flag("--no-dense", args->no_dense, "Skip building the dense (embedding) index");
  cmd->add_option("paths", args->paths, "Files or folders to ingest")->required();
  cmd->footer("Exit status: 0 ok, 3 some files failed (each reported), 1/2 errors.");
  cmd->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace foldback::cli
