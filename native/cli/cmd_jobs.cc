// foldback jobs submit|work|status|results|cancel|vectors — durable batch
// work over an index (native/jobs, decisions in foldback/jobs.h).
//
//   foldback jobs submit --kind map --index DIR [--matter M] [--filter F]
//       (--instructions TEXT | --program P.json) --endpoint URL --model NAME
//       --api-key-env VAR [--store S] [--json]          prints the job id
//   foldback jobs submit --kind embed --index DIR ... --endpoint URL --model NAME
//   foldback jobs submit --kind synthesize --index DIR [--matter M] [--filter F] --sample N
//       --questions-per-passage K [--program P.json | --instructions TEXT] --endpoint URL ...
//       (LLM-written questions for sampled passages: foldback/questions.h)
//   foldback jobs work --store S [--concurrency N] [--until-idle]
//   foldback jobs status --store S [JOB] [--json]
//   foldback jobs results --store S JOB --out FILE     (map: JSONL; embed: JSONL with vectors;
//                                                      synthesize: pairs for `train --pairs`)
//   foldback jobs cancel --store S JOB
//   foldback jobs vectors --store S JOB --index DIR     (embed: the index's owner builds HNSW)
//   foldback jobs submit --kind finetune --index DIR --format sft|openai-preference
//       --endpoint URL --model BASE --api-key-env VAR [--allowed-matters M] [--activate]
//       | --format F --command 'python train.py {file} {out}'
//       (the export is made now and shown; the job waits for approval)
//   foldback jobs approve --store S JOB                (shows the export again, then lets
//                                                      workers hand it over)
//   foldback jobs activate --store S JOB [--index DIR] (the fine-tuned model becomes
//                                                      [llm] model of DIR/foldback.toml)
//
// --store is sqlite:PATH (or a path), default DIR/jobs.sqlite of --index, or
// postgresql://USER@HOST/DB (password from PGPASSWORD or ~/.pgpass).
// The API key is read from --api-key-env by each worker, in its own
// process; the store keeps the variable's name only.
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/finetune.h"
#include "host/feedback_record.h"
#include "host/hash.h"
#include "host/log.h"
#include "host/toml_parse.h"
#include "jobs/finetune_worker.h"
#include "foldback/jobs.h"
#include "foldback/program.h"
#include "foldback/questions.h"
#include "foldback/version.h"
#include "host/files.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/otlp_exporter.h"
#include "jobs/job_spec.h"
#include "jobs/job_store.h"
#include "jobs/submit.h"
#include "jobs/worker.h"
#include "llm/endpoint.h"
#include "llm/llm_client.h"

