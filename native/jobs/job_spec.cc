#include "jobs/job_spec.h"

#include <nlohmann/json.hpp>

#include "foldback/search.h"

namespace foldback::jobs {

using json = nlohmann::ordered_json;

std::string SpecToJson(const JobSpec& s) {
  json j;
  j["kind"] = s.kind;
  j["index"] = s.index_dir;
  json sel;
  sel["matter"] = s.selection.matter;
  json filters = json::array();
  for (const Filter& f : s.selection.filters)
    filters.push_back(f.field + FilterOpName(f.op) + f.value);
  sel["filters"] = filters;
  if (s.selection.allowed_matters) {
    sel["allowed_matters"] = *s.selection.allowed_matters;
  } else {
    sel["allowed_matters"] = nullptr;
  }
  j["selection"] = sel;
  j["endpoint"] = {{"url", s.endpoint.url},
                   {"provider", s.endpoint.provider},
                   {"model", s.endpoint.model},
                   {"api_key_env", s.endpoint.api_key_env},
                   {"api_version", s.endpoint.api_version},
                   {"structured_output", s.endpoint.structured_output},
                   {"ca_bundle", s.endpoint.ca_bundle}};
  j["redact"] = s.redact;
  if (s.kind == "map" || s.kind == "synthesize") {
    json p;
    p["name"] = s.predictor.name;
    p["instructions"] = s.predictor.instructions;
    json fields = json::array();
    for (const ProgramField& f : s.predictor.fields) {
      fields.push_back({{"name", f.name},
                        {"prefix", f.prefix},
                        {"description", f.description},
                        {"input", f.input}});
    }
    p["fields"] = fields;
    json demos = json::array();
    for (const ProgramDemo& d : s.predictor.demos) demos.push_back(d);
    p["demos"] = demos;
    j["predictor"] = p;
    j["program_hash"] = s.program_hash;
    j["program_source"] = s.program_source;
    if (s.kind == "map") j["question"] = s.question;
    j["token_budget"] = s.token_budget;
    if (s.kind == "synthesize") {
      j["questions_per_passage"] = s.questions_per_passage;
      j["max_question_bytes"] = s.max_question_bytes;
      j["sample"] = s.sample;
      j["seed"] = s.seed;
    }
  } else if (s.kind == "finetune") {
    const FinetuneSpec& f = s.finetune;
    json sum = {{"records", f.summary.records},
                {"rows", f.summary.rows},
                {"bytes", f.summary.bytes},
                {"sha256", f.summary.sha256},
                {"no_consent", f.summary.no_consent},
                {"privileged", f.summary.privileged},
                {"walled", f.summary.walled},
                {"format", f.summary.format},
                {"destination", f.summary.destination},
                {"walls", f.summary.walls}};
    json matters = json::array();
    for (const auto& [m, n] : f.summary.matters) matters.push_back({{"matter", m}, {"records", n}});
    sum["matters"] = matters;
    j["finetune"] = {{"trainer", f.trainer},  {"format", f.format},     {"method", f.method},
                     {"suffix", f.suffix},    {"n_epochs", f.n_epochs}, {"poll_ms", f.poll_ms},
                     {"command", f.command},  {"activate", f.activate}, {"summary", sum}};
  } else {
    j["embed_batch"] = s.embed_batch;
  }
  j["foldback_version"] = s.foldback_version;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<JobSpec> SpecFromJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return Status::InvalidArgument("job spec: not a JSON object");
  try {
    JobSpec s;
    s.kind = j.at("kind").get<std::string>();
    s.index_dir = j.at("index").get<std::string>();
    const json& sel = j.at("selection");
    s.selection.matter = sel.at("matter").get<std::string>();
    for (const auto& f : sel.at("filters")) {
      auto parsed = Filter::Parse(f.get<std::string>());
      if (!parsed.ok()) return parsed.status().WithContext("job spec");
      s.selection.filters.push_back(*parsed);
    }
    if (!sel.at("allowed_matters").is_null()) {
      s.selection.allowed_matters = sel.at("allowed_matters").get<std::set<std::string>>();
    }
    const json& e = j.at("endpoint");
    s.endpoint.url = e.at("url").get<std::string>();
    s.endpoint.provider = e.at("provider").get<std::string>();
    s.endpoint.model = e.at("model").get<std::string>();
    s.endpoint.api_key_env = e.at("api_key_env").get<std::string>();
    s.endpoint.api_version = e.at("api_version").get<std::string>();
    s.endpoint.structured_output = e.at("structured_output").get<bool>();
    s.endpoint.ca_bundle = e.value("ca_bundle", "");
    s.redact = j.at("redact").get<std::vector<std::string>>();
    if (s.kind == "map" || s.kind == "synthesize") {
      const json& p = j.at("predictor");
      s.predictor.name = p.at("name").get<std::string>();
      s.predictor.instructions = p.at("instructions").get<std::string>();
      for (const auto& f : p.at("fields")) {
        s.predictor.fields.push_back(
            {f.at("name").get<std::string>(), f.at("prefix").get<std::string>(),
             f.at("description").get<std::string>(), f.at("input").get<bool>()});
      }
      for (const auto& d : p.at("demos")) s.predictor.demos.push_back(d.get<ProgramDemo>());
      s.program_hash = j.at("program_hash").get<std::string>();
      s.program_source = j.value("program_source", "");
      if (s.kind == "map") s.question = j.at("question").get<std::string>();
      s.token_budget = j.at("token_budget").get<uint32_t>();
      if (s.kind == "synthesize") {
        s.questions_per_passage = j.at("questions_per_passage").get<uint32_t>();
        s.max_question_bytes = j.value("max_question_bytes", 300u);
        s.sample = j.value("sample", 0u);
        s.seed = j.value("seed", uint64_t{42});
      }
    } else if (s.kind == "embed") {
      s.embed_batch = j.at("embed_batch").get<uint32_t>();
    } else if (s.kind == "finetune") {
      const json& f = j.at("finetune");
      FinetuneSpec& o = s.finetune;
      o.trainer = f.at("trainer").get<std::string>();
      o.format = f.at("format").get<std::string>();
      o.method = f.value("method", "");
      o.suffix = f.value("suffix", "");
      o.n_epochs = f.value("n_epochs", 0u);
      o.poll_ms = f.value("poll_ms", int64_t{30000});
      o.command = f.value("command", "");
      o.activate = f.value("activate", false);
      const json& sum = f.at("summary");
      o.summary.records = sum.value("records", size_t{0});
      o.summary.rows = sum.value("rows", size_t{0});
      o.summary.bytes = sum.value("bytes", size_t{0});
      o.summary.sha256 = sum.value("sha256", "");
      o.summary.no_consent = sum.value("no_consent", size_t{0});
      o.summary.privileged = sum.value("privileged", size_t{0});
      o.summary.walled = sum.value("walled", size_t{0});
      o.summary.format = sum.value("format", "");
      o.summary.destination = sum.value("destination", "");
      o.summary.walls = sum.value("walls", "");
      for (const auto& m : sum.at("matters")) {
        o.summary.matters.emplace_back(m.at("matter").get<std::string>(),
                                       m.at("records").get<size_t>());
      }
      if (o.trainer != "openai" && o.trainer != "command") {
        return Status::InvalidArgument("job spec: unknown trainer '" + o.trainer + "'");
      }
    } else {
      return Status::InvalidArgument("job spec: unknown kind '" + s.kind + "'");
    }
    s.foldback_version = j.value("foldback_version", "");
    return s;
  } catch (const std::exception& ex) {
    return Status::InvalidArgument(std::string("job spec: ") + ex.what());
  }
}

}  // namespace foldback::jobs
