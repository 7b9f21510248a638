// foldback ingest --index DIR [--matter M] [--no-dense] PATH...
//
// Every file is read by the extractor for its type (ingest/extract.h). A file
// that has no extractor, or that fails, is reported and skipped; the run goes
// on and ends with a summary per format.
#include <cstdio>
#include <map>

#include <fmt/format.h>

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
  bool no_attachments = false;
  bool quiet = false;
};

// Unsupported files: the first few are named, the rest counted by extension.
constexpr size_t kNamedSkips = 10;
// Warnings printed per file; the rest are counted.
constexpr size_t kWarningsPerFile = 5;

int Run(const IngestArgs& a) {
  auto t0 = std::chrono::steady_clock::now();
  auto opened = host::OpenIndex(a.index_dir, /*create=*/true);
  if (!opened.ok()) return Fail(opened.status());
  Index& index = **opened;

  struct Item {
    std::string root, file, id;
    uint64_t size = 0;
  };
  std::vector<Item> items;
  uint64_t total_bytes = 0;
  for (const std::string& p : a.paths) {
    auto files = host::ListFiles(p);
    if (!files.ok()) return Fail(files.status());
    for (const auto& f : *files) {
      Item it{p, f, IdFor(p, f), host::FileSize(f)};
      total_bytes += it.size;
      items.push_back(std::move(it));
    }
  }
  // Two files that would share an id ("a.pdf", "a.docx") keep their
  // extensions, so neither replaces the other.
  std::map<std::string, size_t> id_count;
  for (const Item& it : items) ++id_count[it.id];
  for (Item& it : items) {
    if (id_count[it.id] > 1) it.id = IdWithExtension(it.root, it.file);
  }

  ingest::ExtractOptions options;
  options.attachments = !a.no_attachments;
  Progress progress(items.size(), total_bytes);
  std::map<std::string, FormatTally> tally;
  std::map<std::string, size_t> skipped_by_ext;
  size_t files_ok = 0, skipped = 0, failed = 0, docs = 0, chunks = 0, replaced = 0, warnings = 0;
  uint64_t bad_utf8 = 0, undecodable = 0, bytes = 0;
  auto report = [&](const std::string& line) {
    if (a.quiet) return;
    progress.Done();
    fmt::print(stderr, FMT_STRING("  {}\n"),
               TerminalSafe(line, false));  // names and messages from files
  };
  for (const Item& it : items) {
    std::string format = ingest::DetectFormat(it.file);
    if (format.empty()) {
      std::string ext = ingest::Extension(it.file);
      if (skipped++ < kNamedSkips) {
        auto why = ingest::Extract(it.file, it.id);  // NotSupported, with the reason
        report("skipped " + it.file + ": " + (why.ok() ? "no extractor" : why.status().message()));
      }
      ++skipped_by_ext[ext.empty() ? "(no extension)" : ext];
      progress.Step(it.size, it.file);
      continue;
    }
    FormatTally& t = tally[format];
    ++t.files;
    t.bytes += it.size;
    auto extracted = ingest::Extract(it.file, it.id, options);
    if (!extracted.ok()) {
      report("failed " + it.file + ": " + extracted.status().ToString());
      ++failed;
      ++t.failed;
      progress.Step(it.size, it.file);
      continue;
    }
    for (size_t i = 0; i < extracted->warnings.size(); ++i) {
      if (i == kWarningsPerFile) {
        report(fmt::format(FMT_STRING("warning {}: ... and {} more warnings"), it.file,
                           extracted->warnings.size() - i));
        break;
      }
      report("warning " + it.file + ": " + extracted->warnings[i]);
    }
    warnings += extracted->warnings.size();
    t.warnings += extracted->warnings.size();
    undecodable += extracted->replaced;
    bool file_ok = true;
    for (Document& d : extracted->documents) {
      if (!a.matter.empty()) d.matter = a.matter;
      auto added = index.Add(d);
      if (!added.ok()) {
        report("failed " + it.file + " (" + d.id + "): " + added.status().ToString());
        file_ok = false;
        continue;
      }
      ++docs;
      ++t.documents;
      chunks += added->chunks;
      bad_utf8 += added->invalid_utf8;
      replaced += added->replaced;
    }
    if (file_ok) {
      ++files_ok;
    } else {
      ++failed;
      ++t.failed;
    }
    bytes += it.size;
    progress.Step(it.size, it.file);
  }
  progress.Done();
  double ingest_s = SecondsSince(t0);
  auto t1 = std::chrono::steady_clock::now();
  Status dense = a.no_dense ? Status::OK() : index.BuildDense();
  double dense_s = SecondsSince(t1);
  Status saved = host::SaveIndex(a.index_dir, index);
  if (!saved.ok()) return Fail(saved);
  IndexStats st = index.Stats();
  fmt::print(
      FMT_STRING(
          "ingested {} files ({} documents, {} chunks, {:.1f} MB) in {:.2f}s — {:.1f} MB/s\n"),
      files_ok, docs, chunks, static_cast<double>(bytes) / 1e6, ingest_s,
      static_cast<double>(bytes) / 1e6 / std::max(ingest_s, 1e-9));
  PrintFormatTable(tally);
  if (replaced) fmt::print(FMT_STRING("  {} documents replaced an earlier version\n"), replaced);
  if (skipped) {
    fmt::print(FMT_STRING("  {} files skipped: no extractor for their type ("), skipped);
    bool first = true;
    for (const auto& [ext, n] : skipped_by_ext) {
      fmt::print(FMT_STRING("{}{} {}"), first ? "" : ", ", ext, n);
      first = false;
    }
    fmt::print(FMT_STRING(")\n"));
  }
  if (failed) fmt::print(FMT_STRING("  {} files failed (reported above)\n"), failed);
  if (warnings)
    fmt::print(FMT_STRING("  {} warnings ({})\n"), warnings,
               a.quiet ? "not shown: --quiet" : "reported above");
  if (undecodable) {
    fmt::print(FMT_STRING("  {} undecodable sequences in declared charsets replaced by U+FFFD\n"),
               static_cast<unsigned long long>(undecodable));
  }
  if (bad_utf8)
    fmt::print(FMT_STRING("  {} invalid UTF-8 sequences replaced by U+FFFD\n"),
               static_cast<unsigned long long>(bad_utf8));
  if (!dense.ok()) {
    fmt::print(FMT_STRING("  dense index not built: {}\n"), dense.ToString());
  } else if (!a.no_dense && st.vectors) {
    fmt::print(FMT_STRING("  dense index: {} vectors in {:.2f}s\n"),
               static_cast<unsigned long long>(st.vectors), dense_s);
  }
  fmt::print(FMT_STRING("index {} now holds {} documents, {} chunks\n"), a.index_dir,
             static_cast<unsigned long long>(st.documents),
             static_cast<unsigned long long>(st.chunks));
  return failed ? 3 : 0;
}

}  // namespace

void RegisterIngest(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "ingest",
      "Add files to an index: mail (.eml, mbox, Outlook .msg), .docx, .pdf, .html, .txt/.md, BEIR corpus.jsonl");
  cmd->add_option("--index", args->index_dir, "Index folder (created if missing)")->required();
  cmd->add_option("--matter", args->matter, "Matter the documents belong to (ethical walls)");
  cmd->add_flag("--no-dense", args->no_dense, "Skip building the dense (embedding) index");
  cmd->add_flag("--no-attachments", args->no_attachments,
                "Do not index mail attachments as documents (they are still listed as metadata)");
  cmd->add_flag("--quiet,-q", args->quiet, "Do not print per-file warnings and failures (the summary counts them)");
  cmd->add_option("paths", args->paths, "Files or folders to ingest")->required();
  cmd->footer(
      "Files without an extension are recognised by their first bytes (mbox, raw mail, PDF, HTML).\n"
      "Exit status: 0 ok, 3 some files failed (each reported), 1/2 errors.");
  cmd->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace foldback::cli