namespace foldback::cli {
namespace {

using json = nlohmann::ordered_json;

std::atomic<int> g_stop{0};

void OnSignal(int) {
  int level = g_stop.load() + 1;
  g_stop.store(level > 2 ? 2 : level);
}

struct JobsArgs {
  std::string store, index_dir, kind, matter, allowed_matters, instructions, program, question;
  bool restrict_matters = false;
  std::vector<std::string> filters, redact;
  std::string endpoint, provider = "openai", model, api_key_env, api_version, ca_bundle;
  bool no_json_schema = false;
  uint32_t token_budget = 6000, embed_batch = 64;
  // synthesize
  uint32_t sample = 100, questions_per_passage = 3, min_words = 12, max_per_document = 0,
           passage_tokens = 512, max_question_bytes = 300;
  uint64_t seed = 42;
  bool raw = false;
  int64_t lease_ms = 60000;
  uint32_t max_attempts = 3;
  double rpm = 0;
  uint64_t max_requests = 0, max_tokens = 0;
  bool json = false;
  // work
  uint32_t concurrency = 16;
  bool until_idle = false;
  std::string worker_id;
  // status / results / cancel / vectors
  std::string job, out;
  bool include_failed = false;
  // finetune
  std::string format, command, suffix;
  uint32_t epochs = 0;
  int64_t poll_ms = 30000;
  bool activate = false;
  bool lease_given = false, attempts_given = false;
};

Result<std::unique_ptr<jobs::JobStore>> Store(const JobsArgs& a) {
  std::string url = a.store;
  if (url.empty()) {
    if (a.index_dir.empty())
      return Status::InvalidArgument("--store is required (or --index for its default)");
    url = jobs::DefaultStoreUrl(a.index_dir);
  }
  return jobs::OpenJobStore(url);
}

std::string Abs(const std::string& p) {
  if (!p.empty() && p[0] == '/') return p;
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) return p;
  return std::string(buf) + "/" + p;
}

int SubmitFinetune(const JobsArgs& a);

int Submit(const JobsArgs& a) {
  if (a.kind == "finetune") return SubmitFinetune(a);
  jobs::SubmitRequest r;
  r.kind = a.kind;
  r.index_dir = a.index_dir;
  r.matter = a.matter;
  r.filters = a.filters;
  if (a.restrict_matters) r.allowed_matters = SplitCommaSet(a.allowed_matters);
  r.instructions = a.instructions;
  if (!a.program.empty()) {
    auto text = host::ReadFile(a.program);
    if (!text.ok()) return Fail(text.status());
    r.program_json = std::move(*text);
    r.program_source = a.program;
  }
  r.question = a.question;
  r.endpoint.url = a.endpoint;
  r.endpoint.provider = a.provider;
  r.endpoint.model = a.model;
  r.endpoint.api_key_env = a.api_key_env;
  r.endpoint.api_version = a.api_version;
  r.endpoint.structured_output = !a.no_json_schema;
  r.endpoint.ca_bundle = a.ca_bundle;
  r.redact = a.redact;
  r.token_budget = a.token_budget;
  r.embed_batch = a.embed_batch;
  r.sample = a.sample;
  r.questions_per_passage = a.questions_per_passage;
  r.min_words = a.min_words;
  r.max_per_document = a.max_per_document;
  r.passage_tokens = a.passage_tokens;
  r.max_question_bytes = a.max_question_bytes;
  r.seed = a.seed;
  r.lease.lease_ms = a.lease_ms;
  r.lease.max_attempts = a.max_attempts;
  r.limits.requests_per_minute = a.rpm;
  r.limits.max_requests = a.max_requests;
  r.limits.max_tokens = a.max_tokens;
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto done = jobs::SubmitJob(**store, r);
  if (!done.ok()) return Fail(done.status());
  if (done->question_unset) {
    host::Log(host::LogLevel::kInfo,
              "the predictor has a 'question' input and no --question was given");
  }
  const std::string& id = done->job_id;
  if (a.json) {
    json out = {{"job_id", id}, {"kind", a.kind}, {"items", done->items}};
    if (a.kind != "embed") out["program_hash"] = done->program_hash;
    fmt::print(FMT_STRING("{}\n"), out.dump());
  } else {
    if (host::GetLogFormat() == host::LogFormat::kJson) {
      host::LogEvent(
          host::LogLevel::kInfo, "job submitted",
          {"jobs", "", {{"job_id", id}, {"kind", a.kind}, {"items", fmt::to_string(done->items)}}});
    } else {
      fmt::print(stderr, FMT_STRING("submitted {} job: {} items\n"), a.kind, done->items);
    }
    fmt::print(FMT_STRING("{}\n"), id.c_str());
  }
  return 0;
}

// ---------------------------------------------------------------- finetune

int SubmitFinetune(const JobsArgs& a) {
  ExportFormat format;
  if (a.format.empty() || !ParseExportFormat(a.format, &format) || format == ExportFormat::kDemos) {
    return Fail(Status::InvalidArgument(
        "a finetune job needs --format sft, openai-preference, dpo, dpo-chat or triplets"));
  }
  if (!a.matter.empty() || !a.filters.empty()) {
    return Fail(Status::InvalidArgument(
        "a finetune job exports feedback: wall it with --allowed-matters (--matter and --filter "
        "select documents)"));
  }
  if (!a.instructions.empty() || !a.program.empty()) {
    return Fail(Status::InvalidArgument("--instructions and --program are for map and synthesize jobs"));
  }
  jobs::JobSpec spec;
  spec.kind = "finetune";
  spec.index_dir = Abs(a.index_dir);
  if (a.restrict_matters) spec.selection.allowed_matters = SplitCommaSet(a.allowed_matters);
  spec.redact = a.redact;
  spec.foldback_version = Version();
  jobs::FinetuneSpec& f = spec.finetune;
  f.format = ExportFormatName(format);
  f.activate = a.activate;
  f.poll_ms = a.poll_ms;
  finetune::Summary& sum = f.summary;
  sum.format = f.format;
  if (!a.command.empty()) {
    if (!a.endpoint.empty()) {
      // (foldback.toml's [llm] endpoint reaches every `jobs submit`.)
      host::Log(host::LogLevel::kInfo,
                "--endpoint is not used: the --command trains, nothing goes to an endpoint");
    }
    if (a.activate) {
      return Fail(Status::InvalidArgument(
          "--activate makes a fine-tuning API's model the endpoint's; a command's model is a path"));
    }
    Status valid = jobs::CheckTrainingCommand(a.command);
    if (!valid.ok()) return Fail(valid);
    f.trainer = "command";
    f.command = a.command;
    sum.destination = "a command on the worker's machine: " + a.command;
  } else {
    if (a.endpoint.empty()) {
      return Fail(Status::InvalidArgument(
          "a finetune job needs --endpoint URL (OpenAI / Azure OpenAI fine-tuning) or --command "
          "'TRAINER {file} {out}'"));
    }
    auto method = finetune::MethodForFormat(format);
    if (!method.ok()) return Fail(method.status());
    f.trainer = "openai";
    f.method = *method;
    f.suffix = a.suffix;
    f.n_epochs = a.epochs;
    spec.endpoint.url = a.endpoint;
    spec.endpoint.provider = a.provider;
    spec.endpoint.model = a.model;
    spec.endpoint.api_key_env = a.api_key_env;
    spec.endpoint.api_version = a.api_version;
    spec.endpoint.ca_bundle = a.ca_bundle.empty() ? "" : Abs(a.ca_bundle);
    finetune::RemoteSpec rs;
    if (!llm::ParseProvider(a.provider, &rs.endpoint.provider)) {
      return Fail(Status::InvalidArgument("--provider must be openai or azure for fine-tuning"));
    }
    rs.endpoint.url = a.endpoint;
    rs.endpoint.api_version = a.api_version;
    rs.base_model = a.model;
    rs.method = f.method;
    rs.suffix = f.suffix;
    rs.poll_ms = f.poll_ms;
    rs.filename = "foldback-check.jsonl";
    Status valid = finetune::ValidateRemoteSpec(rs);
    if (!valid.ok()) return Fail(valid.WithContext("--endpoint/--model"));
    if (!a.api_key_env.empty()) {
      auto key = llm::ApiKey::FromEnv(a.api_key_env);
      if (!key.ok()) return Fail(key.status().WithContext("--api-key-env"));
    }
    auto base = finetune::ApiBase(rs.endpoint);
    sum.destination = fmt::format(
        FMT_STRING("{} fine-tuning API at {} (base model {}, method {})"),
        rs.endpoint.provider == llm::Provider::kAzure ? "Azure OpenAI" : "OpenAI",
        base.ok() ? *base : a.endpoint, a.model, f.method);
  }
  auto index = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!index.ok()) return Fail(index.status());
  ExportOptions options;
  options.allowed_matters = spec.selection.allowed_matters;
  ExportReport rep;
  auto bytes = host::ExportFeedbackBytes(**index, a.index_dir, format, options, &rep);
  if (!bytes.ok()) return Fail(bytes.status());
  // Redaction patterns, line by line: a training file is text that leaves.
  if (!a.redact.empty()) {
    auto red = llm::internal::CompileRedactions(a.redact);
    if (!red.ok()) return Fail(red.status().WithContext("--redact"));
    std::string out;
    size_t start = 0;
    while (start < bytes->size()) {
      size_t nl = bytes->find('\n', start);
      if (nl == std::string::npos) nl = bytes->size();
      std::string line = (*red)->Redact(std::string_view(*bytes).substr(start, nl - start));
      if (json::parse(line, nullptr, false).is_discarded()) {
        return Fail(Status::InvalidArgument(
            "--redact: a pattern matched across the JSON of a training row; narrow it"));
      }
      out += line + "\n";
      start = nl + 1;
    }
    *bytes = std::move(out);
  }
  sum.records = rep.exported;
  sum.rows = rep.rows;
  sum.bytes = bytes->size();
  sum.sha256 = host::Sha256Hex(*bytes);
  sum.no_consent = rep.no_consent;
  sum.privileged = rep.privileged;
  sum.walled = rep.walled;
  for (const auto& [m, n] : rep.matters) sum.matters.emplace_back(m, n);
  if (spec.selection.allowed_matters) {
    for (const auto& m : *spec.selection.allowed_matters) sum.walls += (sum.walls.empty() ? "" : ",") + m;
  }
  if (rep.rows == 0) {
    return Fail(Status::FailedPrecondition(fmt::format(
        FMT_STRING("nothing to train on: no {} row from {} feedback records ({} without consent "
                   "to train, {} privileged, {} behind the walls, {} unusable for this format)"),
        f.format, rep.records, rep.no_consent, rep.privileged, rep.walled, rep.unusable)));
  }
  jobs::NewJob job;
  job.kind = "finetune";
  job.spec = jobs::SpecToJson(spec);
  job.state = jobs::JobState::kPendingApproval;
  // One long item: its lease outlasts an upload; a kill costs one attempt.
  job.lease.lease_ms = a.lease_given ? a.lease_ms : 300000;
  job.lease.max_attempts = a.attempts_given ? a.max_attempts : 20;
  job.items.push_back({"training-file", *bytes});
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto id = (*store)->Submit(job, host::UnixMillis());
  if (!id.ok()) return Fail(id.status());
  if (a.json) {
    json out = {{"job_id", *id},
                {"kind", "finetune"},
                {"state", "pending_approval"},
                {"records", sum.records},
                {"rows", sum.rows},
                {"bytes", sum.bytes},
                {"sha256", sum.sha256},
                {"no_consent", sum.no_consent},
                {"privileged", sum.privileged},
                {"walled", sum.walled},
                {"destination", sum.destination}};
    json m = json::object();
    for (const auto& [name, n] : sum.matters) m[name] = n;
    out["matters"] = m;
    fmt::print(FMT_STRING("{}\n"), out.dump());
    return 0;
  }
  fmt::print(stderr,
             FMT_STRING("finetune job {} waits for approval; nothing is handed over before.\n{}"
                        "approve it: foldback jobs approve --store STORE {}\n"),
             *id, TerminalSafe(finetune::SummaryText(sum), true), *id);
  fmt::print(FMT_STRING("{}\n"), id->c_str());
  return 0;
}

