#include "host/feedback_record.h"

#include <nlohmann/json.hpp>

#include <map>
#include <set>

#include "host/files.h"
#include "host/ids.h"
#include "host/traces.h"

namespace foldback::host {
namespace {

using json = nlohmann::json;

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Status ReadTraceForFeedback(std::string_view trace_json, const std::string& id, FeedbackRecord* r,
                            std::vector<std::pair<std::string, std::string>>* shown) {
  json j = json::parse(trace_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption("trace '" + id + "' is not a JSON object");
  }
  std::string tid = Str(j, "trace_id");
  if (!tid.empty() && tid != id) {
    return Status::Corruption("trace file '" + id + "' holds trace '" + tid + "'");
  }
  r->question = Str(j, "question");
  if (r->question.empty()) return Status::Corruption("trace '" + id + "' has no question");
  r->program_version = Str(j, "program_version");
  r->model = Str(j, "model");
  r->answer = Str(j, "answer");
  r->matter = Str(j, "matter");
  r->user = Str(j, "user");
  auto hits_of = [&](const json& list) {
    if (!list.is_array()) return;
    for (const auto& h : list) {
      if (!h.is_object()) continue;
      std::string c = Str(h, "chunk_id");
      if (c.empty()) continue;
      bool dup = false;
      for (const auto& [s, d] : *shown) dup |= s == c;
      if (!dup) shown->emplace_back(c, Str(h, "doc_id"));
    }
  };
  if (j.contains("hops") && j["hops"].is_array()) {
    for (const auto& hop : j["hops"]) {
      if (hop.is_object() && hop.contains("query") && hop["query"].is_string()) {
        r->hop_queries.push_back(hop["query"].get<std::string>());
      }
    }
  }
  if (j.contains("fused")) hits_of(j["fused"]);
  if (shown->empty() && j.contains("hops") && j["hops"].is_array()) {
    for (const auto& hop : j["hops"]) {
      if (hop.is_object() && hop.contains("results")) hits_of(hop["results"]);
    }
  }
  return Status::OK();
}

Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, const std::string& index_dir,
                                           const FeedbackInput& in, size_t* missing_passages) {
  FB_RETURN_IF_ERROR(ValidateTraceId(in.trace_id));
  auto trace = LoadTrace(index_dir, in.trace_id);
  if (!trace.ok()) return trace.status();

  FeedbackRecord r;
  std::vector<std::pair<std::string, std::string>> shown;
  FB_RETURN_IF_ERROR(ReadTraceForFeedback(*trace, in.trace_id, &r, &shown));
  r.trace_id = in.trace_id;
  uint32_t rank = 0;
  std::set<std::string> shown_matters;
  size_t missing = 0;
  for (const auto& [chunk_id, doc_id] : shown) {
    ShownResult sr;
    sr.chunk_id = chunk_id;
    sr.doc_id = doc_id;
    sr.rank = ++rank;
    if (const Chunk* c = index.FindChunk(chunk_id)) {
      sr.text_hash = FeedbackTextHash(c->text);
      sr.doc_id = c->doc_id;
      if (const Document* d = index.FindDocument(c->doc_id)) sr.matter = d->matter;
    } else {
      ++missing;
    }
    shown_matters.insert(sr.matter);
    r.results.push_back(sr);
  }
  if (missing_passages) *missing_passages = missing;
  // Labels: every chunk must exist, and be labelled once.
  std::map<std::string, PassageLabel> labels;
  auto label = [&](const std::vector<std::string>& ids, PassageLabel l) -> Status {
    for (const auto& id : ids) {
      if (!index.FindChunk(id)) {
        return Status::NotFound("unknown chunk '" + id + "': not in the index " + index_dir);
      }
      auto [it, fresh] = labels.emplace(id, l);
      if (!fresh && it->second != l) {
        return Status::InvalidArgument("chunk '" + id + "' is labelled both " +
                                       PassageLabelName(it->second) + " and " +
                                       PassageLabelName(l));
      }
    }
    return Status::OK();
  };
  FB_RETURN_IF_ERROR(label(in.relevant, PassageLabel::kRelevant));
  FB_RETURN_IF_ERROR(label(in.partly, PassageLabel::kPartly));
  FB_RETURN_IF_ERROR(label(in.not_relevant, PassageLabel::kNotRelevant));
  for (const auto& [id, l] : labels) r.labels.push_back({id, l});
  if (!in.rating.empty()) {
    auto rating = Rating::Parse(in.rating);
    if (!rating.ok()) return rating.status();
    r.rating = *rating;
  }
  r.critique = in.critique;
  r.corrected_answer = in.corrected_answer;
  r.preferred_rewrite = in.preferred_rewrite;
  r.tags = in.tags;
  r.consent_to_train = in.consent_to_train;
  r.privileged = in.privileged;
  if (!in.user.empty()) r.user = in.user;
  if (!in.matter.empty()) {
    r.matter = in.matter;
  } else if (r.matter.empty() && shown_matters.size() == 1) {
    r.matter = *shown_matters.begin();  // every passage shown was of one matter
  }
  if (r.rating.kind == Rating::Kind::kNone && r.labels.empty() && r.critique.empty() &&
      r.corrected_answer.empty() && r.preferred_rewrite.empty() && r.tags.empty()) {
    return Status::InvalidArgument(
        "nothing to record: give a rating, passage labels, a critique, a correction, a "
        "preferred rewrite or a tag");
  }
  r.time_ms = in.time_ms ? in.time_ms : UnixMillis();
  r.record_id = in.record_id.empty() ? NewUuidV7(r.time_ms) : in.record_id;
  FB_RETURN_IF_ERROR(ValidateFeedbackRecord(r));
  return r;
}

Status ForgetFeedbackRecord(FeedbackLogFile* log, const std::string& index_dir,
                            const std::string& record_id, const std::string& user) {
  if (record_id.empty()) return Status::InvalidArgument("no record id to forget");
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  FeedbackState state = ApplyFeedbackLog(*contents);
  if (!state.Find(record_id)) {
    return Status::NotFound(state.deleted_records.count(record_id)
                                ? "record '" + record_id + "' is already forgotten"
                                : "no record '" + record_id + "' in " + index_dir);
  }
  Tombstone t;
  t.record_id = record_id;
  t.time_ms = UnixMillis();
  t.user = user;
  return log->Append(t);
}

Result<size_t> ForgetFeedbackMatter(FeedbackLogFile* log, const std::string& index_dir,
                                    const std::string& matter, const std::string& user) {
  if (matter.empty()) return Status::InvalidArgument("no matter to forget");
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  FeedbackState state = ApplyFeedbackLog(*contents);
  size_t affected = 0;
  for (const auto& r : state.records) {
    bool touches = r.matter == matter;
    for (const auto& s : r.results) touches |= s.matter == matter;
    affected += touches;
  }
  Tombstone t;
  t.matter = matter;
  t.time_ms = UnixMillis();
  t.user = user;
  FB_RETURN_IF_ERROR(log->Append(t));
  return affected;
}

Status ExportFeedbackFile(const Index& index, const std::string& index_dir, ExportFormat format,
                          const ExportOptions& options, const std::string& out_path,
                          ExportReport* report, std::vector<LogDamage>* damage) {
  if (out_path.empty()) return Status::InvalidArgument("no output file for the export");
  auto contents = ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  if (damage) *damage = contents->damage;
  FeedbackState state = ApplyFeedbackLog(*contents);
  auto bytes = ExportFeedback(index, state.records, format, options, report);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomic(out_path, *bytes);
}

}  // namespace foldback::host
