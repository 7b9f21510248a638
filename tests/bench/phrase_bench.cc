// The cost of word positions (phrases, prefixes, proximity): index memory
// and snapshot bytes with and without positions, build time, and the q/s of
// connector queries against the plain bag of words of the same words, on
// ContractNLI dev (scoped to the NDA), CUAD clause level (scoped to the
// contract) and CUAD collection level (unscoped, one passage per contract).
//
//   build/bin/phrase_bench --contractnli DATA/contractnli/derived --cuad DATA/cuad [--reps 5]
//
// Queries come from a fixed generator, not chosen after timing: for each
// scoped query, the first three consecutive words of its first gold span
// whose first and last words are indexed terms ("w1 w2 w3") give
//   bag       w1 w2 w3                 (plain BM25; the baseline)
//   phrase    "w1 w2 w3"
//   near      w1 /5 w3
//   sentence  pre* /s w3               (pre = w1's first 5 letters, or w1)
// and, for CUAD collection level, the 41 category names ("Governing Law",
// "Anti-Assignment", ...): bag = the words, phrase = the name in quotes,
// near = first /5 last word, sentence = first word's prefix /s last word.
// Index::Search, bm25, top 100, hits' text copied, inside the timer. Each
// round runs every form once over the whole set, forms interleaved; the
// tables give the median over rounds.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "foldback/eval.h"
#include "foldback/index.h"
#include "host/files.h"
#include "index/index_internal.h"
#include "ingest/extract.h"
#include "text/analyzer.h"

namespace {

using namespace foldback;
using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "phrase_bench: %s\n", msg.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what + ": " + r.status().ToString());
  return std::move(*r);
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

size_t HeapInUse() { return mallinfo2().uordblks; }

struct Q {
  std::string scope;  // filter value; "" = unscoped
  std::map<std::string, std::string> forms;
};

struct Set {
  std::string name;
  std::string filter_field;
  bool per_doc = false;
  std::vector<Q> queries;
};

const char* kForms[] = {"bag", "phrase", "near", "sentence"};

// The four forms from a window of words (w1 and wn indexed terms).
std::map<std::string, std::string> Forms(const std::vector<std::string>& w) {
  std::string bag, inner;
  for (const auto& x : w) {
    bag += (bag.empty() ? "" : " ") + x;
  }
  std::string first = w.front(), last = w.back();
  std::string pre = first.size() > 6 ? first.substr(0, 5) : first;
  return {{"bag", bag},
          {"phrase", "\"" + bag + "\""},
          {"near", first + " /5 " + last},
          {"sentence", pre + "* /s " + last}};
}

// The first window of 3 words in `text` whose ends are indexed (ASCII
// letters only, so that the prefix is a whole code point run).
bool Window(const text::Analyzer& an, const std::string& text, std::vector<std::string>* out) {
  std::vector<std::string> words;
  text::ForEachWord(text, [&](std::string_view w) { words.emplace_back(w); });
  auto ok = [&](const std::string& w) {
    if (an.IsStopword(w) || w.size() < 3) return false;
    return std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  };
  for (size_t i = 0; i + 2 < words.size(); ++i) {
    if (ok(words[i]) && ok(words[i + 2])) {
      out->assign(words.begin() + static_cast<long>(i), words.begin() + static_cast<long>(i) + 3);
      return true;
    }
  }
  return false;
}

struct Data {
  std::string name;
  std::vector<Document> docs;
  std::vector<Set> sets;
};

Data LoadContractNli(const std::string& dir, size_t max_queries) {
  Data d;
  d.name = "ContractNLI dev";
  d.docs = Must(ParseBeirCorpus(Must(host::ReadFile(dir + "/corpus.jsonl"), "corpus")), "corpus");
  std::unordered_map<std::string, const Document*> by_id;
  for (const auto& doc : d.docs) by_id[doc.id] = &doc;
  auto queries = Must(ParseBeirQueries(Must(host::ReadFile(dir + "/queries.jsonl"), "q")), "q");
  auto qrels = Must(ParseQrels(Must(host::ReadFile(dir + "/qrels/dev.tsv"), "qrels")), "qrels");
  text::Analyzer an{TextOptions()};
  Set s;
  s.name = "ContractNLI, scoped to the NDA";
  s.filter_field = "doc_id";
  for (const auto& q : queries) {
    auto r = qrels.find(q.id);
    if (r == qrels.end() || r->second.empty()) continue;
    std::vector<std::string> w;
    bool found = false;
    for (const auto& [span, grade] : r->second) {  // map: ordered by span id
      auto it = by_id.find(span);
      if (it != by_id.end() && grade > 0 && Window(an, it->second->text, &w)) {
        found = true;
        break;
      }
    }
    if (!found) continue;
    s.queries.push_back({q.fields.at("doc_id"), Forms(w)});
    if (s.queries.size() >= max_queries) break;
  }
  d.sets.push_back(std::move(s));
  return d;
}