int Approve(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto job = (*store)->GetJob(a.job);
  if (!job.ok()) return Fail(job.status());
  auto spec = jobs::SpecFromJson(job->spec);
  if (!spec.ok()) return Fail(spec.status());
  if (spec->kind == "finetune") {
    fmt::print(FMT_STRING("{}"), TerminalSafe(finetune::SummaryText(spec->finetune.summary), true));
  }
  Status s = (*store)->SetJobState(a.job, jobs::JobState::kActive);
  if (!s.ok()) return Fail(s);
  host::Log(host::LogLevel::kInfo, "job " + a.job + " approved by " +
                                       (std::getenv("USER") ? std::getenv("USER") : "?"));
  fmt::print(FMT_STRING("approved {}: workers may now hand it over\n"), a.job);
  return 0;
}

// TOML basic string.
std::string TomlString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// The key of a `key = value` line ("" for others).
std::string KeyOf(const std::string& line) {
  std::string t = Trim(line);
  if (t.empty() || t[0] == '#' || t[0] == '[') return "";
  size_t eq = t.find('=');
  return eq == std::string::npos ? "" : Trim(t.substr(0, eq));
}

// The fine-tuned model becomes [llm] model of <index>/foldback.toml — what
// `ask` and `serve` read for the index — with the endpoint it was trained
// at (the file's other lines and comments are kept). Refused when the file
// names another endpoint, and for Azure (a model is served through a
// deployment the firm creates).
Status ActivateModel(const std::string& index_dir, const jobs::JobSpec& spec,
                     const std::string& model, const std::string& job_id) {
  if (spec.endpoint.provider == "azure") {
    return Status::FailedPrecondition(
        "Azure OpenAI serves a fine-tuned model through a deployment: deploy " + model +
        " (Azure AI Foundry, or az cognitiveservices account deployment create), then set [llm] "
        "model in foldback.toml to the deployment's name");
  }
  const std::string path = index_dir + "/foldback.toml";
  std::string text;
  if (std::filesystem::exists(path)) {
    auto read = host::ReadFile(path);
    if (!read.ok()) return read.status();
    text = std::move(*read);
    auto parsed = host::ParseToml(text, path);
    if (!parsed.ok()) return parsed.status();
    auto endpoint = (*parsed)["llm"]["endpoint"].value<std::string>();
    if (endpoint && *endpoint != spec.endpoint.url) {
      return Status::FailedPrecondition(path + " sets [llm] endpoint = \"" + *endpoint +
                                        "\"; the model was trained at " + spec.endpoint.url +
                                        ": change the endpoint first, or set the model by hand");
    }
  }
  std::vector<std::string> lines;
  {
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
  }
  const std::string model_line =
      "model = " + TomlString(model) + "  # fine-tuned by foldback job " + job_id;
  size_t header = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(lines[i]) == "[llm]") header = i;
  }
  std::vector<std::string> add;
  if (header == lines.size()) {
    if (!lines.empty() && !Trim(lines.back()).empty()) lines.push_back("");
    lines.push_back("[llm]");
    header = lines.size() - 1;
  }
  size_t end = header + 1;
  while (end < lines.size() && Trim(lines[end]).rfind("[", 0) != 0) ++end;
  bool has_model = false, has_endpoint = false, has_key = false, has_provider = false;
  for (size_t i = header + 1; i < end; ++i) {
    std::string k = KeyOf(lines[i]);
    if (k == "model") {
      lines[i] = model_line;
      has_model = true;
    }
    has_endpoint = has_endpoint || k == "endpoint";
    has_key = has_key || k == "api_key_env";
    has_provider = has_provider || k == "provider";
  }
  if (!has_endpoint) add.push_back("endpoint = " + TomlString(spec.endpoint.url));
  if (!has_provider) add.push_back("provider = " + TomlString(spec.endpoint.provider));
  if (!has_model) add.push_back(model_line);
  if (!has_key && !spec.endpoint.api_key_env.empty()) {
    add.push_back("api_key_env = " + TomlString(spec.endpoint.api_key_env));
  }
  lines.insert(lines.begin() + static_cast<long>(header) + 1, add.begin(), add.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  auto check = host::ParseToml(out, path);
  if (!check.ok()) return check.status().WithContext("the file foldback would write");
  auto now = (*check)["llm"]["model"].value<std::string>();
  if (!now || *now != model) return Status::Internal("foldback.toml would not name the model");
  return host::WriteFileAtomic(path, out);
}

