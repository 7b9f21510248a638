// foldback info --index DIR
#include <fmt/format.h>

#include "cli/common.h"
#include "host/files.h"
#include "host/index_dir.h"
#include "foldback/train.h"

namespace foldback::cli {
namespace {

int Run(const std::string& dir) {
  auto opened = host::OpenIndex(dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  const Index& index = **opened;
  IndexStats s = index.Stats();
  const IndexOptions& o = index.options();
  fmt::print(FMT_STRING("index {}\n"), dir);
  fmt::print(FMT_STRING("  documents        {}\n"), static_cast<unsigned long long>(s.documents));
  fmt::print(FMT_STRING("  chunks           {}\n"), static_cast<unsigned long long>(s.chunks));
  fmt::print(FMT_STRING("  text             {:.1f} MB\n"), static_cast<double>(s.text_bytes) / 1e6);
  fmt::print(FMT_STRING("  terms            {}\n"), static_cast<unsigned long long>(s.terms));
  fmt::print(FMT_STRING("  vectors          {} ({} pending)\n"),
             static_cast<unsigned long long>(s.vectors),
             static_cast<unsigned long long>(s.pending_vectors));
  fmt::print(FMT_STRING("  snapshot         {:.1f} MB\n"),
             static_cast<double>(host::FileSize(host::SnapshotPath(dir))) / 1e6);
  EmbedderInfo e = DescribeEmbedder(index);
  if (e.present) {
    fmt::print(FMT_STRING("  embedder         version {}, {} dimensions, {} words ({})"), e.version,
               e.dimension, e.vocabulary, TerminalSafe(e.training, false));
    if (e.has_previous) fmt::print(FMT_STRING("; version {} kept"), e.previous_version);
    fmt::print(FMT_STRING("\n"));
    if (!e.feedback_matters.empty()) {  // what --forget-matter would drop it for
      std::string list;
      for (const auto& m : e.feedback_matters) list += (list.empty() ? "" : ", ") + m;
      fmt::print(FMT_STRING("  learned from     labels of matters {}\n"),
                 TerminalSafe(list, false));
    }
  }
  fmt::print(FMT_STRING("  bm25             k1={:.2f} b={:.2f} idf={} query-saturation={:.2f}\n"),
             o.bm25.k1, o.bm25.b, o.bm25.idf == Bm25Idf::kRobertson ? "robertson" : "plus-one",
             o.bm25.query_saturation);
  fmt::print(FMT_STRING("  filter fields   "));
  for (const auto& f : index.FilterFields()) fmt::print(FMT_STRING(" {}"), f);
  fmt::print(FMT_STRING("\n"));
  return 0;
}

}  // namespace

void RegisterInfo(CLI::App& app, int* exit_code) {
  auto dir = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Show what an index holds");
  cmd->add_option("--index", *dir, "Index folder")->required();
  cmd->callback([dir, exit_code] { *exit_code = Run(*dir); });
}

}  // namespace foldback::cli
