// LLM-written training questions for `foldback train`: read from a pairs
// file (`foldback jobs results` of a synthesize job), straight from a job
// store, or generated inline for a small corpus through the core's
// QuestionSession (foldback/questions.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/train_run.h"
#include "foldback/questions.h"
#include "host/ask_run.h"
#include "host/files.h"
#include "jobs/job_spec.h"
#include "jobs/job_store.h"
#include "llm/llm_client.h"

namespace foldback::cli {

void AddQuestionOptions(CLI::App* cmd, QuestionArgs* a) {
  cmd->add_option("--pairs", a->pairs_files,
                  "JSONL pairs {query, chunk_id} (e.g. `foldback jobs results` of a synthesize "
                  "job) used as the llm source (repeatable)");
  cmd->add_option("--synthetic-from-job", a->from_job,
                  "STORE JOB: the questions of a finished synthesize job, read from its store")
      ->expected(2);
  cmd->add_option("--generate-questions", a->generate,
                  "Inline, for a small corpus: sample N passages and have --endpoint write "
                  "questions for them (no job store)");
  cmd->add_option("--questions-per-passage", a->per_passage, "With --generate-questions")
      ->capture_default_str();
  cmd->add_option("--min-words", a->min_words, "With --generate-questions: skip shorter passages")
      ->capture_default_str();
  cmd->add_option("--question-program", a->program,
                  "With --generate-questions: a DSPy saved program with a passage -> questions "
                  "predictor");
  cmd->add_option("--matter", a->matter, "With --generate-questions: only this matter's passages");
  auto* am = cmd->add_option("--allowed-matters", a->allowed_matters,
                             "With --generate-questions: ethical walls (comma-separated)");
  a->allowed_opt = am;
  cmd->add_option("--endpoint", a->endpoint, "With --generate-questions: chat endpoint base URL");
  cmd->add_option("--provider", a->provider, "openai, azure, ollama or vllm")
      ->capture_default_str();
  cmd->add_option("--model", a->model, "Model name (Azure: deployment)");
  cmd->add_option("--api-key-env", a->api_key_env, "Environment variable holding the API key");
  cmd->add_option("--api-version", a->api_version, "Azure api-version");
  cmd->add_option("--ca-bundle", a->ca_bundle, "PEM certificate authorities to trust");
  cmd->add_option("--redact", a->redact, "Pattern redacted from everything sent (repeatable)");
  cmd->add_option("--deadline-s", a->deadline_s,
                  "With --generate-questions: give up on what has not come back after this "
                  "(0: none)")
      ->capture_default_str();
  cmd->add_option("--concurrency", a->concurrency, "With --generate-questions: requests in flight")
      ->capture_default_str();
  cmd->add_option("--pairs-out", a->pairs_out,
                  "With --generate-questions: also write the generated pairs here (JSONL)");
}

namespace {

Status FromFiles(const QuestionArgs& a, std::vector<QuestionPair>* out) {
  for (const std::string& f : a.pairs_files) {
    auto text = host::ReadFile(f);
    if (!text.ok()) return text.status();
    auto pairs = ParseQuestionPairs(*text);
    if (!pairs.ok()) return pairs.status().WithContext(f);
    out->insert(out->end(), pairs->begin(), pairs->end());
  }
  return Status::OK();
}

Status FromJob(const QuestionArgs& a, std::vector<QuestionPair>* out) {
  if (a.from_job.size() != 2) return Status::OK();
  auto store = jobs::OpenJobStore(a.from_job[0]);
  if (!store.ok()) return store.status().WithContext("--synthetic-from-job");
  auto job = (*store)->GetJob(a.from_job[1]);
  if (!job.ok()) return job.status().WithContext("--synthetic-from-job");
  if (job->kind != "synthesize")
    return Status::InvalidArgument("--synthetic-from-job: job " + job->id + " is a " + job->kind +
                                   " job, not synthesize");
  size_t before = out->size();
  Status s = (*store)->ForEachItem(job->id, [&](const jobs::StoredResult& r) {
    if (r.state != jobs::ItemState::kDone) return Status::OK();
    auto line = nlohmann::json::parse(r.result, nullptr, false);
    if (line.is_discarded() || !line.contains("questions") || !line["questions"].is_array())
      return Status::Corruption("stored result of " + r.item_id + " is not a question set");
    for (const auto& q : line["questions"]) {
      if (q.is_string())
        out->push_back({q.get<std::string>(), r.item_id, line.value("doc_id", "")});
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  if (out->size() == before)
    return Status::FailedPrecondition("--synthetic-from-job: job " + job->id +
                                      " has no questions yet (run `foldback jobs work`)");
  return Status::OK();
}

Status Inline(const Index& index, const QuestionArgs& a, bool quiet, std::vector<QuestionPair>* out,
              nlohmann::json* report) {
  if (a.endpoint.empty())
    return Status::InvalidArgument("--generate-questions needs --endpoint (and --model)");
  auto t0 = std::chrono::steady_clock::now();
  jobs::Selection sel;
  sel.matter = a.matter;
  if (a.allowed_opt && a.allowed_opt->count() > 0)
    sel.allowed_matters = SplitCommaSet(a.allowed_matters);
  PassageSampleOptions so;
  so.count = a.generate;
  so.seed = a.seed;
  so.min_words = a.min_words;
  auto sampled = SampleQuestionPassages(index, sel, so);
  if (!sampled.ok()) return sampled.status().WithContext("--generate-questions");
  std::vector<QuestionPassage> passages = std::move(*sampled);
  Predictor predictor = GenerateQuestionsPredictor();
  if (!a.program.empty()) {
    auto text = host::ReadFile(a.program);
    if (!text.ok()) return text.status();
    auto preds = LoadDspyPredictors(*text);
    if (!preds.ok()) return preds.status().WithContext(a.program);
    auto p = PickQuestionPredictor(*preds);
    if (!p.ok()) return p.status().WithContext(a.program);
    predictor = std::move(*p);
  }
  QuestionOptions qo;
  qo.questions_per_passage = a.per_passage;
  qo.deadline_ms = a.deadline_s * 1000.0;
  qo.max_in_flight = std::max<uint32_t>(1, a.concurrency);
  llm::LlmClientOptions co;
  auto c =
      host::EndpointFromFlags(a.endpoint, a.provider, a.model, a.api_key_env, a.api_version, true);
  if (!c.ok()) return c.status().WithContext("--endpoint");
  co.chat = std::move(*c);
  co.redact_patterns = a.redact;
  co.ca_bundle = a.ca_bundle;
  co.max_in_flight = qo.max_in_flight;
  if (!a.redact.empty()) {
    auto red = llm::internal::CompileRedactions(a.redact);
    if (!red.ok()) return red.status().WithContext("--redact");
    qo.redactor = std::shared_ptr<const Redactor>(std::move(*red));
  }
  auto client = llm::LlmClient::Create(co);
  if (!client.ok()) return client.status();
  llm::SteadyClock clock;
  const std::string program_hash = jobs::PredictorHash(predictor);
  auto session = QuestionSession::Start(std::move(passages), predictor, qo, clock.NowMs());
  if (!session.ok()) return session.status();
  QuestionSession& s = **session;
  size_t answered = 0, total = s.results().size();
  while (!s.done()) {
    for (const Need& n : s.TakeNeeds()) FB_RETURN_IF_ERROR((*client)->Start(n));
    if ((*client)->pending() == 0) {
      // Nothing in flight and nothing to send: the session is stuck (a bug).
      return Status::Internal("question session asks for nothing and is not done");
    }
    for (llm::Completion& done : (*client)->Wait(50)) {
      FB_RETURN_IF_ERROR(s.Provide(done.need_id, std::move(done.result), clock.NowMs()));
      ++answered;
    }
    s.Tick(clock.NowMs());
    if (!quiet && isatty(2)) {
      fmt::print(stderr, FMT_STRING("\rquestions: {} replies for {} passages"), answered, total);
    }
  }
  (*client)->CancelAll();
  if (!quiet && isatty(2)) fmt::print(stderr, FMT_STRING("\n"));
  QuestionHarvest h = HarvestQuestions(s.results(), program_hash);
  const size_t questions = h.pairs.size();
  out->insert(out->end(), h.pairs.begin(), h.pairs.end());
  if (!a.pairs_out.empty()) FB_RETURN_IF_ERROR(host::WriteFileAtomic(a.pairs_out, h.jsonl));
  if (!quiet) {
    fmt::print(stderr,
               FMT_STRING("generated {} questions for {} of {} passages ({} dropped, {} passages "
                          "failed) in {:.1f}s\n"),
               questions, h.answered, total, h.dropped, h.failed, SecondsSince(t0));
    for (const std::string& e : h.errors)
      fmt::print(stderr, FMT_STRING("  failed: {}\n"), TerminalSafe(e, false));
    for (const std::string& r : s.redactions())
      fmt::print(stderr, FMT_STRING("  redacted: {}\n"), TerminalSafe(r, false));
  }
  if (report) {
    *report = {{"passages", total},
               {"answered", h.answered},
               {"failed", h.failed},
               {"questions", questions},
               {"dropped", h.dropped},
               {"model", h.model},
               {"program_hash", program_hash},
               {"errors", h.errors},
               {"redactions", s.redactions().size()},
               {"seconds", SecondsSince(t0)}};
  }
  if (questions == 0) {
    return Status::FailedPrecondition(
        "--generate-questions: the endpoint gave no usable question" +
        (h.errors.empty() ? std::string() : " (" + h.errors[0] + ")"));
  }
  return Status::OK();
}

}  // namespace

bool WantsQuestions(const QuestionArgs& a) {
  return !a.pairs_files.empty() || !a.from_job.empty() || a.generate > 0;
}

Status CollectQuestionPairs(const Index& index, const QuestionArgs& a, bool quiet,
                            std::vector<QuestionPair>* out, nlohmann::json* report) {
  FB_RETURN_IF_ERROR(FromFiles(a, out));
  FB_RETURN_IF_ERROR(FromJob(a, out));
  nlohmann::json gen;
  if (a.generate > 0) FB_RETURN_IF_ERROR(Inline(index, a, quiet, out, &gen));
  if (report) {
    *report = {{"pairs_read", out->size()}};
    if (a.generate > 0) (*report)["generated"] = gen;
  }
  return Status::OK();
}

}  // namespace foldback::cli
