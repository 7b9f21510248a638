#include "jobs/submit.h"

#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "foldback/program.h"
#include "foldback/questions.h"
#include "foldback/version.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "llm/endpoint.h"
#include "llm/llm_client.h"

namespace foldback::jobs {
namespace {

using json = nlohmann::ordered_json;

std::string Abs(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) return p;
  return std::string(buf) + "/" + p;
}

}  // namespace

Result<Submitted> SubmitJob(JobStore& store, const SubmitRequest& a) {
  if (a.kind != "map" && a.kind != "embed" && a.kind != "synthesize") {
    return Status::InvalidArgument("--kind must be map, embed, synthesize or finetune");
  }
  if (a.endpoint.url.empty()) return Status::InvalidArgument("--endpoint is required");
  JobSpec spec;
  spec.kind = a.kind;
  spec.index_dir = Abs(a.index_dir);
  spec.selection.matter = a.matter;
  for (const auto& f : a.filters) {
    auto parsed = Filter::Parse(f);
    if (!parsed.ok()) return parsed.status().WithContext("--filter");
    spec.selection.filters.push_back(*parsed);
  }
  spec.selection.allowed_matters = a.allowed_matters;
  spec.endpoint = a.endpoint;
  spec.endpoint.ca_bundle = Abs(a.endpoint.ca_bundle);
  spec.redact = a.redact;
  spec.token_budget = a.token_budget;
  spec.embed_batch = a.embed_batch;
  spec.foldback_version = Version();

  // The endpoint and the key are checked now, not at the first worker: the
  // key is read (never stored) to be sure the variable is set.
  llm::EndpointConfig c;
  c.url = a.endpoint.url;
  if (!llm::ParseProvider(a.endpoint.provider, &c.provider)) {
    return Status::InvalidArgument("--provider must be openai, azure, ollama, vllm or tei");
  }
  c.model = a.endpoint.model;
  c.api_version = a.endpoint.api_version;
  auto url = llm::ResolveUrl(c, a.kind != "embed" ? llm::Route::kChat : llm::Route::kEmbeddings);
  if (!url.ok()) return url.status().WithContext("--endpoint");
  if (!a.endpoint.api_key_env.empty()) {
    auto key = llm::ApiKey::FromEnv(a.endpoint.api_key_env);
    if (!key.ok()) return key.status().WithContext("--api-key-env");
  }
  if (!a.redact.empty()) {
    auto r = llm::internal::CompileRedactions(a.redact);
    if (!r.ok()) return r.status().WithContext("--redact");
  }
  if (a.token_budget < 64) return Status::InvalidArgument("--token-budget must be at least 64");
  if (a.embed_batch < 1 || a.embed_batch > 2048) {
    return Status::InvalidArgument("--embed-batch must be in 1..2048");
  }
  if (a.limits.requests_per_minute < 0) {
    return Status::InvalidArgument("--requests-per-minute must be >= 0");
  }

  Submitted out;
  if (a.kind == "map") {
    if (a.instructions.empty() == a.program_json.empty()) {
      return Status::InvalidArgument("a map job needs --instructions TEXT or --program FILE (one)");
    }
    if (!a.program_json.empty()) {
      auto preds = LoadDspyPredictors(a.program_json);
      if (!preds.ok()) return preds.status().WithContext(a.program_source);
      auto p = PickMapPredictor(*preds);
      if (!p.ok()) return p.status().WithContext(a.program_source);
      spec.predictor = std::move(*p);
      spec.program_source = a.program_source;
    } else {
      spec.predictor = MapPredictorFromInstructions(a.instructions);
      spec.program_source = "--instructions";
    }
    out.question_unset = spec.predictor.Find("question") && a.question.empty();
    spec.question = a.question;
    spec.program_hash = PredictorHash(spec.predictor);
  } else if (a.kind == "synthesize") {
    if (!a.instructions.empty() && !a.program_json.empty()) {
      return Status::InvalidArgument("give --instructions or --program, not both");
    }
    if (!a.program_json.empty()) {
      auto preds = LoadDspyPredictors(a.program_json);
      if (!preds.ok()) return preds.status().WithContext(a.program_source);
      auto p = PickQuestionPredictor(*preds);
      if (!p.ok()) return p.status().WithContext(a.program_source);
      spec.predictor = std::move(*p);
      spec.program_source = a.program_source;
    } else {
      spec.predictor = GenerateQuestionsPredictor(a.instructions);
      spec.program_source = a.instructions.empty() ? "built-in" : "--instructions";
    }
    QuestionOptions q;
    q.questions_per_passage = a.questions_per_passage;
    q.passage_token_budget = a.passage_tokens;
    q.max_question_bytes = a.max_question_bytes;
    Status valid = ValidateQuestionOptions(q);
    if (!valid.ok()) return valid;
    spec.questions_per_passage = a.questions_per_passage;
    spec.token_budget = a.passage_tokens;
    spec.max_question_bytes = a.max_question_bytes;
    spec.sample = a.sample;
    spec.seed = a.seed;
    spec.program_hash = PredictorHash(spec.predictor);
  } else if (!a.instructions.empty() || !a.program_json.empty()) {
    return Status::InvalidArgument("--instructions and --program are for map and synthesize jobs");
  }
  out.program_hash = spec.program_hash;

  auto index = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!index.ok()) return index.status();
  Result<std::vector<std::string>> ids = std::vector<std::string>();
  if (a.kind == "synthesize") {
    PassageSampleOptions so;
    so.count = a.sample;
    so.seed = a.seed;
    so.min_words = a.min_words;
    so.max_per_document = a.max_per_document;
    ids = SamplePassages(**index, spec.selection, so);
  } else {
    ids = a.kind == "map" ? SelectDocuments(**index, spec.selection)
                          : SelectChunks(**index, spec.selection);
  }
  if (!ids.ok()) return ids.status();
  if (ids->empty()) return Status::InvalidArgument("the selection holds nothing to work on");

  NewJob job;
  job.kind = a.kind;
  job.spec = SpecToJson(spec);
  job.lease = a.lease;
  job.limits = a.limits;
  for (auto& id : *ids) job.items.push_back({std::move(id), ""});
  auto id = store.Submit(job, host::UnixMillis());
  if (!id.ok()) return id.status();
  out.job_id = *id;
  out.items = job.items.size();
  return out;
}