Data LoadCuad(const std::string& dir, size_t max_queries) {
  Data d;
  d.name = "CUAD";
  d.docs = Must(ingest::ExtractTextFolder(dir + "/full_contract_txt"), "cuad");
  text::Analyzer an{TextOptions()};
  Set clause;
  clause.name = "CUAD clause level, scoped to the contract";
  clause.filter_field = "id";
  std::ifstream in(dir + "/derived/clause_spans.jsonl");
  if (!in) Die("clause_spans.jsonl: cannot open");
  std::string last_query;
  for (std::string line; std::getline(in, line) && clause.queries.size() < max_queries;) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    std::string qid = j.at("query_id").get<std::string>();
    if (qid == last_query || j.at("start").get<long>() < 0) continue;
    std::vector<std::string> w;
    if (!Window(an, j.at("clause").get<std::string>(), &w)) continue;
    last_query = qid;
    clause.queries.push_back({j.at("doc_id").get<std::string>(), Forms(w)});
  }
  d.sets.push_back(std::move(clause));
  Set coll;
  coll.name = "CUAD collection level (41 category names, unscoped, one passage per contract)";
  coll.per_doc = true;
  std::ifstream cats(dir + "/category_descriptions.csv");
  if (!cats) Die("category_descriptions.csv: cannot open");
  std::string line;
  std::getline(cats, line);  // header
  while (std::getline(cats, line)) {
    auto b = line.find("Category: ");
    if (b == std::string::npos) continue;
    auto e = line.find(",Description:", b);
    std::string name = line.substr(b + 10, e - b - 10);
    std::vector<std::string> w;
    text::ForEachWord(name, [&](std::string_view x) { w.emplace_back(x); });
    while (!w.empty() && an.IsStopword(w.back())) w.pop_back();
    if (w.size() < 2) {
      if (w.size() == 1)
        w.push_back(w[0]);  // "Parties": phrase of one word, near itself
      else
        continue;
    }
    if (w.size() == 2 && w[0] == w[1]) {
      coll.queries.push_back(
          {"",
           {{"bag", w[0]},
            {"phrase", "\"" + w[0] + "\""},
            {"near", w[0] + " /5 " + w[0]},
            {"sentence", (w[0].size() > 6 ? w[0].substr(0, 5) : w[0]) + "* /s " + w[0]}}});
    } else {
      coll.queries.push_back({"", Forms(w)});
    }
  }
  d.sets.push_back(std::move(coll));
  return d;
}