int Activate(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto job = (*store)->GetJob(a.job);
  if (!job.ok()) return Fail(job.status());
  if (job->kind != "finetune") {
    return Fail(Status::InvalidArgument("job " + a.job + " is not a finetune job"));
  }
  auto spec = jobs::SpecFromJson(job->spec);
  if (!spec.ok()) return Fail(spec.status());
  auto st = jobs::ReadFinetuneState(**store, a.job);
  if (!st.ok()) return Fail(st.status());
  if (st->item_state != jobs::ItemState::kDone) {
    return Fail(Status::FailedPrecondition(
        "job " + a.job + " has no trained model yet (" + jobs::ItemStateName(st->item_state) +
        (st->error.empty() ? "" : ": " + st->error) + ")"));
  }
  json result = json::parse(st->result, nullptr, false);
  std::string model = result.is_object() ? result.value("fine_tuned_model", "") : "";
  if (model.empty()) {
    return Fail(Status::FailedPrecondition(
        "job " + a.job + " trained with a command: its model is the path " +
        (result.is_object() ? result.value("model_path", "?") : "?") +
        "; point your own serving at it"));
  }
  std::string dir = a.index_dir.empty() ? spec->index_dir : a.index_dir;
  Status s = ActivateModel(dir, *spec, model, a.job);
  if (!s.ok()) return Fail(s);
  fmt::print(FMT_STRING("{}/foldback.toml: [llm] model = \"{}\" (ask and serve use it)\n"), dir,
             model);
  return 0;
}