Result<std::string> JobResultsJsonl(JobStore& store, const std::string& job_id, bool include_failed,
                                    bool raw, ResultsReport* report) {
  ResultsReport local;
  ResultsReport& rep = report ? *report : local;
  rep = ResultsReport();
  auto job = store.GetJob(job_id);
  if (!job.ok()) return job.status();
  std::string out;
  Status s = store.ForEachItem(job_id, [&](const StoredResult& r) {
    if (r.state == ItemState::kDone) {
      ++rep.done;
      if (job->kind == "embed") {
        json line = json::parse(r.result, nullptr, false);
        if (line.is_discarded())
          return Status::Corruption("stored result of " + r.item_id + " is not JSON");
        std::vector<float> v(r.blob.size() / 4);
        for (size_t i = 0; i < v.size(); ++i) {
          uint32_t bits = 0;
          for (int b = 0; b < 4; ++b)
            bits |= static_cast<uint32_t>(static_cast<unsigned char>(r.blob[i * 4 + b])) << (8 * b);
          std::memcpy(&v[i], &bits, 4);
        }
        line["vector"] = v;
        out += line.dump() + "\n";
      } else if (job->kind == "synthesize" && !raw) {
        // One training pair per question, with its provenance.
        json line = json::parse(r.result, nullptr, false);
        if (line.is_discarded() || !line.contains("questions"))
          return Status::Corruption("stored result of " + r.item_id + " is not a question set");
        PairProvenance prov;
        prov.model = line.value("model", "");
        prov.program_hash = line.value("program_hash", "");
        prov.job_id = line.value("job_id", "");
        prov.foldback_version = line.value("foldback_version", "");
        for (const auto& q : line["questions"]) {
          if (!q.is_string()) continue;
          ++rep.pairs;
          out +=
              QuestionPairLine({q.get<std::string>(), r.item_id, line.value("doc_id", "")}, prov) +
              "\n";
        }
      } else {
        out += r.result + "\n";
      }
    } else if (r.state == ItemState::kFailed) {
      ++rep.failed;
      if (include_failed) {
        json line = {{job->kind == "map"        ? "doc_id"
                      : job->kind == "finetune" ? "item"
                                                : "chunk_id",
                      r.item_id},
                     {"error", r.error},
                     {"attempts", r.attempts}};
        out += line.dump() + "\n";
      }
    } else {
      ++rep.open;
    }
    return Status::OK();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace foldback::jobs
