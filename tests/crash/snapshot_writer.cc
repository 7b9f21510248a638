// The snapshot crash test's writer, reader and checker (see
// snapshot_kill_loop.sh).
//
//   snapshot_writer write DIR GEN [--once]
//     Builds generation GEN of an index, saves it with host::SaveIndex
//     (the snapshot streamed into a temp file, fsync, rename, fsync the
//     folder) and
//     prints GEN once saved; then GEN+1, ... until killed (or after one
//     with --once). Every document of a generation says which generation
//     it belongs to, and a manifest document says how many there are.
//   snapshot_writer read DIR STOPFILE
//     Loads DIR's snapshot over and over until STOPFILE exists, checking
//     each load is one whole generation. Exit 1 at the first load that
//     fails or mixes generations; on success prints "reads=N generations=K".
//   snapshot_writer check DIR MINGEN
//     One load: exit 1 unless it is one whole generation >= MINGEN. Prints
//     the generation.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "foldback/index.h"
#include "host/files.h"
#include "host/index_dir.h"

namespace {

using foldback::Document;
using foldback::Index;

// Documents per generation: varies, so that a generation's snapshot has its
// own size.
size_t DocsIn(long gen) { return 150 + static_cast<size_t>(gen % 7) * 20; }

std::unique_ptr<Index> Build(long gen) {
  foldback::IndexOptions o;
  o.dense.embedder = foldback::EmbedderKind::kNone;
  auto index = Index::Create(o);
  if (!index.ok()) std::abort();
  const size_t n = DocsIn(gen);
  const std::string g = std::to_string(gen);
  for (size_t k = 0; k < n; ++k) {
    Document d;
    d.id = "doc-" + std::to_string(k);
    d.title = "Generation " + g + " document " + std::to_string(k);
    d.metadata["generation"] = {g};
    for (int s = 0; s < 12; ++s) {
      d.text += "Clause " + std::to_string(s) + " of generation " + g + ": either party may terminate for "
                "convenience on " + std::to_string(30 + s + k % 5) + " days notice. ";
    }
    if (!(*index)->Add(d).ok()) std::abort();
  }
  Document manifest;
  manifest.id = "manifest";
  manifest.title = "Manifest";
  manifest.text = "generation " + g + " documents " + std::to_string(n);
  manifest.metadata["generation"] = {g};
  manifest.metadata["documents"] = {std::to_string(n)};
  if (!(*index)->Add(manifest).ok()) std::abort();
  return std::move(index.value());
}

// The generation a loaded index holds, or -1 (with *why) when it is not one
// whole generation.
long Verify(const Index& index, std::string* why) {
  const Document* m = index.FindDocument("manifest");
  if (!m) {
    *why = "no manifest";
    return -1;
  }
  const std::string& g = m->metadata.at("generation").at(0);
  const size_t n = std::stoul(m->metadata.at("documents").at(0));
  if (index.Stats().documents != n + 1) {
    *why = "manifest of generation " + g + " says " + std::to_string(n) + " documents, the index holds " +
           std::to_string(index.Stats().documents - 1);
    return -1;
  }
  for (size_t k = 0; k < n; ++k) {
    const Document* d = index.FindDocument("doc-" + std::to_string(k));
    if (!d || d->metadata.at("generation").at(0) != g || d->title.find("Generation " + g + " ") != 0) {
      *why = "document " + std::to_string(k) + " is not of generation " + g;
      return -1;
    }
  }
  // The lexical side agrees too: a search for this generation's words
  // finds its documents only.
  foldback::SearchOptions so;
  so.mode = foldback::SearchMode::kBm25;
  so.top_k = 5;
  so.filters.push_back({"generation", foldback::Filter::Op::kEq, g});
  auto hits = index.Search("terminate convenience generation " + g, so);
  if (!hits.ok() || hits->empty()) {
    *why = "search of generation " + g + " failed";
    return -1;
  }
  return std::stol(g);
}

int Write(const std::string& dir, long gen, bool once) {
  for (;; ++gen) {
    auto index = Build(gen);
    foldback::Status s = foldback::host::SaveIndex(dir, *index);
    if (!s.ok()) {
      std::fprintf(stderr, "save failed: %s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("%ld\n", gen);
    std::fflush(stdout);
    if (once) return 0;
  }
}

int Read(const std::string& dir, const std::string& stop) {
  size_t reads = 0;
  std::set<long> seen;
  while (!foldback::host::PathExists(stop)) {
    auto index = foldback::host::OpenIndex(dir, /*create=*/false);
    if (!index.ok()) {
      if (index.status().IsNotFound()) continue;  // nothing saved yet
      std::fprintf(stderr, "FAIL: load %zu: %s\n", reads + 1, index.status().ToString().c_str());
      return 1;
    }
    std::string why;
    long g = Verify(**index, &why);
    if (g < 0) {
      std::fprintf(stderr, "FAIL: load %zu mixes generations: %s\n", reads + 1, why.c_str());
      return 1;
    }
    seen.insert(g);
    ++reads;
  }
  std::printf("reads=%zu generations=%zu\n", reads, seen.size());
  return 0;
}

int Check(const std::string& dir, long min_gen) {
  auto index = foldback::host::OpenIndex(dir, /*create=*/false);
  if (!index.ok()) {
    if (min_gen == 0 && index.status().IsNotFound()) {
      std::printf("none\n");
      return 0;
    }
    std::fprintf(stderr, "FAIL: %s\n", index.status().ToString().c_str());
    return 1;
  }
  std::string why;
  long g = Verify(**index, &why);
  if (g < 0) {
    std::fprintf(stderr, "FAIL: %s\n", why.c_str());
    return 1;
  }
  if (g < min_gen) {
    std::fprintf(stderr, "FAIL: generation %ld on disk, %ld was acknowledged\n", g, min_gen);
    return 1;
  }
  std::printf("%ld\n", g);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "write" && argc >= 4) return Write(argv[2], std::atol(argv[3]), argc > 4 && std::string(argv[4]) == "--once");
  if (cmd == "read" && argc == 4) return Read(argv[2], argv[3]);
  if (cmd == "check" && argc == 4) return Check(argv[2], std::atol(argv[3]));
  std::fprintf(stderr,
               "usage: snapshot_writer write DIR GEN [--once] | read DIR STOPFILE | check DIR MINGEN\n");
  return 2;
}