// A fine-tune's progress for `jobs status` (null for other kinds).
json FinetuneJson(jobs::JobStore& store, const jobs::JobInfo& j) {
  if (j.kind != "finetune") return nullptr;
  json out = json::object();
  auto spec = jobs::SpecFromJson(j.spec);
  if (spec.ok()) {
    out["trainer"] = spec->finetune.trainer;
    out["format"] = spec->finetune.format;
    out["records"] = spec->finetune.summary.records;
    out["destination"] = spec->finetune.summary.destination;
  }
  auto st = jobs::ReadFinetuneState(store, j.id);
  if (!st.ok()) return out;
  json cp = json::parse(st->checkpoint.empty() ? "{}" : st->checkpoint, nullptr, false);
  if (cp.is_object()) {
    for (const char* k : {"stage", "file_id", "remote_job_id", "remote_status", "fine_tuned_model",
                          "polls", "uploads", "creates", "out", "log"}) {
      if (cp.contains(k)) out[k] = cp[k];
    }
    if (cp.contains("error") && !cp["error"].get<std::string>().empty()) out["last_error"] = cp["error"];
  }
  json res = json::parse(st->result.empty() ? "{}" : st->result, nullptr, false);
  if (res.is_object()) {
    if (res.contains("fine_tuned_model")) out["fine_tuned_model"] = res["fine_tuned_model"];
    if (res.contains("model_path")) out["model_path"] = res["model_path"];
  }
  if (st->item_state == jobs::ItemState::kFailed) out["error"] = st->error;
  return out;
}

json StatusJson(const jobs::JobInfo& j) {
  return {{"job_id", j.id},
          {"kind", j.kind},
          {"state", jobs::JobStateName(j.state)},
          {"total", j.progress.total},
          {"pending", j.progress.pending},
          {"leased", j.progress.leased},
          {"done", j.progress.done},
          {"failed", j.progress.failed},
          {"attempts", j.progress.attempts},
          {"requests", j.counters.requests},
          {"tokens", j.counters.tokens},
          {"finished", j.progress.finished()}};
}

void PrintStatus(const jobs::JobInfo& j) {
  fmt::print(
      FMT_STRING("{}  {:<5} {:<9} total {}  done {}  failed {}  leased {}  pending {}  attempts "
                 "{}\n"),
      j.id, j.kind, jobs::JobStateName(j.state), static_cast<unsigned long long>(j.progress.total),
      static_cast<unsigned long long>(j.progress.done),
      static_cast<unsigned long long>(j.progress.failed),
      static_cast<unsigned long long>(j.progress.leased),
      static_cast<unsigned long long>(j.progress.pending),
      static_cast<unsigned long long>(j.progress.attempts));
}

int StatusCmd(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  std::vector<jobs::JobInfo> list;
  if (!a.job.empty()) {
    auto j = (*store)->GetJob(a.job);
    if (!j.ok()) return Fail(j.status());
    list.push_back(std::move(*j));
  } else {
    auto all = (*store)->ListJobs();
    if (!all.ok()) return Fail(all.status());
    list = std::move(*all);
  }
  auto with_finetune = [&](const jobs::JobInfo& j) {
    json out = StatusJson(j);
    json ft = FinetuneJson(**store, j);
    if (!ft.is_null()) out["finetune"] = ft;
    return out;
  };
  if (a.json) {
    if (!a.job.empty()) {
      fmt::print(FMT_STRING("{}\n"), with_finetune(list[0]).dump(2));
    } else {
      json arr = json::array();
      for (const auto& j : list) arr.push_back(with_finetune(j));
      fmt::print(FMT_STRING("{}\n"), arr.dump(2));
    }
    return 0;
  }
  if (list.empty()) fmt::print(FMT_STRING("no jobs\n"));
  for (const auto& j : list) {
    PrintStatus(j);
    json ft = FinetuneJson(**store, j);
    if (ft.is_object() && !ft.empty()) {
      std::string line = "  finetune:";
      for (const char* k : {"stage", "remote_job_id", "remote_status", "fine_tuned_model",
                            "model_path", "error", "last_error"}) {
        if (ft.contains(k)) {
          line += std::string(" ") + k + "=" +
                  (ft[k].is_string() ? ft[k].get<std::string>() : ft[k].dump());
        }
      }
      fmt::print(FMT_STRING("{}\n"), TerminalSafe(line, false));
    }
  }
  return 0;
}

