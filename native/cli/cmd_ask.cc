// foldback ask --index DIR [--endpoint URL --model NAME --api-key-env VAR] ... QUESTION
//
// Multi-hop retrieval with query rewriting: the ask session (core) emits
// needs, the native host (native/llm) answers them over HTTP, every hop's
// query is shown as it arrives, and the trace is saved under
// <index dir>/traces/<trace id>.json.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/config_flags.h"
#include "cli/rerank_flags.h"
#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/program.h"
#include "host/ask_run.h"
#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/log.h"
#include "host/otlp_exporter.h"
#include "host/traces.h"
#include "llm/llm_client.h"

namespace foldback::cli {
namespace {

using json = nlohmann::ordered_json;  // keys in the documented order

// The longest a question waits, once answered, for its spans to reach the
// collector (OTEL_EXPORTER_OTLP_ENDPOINT); a collector that is down costs
// one refused connection, not this.
constexpr double kTelemetryFlushMs = 3000;

struct AskArgs {
  std::string index_dir;
  std::string endpoint, model, api_key_env, provider = "openai", api_version;
  std::string embed_endpoint, embed_model, embed_provider, embed_api_key_env;
  std::string program_path;
  uint32_t hops = 2, depth = 5, top_k = 5, variants = 1;
  std::string rewrite = "llm";
  std::string mode = "hybrid";
  std::string syntax = "auto";
  std::vector<std::string> filters;
  bool answer = false;
  bool feedback = false;
  std::string allowed_matters;
  bool restrict_matters = false;
  double deadline_ms = 0;
  std::vector<std::string> redact;
  std::string ca_bundle;
  bool no_json_schema = false;
  bool json = false;
  std::string rerank = "none";
  size_t rerank_depth = RerankOptions().depth;
  LlmRerankFlags llm_rerank;  // --rerank llm uses ask's endpoint and --redact
  RetryFlags retry;
  std::string question;
};

std::string Quote(const std::string& s) { return "\"" + OneLine(s, 200) + "\""; }

void PrintProgramReport(const LoadedProgram& p, FILE* out) {
  fmt::print(out, FMT_STRING("program: DSPy {}\n"),
             p.dspy_version.empty() ? "(version not saved)" : p.dspy_version.c_str());
  for (const auto& u : p.used) fmt::print(out, FMT_STRING("  used:    {}\n"), u);
  for (const auto& i : p.ignored) fmt::print(out, FMT_STRING("  ignored: {}\n"), i);
  for (const auto& n : p.notes) fmt::print(out, FMT_STRING("  note:    {}\n"), n);
}

int Run(const AskArgs& a) {
  // ---- options
  AskOptions o;
  o.hops = a.hops;
  o.depth = a.depth;
  o.top_k = a.top_k;
  o.variants = a.variants;
  o.answer = a.answer;
  o.deadline_ms = a.deadline_ms;
  if (!ParseRewriteMode(a.rewrite, &o.rewrite)) {
    return Fail(Status::InvalidArgument("--rewrite must be llm, rm3 or none"));
  }
  if (!ParseQuerySyntax(a.syntax, &o.search.syntax)) {
    return Fail(Status::InvalidArgument("--syntax must be auto, plain or connectors"));
  }
  if (!ParseSearchMode(a.mode, &o.search.mode)) {
    return Fail(Status::InvalidArgument("--mode must be bm25, dense or hybrid"));
  }
  for (const auto& f : a.filters) {
    auto parsed = Filter::Parse(f);
    if (!parsed.ok()) return Fail(parsed.status());
    o.search.filters.push_back(*parsed);
  }
  if (a.restrict_matters) o.search.allowed_matters = SplitCommaSet(a.allowed_matters);
  if (a.deadline_ms < 0) return Fail(Status::InvalidArgument("--deadline-ms must be >= 0"));

  std::vector<std::string> host_fallbacks = host::EndpointFallbacks(!a.endpoint.empty(), &o);
  o.trace_id = host::NewUuidV7();  // before the first line about the question
  if (!host_fallbacks.empty() && o.rewrite == RewriteMode::kRm3 && a.rewrite == "llm") {
    host::Log(host::LogLevel::kInfo, "no --endpoint given: rewriting with RM3 (offline)",
              {"", o.trace_id, {}});
  }

  // ---- endpoints (before the index: a bad flag should not wait for a load)
  llm::LlmClientOptions co;
  if (!a.endpoint.empty()) {
    auto c = host::EndpointFromFlags(a.endpoint, a.provider, a.model, a.api_key_env, a.api_version,
                                     !a.no_json_schema);
    if (!c.ok()) return Fail(c.status().WithContext("--endpoint"));
    co.chat = std::move(*c);
  }
  if (!a.embed_endpoint.empty()) {
    auto c = host::EndpointFromFlags(
        a.embed_endpoint, a.embed_provider.empty() ? a.provider : a.embed_provider, a.embed_model,
        a.embed_api_key_env.empty() ? a.api_key_env : a.embed_api_key_env, a.api_version, true);
    if (!c.ok()) return Fail(c.status().WithContext("--embed-endpoint"));
    co.embed = std::move(*c);
  }
  // --redact: applied by the session to every need (the trace says which
  // pattern fired how often) and again by the client (a safety net for
  // anything a host adds).
  co.redact_patterns = a.redact;
  if (!a.redact.empty()) {
    auto redactor = llm::internal::CompileRedactions(a.redact);
    if (!redactor.ok()) return Fail(redactor.status().WithContext("--redact"));
    o.redactor = std::move(redactor.value());
  }
  if (!a.ca_bundle.empty() && !host::PathExists(a.ca_bundle)) {
    return Fail(Status::InvalidArgument("--ca-bundle: no such file: " + a.ca_bundle));
  }
  co.ca_bundle = a.ca_bundle;
  if (Status r = ApplyRetryFlags(a.retry, &co); !r.ok()) return Fail(r);
  auto client = llm::LlmClient::Create(co);
  if (!client.ok()) return Fail(client.status());

  // ---- program
  std::unique_ptr<LoadedProgram> loaded;
  if (!a.program_path.empty()) {
    auto text = host::ReadFile(a.program_path);
    if (!text.ok()) return Fail(text.status());
    auto p = LoadDspyProgram(*text);
    if (!p.ok()) return Fail(p.status().WithContext(a.program_path));
    loaded = std::make_unique<LoadedProgram>(std::move(*p));
    if (a.json && host::GetLogFormat() == host::LogFormat::kJson) {
      auto joined = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v) out += (out.empty() ? "" : "; ") + x;
        return out;
      };
      host::Log(host::LogLevel::kInfo, "program loaded",
                {"ask",
                 o.trace_id,
                 {{"dspy_version", loaded->dspy_version},
                  {"used", joined(loaded->used)},
                  {"ignored", joined(loaded->ignored)},
                  {"notes", joined(loaded->notes)}}});
    } else {
      PrintProgramReport(*loaded, a.json ? stderr : stdout);
    }
  }

