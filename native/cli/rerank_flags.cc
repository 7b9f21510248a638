#include "cli/rerank_flags.h"

#include "foldback/feedback.h"
#include "foldback/program.h"
#include "host/ask_run.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/files.h"

namespace foldback::cli {

CLI::Option* AddRerankOptions(CLI::App* cmd, std::string* kind, size_t* depth) {
  cmd->add_option("--rerank", *kind,
                  "Second stage over the top results: none, learned (a reranker learned from "
                  "lawyers' relevant / not-relevant labels in the feedback log, behind your "
                  "walls) or llm (an LLM orders the top passages, RankGPT-style; needs an "
                  "endpoint)")
      ->capture_default_str();
  return cmd->add_option("--rerank-depth", *depth,
                         "Results the reranker reorders (default: 50 learned, 20 llm)");
}

Result<std::unique_ptr<Reranker>> LoadReranker(const std::string& kind, size_t depth,
                                               const std::string& index_dir, const Index& index,
                                               const SearchOptions& search, bool feedback) {
  RerankerKind k;
  if (!ParseRerankerKind(kind, &k)) {
    return Status::InvalidArgument("--rerank must be none, learned or llm, not \"" + kind + "\"");
  }
  if (depth == 0 || depth > 10000) {
    return Status::InvalidArgument("--rerank-depth must be in 1..10000");
  }
  if (k == RerankerKind::kNone || k == RerankerKind::kLlm) return std::unique_ptr<Reranker>();
  SearchRerankTraining training;  // the lists this command's first stage gives
  training.fold_back = feedback;  // fold-back as FoldBackOfDir builds it (default options)
  training.search = search;
  training.depth = depth;
  auto trained = host::LearnedRerankerOfDir(index, index_dir, search.allowed_matters, training);
  if (!trained.ok()) return trained.status();
  return std::unique_ptr<Reranker>(std::move(trained.value()));
}

void AddLlmRerankOptions(CLI::App* cmd, LlmRerankFlags* f, bool endpoint_flags) {
  if (endpoint_flags) {
    cmd->add_option("--endpoint", f->endpoint,
                    "With --rerank llm: chat endpoint base URL, e.g. https://api.openai.com/v1");
    cmd->add_option("--provider", f->provider, "openai, azure, ollama or vllm")
        ->capture_default_str();
    cmd->add_option("--model", f->model, "Model name (Azure: deployment name)");
    cmd->add_option("--api-key-env", f->api_key_env,
                    "Environment variable holding the API key (never written anywhere)");
    cmd->add_option("--api-version", f->api_version, "Azure api-version");
    cmd->add_option("--ca-bundle", f->ca_bundle, "PEM certificate authorities to trust");
    cmd->add_option("--redact", f->redact,
                    "Pattern redacted from everything sent to the endpoint (repeatable)");
    cmd->add_flag("--no-json-schema", f->no_json_schema, "Do not send response_format");
  }
  cmd->add_option("--rerank-window", f->window,
                  "--rerank llm: passages per prompt (RankGPT window)")
      ->capture_default_str();
  cmd->add_option("--rerank-step", f->step, "--rerank llm: how far each window moves up")
      ->capture_default_str();
  cmd->add_option("--rerank-passage-tokens", f->passage_tokens,
                  "--rerank llm: words of each passage shown")
      ->capture_default_str();
  cmd->add_option("--rerank-deadline-ms", f->deadline_ms,
                  "--rerank llm: time for one rerank; past it the first-stage order is kept "
                  "(0 = none)")
      ->capture_default_str();
  cmd->add_option("--rerank-program", f->program,
                  "--rerank llm: a DSPy saved program with a question, passages -> ranking "
                  "predictor");
}

size_t RerankDepth(const std::string& kind, size_t depth, const CLI::Option* depth_opt) {
  if (depth_opt && depth_opt->count() > 0) return depth;
  if (kind == "llm") return LlmRerankOptions().depth;
  return depth;
}

Result<std::unique_ptr<llm::LlmClient>> LlmRerankClient(const LlmRerankFlags& f) {
  if (f.endpoint.empty()) {
    return Status::InvalidArgument(
        "--rerank llm needs --endpoint (and --model, --api-key-env), or [llm] endpoint in "
        "foldback.toml");
  }
  llm::LlmClientOptions co;
  auto c = host::EndpointFromFlags(f.endpoint, f.provider, f.model, f.api_key_env, f.api_version,
                                   !f.no_json_schema);
  if (!c.ok()) return c.status().WithContext("--endpoint");
  co.chat = std::move(*c);
  co.redact_patterns = f.redact;  // the client's safety net; the session redacts first
  if (!f.ca_bundle.empty() && !host::PathExists(f.ca_bundle)) {
    return Status::InvalidArgument("--ca-bundle: no such file: " + f.ca_bundle);
  }
  co.ca_bundle = f.ca_bundle;
  return llm::LlmClient::Create(co);
}

Result<std::unique_ptr<llm::LlmClientReranker>> MakeLlmReranker(
    const LlmRerankFlags& f, size_t depth, const std::vector<std::string>& redact,
    llm::LlmClient* client) {
  LlmRerankOptions o;
  o.depth = depth;
  o.window_size = f.window;
  o.step = f.step;
  o.passage_token_budget = f.passage_tokens;
  o.deadline_ms = f.deadline_ms;
  if (!redact.empty()) {
    auto red = llm::internal::CompileRedactions(redact);
    if (!red.ok()) return red.status().WithContext("--redact");
    o.redactor = std::shared_ptr<const Redactor>(std::move(*red));
  }
  Status valid = ValidateLlmRerankOptions(o);
  if (!valid.ok()) return valid.WithContext("--rerank llm");
  Predictor predictor = RankPassagesPredictor();
  if (!f.program.empty()) {
    auto text = host::ReadFile(f.program);
    if (!text.ok()) return text.status();
    auto preds = LoadDspyPredictors(*text);
    if (!preds.ok()) return preds.status().WithContext(f.program);
    auto p = PickRerankPredictor(*preds);
    if (!p.ok()) return p.status().WithContext(f.program);
    predictor = std::move(*p);
  }
  return std::make_unique<llm::LlmClientReranker>(client, std::move(predictor), std::move(o));
}

}  // namespace foldback::cli
