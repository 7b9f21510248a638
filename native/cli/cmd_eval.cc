// foldback eval --corpus C --queries Q --qrels R [--scope-field F] [--mode M]
//               [--rewrite none|rm3 --hops N --fb-docs N --fb-terms N --fb-weight W]
//               [--feedback-queries TRAIN [--feedback-methods ...]] [--json]
//
// Builds an in-memory index from a BEIR corpus (or a folder of .txt files),
// runs every query, and reports BEIR / pytrec_eval metrics with timings.
// With --rewrite, each query runs through the ask session (offline
// rewriting: the question each hop, or RM3) instead of one search.
// With --feedback-queries, measures what simulated lawyers' feedback on the
// TRAIN queries teaches (eval_feedback.h).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <unordered_set>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/ask.h"
#include "cli/eval_feedback.h"
#include "cli/rerank_flags.h"
#include "cli/train_run.h"
#include "foldback/eval.h"
#include "host/files.h"
#include "ingest/extract.h"

namespace foldback::cli {
namespace {

struct EvalArgs {
  std::string corpus, queries, qrels, scope_field;
  std::string mode = "hybrid";
  std::string fusion = "weighted";
  size_t top_k = 100;
  double k1 = -1, b = -1;
  std::string bm25_idf;          // empty: the index default
  double query_saturation = -1;  // < 0: the index default
  uint32_t chunk_tokens = 0;
  size_t limit = 0;
  bool json = false;
  std::string rewrite;  // empty: plain search
  uint32_t hops = 1;
  uint32_t fb_docs = Rm3Params().fb_docs, fb_terms = Rm3Params().fb_terms;
  double fb_weight = Rm3Params().original_query_weight;
  double near_dup = 0.9;
  FeedbackEvalArgs feedback;
  std::string train;  // "corpus": contrastive training on the corpus before measuring
  TrainArgs train_args;
  LlmRerankFlags llm_rerank;  // --rerank llm (no quality claim without a real model)
};

Result<std::vector<Document>> LoadCorpus(const std::string& path) {
  if (host::IsDirectory(path)) return ingest::ExtractTextFolder(path);
  return ingest::ExtractBeirCorpus(path);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

nlohmann::json MetricsJson(const Metrics& m) {
  return {{"ndcg@10", m.ndcg10}, {"recall@5", m.recall5}, {"recall@10", m.recall10},
          {"recall@100", m.recall100}, {"mrr@10", m.mrr10}, {"queries", m.queries}};
}

int Run(const EvalArgs& a) {
  SearchOptions so;
  // Benchmark queries are natural language (CUAD's quote “requirements”):
  // read as plain words, as every figure in docs/benchmarks.md was.
  so.syntax = QuerySyntax::kPlain;
  if (!ParseSearchMode(a.mode, &so.mode)) {
    return Fail(Status::InvalidArgument("--mode must be bm25, dense or hybrid"));
  }
  if (!ParseFusion(a.fusion, &so.fusion)) {
    return Fail(Status::InvalidArgument("--fusion must be rrf or weighted"));
  }
  AskOptions ao;
  if (!a.rewrite.empty()) {
    if (!ParseRewriteMode(a.rewrite, &ao.rewrite) || ao.rewrite == RewriteMode::kLlm) {
      return Fail(Status::InvalidArgument("--rewrite must be none or rm3 (eval runs offline)"));
    }
    ao.hops = a.hops;
    ao.rm3.fb_docs = a.fb_docs;
    ao.rm3.fb_terms = a.fb_terms;
    ao.rm3.original_query_weight = a.fb_weight;
    ao.near_duplicate_jaccard = a.near_dup;
  }
  if (Status r = CheckEvalRerank(a.feedback); !r.ok()) return Fail(r);
  auto corpus = LoadCorpus(a.corpus);
  if (!corpus.ok()) return Fail(corpus.status());
  auto qdata = host::ReadFile(a.queries);
  if (!qdata.ok()) return Fail(qdata.status());
  auto queries = ParseBeirQueries(*qdata);
  if (!queries.ok()) return Fail(queries.status().WithContext(a.queries));
  auto rdata = host::ReadFile(a.qrels);
  if (!rdata.ok()) return Fail(rdata.status());
  auto qrels = ParseQrels(*rdata);
  if (!qrels.ok()) return Fail(qrels.status().WithContext(a.qrels));
  if (!a.scope_field.empty()) {
    for (const auto& q : *queries) {
      if (!q.fields.count(a.scope_field)) {
        return Fail(Status::InvalidArgument(
            fmt::format(FMT_STRING("{}: line {}: query '{}' has no field '{}' (--scope-field)"),
                        a.queries, q.line, q.id, a.scope_field)));
      }
    }
    size_t missing = 0;
    std::string first;
    for (const auto& d : *corpus) {
      if (!d.metadata.count(a.scope_field)) {
        if (!missing++) first = d.id;
      }
    }
    if (missing) {
      return Fail(Status::InvalidArgument(
          fmt::format(FMT_STRING("{}: {} corpus entries lack field '{}', first '{}'"), a.corpus,
                      missing, a.scope_field, first)));
    }
  }

  IndexOptions io;
  if (a.k1 >= 0) io.bm25.k1 = a.k1;
  if (a.b >= 0) io.bm25.b = a.b;
  if (!a.bm25_idf.empty())
    io.bm25.idf = a.bm25_idf == "plus-one" ? Bm25Idf::kPlusOne : Bm25Idf::kRobertson;
  if (a.query_saturation >= 0) io.bm25.query_saturation = a.query_saturation;
  if (a.chunk_tokens) {
    io.chunker.target_tokens = a.chunk_tokens;
    io.chunker.max_tokens = std::max<uint32_t>(a.chunk_tokens * 2, io.chunker.max_tokens);
  }
  if (so.mode == SearchMode::kBm25) io.dense.embedder = EmbedderKind::kNone;
  auto created = Index::Create(io);
  if (!created.ok()) return Fail(created.status());
  Index& index = **created;
  auto t0 = std::chrono::steady_clock::now();
  for (const Document& d : *corpus) {
    auto r = index.Add(d);
    if (!r.ok()) return Fail(r.status().WithContext("corpus entry '" + d.id + "'"));
  }
  double build_s = SecondsSince(t0);
  auto t1 = std::chrono::steady_clock::now();
  Status dense = index.BuildDense();
  double dense_s = SecondsSince(t1);
  if (!dense.ok() && so.mode != SearchMode::kBm25) {
    fmt::print(stderr, FMT_STRING("warning: dense index unavailable ({}); {} falls back to BM25\n"),
               dense.ToString(), a.mode);
  }
  // --train corpus: the same unsupervised training as `foldback train`, on
  // the evaluated corpus only (no qrels, no query text).
  nlohmann::json train_report;
  if (a.train == "corpus") {
    if (!dense.ok()) return Fail(dense.WithContext("--train corpus needs the dense index"));
    Status s = TrainIndexEmbedder(&index, a.train_args, /*quiet=*/false, &train_report);
    if (!s.ok()) return Fail(s.WithContext("--train corpus"));
  } else if (!a.train.empty() && a.train != "none") {
    return Fail(Status::InvalidArgument("--train must be none or corpus"));
  }
  if (!a.feedback.train_queries.empty()) {
    FeedbackEvalContext fc;
    fc.index = &index;
    fc.search = so;
    fc.qrels = &*qrels;
    fc.queries = &*queries;
    fc.scope_field = a.scope_field;
    fc.top_k = a.top_k;
    fc.limit = a.limit;
    fc.json = a.json;
    fc.mode_name = a.mode;
    return RunFeedbackEval(a.feedback, fc);
  }
  // --rerank llm: each query's top --rerank-depth documents ordered by the endpoint.
  std::unique_ptr<llm::LlmClient> llm_client;
  std::unique_ptr<llm::LlmClientReranker> llm_reranker;
  RerankOptions llm_rerank_options;
  if (a.feedback.rerank == "llm") {
    if (!a.rewrite.empty()) {
      return Fail(Status::InvalidArgument("--rerank llm is measured without --rewrite"));
    }
    llm_rerank_options.depth =
        RerankDepth(a.feedback.rerank, a.feedback.rerank_depth, a.llm_rerank.depth_opt);
    auto client = LlmRerankClient(a.llm_rerank);
    if (!client.ok()) return Fail(client.status());
    llm_client = std::move(*client);
    auto made = MakeLlmReranker(a.llm_rerank, llm_rerank_options.depth, a.llm_rerank.redact,
                                llm_client.get());
    if (!made.ok()) return Fail(made.status());
    llm_reranker = std::move(*made);
  }
  auto snapshot = index.Snapshot();
  size_t index_bytes = snapshot.ok() ? snapshot->size() : 0;

  MetricsAccumulator acc;
  std::vector<double> latencies;
  double query_total = 0;
  size_t run = 0;
  for (const auto& q : *queries) {
    if (a.limit && run >= a.limit) break;
    auto rel = qrels->find(q.id);
    if (rel == qrels->end()) continue;
    SearchOptions o = so;
    // Ranked documents: the best passage of each document.
    o.one_per_document = true;
    o.top_k = std::max<size_t>(a.top_k, 100);
    if (!a.scope_field.empty()) {
      o.filters.push_back({a.scope_field, Filter::Op::kEq, q.fields.at(a.scope_field)});
    }
    auto tq = std::chrono::steady_clock::now();
    Result<std::vector<SearchHit>> hits = std::vector<SearchHit>();
    if (llm_reranker) {
      hits = SearchAndRerank(index, nullptr, q.text, o, llm_reranker.get(), llm_rerank_options);
    } else if (a.rewrite.empty()) {
      hits = index.Search(q.text, o);
    } else {
      AskOptions ask = ao;
      ask.search = o;
      ask.depth = ask.top_k = static_cast<uint32_t>(std::min<size_t>(o.top_k, 1000));
      auto session = AskSession::Start(index, q.text, ask, 0);
      if (!session.ok()) {
        hits = session.status();
      } else if (!(*session)->done()) {
        hits = Status::FailedPrecondition("the ask session needs a host (external embedder)");
      } else {
        hits = (*session)->result().passages;
      }
    }
    double secs = SecondsSince(tq);
    if (!hits.ok()) return Fail(hits.status().WithContext("query '" + q.id + "'"));
    latencies.push_back(secs * 1000);
    query_total += secs;
    std::vector<std::string> ranked;
    std::unordered_set<std::string> seen;
    for (const auto& h : *hits) {
      if (seen.insert(h.doc_id).second) ranked.push_back(h.doc_id);
      if (ranked.size() >= std::max<size_t>(a.top_k, 100)) break;
    }
    acc.Add(ScoreQuery(ranked, rel->second));
    ++run;
  }
  Metrics m = acc.Mean();
  double qps = query_total > 0 ? static_cast<double>(latencies.size()) / query_total : 0;
  if (a.json) {
    nlohmann::json out = MetricsJson(m);
    out["mode"] = a.mode;
    if (!a.rewrite.empty()) {
      out["rewrite"] = a.rewrite;
      out["hops"] = a.hops;
      if (a.rewrite == "rm3") {
        out["rm3"] = {{"fb_docs", a.fb_docs}, {"fb_terms", a.fb_terms},
                      {"original_query_weight", a.fb_weight}};
      }
    }
    out["fusion"] = a.fusion;
    out["bm25_k1"] = index.options().bm25.k1;
    out["bm25_b"] = index.options().bm25.b;
    out["bm25_idf"] = index.options().bm25.idf == Bm25Idf::kRobertson ? "robertson" : "plus-one";
    out["bm25_query_saturation"] = index.options().bm25.query_saturation;
    out["documents"] = index.Stats().documents;
    out["chunks"] = index.Stats().chunks;
    out["index_build_s"] = build_s;
    out["dense_build_s"] = dense_s;
    out["query_p50_ms"] = Percentile(latencies, 0.5);
    out["query_p95_ms"] = Percentile(latencies, 0.95);
    out["qps"] = qps;
    out["index_bytes"] = index_bytes;
    if (!train_report.is_null()) out["train"] = train_report;
    if (llm_reranker) {
      const auto& t = llm_reranker->totals();
      const double n = latencies.empty() ? 1.0 : static_cast<double>(latencies.size());
      out["rerank"] = {{"kind", "llm"},
                       {"depth", llm_rerank_options.depth},
                       {"window", a.llm_rerank.window},
                       {"step", a.llm_rerank.step},
                       {"lists", t.lists},
                       {"applied", t.applied},
                       {"failed", t.failed},
                       {"requests", t.requests},
                       {"requests_per_query", static_cast<double>(t.requests) / n},
                       {"rerank_ms_per_query", t.ms / n}};
    }
    fmt::print(FMT_STRING("{}\n"), out.dump(2));
    return 0;
  }
  fmt::print(FMT_STRING("{} queries over {} documents ({} chunks), mode {}\n"), m.queries,
             static_cast<unsigned long long>(index.Stats().documents),
             static_cast<unsigned long long>(index.Stats().chunks), a.mode);
  fmt::print(
      FMT_STRING(
          "  nDCG@10    {:.4f}\n  Recall@5   {:.4f}\n  Recall@10  {:.4f}\n  Recall@100 {:.4f}\n"
          "  MRR@10     {:.4f}\n"),
      m.ndcg10, m.recall5, m.recall10, m.recall100, m.mrr10);
  fmt::print(FMT_STRING("  index build {:.2f}s (+ dense {:.2f}s), {:.1f} MB; query p50 {:.2f} ms, "
                        "p95 {:.2f} ms, {:.0f} qps\n"),
             build_s, dense_s, static_cast<double>(index_bytes) / 1e6, Percentile(latencies, 0.5),
             Percentile(latencies, 0.95), qps);
  if (llm_reranker) {
    const auto& t = llm_reranker->totals();
    const double n = latencies.empty() ? 1.0 : static_cast<double>(latencies.size());
    fmt::print(FMT_STRING("  rerank llm: {} of {} lists reordered ({} failed), {:.2f} requests "
                          "and {:.1f} ms per query\n"),
               t.applied, t.lists, t.failed, static_cast<double>(t.requests) / n, t.ms / n);
  }
  return 0;
}

}  // namespace

void RegisterEval(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure retrieval quality on a BEIR-format data set");
  cmd->add_option("--corpus", a->corpus, "corpus.jsonl, or a folder of .txt files (id = file name)")
      ->required();
  cmd->add_option("--queries", a->queries, "queries.jsonl")->required();
  cmd->add_option("--qrels", a->qrels, "qrels TSV with a header line")->required();
  cmd->add_option("--scope-field", a->scope_field,
                  "Restrict each query to corpus entries whose FIELD equals the query's");
  cmd->add_option("--mode", a->mode, "bm25, dense or hybrid")->capture_default_str();
  cmd->add_option("--fusion", a->fusion, "rrf or weighted (hybrid mode)")->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "Ranking depth evaluated (at least 100)")->capture_default_str();
  cmd->add_option("--k1", a->k1, "BM25 k1 (default: the index default)");
  cmd->add_option("--b", a->b, "BM25 b (default: the index default)");
  cmd->add_option("--bm25-idf", a->bm25_idf,
                  "BM25 idf form: robertson or plus-one (default: the index default)")
      ->check(CLI::IsMember({"robertson", "plus-one"}));
  cmd->add_option(
         "--query-saturation", a->query_saturation,
         "BM25 k3: weight of a repeated query word (0 counts each; default: the index default)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--chunk-tokens", a->chunk_tokens, "Chunk target size in tokens");
  cmd->add_option("--limit", a->limit, "Evaluate only the first N judged queries");
  cmd->add_option("--rewrite", a->rewrite,
                  "Run each query through the ask session: none (the question each hop) or rm3");
  cmd->add_option("--hops", a->hops, "Hops with --rewrite")->capture_default_str();
  cmd->add_option("--fb-docs", a->fb_docs, "RM3 feedback passages")->capture_default_str();
  cmd->add_option("--fb-terms", a->fb_terms, "RM3 expansion terms")->capture_default_str();
  cmd->add_option("--fb-weight", a->fb_weight, "RM3 original query weight")->capture_default_str();
  cmd->add_option("--near-dup", a->near_dup,
                  "Near-duplicate Jaccard threshold with --rewrite (0 disables)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print one JSON object");
  AddFeedbackEvalOptions(cmd, &a->feedback);
  cmd->add_option("--train", a->train,
                  "corpus: train the embedder on the corpus' structure (as foldback train) before "
                  "measuring; none (default)");
  AddTrainOptions(cmd, &a->train_args, "train-", /*for_eval=*/true);
  a->llm_rerank.depth_opt = cmd->get_option_no_throw("--rerank-depth");
  AddLlmRerankOptions(cmd, &a->llm_rerank, /*endpoint_flags=*/true);
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
