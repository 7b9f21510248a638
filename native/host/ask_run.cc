#include "host/ask_run.h"

#include <nlohmann/json.hpp>

#include <chrono>

#include "host/ids.h"
#include "host/traces.h"

namespace foldback::host {
namespace {

using json = nlohmann::ordered_json;  // keys in the documented order

json HitsJson(const std::vector<TraceHit>& hits) {
  json a = json::array();
  for (const TraceHit& h : hits)
    a.push_back({{"chunk_id", h.chunk_id}, {"doc_id", h.doc_id}, {"score", h.score}});
  return a;
}

}  // namespace

Result<llm::EndpointConfig> EndpointFromFlags(const std::string& url, const std::string& provider,
                                              const std::string& model, const std::string& key_env,
                                              const std::string& api_version, bool structured) {
  llm::EndpointConfig c;
  c.url = url;
  if (!llm::ParseProvider(provider, &c.provider)) {
    return Status::InvalidArgument("--provider must be openai, azure, ollama, vllm or tei, not \"" +
                                   provider + "\"");
  }
  c.model = model;
  c.api_version = api_version;
  c.structured_output = structured;
  if (c.provider == llm::Provider::kTei) c.embed_batch = 32;
  if (!key_env.empty()) {
    auto key = llm::ApiKey::FromEnv(key_env);
    if (!key.ok()) return key.status();
    c.key = std::move(*key);
  }
  return c;
}

std::vector<std::string> EndpointFallbacks(bool has_chat_endpoint, AskOptions* options) {
  std::vector<std::string> out;
  if (has_chat_endpoint) return out;
  if (options->rewrite == RewriteMode::kLlm) {
    options->rewrite = RewriteMode::kRm3;
    out.push_back("no LLM endpoint (--endpoint): queries rewritten with RM3, offline");
  }
  if (options->answer)
    out.push_back("no LLM endpoint (--endpoint): no answer written, passages only");
  return out;
}

Result<AskRun> AskQuestion(const Index& index, const std::string& index_dir,
                           const std::string& question, AskOptions options,
                           const LoadedProgram* program, const FoldBack* fold_back,
                           const Reranker* reranker, const std::vector<std::string>& host_fallbacks,
                           llm::LlmClient& client, const llm::TraceEventFn& on_event) {
  if (options.trace_id.empty()) options.trace_id = NewUuidV7();
  const double start_unix_ms = std::chrono::duration<double, std::milli>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  llm::SteadyClock clock;
  auto session = AskSession::Start(index, question, options, clock.NowMs(),
                                   program ? &program->program : nullptr, fold_back);
  if (!session.ok()) return session.status();
  auto t0 = std::chrono::steady_clock::now();
  FB_RETURN_IF_ERROR(llm::RunAsk(**session, client, clock, on_event));
  AskRun run;
  run.start_unix_ms = start_unix_ms;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.trace_id = options.trace_id;
  run.result = (*session)->result();
  if (reranker) {
    RerankReport report;
    auto reranked = reranker->Rerank(index, question, run.result.passages, options.search, &report);
    if (!reranked.ok()) return reranked.status();
    if (report.applied) {
      run.result.passages = std::move(reranked.value());
    } else {
      run.rerank_note = report.note;
    }
  }
  auto& fallbacks = run.result.trace.fallbacks;
  fallbacks.insert(fallbacks.begin(), host_fallbacks.begin(), host_fallbacks.end());
  // The trace carries the answer: feedback on this question reads it back.
  run.trace_saved = SaveTrace(index_dir, TraceToJson(run.result.trace), run.trace_id);
  return run;
}

std::string AskRunJson(const AskRun& run, bool with_answer, int indent) {
  const AskResult& result = run.result;
  json out;
  out["trace_id"] = run.trace_id;
  json hops = json::array();
  for (const TraceHop& h : result.trace.hops)
    hops.push_back({{"query", h.query}, {"results", HitsJson(h.results)}});
  out["hops"] = hops;
  json results = json::array();
  for (const SearchHit& h : result.passages) {
    results.push_back(
        {{"chunk_id", h.chunk_id}, {"doc_id", h.doc_id}, {"score", h.score}, {"text", h.text}});
  }
  out["results"] = results;
  if (with_answer) {
    out["answer"] = result.answer;
    json cites = json::array();
    for (const Citation& c : result.citations) {
      cites.push_back({{"marker", c.marker}, {"chunk_id", c.chunk_id}, {"doc_id", c.doc_id}});
    }
    out["citations"] = cites;
  }
  out["fallbacks"] = result.trace.fallbacks;
  if (!result.trace.redactions.empty()) out["redactions"] = result.trace.redactions;
  return out.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string SearchHitsJson(const std::vector<SearchHit>& hits, int indent) {
  // Keys sorted, as `foldback search --json` always printed them.
  nlohmann::json out = nlohmann::json::array();
  for (const auto& h : hits) {
    out.push_back({{"chunk_id", h.chunk_id},
                   {"doc_id", h.doc_id},
                   {"score", h.score},
                   {"bm25", h.bm25},
                   {"dense", h.dense},
                   {"title", h.title},
                   {"section", h.section},
                   {"matter", h.matter},
                   {"text", h.text},
                   {"duplicates", h.duplicates}});
  }
  return out.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace foldback::host
