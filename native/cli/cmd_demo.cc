// foldback demo — a guided, offline tour on the bundled sample corpus.
#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/ask.h"
#include "foldback/feedback.h"
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

void Heading(int n, const char* title) { fmt::print(FMT_STRING("\n{}. {}\n"), n, title); }

int Run(const DemoArgs& a) {
  std::string dir = a.corpus.empty() ? DefaultCorpus() : a.corpus;
  fmt::print(FMT_STRING("foldback demo — everything below runs offline, on this machine.\n"));
  fmt::print(
      FMT_STRING(
          "Corpus: {}\n(20 commercial contracts from CUAD v1, The Atticus Project, CC BY 4.0)\n"),
      dir);

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
  fmt::print(
      FMT_STRING(
          "   {} contracts, {:.2f} MB of text -> {} passages, {} distinct terms ({:.0f} ms)\n"),
      n, static_cast<double>(bytes) / 1e6, static_cast<unsigned long long>(st.chunks),
      static_cast<unsigned long long>(st.terms), SecondsSince(t0) * 1000);
  fmt::print(FMT_STRING(
      "   Passages follow headings and numbered clauses (\"12.3\", \"(a)\", \"Section 4\"),\n"
      "   so a hit is a clause a lawyer can cite, not an arbitrary window.\n"));
  fmt::print(
      FMT_STRING("   Every contract was put in one of two matters: matter-north, matter-south.\n"));

  Heading(2, "Search (BM25, Snowball stemming): a lawyer's question");
  const char* question = "Can either party terminate the agreement for convenience without cause?";
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = 3;
  fmt::print(FMT_STRING("   Q: {}\n"), question);
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
  fmt::print(
      FMT_STRING("   {} of {} results come from other matters: walled-off passages never enter\n"
                 "   the candidate lists (filtered inside the search, not after it).\n"),
      leaked, walled->size());

  Heading(4, "Filter: restrict to one contract");
  SearchOptions one;
  one.mode = SearchMode::kBm25;
  one.top_k = 2;
  if (!walled->empty()) {
    one.filters.push_back({"id", Filter::Op::kEq, walled->front().doc_id});
    auto scoped = index.Search("governing law", one);
    if (!scoped.ok()) return Fail(scoped.status());
    fmt::print(FMT_STRING("   Q: governing law   (--filter id={})\n"),
               OneLine(walled->front().doc_id, 60));
    PrintHits(*scoped, 100);
  }

  Heading(5, "Metadata found in the text: parties, dates, amounts, defined terms — all filterable");
  {
      size_t docs_with_party = 0;
    std::string some_party;
    for (const auto& f : *files) {
      if (ingest::Extension(f) != ".txt") continue;
      size_t slash = f.find_last_of('/');
      const Document* d = index.FindDocument(f.substr(slash + 1, f.size() - slash - 5));
      if (!d) continue;
      auto it = d->metadata.find("party");
      if (it != d->metadata.end() && !it->second.empty()) {
        ++docs_with_party;
        if (some_party.empty()) some_party = it->second.front();
      }
    }
    fmt::print(
        FMT_STRING("   {} of {} contracts name their parties in the preamble; e.g. \"{}\".\n"),
        docs_with_party, n, some_party);
    if (!some_party.empty()) {
      SearchOptions by_party;
      by_party.mode = SearchMode::kBm25;
      by_party.top_k = 1;
      by_party.filters.push_back({"party", Filter::Op::kEq, some_party});
      auto r = index.Search("payment terms", by_party);
      if (!r.ok()) return Fail(r.status());
      fmt::print(FMT_STRING("   Q: payment terms   (--filter \"party={}\")\n"), some_party);
      PrintHits(*r, 100);
    }
  }

  Heading(6, "Hybrid search: BM25 + HNSW over word vectors learned from these contracts (offline)");
  auto t_dense = std::chrono::steady_clock::now();
  Status dense = index.BuildDense();
  if (!dense.ok()) {
    fmt::print(FMT_STRING("   (dense index not built: {})\n"), dense.ToString());
  } else {
    fmt::print(
        FMT_STRING(
            "   trained a {}-dimension embedder on the corpus and built the graph in {:.1f} s\n"),
        index.options().dense.dimension ? index.options().dense.dimension : 128,
        SecondsSince(t_dense));
    SearchOptions hybrid;
    hybrid.mode = SearchMode::kHybrid;
    hybrid.top_k = 3;
    const char* q2 = "What happens to confidential information when the contract ends?";
    fmt::print(FMT_STRING("   Q: {}\n"), q2);
    auto r = index.Search(q2, hybrid);
    if (!r.ok()) return Fail(r.status());
    PrintHits(*r, 100);
  }

  Heading(7, "Ask: two hops of query rewriting, each hop shown (offline: RM3; with an LLM, DSPy prompts)");
  AskOptions ask;
  ask.hops = 2;
  ask.depth = 3;
  ask.top_k = 3;
  ask.rewrite = RewriteMode::kRm3;
  ask.search.mode = SearchMode::kBm25;
  ask.trace_id = "demo";
  const char* q3 = "Who owns the intellectual property created under the agreement?";
  fmt::print(FMT_STRING("   Q: {}\n"), q3);
  auto session = AskSession::Start(index, q3, ask, 0);
  if (!session.ok()) return Fail(session.status());
  const AskResult& asked = (*session)->result();
  for (const TraceHop& h : asked.trace.hops) {
    fmt::print(FMT_STRING("   hop {} ({}): {}\n"), h.hop, h.source, OneLine(h.query, 90));
    fmt::print(FMT_STRING("      found {} passages, {} new\n"), h.results.size(),
               h.new_chunks.size());
  }
  PrintHits(asked.passages, 100);
  fmt::print(FMT_STRING(
      "   With --endpoint, an LLM writes each hop's query instead (foldback ask --help).\n"));

  Heading(8, "Feedback: a lawyer marks the right clause; a similar question is ranked with it at once");
  {
    const char* q4 = "Can either party terminate the agreement for convenience without cause?";
    SearchOptions bm25;
    bm25.mode = SearchMode::kBm25;
    bm25.top_k = 5;
    auto before = index.Search(q4, bm25);
    if (!before.ok()) return Fail(before.status());
    // The lawyer's pick: the first passage that really speaks of
    // termination for convenience, wherever it ranked.
    const SearchHit* pick = nullptr;
    for (const auto& h : *before) {
      if (h.text.find("convenience") != std::string::npos &&
          h.text.find("terminat") != std::string::npos && &h != &before->front()) {
        pick = &h;
        break;
      }
    }
    if (!pick && before->size() > 1) pick = &(*before)[1];
    if (pick) {
      size_t rank_before = static_cast<size_t>(pick - before->data()) + 1;
      FeedbackRecord r;
      r.record_id = "demo-1";
      r.trace_id = "demo";
      r.question = q4;
      r.rating = Rating::Up();
      r.labels.push_back({pick->chunk_id, PassageLabel::kRelevant});
      r.labels.push_back({before->front().chunk_id == pick->chunk_id ? (*before)[1].chunk_id
                                                                     : before->front().chunk_id,
                          PassageLabel::kNotRelevant});
      auto fb = FoldBack::Build(index, {r});
      if (!fb.ok()) return Fail(fb.status());
      const char* q5 = "Can a party terminate this agreement for convenience?";
      auto plain_after = index.Search(q5, bm25);
      auto after = (*fb)->Search(index, q5, bm25);
      if (!after.ok() || !plain_after.ok()) return Fail(after.ok() ? plain_after.status() : after.status());
      auto rank_of = [&](const std::vector<SearchHit>& hits) -> std::string {
        for (size_t i = 0; i < hits.size(); ++i) {
          if (hits[i].chunk_id == pick->chunk_id) return fmt::to_string(i + 1);
        }
        return "not in top 5";
      };
      fmt::print(FMT_STRING("   marked relevant: {} (rank {} for the original question)\n"),
                 OneLine(pick->doc_id, 60), rank_before);
      fmt::print(FMT_STRING("   similar question: {}\n"), q5);
      fmt::print(
          FMT_STRING(
              "   rank of that clause without feedback: {}; with feedback folded back: {}\n"),
          rank_of(*plain_after), rank_of(*after));
      fmt::print(FMT_STRING(
          "   (Feedback is appended to a crash-safe log and exported as fine-tuning data:\n"
          "    foldback feedback / foldback export --format triplets|dpo|sft|demos.)\n"));
    }
  }

  Heading(9, "Snapshot: the whole index as portable bytes (the same bytes load in the browser)");
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
  fmt::print(FMT_STRING("   {:.2f} MB, written in {:.0f} ms, loaded in {:.0f} ms; same results "
                        "after reload: {}\n"),
             static_cast<double>(bytes_out->size()) / 1e6, save_ms, load_ms, same ? "yes" : "NO");

  fmt::print(FMT_STRING(
      "\nNext: foldback ingest --index my-index <folder>   then   foldback search --index "
      "my-index \"<question>\"\n"));
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