int Work(const JobsArgs& a) {
  if (a.concurrency < 1 || a.concurrency > 1024) {
    return Fail(Status::InvalidArgument("--concurrency must be in 1..1024"));
  }
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const bool tty = isatty(STDERR_FILENO);
  jobs::WorkerOptions o;
  o.worker_id = a.worker_id;
  o.concurrency = a.concurrency;
  o.until_idle = a.until_idle;
  o.only_job = a.job;
  o.stop = &g_stop;
  // A fine-tune submitted with --activate: its model into foldback.toml.
  jobs::JobStore* st = store->get();
  o.on_model = [st](const std::string& job_id, const std::string& model) -> Status {
    auto job = st->GetJob(job_id);
    if (!job.ok()) return job.status();
    auto spec = jobs::SpecFromJson(job->spec);
    if (!spec.ok()) return spec.status();
    Status s = ActivateModel(spec->index_dir, *spec, model, job_id);
    if (s.ok()) {
      host::Log(host::LogLevel::kInfo,
                spec->index_dir + "/foldback.toml: [llm] model = \"" + model + "\"");
    }
    return s;
  };
  auto t0 = std::chrono::steady_clock::now();
  o.on_progress = [&](const jobs::JobInfo& j) {
    if (!tty) return;
    double pct =
        j.progress.total ? 100.0 * (j.progress.done + j.progress.failed) / j.progress.total : 100;
    fmt::print(stderr,
               FMT_STRING("\r{} {}: {:5.1f}%  done {}  failed {}  leased {}  ({:.0f} s)   "),
               j.kind, j.id.substr(0, 13), pct, static_cast<unsigned long long>(j.progress.done),
               static_cast<unsigned long long>(j.progress.failed),
               static_cast<unsigned long long>(j.progress.leased), SecondsSince(t0));
    std::fflush(stderr);
  };
  o.on_note = [&](const std::string& m) {
    if (tty) fmt::print(stderr, FMT_STRING("\n"));
    host::Log(host::LogLevel::kInfo, TerminalSafe(m, false));
  };
  // JSON logs: a line per request, with the trace id of its spans.
  o.on_request = [](const jobs::WorkerOptions::RequestDone& d) {
    std::string items;
    for (const auto& id : d.item_ids) items += (items.empty() ? "" : ",") + id;
    host::LogContext lc{"jobs",
                        d.trace_id,
                        {{"job_id", d.job_id},
                         {"items", items},
                         {"attempt", fmt::to_string(d.attempt)},
                         {"ms", fmt::to_string(static_cast<int64_t>(d.ms))}}};
    if (!d.status.ok()) lc.fields.emplace_back("error", TerminalSafe(d.status.ToString(), false));
    host::LogEvent(d.status.ok() ? host::LogLevel::kInfo : host::LogLevel::kWarning,
                   d.status.ok() ? "request done" : "request failed", lc);
  };
  // OpenTelemetry (OTEL_* variables): a trace per request, sent in the background.
  std::unique_ptr<host::OtlpExporter> spans;
  auto otel = host::OtlpConfigFromEnv([](const char* name) { return std::getenv(name); });
  if (!otel.ok()) return Fail(Status::InvalidArgument("telemetry: " + otel.status().message()));
  if (otel->enabled) {
    spans = std::make_unique<host::OtlpExporter>(std::move(*otel));
    o.telemetry = spans.get();
  }
  auto report = jobs::RunWorker(**store, o);
  if (tty) fmt::print(stderr, FMT_STRING("\n"));
  if (spans) {
    Status sent = spans->Flush(3000);
    if (!sent.ok()) host::Log(host::LogLevel::kWarning, TerminalSafe(sent.message(), false));
  }
  if (!report.ok()) return Fail(report.status());
  fmt::print(
      FMT_STRING("worker: {} done, {} failed, {} to retry, {} duplicate, {} released, {} requests "
                 "({:.1f} s){}\n"),
      static_cast<unsigned long long>(report->done),
      static_cast<unsigned long long>(report->failed),
      static_cast<unsigned long long>(report->retried),
      static_cast<unsigned long long>(report->duplicates),
      static_cast<unsigned long long>(report->released),
      static_cast<unsigned long long>(report->requests), SecondsSince(t0),
      g_stop.load() ? "; stopped by a signal" : "");
  return g_stop.load() ? 130 : 0;
}

int Results(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto job = (*store)->GetJob(a.job);
  if (!job.ok()) return Fail(job.status());
  jobs::ResultsReport rep;
  auto out = jobs::JobResultsJsonl(**store, a.job, a.include_failed, a.raw, &rep);
  if (!out.ok()) return Fail(out.status());
  Status s = host::WriteFileAtomic(a.out, *out);
  if (!s.ok()) return Fail(s);
  if (job->kind == "synthesize" && !a.raw) {
    fmt::print(
        FMT_STRING("{} pairs from {} passages written to {} ({} failed{}, {} not finished)\n"),
        rep.pairs, rep.done, a.out, rep.failed, a.include_failed ? ", included" : "", rep.open);
    return 0;
  }
  fmt::print(FMT_STRING("{} results written to {} ({} failed{}, {} not finished)\n"), rep.done,
             a.out, rep.failed, a.include_failed ? ", included" : "", rep.open);
  return 0;
}

int Cancel(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  Status s = (*store)->Cancel(a.job);
  if (!s.ok()) return Fail(s);
  auto j = (*store)->GetJob(a.job);
  if (j.ok()) PrintStatus(*j);
  return 0;
}

