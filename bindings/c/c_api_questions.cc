// The C ABI: LLM-written training questions (foldback/questions.h) — the
// sans-IO question session (sampling behind the walls, needs, results) and
// its pairs, which fb_train_params.pairs_jsonl trains on. Core calls only.
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "c_api.h"
#include "c_api_session.h"
#include "foldback/questions.h"
#include "foldback/wire.h"

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

struct fb_questions {
  ErrorSlot err;
  std::unique_ptr<foldback::QuestionSession> session;
  std::string program_hash;
};

fb_questions_params fb_questions_default_params(void) {
  foldback::QuestionOptions q;
  foldback::PassageSampleOptions s;
  fb_questions_params p;
  std::memset(&p, 0, sizeof p);
  p.sample = s.count;
  p.seed = s.seed;
  p.min_words = s.min_words;
  p.questions_per_passage = q.questions_per_passage;
  p.deadline_ms = q.deadline_ms;
  p.max_in_flight = q.max_in_flight;
  return p;
}

int fb_questions_start(const fb_index* h, const fb_questions_params* params, double now_ms,
                       fb_questions** out) {
  if (!h) return FB_EINVALID;
  if (!out) return Fail(&h->err, FB_EINVALID, "questions_out is NULL");
  *out = nullptr;
  if (!std::isfinite(now_ms)) return Fail(&h->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&h->err, [&]() -> int {
    fb_questions_params p = params ? *params : fb_questions_default_params();
    foldback::jobs::Selection sel;
    sel.matter = Str(p.matter);
    std::string error;
    if (p.restrict_matters) {
      std::vector<std::string> m;
      if (!Strings(p.allowed_matters, p.allowed_matter_count, "allowed_matters", &m, &error))
        return Fail(&h->err, FB_EINVALID, error);
      sel.allowed_matters = std::set<std::string>(m.begin(), m.end());
    }
    foldback::PassageSampleOptions so;
    so.count = p.sample;
    so.seed = p.seed;
    so.min_words = p.min_words;
    const foldback::Index& index = *h->state->index;
    auto passages = foldback::SampleQuestionPassages(index, sel, so);
    if (!passages.ok()) return Report(&h->err, passages.status());
    foldback::Predictor predictor;
    int code = PredictorOf(&h->err, p.program_json,
                           foldback::GenerateQuestionsPredictor(Str(p.instructions)),
                           foldback::PickQuestionPredictor, &predictor);
    if (code != FB_OK) return code;
    foldback::QuestionOptions qo;
    qo.questions_per_passage = p.questions_per_passage;
    qo.deadline_ms = p.deadline_ms;
    qo.max_in_flight = p.max_in_flight;
    code = RedactorOf(&h->err, p.redact, p.redact_count, "redact", &qo.redactor);
    if (code != FB_OK) return code;
    auto q = std::make_unique<fb_questions>();
    q->program_hash = foldback::jobs::PredictorHash(predictor);
    auto s =
        foldback::QuestionSession::Start(std::move(*passages), std::move(predictor), qo, now_ms);
    if (!s.ok()) return Report(&h->err, s.status());
    q->session = std::move(s.value());
    *out = q.release();
    return FB_OK;
  });
}

int fb_questions_take_needs(fb_questions* q, fb_needs** needs_out) {
  return TakeSessionNeeds(q, needs_out);
}

int fb_questions_provide(fb_questions* q, uint64_t need_id, const fb_need_result* result,
                         double now_ms) {
  return ProvideSessionResult(q, need_id, result, now_ms);
}

int fb_questions_tick(fb_questions* q, double now_ms) { return TickSession(q, now_ms); }

int fb_questions_done(const fb_questions* q) { return q && q->session->done() ? 1 : 0; }

int fb_questions_pairs_jsonl(fb_questions* q, char** jsonl_out, size_t* passages_out,
                             size_t* failed_out) {
  if (!q) return FB_EINVALID;
  if (!jsonl_out) return Fail(&q->err, FB_EINVALID, "jsonl_out is NULL");
  *jsonl_out = nullptr;
  if (!q->session->done()) return Fail(&q->err, FB_ESTATE, "the question session is not done");
  return Guard(&q->err, [&]() -> int {
    foldback::QuestionHarvest hv =
        foldback::HarvestQuestions(q->session->results(), q->program_hash);
    if (passages_out) *passages_out = hv.passages;
    if (failed_out) *failed_out = hv.failed;
    *jsonl_out = Dup(hv.jsonl);
    return *jsonl_out ? FB_OK : Fail(&q->err, FB_ENOMEM, "out of memory");
  });
}

const char* fb_questions_last_error(const fb_questions* q) {
  return q ? LastError(&q->err) : "questions is NULL";
}

void fb_questions_free(fb_questions* q) { delete q; }
