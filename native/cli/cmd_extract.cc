// foldback extract [--json] FILE...
//
// Shows what ingest would index from each file — documents, metadata, text,
// warnings — without touching an index. For checking a folder before
// ingesting it, and for debugging an extractor.
#include <cstdio>
#include <nlohmann/json.hpp>

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
        std::printf("== %s\n", TerminalSafe(f, false).c_str());
        if (!ex.ok()) {
          std::printf("  error: %s\n", TerminalSafe(ex.status().ToString(), false).c_str());
        } else {
          std::printf("  format %s, %zu documents\n", ex->format.c_str(), ex->documents.size());
          for (const std::string& w : ex->warnings) std::printf("  warning: %s\n", TerminalSafe(w, false).c_str());
          for (const Document& d : ex->documents) {
            std::printf("  -- %s [%s]%s%s\n", TerminalSafe(d.id, false).c_str(), DocKindName(d.kind),
                        d.parent_id.empty() ? "" : " in ", TerminalSafe(d.parent_id, false).c_str());
            std::printf("     title: %s\n", OneLine(d.title, 500).c_str());
            for (const auto& [k, vs] : d.metadata) {
              std::printf("     %s:", TerminalSafe(k, false).c_str());
              for (size_t i = 0; i < vs.size() && i < 8; ++i) std::printf(" %s;", OneLine(vs[i], 80).c_str());
              if (vs.size() > 8) std::printf(" ... (%zu values)", vs.size());
              std::printf("\n");
            }
            std::string text = TerminalSafe(d.text.substr(0, a.max_text));
            std::printf("%s%s\n", text.c_str(), d.text.size() > a.max_text ? "\n[...]" : "");
          }
        }
      }
      if (!ex.ok()) ++failed;
    }
  }
  if (a.json) std::printf("%s\n", JsonTerminalSafe(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)).c_str());
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
