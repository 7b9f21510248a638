// foldback search --index DIR [--mode ...] [--top-k K] [--filter F=V]... [--feedback] QUERY
//
// --feedback folds lawyers' feedback (DIR/feedback.log) into the search:
// relevance feedback from similar past questions and the query adapter,
// behind the same ethical walls as the documents.
// --rerank learned reorders the top --rerank-depth results with a reranker
// learned from the lawyers' labels in DIR/feedback.log (only records this
// user's walls allow; foldback/rerank.h); --rerank llm has an LLM order them
// (foldback/llm_rerank.h: only passages the walls let through are sent; if
// the endpoint fails, the first-stage order is kept with a warning).
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/rerank_flags.h"
#include "foldback/feedback.h"
#include "foldback/rerank.h"
#include "host/ask_run.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/index_dir.h"
#include "host/log.h"

namespace foldback::cli {
namespace {

struct SearchArgs {
  std::string index_dir;
  std::string mode = "hybrid";
  std::string syntax = "auto";
  size_t top_k = 10;
  std::vector<std::string> filters;
  std::string allowed_matters;
  bool restrict_matters = false;
  bool json = false;
  bool feedback = false;
  std::string rerank = "none";
  size_t rerank_depth = RerankOptions().depth;
  LlmRerankFlags llm_rerank;
  std::string query;
};

int Run(const SearchArgs& a) {
  SearchOptions o;
  if (!ParseSearchMode(a.mode, &o.mode)) {
    return Fail(Status::InvalidArgument("--mode must be bm25, dense or hybrid"));
  }
  if (!ParseQuerySyntax(a.syntax, &o.syntax)) {
    return Fail(Status::InvalidArgument("--syntax must be auto, plain or connectors"));
  }
  o.top_k = a.top_k;
  for (const auto& f : a.filters) {
    auto parsed = Filter::Parse(f);
    if (!parsed.ok()) return Fail(parsed.status());
    o.filters.push_back(*parsed);
  }
  if (a.restrict_matters) o.allowed_matters = SplitCommaSet(a.allowed_matters);
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  FoldBackCache fold_back_cache;
  std::shared_ptr<const FoldBack> fb;
  if (a.feedback) {
    // Learned only from what this user may see.
    auto built = host::FoldBackOfDir(&fold_back_cache, **opened, 0, a.index_dir, o.allowed_matters);
    if (!built.ok()) return Fail(built.status());
    fb = *built;
  }
  const size_t depth = RerankDepth(a.rerank, a.rerank_depth, a.llm_rerank.depth_opt);
  auto reranker = LoadReranker(a.rerank, depth, a.index_dir, **opened, o, a.feedback);
  if (!reranker.ok()) return Fail(reranker.status());
  std::unique_ptr<llm::LlmClient> llm_client;
  const llm::LlmClientReranker* llm_reranker = nullptr;
  if (a.rerank == "llm") {
    auto client = LlmRerankClient(a.llm_rerank);
    if (!client.ok()) return Fail(client.status());
    llm_client = std::move(*client);
    auto made = MakeLlmReranker(a.llm_rerank, depth, a.llm_rerank.redact, llm_client.get());
    if (!made.ok()) return Fail(made.status());
    llm_reranker = made->get();
    *reranker = std::move(*made);
  }
  RerankOptions ro;
  ro.depth = depth;
  RerankReport report;
  // Terms and connectors: why a query fell back to plain words, capped
  // prefixes, unknown words (an error here is the search's own error).
  auto explained = (*opened)->ExplainQuery(a.query, o);
  if (!explained.ok()) return Fail(explained.status());
  for (const auto& note : explained->notes) {
    host::Log(host::LogLevel::kInfo, note, {"query", "", {}});
  }
  auto t0 = std::chrono::steady_clock::now();
  auto hits = SearchAndRerank(**opened, fb.get(), a.query, o, reranker->get(), ro, &report);
  if (*reranker && !report.applied) {
    const bool failed = report.note.rfind("failed", 0) == 0;
    host::Log(failed ? host::LogLevel::kWarning : host::LogLevel::kInfo,
              "not applied (" + TerminalSafe(report.note, false) + ")", {"rerank", "", {}});
  }
  if (llm_reranker) {
    const LlmRerankResult& lr = llm_reranker->last();
    if (lr.applied) {
      host::Logf(host::LogLevel::kInfo, {"rerank", "", {}},
                 FMT_STRING("llm reordered {} passages ({} requests, {:.0f} ms)"), lr.candidates,
                 lr.requests, llm_reranker->totals().ms);
    }
    for (const std::string& line : llm_reranker->last_redactions())
      host::Log(host::LogLevel::kInfo, "redacted: " + TerminalSafe(line, false), {"rerank", "", {}});
  }
  double ms = SecondsSince(t0) * 1000;
  if (!hits.ok()) return Fail(hits.status());
  if (a.json) {
    fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(host::SearchHitsJson(*hits, 2)));
    return 0;
  }
  fmt::print(FMT_STRING("{} results for \"{}\" ({}, {:.1f} ms)\n"), hits->size(), a.query,
             SearchModeName(o.mode), ms);
  PrintHits(*hits);
  return 0;
}

}  // namespace

void RegisterSearch(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Search an index");
  cmd->add_option("--index", args->index_dir, "Index folder")->required();
  cmd->add_option("--mode", args->mode, "bm25, dense or hybrid")->capture_default_str();
  cmd->add_option("--syntax", args->syntax,
                  "auto (terms and connectors when the query uses them: \"a phrase\", prefix*, "
                  "/N, /s, /p; otherwise plain words), plain, or connectors (strict)")
      ->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "Number of results")->capture_default_str();
  cmd->add_option("--filter", args->filters,
                  "FIELD=VALUE, FIELD>=VALUE or FIELD<=VALUE (repeatable; all must hold)");
  auto* am = cmd->add_option("--allowed-matters", args->allowed_matters,
                             "Ethical walls: comma-separated matters the user may see");
  cmd->add_flag("--json", args->json, "Print results as JSON");
  cmd->add_flag("--feedback", args->feedback,
                "Apply what lawyers' feedback taught (relevance feedback, query adapter)");
  args->llm_rerank.depth_opt = AddRerankOptions(cmd, &args->rerank, &args->rerank_depth);
  AddLlmRerankOptions(cmd, &args->llm_rerank, /*endpoint_flags=*/true);
  cmd->add_option("query", args->query, "The query")->required();
  cmd->callback([args, exit_code, am] {
    args->restrict_matters = am->count() > 0;
    *exit_code = Run(*args);
  });
}

}  // namespace foldback::cli
