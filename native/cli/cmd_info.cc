// foldback info --index DIR
#include <cstdio>

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
  std::printf("index %s\n", dir.c_str());
  std::printf("  documents        %llu\n", static_cast<unsigned long long>(s.documents));
  std::printf("  chunks           %llu\n", static_cast<unsigned long long>(s.chunks));
  std::printf("  text             %.1f MB\n", static_cast<double>(s.text_bytes) / 1e6);
  std::printf("  terms            %llu\n", static_cast<unsigned long long>(s.terms));
  std::printf("  vectors          %llu (%llu pending)\n", static_cast<unsigned long long>(s.vectors),
              static_cast<unsigned long long>(s.pending_vectors));
  std::printf("  snapshot         %.1f MB\n",
              static_cast<double>(host::FileSize(host::SnapshotPath(dir))) / 1e6);
  EmbedderInfo e = DescribeEmbedder(index);
  if (e.present) {
    std::printf("  embedder         version %u, %u dimensions, %zu words (%s)", e.version, e.dimension,
                e.vocabulary, TerminalSafe(e.training, false).c_str());
    if (e.has_previous) std::printf("; version %u kept", e.previous_version);
    std::printf("\n");
  }
  std::printf("  bm25             k1=%.2f b=%.2f\n", o.bm25.k1, o.bm25.b);
  std::printf("  filter fields   ");
  for (const auto& f : index.FilterFields()) std::printf(" %s", f.c_str());
  std::printf("\n");
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
