// --rerank none|learned|llm and --rerank-depth N, shared by `search`, `ask`
// and `eval`; the LLM reranker's flags (window, step, deadline, program) and,
// for `search` and `eval`, its endpoint flags (`ask` has its own).
#ifndef FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_
#define FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "foldback/index.h"
#include "foldback/llm_rerank.h"
#include "foldback/rerank.h"
#include "llm/llm_client.h"
#include "llm/llm_reranker.h"

namespace foldback::cli {

// Returns the --rerank-depth option (to know whether it was given).
CLI::Option* AddRerankOptions(CLI::App* cmd, std::string* kind, size_t* depth);

// The reranker the flags ask for: null for none and for llm (MakeLlmReranker
// builds that one); for learned, one trained from the live records of
// DIR/feedback.log that search.allowed_matters (the user's walls) let
// through — records touching another matter are refused before training —
// within the lists this command's first stage gives (host::
// LearnedRerankerOfDir): `search`'s mode and options, fold-back with
// `feedback`, the first `depth` hits. InvalidArgument for an unknown kind
// or a bad depth.
Result<std::unique_ptr<Reranker>> LoadReranker(const std::string& kind, size_t depth,
                                               const std::string& index_dir, const Index& index,
                                               const SearchOptions& search, bool feedback);

// ---- --rerank llm
struct LlmRerankFlags {
  // The endpoint (search, eval; ask's own flags otherwise).
  std::string endpoint, provider = "openai", model, api_key_env, api_version, ca_bundle;
  std::vector<std::string> redact;
  bool no_json_schema = false;
  // The reranker.
  size_t window = LlmRerankOptions().window_size;
  size_t step = LlmRerankOptions().step;
  uint32_t passage_tokens = LlmRerankOptions().passage_token_budget;
  double deadline_ms = 0;
  std::string program;  // a DSPy program with a question, passages -> ranking predictor
  CLI::Option* depth_opt = nullptr;
};

// --rerank-window, --rerank-step, --rerank-passage-tokens,
// --rerank-deadline-ms, --rerank-program; with `endpoint_flags`, also
// --endpoint, --provider, --model, --api-key-env, --api-version,
// --ca-bundle, --redact, --no-json-schema (foldback.toml's [llm] and
// [redact] fill them as for ask).
void AddLlmRerankOptions(CLI::App* cmd, LlmRerankFlags* flags, bool endpoint_flags);

// --rerank-depth as given, else the kind's default (llm: 20, learned: 50).
size_t RerankDepth(const std::string& kind, size_t depth, const CLI::Option* depth_opt);

// The client of the endpoint flags (search, eval). InvalidArgument without
// --endpoint ("--rerank llm needs --endpoint ...").
Result<std::unique_ptr<llm::LlmClient>> LlmRerankClient(const LlmRerankFlags& flags);

// The LLM reranker over `client` (which must outlive it); `redact`: the
// patterns the session applies to every message (ask passes its own).
Result<std::unique_ptr<llm::LlmClientReranker>> MakeLlmReranker(
    const LlmRerankFlags& flags, size_t depth, const std::vector<std::string>& redact,
    llm::LlmClient* client);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_
