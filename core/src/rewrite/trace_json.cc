// Trace <-> JSON.
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "foldback/ask.h"
#include "text/utf8.h"

namespace foldback {
namespace {

using ojson = nlohmann::ordered_json;

ojson HitsJson(const std::vector<TraceHit>& hits) {
  ojson out = ojson::array();
  for (const TraceHit& h : hits) {
    out.push_back({{"chunk_id", h.chunk_id}, {"doc_id", h.doc_id}, {"score", h.score}});
  }
  return out;
}

ojson StringsJson(const std::vector<std::string>& v) {
  ojson out = ojson::array();
  for (const std::string& s : v) out.push_back(s);
  return out;
}

// Readers: absent keys leave the default; a present key of the wrong type
// is an error naming it.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  const Status& status() const { return status_; }

  void Str(const ojson& o, const char* key, std::string* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_string()) return Fail(key, "a string");
    *out = v->get<std::string>();
  }
  void Num(const ojson& o, const char* key, double* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_number()) return Fail(key, "a number");
    *out = v->get<double>();
  }
  void U32(const ojson& o, const char* key, uint32_t* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_number_unsigned() || v->get<uint64_t>() > UINT32_MAX) {
      return Fail(key, "an unsigned 32-bit integer");
    }
    *out = static_cast<uint32_t>(v->get<uint64_t>());
  }
  void Bool(const ojson& o, const char* key, bool* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_boolean()) return Fail(key, "true or false");
    *out = v->get<bool>();
  }
  void Strings(const ojson& o, const char* key, std::vector<std::string>* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "an array of strings");
    for (const ojson& e : *v) {
      if (!e.is_string()) return Fail(key, "an array of strings");
      out->push_back(e.get<std::string>());
    }
  }
  void Hits(const ojson& o, const char* key, std::vector<TraceHit>* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    if (!v->is_array()) return Fail(key, "an array of hits");
    std::string outer = where_;
    for (size_t i = 0; i < v->size() && status_.ok(); ++i) {
      const ojson& e = (*v)[i];
      where_ = fmt::format(FMT_STRING("{}{}[{}]."), outer, key, i);
      if (!e.is_object()) {
        where_ = outer;
        return Fail(key, "an array of hit objects");
      }
      TraceHit h;
      Str(e, "chunk_id", &h.chunk_id);
      Str(e, "doc_id", &h.doc_id);
      Num(e, "score", &h.score);
      out->push_back(std::move(h));
    }
    where_ = outer;
  }
  // [{field, op, value}]: every key required, op one of "=", ">=", "<=".
  void Filters(const ojson& o, const char* key, std::vector<Filter>* out) {
    const ojson* v = Find(o, key);
    if (!v) return;
    const char* what = "an array of {field, op, value} objects, op \"=\", \">=\" or \"<=\"";
    if (!v->is_array()) return Fail(key, what);
    for (const ojson& e : *v) {
      if (!e.is_object()) return Fail(key, what);
      auto field = e.find("field"), op = e.find("op"), value = e.find("value");
      if (field == e.end() || op == e.end() || value == e.end() || !field->is_string() ||
          !op->is_string() || !value->is_string() || field->get_ref<const std::string&>().empty()) {
        return Fail(key, what);
      }
      Filter f;
      if (!ParseFilterOp(op->get_ref<const std::string&>(), &f.op)) return Fail(key, what);
      f.field = field->get<std::string>();
      f.value = value->get<std::string>();
      out->push_back(std::move(f));
    }
  }
  void set_where(std::string w) { where_ = std::move(w); }

 private:
  const ojson* Find(const ojson& o, const char* key) {
    if (!status_.ok()) return nullptr;
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void Fail(const char* key, const char* what) {
    if (status_.ok()) {
      status_ = Status::InvalidArgument("trace JSON: " + where_ + key + " must be " + what);
    }
  }

  std::string where_;
  Status status_;
};

}  // namespace

