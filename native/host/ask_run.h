// One question asked end to end, shared by `foldback ask` and
// `foldback serve` (POST /v1/ask): the ask session started behind the
// caller's walls, its needs answered over HTTP (llm::RunAsk), the passages
// optionally reranked, the host's fallbacks recorded and the trace saved in
// <index dir>/traces/<trace id>.json (which `feedback` reads back). Also
// the JSON both print: the same document from the CLI's --json and the API.
#ifndef FOLDBACK_NATIVE_HOST_ASK_RUN_H_
#define FOLDBACK_NATIVE_HOST_ASK_RUN_H_

#include <string>
#include <vector>

#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/program.h"
#include "foldback/rerank.h"
#include "foldback/search.h"
#include "foldback/status.h"
#include "llm/llm_client.h"

namespace foldback::host {

// What has no LLM endpoint to use: rewriting falls back to RM3 and no
// answer is written. Changes options->rewrite and returns the fallbacks to
// record in the trace (human-readable, as the CLI prints them).
std::vector<std::string> EndpointFallbacks(bool has_chat_endpoint, AskOptions* options);

// An endpoint from `foldback ask`'s flags (and `serve`'s): `provider` one of
// openai, azure, ollama, vllm, tei; the key read from the environment
// variable `key_env` ("" = no key). InvalidArgument naming a bad provider;
// the key's absence as llm::ApiKey::FromEnv says.
Result<llm::EndpointConfig> EndpointFromFlags(const std::string& url, const std::string& provider,
                                              const std::string& model, const std::string& key_env,
                                              const std::string& api_version, bool structured);

struct AskRun {
  AskResult result;         // passages (reranked when a reranker applied), answer, trace
  std::string trace_id;     // options.trace_id, or the UUIDv7 made for it
  Status trace_saved;       // non-OK: the trace could not be written (the answer stands)
  std::string rerank_note;  // why a given reranker did not apply ("" when it did or none)
  double seconds = 0;
  double start_unix_ms = 0;  // wall clock when the question started (telemetry spans)
};

// Asks `question` of `index` (whose folder is `index_dir`): starts the
// session with `options` (an empty options.trace_id gets a new UUIDv7),
// drives it with `client` (RunAsk: `on_event` sees every trace event as it
// happens), reranks the passages with `reranker` when given, puts
// `host_fallbacks` first in the trace's fallbacks and saves the trace.
// `program` and `fold_back` may be null. The walls are
// options.search.allowed_matters, applied inside every search.
Result<AskRun> AskQuestion(const Index& index, const std::string& index_dir,
                           const std::string& question, AskOptions options,
                           const LoadedProgram* program, const FoldBack* fold_back,
                           const Reranker* reranker, const std::vector<std::string>& host_fallbacks,
                           llm::LlmClient& client, const llm::TraceEventFn& on_event);

// The result as JSON text (indent < 0: compact): {trace_id, hops[{query,
// results[{chunk_id, doc_id, score}]}], results[{chunk_id, doc_id, score,
// text}], answer and citations (when `with_answer`), fallbacks,
// redactions (when any)}. Invalid UTF-8 is replaced.
std::string AskRunJson(const AskRun& run, bool with_answer, int indent);

// Search hits as a JSON array text (indent < 0: compact): [{chunk_id,
// doc_id, score, bm25, dense, title, section, matter, text, duplicates}].
std::string SearchHitsJson(const std::vector<SearchHit>& hits, int indent);

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_ASK_RUN_H_
