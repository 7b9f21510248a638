// foldback extract [--json] FILE...
//
// Shows what ingest would index from each file — documents, metadata, text,
// warnings — without touching an index. For checking a folder before
// ingesting it, and for debugging an extractor.
#include <cstdio>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/index.h"
#include "host/files.h"
#include "ingest/extract.h"

namespace foldback::cli {
namespace {

struct ExtractArgs {
  std::vector<std::string> paths;
  bool json = false;
  size_t max_text = 2000;
  bool chunks = false;
};

int Run(const ExtractArgs& a) {
  nlohmann::json out = nlohmann::json::array();
  int failed = 0;
  for (const std::string& p : a.paths) {
    auto files = host::ListFiles(p);
    if (!files.ok()) return Fail(files.status());
    for (const std::string& f : *files) {
      std::string id = IdFor(p, f);
      auto ex = ingest::Extract(f, id);
      if (a.json) {
        nlohmann::json j;
        j["file"] = f;
        if (!ex.ok()) {
          j["error"] = ex.status().ToString();
        } else {
          j["format"] = ex->format;
          j["warnings"] = ex->warnings;
          j["replaced"] = ex->replaced;
          nlohmann::json docs = nlohmann::json::array();
          for (const Document& d : ex->documents) {
            nlohmann::json jd;
            jd["id"] = d.id;
            jd["title"] = d.title;
            jd["kind"] = DocKindName(d.kind);
            if (!d.parent_id.empty()) jd["parent_id"] = d.parent_id;
            jd["metadata"] = d.metadata;
            jd["text"] = d.text;
            if (a.chunks) {
              // The chunks ingest would index (default index options).
              IndexOptions io;
              io.dense.embedder = EmbedderKind::kNone;
              auto ix = Index::Create(io);
              nlohmann::json cs = nlohmann::json::array();
              if (ix.ok() && (*ix)->Add(d).ok()) {
                for (const Chunk* c : (*ix)->ChunksOf(d.id)) {
                  cs.push_back({{"id", c->id}, {"section", c->section},
                                {"role", static_cast<int>(c->role)}, {"text", c->text}});
                }
              }
              jd["chunks"] = std::move(cs);
            }
            docs.push_back(std::move(jd));
          }
          j["documents"] = std::move(docs);
        }
        out.push_back(std::move(j));
      } else {
        fmt::print(FMT_STRING("== {}\n"), TerminalSafe(f, false));
        if (!ex.ok()) {
          fmt::print(FMT_STRING("  error: {}\n"), TerminalSafe(ex.status().ToString(), false));
        } else {
          fmt::print(FMT_STRING("  format {}, {} documents\n"), ex->format, ex->documents.size());
          for (const std::string& w : ex->warnings)
            fmt::print(FMT_STRING("  warning: {}\n"), TerminalSafe(w, false));
          for (const Document& d : ex->documents) {
            fmt::print(FMT_STRING("  -- {} [{}]{}{}\n"), TerminalSafe(d.id, false),
                       DocKindName(d.kind), d.parent_id.empty() ? "" : " in ",
                       TerminalSafe(d.parent_id, false));
            fmt::print(FMT_STRING("     title: {}\n"), OneLine(d.title, 500));
            for (const auto& [k, vs] : d.metadata) {
              fmt::print(FMT_STRING("     {}:"), TerminalSafe(k, false));
              for (size_t i = 0; i < vs.size() && i < 8; ++i)
                fmt::print(FMT_STRING(" {};"), OneLine(vs[i], 80));
              if (vs.size() > 8) fmt::print(FMT_STRING(" ... ({} values)"), vs.size());
              fmt::print(FMT_STRING("\n"));
            }
            std::string text = TerminalSafe(d.text.substr(0, a.max_text));
            fmt::print(FMT_STRING("{}{}\n"), text, d.text.size() > a.max_text ? "\n[...]" : "");
          }
        }
      }
      if (!ex.ok()) ++failed;
    }
  }
  if (a.json)
    fmt::print(FMT_STRING("{}\n"),
               JsonTerminalSafe(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)));
  return failed ? 3 : 0;
}

}  // namespace

void RegisterExtract(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ExtractArgs>();
  CLI::App* cmd = app.add_subcommand("extract", "Show the documents, metadata and text ingest would index from files");
  cmd->add_flag("--json", args->json, "JSON output (whole texts)");
  cmd->add_flag("--chunks", args->chunks, "With --json: also the chunks ingest would cut (role 0 body, 1 quoted, 2 signature)");
  cmd->add_option("--max-text", args->max_text, "Bytes of text shown per document (text output)");
  cmd->add_option("paths", args->paths, "Files or folders")->required();
  cmd->footer("Exit status: 0 ok, 3 some files could not be read.");
  cmd->callback([args, exit_code] { *exit_code = Run(*args); });
}

}  // namespace foldback::cli