std::string TraceToJson(const Trace& t) {
  ojson hops = ojson::array();
  for (const TraceHop& h : t.hops) {
    ojson hop = {{"hop", h.hop}, {"query", h.query}};
    if (!h.variant_queries.empty()) hop["variant_queries"] = StringsJson(h.variant_queries);
    hop["source"] = h.source;
    hop["results"] = HitsJson(h.results);
    hop["new_chunks"] = StringsJson(h.new_chunks);
    hop["llm_ms"] = h.llm_ms;
    hop["llm_attempts"] = h.llm_attempts;
    hop["note"] = h.note;
    hop["start_ms"] = h.start_ms;
    hop["end_ms"] = h.end_ms;
    hops.push_back(std::move(hop));
  }
  ojson calls = ojson::array();
  for (const TraceCall& c : t.calls) {
    calls.push_back(ojson{{"hop", c.hop},
                          {"purpose", c.purpose},
                          {"operation", c.operation},
                          {"start_ms", c.start_ms},
                          {"end_ms", c.end_ms},
                          {"attempts", c.attempts},
                          {"model", c.model},
                          {"input_tokens", c.input_tokens},
                          {"output_tokens", c.output_tokens},
                          {"error", c.error}});
  }
  ojson j = {{"trace_id", t.trace_id},
             {"question", t.question},
             {"hops", std::move(hops)},
             {"fused", HitsJson(t.fused)},
             {"fallbacks", StringsJson(t.fallbacks)},
             {"errors", StringsJson(t.errors)}};
  if (!t.redactions.empty()) j["redactions"] = StringsJson(t.redactions);
  j.update(ojson{{"program_version", t.program_version},
             {"model", t.model},
             {"stopped_early", t.stopped_early},
             {"feedback_demos", StringsJson(t.feedback_demos)},
             {"calls", std::move(calls)},
             {"elapsed_ms", t.elapsed_ms}});
  if (!t.answer.empty()) j["answer"] = t.answer;
  if (!t.matter.empty()) j["matter"] = t.matter;
  if (!t.user.empty()) j["user"] = t.user;
  if (t.allowed_matters) {
    j["allowed_matters"] = StringsJson({t.allowed_matters->begin(), t.allowed_matters->end()});
  }
  if (!t.filters.empty()) {
    ojson filters = ojson::array();
    for (const Filter& f : t.filters) {
      filters.push_back({{"field", f.field}, {"op", FilterOpName(f.op)}, {"value", f.value}});
    }
    j["filters"] = std::move(filters);
  }
  return j.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

Result<Trace> TraceFromJson(std::string_view json) {
  std::string repaired = text::RepairUtf8(json);
  ojson j = ojson::parse(repaired, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("trace JSON: not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("trace JSON: not an object");
  Trace t;
  Reader r("");
  r.Str(j, "trace_id", &t.trace_id);
  r.Str(j, "question", &t.question);
  auto hops = j.find("hops");
  if (hops != j.end() && !hops->is_null()) {
    if (!hops->is_array()) return Status::InvalidArgument("trace JSON: hops must be an array");
    for (size_t i = 0; i < hops->size() && r.status().ok(); ++i) {
      const ojson& h = (*hops)[i];
      if (!h.is_object()) {
        return Status::InvalidArgument(
            fmt::format(FMT_STRING("trace JSON: hops[{}] must be an object"), i));
      }
      r.set_where(fmt::format(FMT_STRING("hops[{}]."), i));
      TraceHop hop;
      r.U32(h, "hop", &hop.hop);
      r.Str(h, "query", &hop.query);
      r.Strings(h, "variant_queries", &hop.variant_queries);
      r.Str(h, "source", &hop.source);
      r.Hits(h, "results", &hop.results);
      r.Strings(h, "new_chunks", &hop.new_chunks);
      r.Num(h, "llm_ms", &hop.llm_ms);
      r.U32(h, "llm_attempts", &hop.llm_attempts);
      r.Str(h, "note", &hop.note);
      r.Num(h, "start_ms", &hop.start_ms);
      r.Num(h, "end_ms", &hop.end_ms);
      t.hops.push_back(std::move(hop));
    }
    r.set_where("");
  }
  r.Hits(j, "fused", &t.fused);
  r.Strings(j, "fallbacks", &t.fallbacks);
  r.Strings(j, "errors", &t.errors);
  r.Strings(j, "redactions", &t.redactions);
  r.Str(j, "program_version", &t.program_version);
  r.Str(j, "model", &t.model);
  r.Bool(j, "stopped_early", &t.stopped_early);
  r.Strings(j, "feedback_demos", &t.feedback_demos);
  auto calls = j.find("calls");
  if (calls != j.end() && !calls->is_null()) {
    if (!calls->is_array()) return Status::InvalidArgument("trace JSON: calls must be an array");
    for (size_t i = 0; i < calls->size() && r.status().ok(); ++i) {
      const ojson& c = (*calls)[i];
      if (!c.is_object()) {
        return Status::InvalidArgument(
            fmt::format(FMT_STRING("trace JSON: calls[{}] must be an object"), i));
      }
      r.set_where(fmt::format(FMT_STRING("calls[{}]."), i));
      TraceCall call;
      double input = -1, output = -1;
      r.U32(c, "hop", &call.hop);
      r.Str(c, "purpose", &call.purpose);
      r.Str(c, "operation", &call.operation);
      r.Num(c, "start_ms", &call.start_ms);
      r.Num(c, "end_ms", &call.end_ms);
      r.U32(c, "attempts", &call.attempts);
      r.Str(c, "model", &call.model);
      r.Num(c, "input_tokens", &input);
      r.Num(c, "output_tokens", &output);
      r.Str(c, "error", &call.error);
      call.input_tokens = input >= 0 && input < 9e15 ? static_cast<int64_t>(input) : -1;
      call.output_tokens = output >= 0 && output < 9e15 ? static_cast<int64_t>(output) : -1;
      t.calls.push_back(std::move(call));
    }
    r.set_where("");
  }
  r.Num(j, "elapsed_ms", &t.elapsed_ms);
  r.Str(j, "answer", &t.answer);
  r.Str(j, "matter", &t.matter);
  r.Str(j, "user", &t.user);
  auto walls = j.find("allowed_matters");
  if (walls != j.end() && !walls->is_null()) {
    std::vector<std::string> list;
    r.Strings(j, "allowed_matters", &list);
    t.allowed_matters.emplace(list.begin(), list.end());
  }
  r.Filters(j, "filters", &t.filters);
  if (!r.status().ok()) return r.status();
  return t;
}

}  // namespace foldback