// The index's owner turns an embed job's vectors into the index's HNSW:
// the index is rebuilt with an external embedder of the vectors' size
// (same documents, so the same chunk ids), every vector set, HNSW built,
// and the snapshot replaced atomically.
int Vectors(const JobsArgs& a) {
  auto store = Store(a);
  if (!store.ok()) return Fail(store.status());
  auto job = (*store)->GetJob(a.job);
  if (!job.ok()) return Fail(job.status());
  if (job->kind != "embed")
    return Fail(Status::InvalidArgument("job " + a.job + " is not an embed job"));
  if (!job->progress.finished() || job->progress.failed > 0) {
    return Fail(Status::FailedPrecondition(fmt::format(
        FMT_STRING(
            "job {} has {} passages without a vector; run `foldback jobs work` until it is done"),
        a.job, job->progress.total - job->progress.done)));
  }
  auto old = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!old.ok()) return Fail(old.status());
  std::vector<std::pair<std::string, std::vector<float>>> vecs;
  Status s = (*store)->ForEachItem(a.job, [&](const jobs::StoredResult& r) {
    std::vector<float> v(r.blob.size() / 4);
    for (size_t i = 0; i < v.size(); ++i) {
      uint32_t bits = 0;
      for (int b = 0; b < 4; ++b)
        bits |= static_cast<uint32_t>(static_cast<unsigned char>(r.blob[i * 4 + b])) << (8 * b);
      std::memcpy(&v[i], &bits, 4);
    }
    vecs.emplace_back(r.item_id, std::move(v));
    return Status::OK();
  });
  if (!s.ok()) return Fail(s);
  if (vecs.empty() || vecs[0].second.empty())
    return Fail(Status::Corruption("the job holds no vectors"));
  IndexOptions opts = (*old)->options();
  opts.dense.embedder = EmbedderKind::kExternal;
  opts.dense.dimension = static_cast<uint32_t>(vecs[0].second.size());
  auto fresh = Index::Create(opts);
  if (!fresh.ok()) return Fail(fresh.status());
  jobs::Selection all;
  auto docs = jobs::SelectDocuments(**old, all);
  if (!docs.ok()) return Fail(docs.status());
  for (const auto& id : *docs) {
    auto added = (*fresh)->Add(*(*old)->FindDocument(id));
    if (!added.ok()) return Fail(added.status());
  }
  for (const auto& [chunk, v] : vecs) {
    s = (*fresh)->SetChunkVector(chunk, v);
    if (!s.ok()) return Fail(s.WithContext(chunk + " (re-run the embed job if the index changed)"));
  }
  s = (*fresh)->BuildDense();
  if (!s.ok())
    return Fail(s.WithContext("some passages have no vector (documents added after the job?)"));
  s = host::SaveIndex(a.index_dir, **fresh);
  if (!s.ok()) return Fail(s);
  fmt::print(FMT_STRING("index {}: {} passage vectors of dimension {} from job {}; HNSW built\n"),
             a.index_dir, vecs.size(), opts.dense.dimension, a.job);
  return 0;
}

}  // namespace