  // ---- index and session
  auto index = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!index.ok()) return Fail(index.status());
  // What lawyers' feedback taught, learned only from what this user may see.
  FoldBackCache fold_back_cache;
  std::shared_ptr<const FoldBack> fb;
  if (a.feedback) {
    auto built = host::FoldBackOfDir(&fold_back_cache, **index, 0, a.index_dir,
                                     o.search.allowed_matters);
    if (!built.ok()) return Fail(built.status());
    fb = *built;
  }
  // --rerank reorders the passages the session found (before an answer is
  // written from them it would have to run inside the session: not yet).
  if (a.rerank != "none" && a.answer) {
    return Fail(Status::InvalidArgument(
        "--rerank with --answer is not available yet (the answer cites the session's passage "
        "order); rerank without --answer"));
  }
  const size_t rerank_depth = RerankDepth(a.rerank, a.rerank_depth, a.llm_rerank.depth_opt);
  // Learned: trained within the lists the session's search gives a new
  // question (its mode, scope and walls; fold-back with --feedback).
  auto reranker = LoadReranker(a.rerank, rerank_depth, a.index_dir, **index, o.search, a.feedback);
  if (!reranker.ok()) return Fail(reranker.status());
  if (a.rerank == "llm") {
    // The passages the session found (behind the walls), ordered by the
    // same endpoint that rewrote the queries.
    if (a.endpoint.empty()) {
      return Fail(Status::InvalidArgument("--rerank llm needs --endpoint (and --model)"));
    }
    auto made = MakeLlmReranker(a.llm_rerank, rerank_depth, a.redact, client->get());
    if (!made.ok()) return Fail(made.status());
    *reranker = std::move(*made);
  }

  if (!a.json) {
    fmt::print(FMT_STRING("question: {}\n"), Quote(a.question));
    if (!(*client)->chat_url().empty())
      fmt::print(FMT_STRING("endpoint: {}\n"), (*client)->chat_url());
  }
  auto on_event = [&](const TraceEvent& e) {
    if (e.kind == TraceEvent::Kind::kFallback || e.kind == TraceEvent::Kind::kError) {
      // On stderr with --json (stdout holds the JSON); as a JSON log line too.
      const bool fallback = e.kind == TraceEvent::Kind::kFallback;
      host::LogContext lc{fallback ? "fallback" : "", o.trace_id, {{"hop", fmt::to_string(e.hop)}}};
      auto level = fallback ? host::LogLevel::kWarning : host::LogLevel::kError;
      if (a.json) {
        host::Log(level, TerminalSafe(e.message, false), lc);
      } else {
        host::LogEvent(level, TerminalSafe(e.message, false), lc);
      }
    }
    if (a.json) return;
    switch (e.kind) {
      case TraceEvent::Kind::kHopStarted:
        fmt::print(FMT_STRING("{}\n"), TerminalSafe(e.message, false));
        break;
      case TraceEvent::Kind::kQuery:
        fmt::print(FMT_STRING("  query:   {}\n"), Quote(e.message));
        break;
      case TraceEvent::Kind::kRetrieved: {
        // The hop's top passages, as soon as the hop completes.
        fmt::print(FMT_STRING("  found:   {}\n"), TerminalSafe(e.message, false));
        size_t shown = 0;
        for (const TraceHit& hit : e.hits) {
          if (shown++ == 3) break;
          const Chunk* c = (*index)->FindChunk(hit.chunk_id);
          fmt::print(FMT_STRING("    {:<36} {:.4f}  {}\n"), OneLine(hit.doc_id, 36), hit.score,
                     c ? OneLine(std::string(c->text), 70).c_str() : "");
        }
        break;
      }
      // Messages can quote a server or a model: printed terminal-safe.
      case TraceEvent::Kind::kFallback:
        fmt::print(FMT_STRING("  fallback: {}\n"), TerminalSafe(e.message, false));
        break;
      case TraceEvent::Kind::kError:
        fmt::print(FMT_STRING("  error:   {}\n"), TerminalSafe(e.message, false));
        break;
      case TraceEvent::Kind::kAnswer:
        fmt::print(FMT_STRING("{}\n"), TerminalSafe(e.message, false));
        break;
      case TraceEvent::Kind::kDone: break;
    }
    std::fflush(stdout);
  };
  auto run = host::AskQuestion(**index, a.index_dir, a.question, o, loaded.get(), fb.get(),
                               reranker->get(), host_fallbacks, **client, on_event);
  if (!run.ok()) return Fail(run.status());
  if (*reranker && !run->rerank_note.empty()) {
    const bool failed = run->rerank_note.rfind("failed", 0) == 0;
    host::Log(failed ? host::LogLevel::kWarning : host::LogLevel::kInfo,
              "not applied (" + TerminalSafe(run->rerank_note, false) + ")",
              {"rerank", o.trace_id, {}});
  }
  const AskResult& result = run->result;
  const Status& saved = run->trace_saved;
  double seconds = run->seconds;

  // ---- telemetry: spans to the collector OTEL_* names (never fails the question)
  telemetry::SpanOptions spans;
  spans.start_unix_ms = run->start_unix_ms;
  if (!a.endpoint.empty()) {
    spans.provider = a.provider;
    spans.request_model = a.model;
    telemetry::ServerOfUrl(a.endpoint, &spans.server_address, &spans.server_port);
  }
  Status exported = host::ExportQuestionSpans(result.trace, spans, kTelemetryFlushMs);
  const host::LogContext about{"", o.trace_id, {}};
  if (!exported.ok()) {
    host::Log(host::LogLevel::kWarning, TerminalSafe(exported.message(), false), about);
  }
  if (!saved.ok()) host::Log(host::LogLevel::kWarning, "trace not saved: " + saved.ToString(), about);
  host::LogEvent(host::LogLevel::kInfo, "question answered",
                 {"ask",
                  o.trace_id,
                  {{"hops", fmt::to_string(result.trace.hops.size())},
                   {"passages", fmt::to_string(result.passages.size())},
                   {"fallbacks", fmt::to_string(result.trace.fallbacks.size())},
                   {"answered", result.answer.empty() ? "false" : "true"},
                   {"ms", fmt::to_string(static_cast<int64_t>(seconds * 1000))}}});

  if (a.json) {
    fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(host::AskRunJson(*run, a.answer, 2)));
    return 0;
  }

  for (const TraceHop& h : result.trace.hops) {
    if (!h.note.empty())
      fmt::print(FMT_STRING("note (hop {}): {}\n"), h.hop, TerminalSafe(h.note, false));
  }
  if (!result.trace.feedback_demos.empty()) {
    fmt::print(FMT_STRING("feedback: {} earlier rewrites given to the query writer as examples\n"),
               result.trace.feedback_demos.size());
  }
  for (const auto& f : result.trace.fallbacks)
    fmt::print(FMT_STRING("fallback: {}\n"), TerminalSafe(f, false));
  for (const auto& r : result.trace.redactions)
    fmt::print(FMT_STRING("redacted: {}\n"), TerminalSafe(r, false));
  if (!result.answer.empty()) {
    // The model's text: shown as text, never as terminal control sequences.
    fmt::print(FMT_STRING("\nanswer:\n{}\n"), TerminalSafe(result.answer));
    for (const Citation& c : result.citations) {
      fmt::print(FMT_STRING("  [{}] {} ({})\n"), c.marker, OneLine(c.doc_id, 200),
                 OneLine(c.chunk_id, 200));
    }
  }
  fmt::print(FMT_STRING("\n{} passages ({:.1f} s):\n"), result.passages.size(), seconds);
  PrintHits(result.passages);
  if (saved.ok()) fmt::print(FMT_STRING("trace: {}\n"), host::TracePath(a.index_dir, o.trace_id));
  return 0;
}

}  // namespace

