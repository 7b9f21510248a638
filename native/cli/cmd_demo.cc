// foldback demo — a guided, offline tour on the bundled sample corpus.
#include <cstdio>

#include "cli/common.h"
#include "host/files.h"
#include "ingest/extract.h"

#ifndef FOLDBACK_DEMO_CORPUS
#define FOLDBACK_DEMO_CORPUS "examples/corpus/cuad"
#endif
#ifndef FOLDBACK_DEMO_CORPUS_INSTALLED
#define FOLDBACK_DEMO_CORPUS_INSTALLED ""
#endif

namespace foldback::cli {
namespace {

struct DemoArgs {
  std::string corpus;
};

std::string DefaultCorpus() {
  if (host::IsDirectory(FOLDBACK_DEMO_CORPUS)) return FOLDBACK_DEMO_CORPUS;
  return FOLDBACK_DEMO_CORPUS_INSTALLED;
}

void Heading(int n, const char* title) { std::printf("\n%d. %s\n", n, title); }

int Run(const DemoArgs& a) {
  std::string dir = a.corpus.empty() ? DefaultCorpus() : a.corpus;
  std::printf("foldback demo — everything below runs offline, on this machine.\n");
  std::printf("Corpus: %s\n(20 commercial contracts from CUAD v1, The Atticus Project, CC BY 4.0)\n",
              dir.c_str());

  auto files = host::ListFiles(dir);
  if (!files.ok()) return Fail(files.status());
  auto created = Index::Create();
  if (!created.ok()) return Fail(created.status());
  Index& index = **created;

  Heading(1, "Ingest: cut each contract into passages along its structure");
  auto t0 = std::chrono::steady_clock::now();
  size_t n = 0;
  uint64_t bytes = 0;
  for (const auto& f : *files) {
    if (ingest::Extension(f) != ".txt") continue;
    size_t slash = f.find_last_of('/');
    std::string id = f.substr(slash + 1, f.size() - slash - 5);
    auto docs = ingest::ExtractText(f, id);
    if (!docs.ok()) return Fail(docs.status());
    for (Document& d : *docs) {
      // Two matters, so that the ethical wall below has something to do.
      d.matter = (n % 2 == 0) ? "matter-north" : "matter-south";
      bytes += d.text.size();
      auto r = index.Add(d);
      if (!r.ok()) return Fail(r.status());
      ++n;
    }
  }
  IndexStats st = index.Stats();
  std::printf("   %zu contracts, %.2f MB of text -> %llu passages, %llu distinct terms (%.0f ms)\n", n,
              static_cast<double>(bytes) / 1e6, static_cast<unsigned long long>(st.chunks),
              static_cast<unsigned long long>(st.terms), SecondsSince(t0) * 1000);
  std::printf("   Passages follow headings and numbered clauses (\"12.3\", \"(a)\", \"Section 4\"),\n"
              "   so a hit is a clause a lawyer can cite, not an arbitrary window.\n");
  std::printf("   Every contract was put in one of two matters: matter-north, matter-south.\n");

  Heading(2, "Search (BM25, Snowball stemming): a lawyer's question");
  const char* question = "Can either party terminate the agreement for convenience without cause?";
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = 3;
  std::printf("   Q: %s\n", question);
  auto hits = index.Search(question, o);
  if (!hits.ok()) return Fail(hits.status());
  PrintHits(*hits, 100);

  Heading(3, "Ethical wall: the same question by a user cleared only for matter-south");
  o.allowed_matters = std::set<std::string>{"matter-south"};
  auto walled = index.Search(question, o);
  if (!walled.ok()) return Fail(walled.status());
  size_t leaked = 0;
  for (const auto& h : *walled) leaked += h.matter != "matter-south";
  PrintHits(*walled, 100);
  std::printf("   %zu of %zu results come from other matters: walled-off passages never enter\n"
              "   the candidate lists (filtered inside the search, not after it).\n",
              leaked, walled->size());

  Heading(4, "Filter: restrict to one contract");
  SearchOptions one;
  one.mode = SearchMode::kBm25;
  one.top_k = 2;
  if (!walled->empty()) {
    one.filters.push_back({"id", Filter::Op::kEq, walled->front().doc_id});
    auto scoped = index.Search("governing law", one);
    if (!scoped.ok()) return Fail(scoped.status());
    std::printf("   Q: governing law   (--filter id=%s)\n", OneLine(walled->front().doc_id, 60).c_str());
    PrintHits(*scoped, 100);
  }

  Heading(5, "Snapshot: the whole index as portable bytes (the same bytes load in the browser)");
  auto t1 = std::chrono::steady_clock::now();
  auto bytes_out = index.Snapshot();
  if (!bytes_out.ok()) return Fail(bytes_out.status());
  double save_ms = SecondsSince(t1) * 1000;
  auto t2 = std::chrono::steady_clock::now();
  auto loaded = Index::FromSnapshot(*bytes_out);
  if (!loaded.ok()) return Fail(loaded.status());
  double load_ms = SecondsSince(t2) * 1000;
  SearchOptions plain;
  plain.mode = SearchMode::kBm25;
  plain.top_k = 3;
  auto again = (*loaded)->Search(question, plain);
  bool same = again.ok() && again->size() == hits->size();
  for (size_t i = 0; same && i < hits->size(); ++i) same = (*again)[i].chunk_id == (*hits)[i].chunk_id;
  std::printf("   %.2f MB, written in %.0f ms, loaded in %.0f ms; same results after reload: %s\n",
              static_cast<double>(bytes_out->size()) / 1e6, save_ms, load_ms, same ? "yes" : "NO");

  std::printf("\nNext: foldback ingest --index my-index <folder>   then   foldback search --index "
              "my-index \"<question>\"\n");
  return same ? 0 : 1;
}

}  // namespace

void RegisterDemo(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand("demo", "A guided tour on the bundled sample contracts (offline)");
  cmd->add_option("--corpus", a->corpus, "Folder of .txt contracts (default: the bundled sample)");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
