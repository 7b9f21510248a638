// Internals of the C ABI: what the sans-IO session handles share (fb_ask,
// fb_questions, fb_llm_rerank) — the fb_needs list handed out, the
// fb_need_result taken back, the take/provide/tick calls of the sessions
// whose needs are all LLM needs, and the redactor and predictor their start
// calls read. Not installed; nothing here is part of the ABI.
#ifndef FOLDBACK_BINDINGS_C_C_API_SESSION_H_
#define FOLDBACK_BINDINGS_C_C_API_SESSION_H_

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "c_api.h"
#include "foldback/program.h"
#include "foldback/redact.h"
#include "foldback/wire.h"

namespace foldback::capi {

// The list of `needs` as the C host reads it: views into the list's own
// copies, valid until fb_needs_free.
inline std::unique_ptr<fb_needs> NeedsList(std::vector<Need> needs) {
  auto list = std::make_unique<fb_needs>();
  list->needs = std::move(needs);
  list->messages.resize(list->needs.size());
  list->texts.resize(list->needs.size());
  for (size_t i = 0; i < list->needs.size(); ++i) {
    const Need& n = list->needs[i];
    for (const auto& m : n.llm.messages) {
      list->messages[i].push_back({m.role.c_str(), m.content.c_str()});
    }
    for (const auto& t : n.embed.texts) list->texts[i].push_back(t.c_str());
    fb_need v;
    std::memset(&v, 0, sizeof v);
    v.id = n.id;
    v.kind = static_cast<fb_need_kind>(n.kind);
    v.hop = n.hop;
    v.purpose = n.purpose.c_str();
    v.messages = list->messages[i].empty() ? nullptr : list->messages[i].data();
    v.message_count = list->messages[i].size();
    v.temperature = n.llm.temperature;
    v.max_tokens = n.llm.max_tokens;
    v.json_schema = n.llm.json_schema.c_str();
    v.json_schema_name = n.llm.json_schema_name.c_str();
    v.texts = list->texts[i].empty() ? nullptr : list->texts[i].data();
    v.text_count = list->texts[i].size();
    v.timeout_ms = n.timeout_ms;
    list->view.push_back(v);
  }
  return list;
}

// Reads the host's `result` for a need of `kind` into `*out`: FB_OK, or the
// refusal (recorded in `err`) of a status that is no FB_* code or vectors
// that are not there. An embedding holding a value that is not a finite
// number becomes an IOError result (the session decides what it means).
inline int NeedResultOf(const ErrorSlot* err, const fb_need_result& result, Need::Kind kind,
                        NeedResult* out) {
  NeedResult& r = *out;
  if (!StatusOf(result.status, Str(result.message), &r.status)) {
    return Fail(err, FB_EINVALID,
                fmt::format(FMT_STRING("result status {} is not an FB_* code"), result.status));
  }
  if (r.status.ok()) {
    if (kind == Need::Kind::kLlm) {
      if (result.text) {
        r.text.assign(result.text, result.text_len ? result.text_len : std::strlen(result.text));
      }
    } else if (result.vector_count) {
      if (!result.vectors || !result.dimension) {
        return Fail(err, FB_EINVALID, "vectors is NULL or dimension is 0 with vector_count > 0");
      }
      for (size_t v = 0; v < result.vector_count; ++v) {
        const float* row = result.vectors + v * result.dimension;
        for (size_t k = 0; k < result.dimension; ++k) {
          if (!std::isfinite(row[k])) {
            r.status = Status::IOError(fmt::format(
                FMT_STRING("the host's embedding {} holds a value that is not a finite number"),
                v));
            break;
          }
        }
        if (!r.status.ok()) break;
        r.vectors.emplace_back(row, row + result.dimension);
      }
      if (!r.status.ok()) r.vectors.clear();
    }
  }
  r.model = Str(result.model);
  r.elapsed_ms = std::isfinite(result.elapsed_ms) && result.elapsed_ms > 0 ? result.elapsed_ms : 0;
  r.attempts = result.attempts;
  return FB_OK;
}

// The redactor of a start call's `count` patterns (`what`: the field, for
// the refusal of a NULL one) into `*out` (none: unchanged): FB_OK, or the
// refusal recorded in `err`.
inline int RedactorOf(const ErrorSlot* err, const char* const* patterns, size_t count,
                      const char* what, std::shared_ptr<const Redactor>* out) {
  if (!count) return FB_OK;
  std::vector<std::string> list;
  std::string error;
  if (!Strings(patterns, count, what, &list, &error)) return Fail(err, FB_EINVALID, error);
  auto red = wire::CompileRedactionPatterns(list);
  if (!red.ok()) return Report(err, red.status());
  *out = std::shared_ptr<const Redactor>(std::move(*red));
  return FB_OK;
}

// The predictor of a start call into `*out`: when `program_json` is given,
// the one `pick` (PickQuestionPredictor, PickRerankPredictor) takes from the
// DSPy program, else `builtin`. FB_OK, or the refusal recorded in `err`.
template <typename Pick>
int PredictorOf(const ErrorSlot* err, const char* program_json, Predictor builtin, Pick pick,
                Predictor* out) {
  if (!program_json || !*program_json) {
    *out = std::move(builtin);
    return FB_OK;
  }
  auto preds = LoadDspyPredictors(program_json);
  if (!preds.ok()) return Report(err, preds.status());
  auto picked = pick(*preds);
  if (!picked.ok()) return Report(err, picked.status());
  *out = std::move(*picked);
  return FB_OK;
}

// fb_<x>_take_needs, fb_<x>_provide and fb_<x>_tick of a handle `h` with an
// ErrorSlot `err` and a `session` whose needs are all LLM needs
// (QuestionSession, LlmRerankSession): the session judges need ids.
template <typename Handle>
int TakeSessionNeeds(Handle* h, fb_needs** needs_out) {
  if (!h) return FB_EINVALID;
  if (!needs_out) return Fail(&h->err, FB_EINVALID, "needs_out is NULL");
  *needs_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    *needs_out = NeedsList(h->session->TakeNeeds()).release();
    return FB_OK;
  });
}

template <typename Handle>
int ProvideSessionResult(Handle* h, uint64_t need_id, const fb_need_result* result, double now_ms) {
  if (!h) return FB_EINVALID;
  if (!result) return Fail(&h->err, FB_EINVALID, "result is NULL");
  if (!std::isfinite(now_ms)) return Fail(&h->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&h->err, [&]() -> int {
    NeedResult r;
    int code = NeedResultOf(&h->err, *result, Need::Kind::kLlm, &r);
    if (code != FB_OK) return code;
    return Report(&h->err, h->session->Provide(need_id, std::move(r), now_ms));
  });
}

template <typename Handle>
int TickSession(Handle* h, double now_ms) {
  if (!h) return FB_EINVALID;
  if (!std::isfinite(now_ms)) return Fail(&h->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&h->err, [&]() -> int {
    h->session->Tick(now_ms);
    return FB_OK;
  });
}

}  // namespace foldback::capi

#endif  // FOLDBACK_BINDINGS_C_C_API_SESSION_H_