void RegisterAsk(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<AskArgs>();
  CLI::App* cmd = app.add_subcommand(
      "ask", "Multi-hop search with LLM query rewriting (RM3 offline); every hop's query shown");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  cmd->add_option("--endpoint", a->endpoint,
                  "Chat endpoint base URL, e.g. https://api.openai.com/v1 (none: RM3)");
  cmd->add_option("--provider", a->provider, "openai, azure, ollama or vllm")->capture_default_str();
  cmd->add_option("--model", a->model, "Model name (Azure: deployment name)");
  cmd->add_option("--api-key-env", a->api_key_env,
                  "Environment variable holding the API key (never written anywhere)");
  cmd->add_option("--api-version", a->api_version, "Azure api-version (default 2024-10-21)");
  cmd->add_option("--embed-endpoint", a->embed_endpoint,
                  "Embeddings endpoint base URL (indexes with remote-model vectors)");
  cmd->add_option("--embed-model", a->embed_model, "Embedding model (Azure: deployment)");
  cmd->add_option("--embed-provider", a->embed_provider, "openai, azure, ollama, vllm or tei (default: --provider)");
  cmd->add_option("--embed-api-key-env", a->embed_api_key_env, "Default: --api-key-env");
  cmd->add_option("--program", a->program_path, "A DSPy program saved with program.save(\"x.json\")");
  cmd->add_option("--hops", a->hops, "Hops (1..16)")->capture_default_str();
  cmd->add_option("--depth", a->depth, "Passages retrieved per hop")->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "Passages in the result")->capture_default_str();
  cmd->add_option("--variants", a->variants, "LLM query variants per hop, in parallel")->capture_default_str();
  cmd->add_option("--rewrite", a->rewrite, "llm, rm3 or none")->capture_default_str();
  cmd->add_option("--mode", a->mode, "bm25, dense or hybrid")->capture_default_str();
  cmd->add_option("--syntax", a->syntax,
                  "How hop queries are read: auto (terms and connectors when used, else plain), "
                  "plain, or connectors (strict)")
      ->capture_default_str();
  cmd->add_option("--filter", a->filters, "FIELD=VALUE, FIELD>=VALUE or FIELD<=VALUE (repeatable)");
  cmd->add_flag("--answer", a->answer, "Also write an answer with [n] citations");
  cmd->add_flag("--feedback", a->feedback,
                "Apply what lawyers' feedback taught (rewrites as demos, relevance feedback, adapter)");
  auto* am = cmd->add_option("--allowed-matters", a->allowed_matters,
                             "Ethical walls: comma-separated matters the user may see");
  cmd->add_option("--deadline-ms", a->deadline_ms,
                  "Time for the whole question; later hops use RM3 (0 = none)")
      ->capture_default_str();
  cmd->add_option("--redact", a->redact,
                  "Pattern redacted from everything sent to endpoints (repeatable; the ECMAScript subset of "
                  "foldback/redact.h, matched in linear time)");
  cmd->add_option("--ca-bundle", a->ca_bundle, "PEM certificate authorities to trust (default: the system's)");
  cmd->add_flag("--no-json-schema", a->no_json_schema, "Do not send response_format");
  cmd->add_flag("--json", a->json, "Print the result as JSON");
  a->llm_rerank.depth_opt = AddRerankOptions(cmd, &a->rerank, &a->rerank_depth);
  AddLlmRerankOptions(cmd, &a->llm_rerank, /*endpoint_flags=*/false);
  AddRetryOptions(cmd, &a->retry);
  cmd->add_option("question", a->question, "The question")->required();
  cmd->callback([a, exit_code, am] {
    a->restrict_matters = am->count() > 0;
    *exit_code = Run(*a);
  });
}

}  // namespace foldback::cli