std::unique_ptr<Index> Build(const std::vector<Document>& docs, bool positions, double* seconds,
                             size_t* heap) {
  IndexOptions io;
  io.dense.embedder = EmbedderKind::kNone;
  io.bm25.positions = positions;
  size_t before = HeapInUse();
  auto t0 = Clock::now();
  auto index = Must(Index::Create(io), "index");
  for (const auto& doc : docs) Must(index->Add(doc), doc.id);
  *seconds = Since(t0);
  *heap = HeapInUse() - before;
  return index;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string cnli, cuad;
  int reps = 5;
  size_t max_queries = 1500;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--contractnli")
      cnli = next();
    else if (a == "--cuad")
      cuad = next();
    else if (a == "--reps")
      reps = std::stoi(next());
    else if (a == "--max-queries")
      max_queries = std::stoul(next());
    else
      Die("unknown argument " + a);
  }
  std::vector<Data> data;
  if (!cnli.empty()) data.push_back(LoadContractNli(cnli, max_queries));
  if (!cuad.empty()) data.push_back(LoadCuad(cuad, max_queries));
  if (data.empty()) Die("give --contractnli DIR and/or --cuad DIR");
  for (const Data& d : data) {
    double t_without = 0, t_with = 0;
    size_t h_without = 0, h_with = 0;
    std::string snap_without, snap_with;
    {
      // A warm-up build first: the stemmer's cache fills once per process.
      double t;
      size_t h;
      Build(d.docs, true, &t, &h);
    }
    {
      auto idx = Build(d.docs, false, &t_without, &h_without);
      snap_without = Must(idx->Snapshot(), "snapshot");
    }
    auto idx = Build(d.docs, true, &t_with, &h_with);
    snap_with = Must(idx->Snapshot(), "snapshot");
    IndexStats st = idx->Stats();
    std::printf(
        "\n### %s: %llu documents, %llu passages, %llu postings, %llu terms\n\n", d.name.c_str(),
        static_cast<unsigned long long>(st.documents), static_cast<unsigned long long>(st.chunks),
        static_cast<unsigned long long>(st.postings), static_cast<unsigned long long>(st.terms));
    std::printf("| | without positions | with positions | difference |\n|---|---|---|---|\n");
    std::printf("| build (Index::Add of the corpus) | %.2f s | %.2f s | %+.0f%% |\n", t_without,
                t_with, 100.0 * (t_with / t_without - 1));
    std::printf(
        "| heap held by the index (mallinfo2, text included) | %.1f MB | %.1f MB | +%.1f MB |\n",
        h_without / 1e6, h_with / 1e6, (static_cast<double>(h_with) - h_without) / 1e6);
    std::printf(
        "| position data (IndexStats::position_bytes) | 0 | %.1f MB (%.1f bytes per passage, %.2f "
        "per posting) | |\n",
        st.position_bytes / 1e6, static_cast<double>(st.position_bytes) / st.chunks,
        static_cast<double>(st.position_bytes) / st.postings);
    std::printf("| surface words (prefix dictionary) | | %zu | |\n",
                idx->rep()->lexical.surface_word_count());
    std::printf("| snapshot | %.1f MB | %.1f MB | +%.1f MB (+%.0f%%) |\n",
                snap_without.size() / 1e6, snap_with.size() / 1e6,
                (static_cast<double>(snap_with.size()) - snap_without.size()) / 1e6,
                100.0 * (static_cast<double>(snap_with.size()) / snap_without.size() - 1));
    for (const Set& s : d.sets) {
      std::map<std::string, std::vector<double>> qps;
      std::map<std::string, double> hits, nonempty;
      for (int r = 0; r < reps; ++r) {
        for (const char* form : kForms) {
          SearchOptions o;
          o.mode = SearchMode::kBm25;
          o.top_k = 100;
          o.one_per_document = s.per_doc;
          o.syntax = std::string(form) == "bag" ? QuerySyntax::kPlain : QuerySyntax::kConnectors;
          size_t total = 0, any = 0;
          int passes = s.queries.size() < 100 ? 20 : 1;
          auto t0 = Clock::now();
          for (int p = 0; p < passes; ++p) {
            for (const Q& q : s.queries) {
              o.filters.clear();
              if (!q.scope.empty()) o.filters.push_back({s.filter_field, Filter::Op::kEq, q.scope});
              auto h = Must(idx->Search(q.forms.at(form), o), q.forms.at(form));
              total += h.size();
              any += !h.empty();
            }
          }
          double sec = Since(t0);
          qps[form].push_back(static_cast<double>(passes * s.queries.size()) / sec);
          hits[form] = static_cast<double>(total) / (passes * s.queries.size());
          nonempty[form] = static_cast<double>(any) / (passes * s.queries.size());
        }
      }
      std::printf("\n%s, %zu queries, median of %d rounds:\n\n", s.name.c_str(), s.queries.size(),
                  reps);
      std::printf(
          "| form | example | q/s | ÷ bag of words | hits per query | queries with a hit |\n");
      std::printf("|---|---|---|---|---|---|\n");
      double base = Median(qps["bag"]);
      for (const char* form : kForms) {
        std::printf("| %s | `%s` | %.0f | %.2f | %.1f | %.0f%% |\n", form,
                    s.queries.front().forms.at(form).c_str(), Median(qps[form]),
                    Median(qps[form]) / base, hits[form], 100 * nonempty[form]);
      }
    }
  }
  return 0;
}