void RegisterJobs(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<JobsArgs>();
  CLI::App* jobs_cmd =
      app.add_subcommand("jobs",
                         "Durable batch jobs over an index: map (an LLM over every "
                         "document), embed (every passage through /embeddings), synthesize "
                         "(LLM-written questions for sampled passages: training pairs)");
  jobs_cmd->require_subcommand(1);
  auto store_opt = [&](CLI::App* c) {
    c->add_option("--store", a->store,
                  "sqlite:PATH (default: jobs.sqlite in the --index folder) or "
                  "postgresql://USER@HOST/DB (password: PGPASSWORD or ~/.pgpass)");
  };

  CLI::App* submit = jobs_cmd->add_subcommand("submit", "Create a job; prints its id");
  store_opt(submit);
  submit->add_option("--kind", a->kind, "map, embed, synthesize or finetune")->required();
  submit->add_option("--index", a->index_dir, "Index folder")->required();
  submit->add_option("--matter", a->matter, "Only this matter's documents");
  submit->add_option("--filter", a->filters,
                     "FIELD=VALUE, FIELD>=VALUE or FIELD<=VALUE (repeatable)");
  auto* am = submit->add_option("--allowed-matters", a->allowed_matters,
                                "Ethical walls: comma-separated matters the job may read");
  submit->add_option("--instructions", a->instructions,
                     "map: what to ask of every document; synthesize: instead of the built-in "
                     "lawyer-style instructions");
  submit->add_option(
      "--program", a->program,
      "map: a DSPy program saved with program.save(\"x.json\"); its predictor with a "
      "'document' input is run. synthesize: its predictor with a 'passage' input");
  submit->add_option("--sample", a->sample, "synthesize: passages to sample")
      ->capture_default_str();
  submit
      ->add_option("--questions-per-passage", a->questions_per_passage,
                   "synthesize: questions asked for per passage (1..20)")
      ->capture_default_str();
  submit->add_option("--seed", a->seed, "synthesize: sampling seed")->capture_default_str();
  submit->add_option("--min-words", a->min_words, "synthesize: skip shorter passages")
      ->capture_default_str();
  submit
      ->add_option("--max-per-document", a->max_per_document,
                   "synthesize: passages of one document at most (0: no limit)")
      ->capture_default_str();
  submit
      ->add_option("--passage-tokens", a->passage_tokens,
                   "synthesize: whitespace tokens of the passage shown")
      ->capture_default_str();
  submit
      ->add_option("--max-question-bytes", a->max_question_bytes,
                   "synthesize: longer questions are dropped")
      ->capture_default_str();
  submit->add_option("--question", a->question,
                     "map: the 'question' input, when the predictor has one");
  submit->add_option("--endpoint", a->endpoint,
                     "Endpoint base URL, e.g. https://api.openai.com/v1 (finetune: the "
                     "fine-tuning API's)");
  submit->add_option("--format", a->format,
                     "finetune: the export handed over (sft or openai-preference for the API; "
                     "any but demos for --command)");
  submit->add_option("--command", a->command,
                     "finetune: train with this command instead of an API, e.g. "
                     "'python train.py {file} {out}' (no shell; {out}: where the model goes)");
  submit->add_option("--suffix", a->suffix, "finetune: the fine-tuned model's name suffix");
  submit->add_option("--epochs", a->epochs, "finetune: epochs (0: the service chooses)")
      ->capture_default_str();
  submit->add_option("--poll-ms", a->poll_ms, "finetune: time between polls of the remote job")
      ->capture_default_str();
  submit->add_flag("--activate", a->activate,
                   "finetune: once trained, make the model [llm] model of the index's "
                   "foldback.toml");
  submit->add_option("--provider", a->provider, "openai, azure, ollama, vllm or tei")
      ->capture_default_str();
  submit->add_option("--model", a->model, "Model name (Azure: deployment)");
  submit->add_option(
      "--api-key-env", a->api_key_env,
      "Environment variable holding the API key (read by each worker; never stored)");
  submit->add_option("--api-version", a->api_version, "Azure api-version");
  submit->add_option("--ca-bundle", a->ca_bundle, "PEM certificate authorities to trust");
  submit->add_flag("--no-json-schema", a->no_json_schema, "Do not send response_format");
  submit->add_option("--redact", a->redact, "Pattern redacted from everything sent (repeatable)");
  submit->add_option("--token-budget", a->token_budget, "map: document tokens per request")
      ->capture_default_str();
  submit->add_option("--embed-batch", a->embed_batch, "embed: passages per request")
      ->capture_default_str();
  auto* lease_opt = submit->add_option("--lease-ms", a->lease_ms,
                                       "Lease of an item without heartbeat (finetune: 300000)");
  lease_opt->capture_default_str();
  auto* attempts_opt =
      submit->add_option("--max-attempts", a->max_attempts, "Leases an item may take (finetune: 20)");
  attempts_opt->capture_default_str();
  submit->add_option("--requests-per-minute", a->rpm, "Shared by all workers (0: no limit)")
      ->capture_default_str();
  submit->add_option("--max-requests", a->max_requests, "Budget of requests (0: none)")
      ->capture_default_str();
  submit->add_option("--max-tokens", a->max_tokens, "Budget of tokens, estimated (0: none)")
      ->capture_default_str();
  submit->add_flag("--json", a->json, "Print {job_id, kind, items} as JSON");
  submit->callback([a, exit_code, am, lease_opt, attempts_opt] {
    a->restrict_matters = am->count() > 0;
    a->lease_given = lease_opt->count() > 0;
    a->attempts_given = attempts_opt->count() > 0;
    *exit_code = Submit(*a);
  });

  CLI::App* work = jobs_cmd->add_subcommand(
      "work", "Work the store's jobs (SIGINT/SIGTERM: finish or give back)");
  store_opt(work);
  work->add_option("--index", a->index_dir, "Index folder (for the default store)");
  work->add_option("--concurrency", a->concurrency, "Requests in flight")->capture_default_str();
  work->add_flag("--until-idle", a->until_idle, "Exit once no job has work left");
  work->add_option("--job", a->job, "Only this job");
  work->add_option("--worker-id", a->worker_id,
                   "Name of this worker's leases (default: host-pid-random)");
  work->callback([a, exit_code] { *exit_code = Work(*a); });

  CLI::App* status =
      jobs_cmd->add_subcommand("status", "Items total, done, failed, leased, attempts");
  store_opt(status);
  status->add_option("--index", a->index_dir, "Index folder (for the default store)");
  status->add_option("job", a->job, "Job id (default: every job)");
  status->add_flag("--json", a->json, "JSON");
  status->callback([a, exit_code] { *exit_code = StatusCmd(*a); });

  CLI::App* results = jobs_cmd->add_subcommand("results", "Write a job's results as JSONL");
  store_opt(results);
  results->add_option("--index", a->index_dir, "Index folder (for the default store)");
  results->add_option("job", a->job, "Job id")->required();
  results->add_option("--out", a->out, "Output file (replaced atomically)")->required();
  results->add_flag("--include-failed", a->include_failed,
                    "Also a line {id, error} per failed item");
  results->add_flag("--raw", a->raw,
                    "synthesize: the stored question sets instead of one pair per question");
  results->callback([a, exit_code] { *exit_code = Results(*a); });

  CLI::App* cancel = jobs_cmd->add_subcommand("cancel", "Stop leasing a job's items");
  store_opt(cancel);
  cancel->add_option("--index", a->index_dir, "Index folder (for the default store)");
  cancel->add_option("job", a->job, "Job id")->required();
  cancel->callback([a, exit_code] { *exit_code = Cancel(*a); });

  CLI::App* approve = jobs_cmd->add_subcommand(
      "approve", "Approve a job waiting for it (a fine-tune: shows what will be handed over)");
  store_opt(approve);
  approve->add_option("--index", a->index_dir, "Index folder (for the default store)");
  approve->add_option("job", a->job, "Job id")->required();
  approve->callback([a, exit_code] { *exit_code = Approve(*a); });

  CLI::App* activate = jobs_cmd->add_subcommand(
      "activate", "Make a fine-tune's model [llm] model of the index's foldback.toml");
  store_opt(activate);
  activate->add_option("--index", a->index_dir,
                       "Index folder (default: the job's; also for the default store)");
  activate->add_option("job", a->job, "Job id")->required();
  activate->callback([a, exit_code] { *exit_code = Activate(*a); });

  CLI::App* vectors =
      jobs_cmd->add_subcommand("vectors", "Build the index's HNSW from an embed job's vectors");
  store_opt(vectors);
  vectors->add_option("--index", a->index_dir, "Index folder")->required();
  vectors->add_option("job", a->job, "Job id")->required();
  vectors->callback([a, exit_code] { *exit_code = Vectors(*a); });
}

}  // namespace foldback::cli
