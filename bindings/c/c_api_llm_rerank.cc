// The C ABI: the LLM listwise reranker (foldback/llm_rerank.h) — a walled
// search, then the sans-IO rerank session whose needs the host performs.
// Core calls only.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "c_api.h"
#include "c_api_session.h"
#include "foldback/llm_rerank.h"
#include "foldback/wire.h"

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

struct fb_llm_rerank {
  ErrorSlot err;
  std::unique_ptr<foldback::LlmRerankSession> session;
  size_t top_k = 10;
  std::string failure;
};

fb_llm_rerank_params fb_llm_rerank_default_params(void) {
  foldback::LlmRerankOptions o;
  fb_llm_rerank_params p;
  std::memset(&p, 0, sizeof p);
  p.depth = o.depth;
  p.window_size = o.window_size;
  p.step = o.step;
  p.passage_tokens = o.passage_token_budget;
  p.deadline_ms = o.deadline_ms;
  return p;
}

int fb_llm_rerank_start(const fb_index* h, const char* query, const fb_search_params* search,
                        const fb_llm_rerank_params* params, double now_ms, fb_llm_rerank** out) {
  if (!h) return FB_EINVALID;
  if (!query || !out) return Fail(&h->err, FB_EINVALID, "query or rerank_out is NULL");
  *out = nullptr;
  if (!std::isfinite(now_ms)) return Fail(&h->err, FB_EINVALID, "now_ms is not a finite number");
  return Guard(&h->err, [&]() -> int {
    fb_search_params sp = search ? *search : fb_search_default_params();
    fb_llm_rerank_params p = params ? *params : fb_llm_rerank_default_params();
    foldback::SearchOptions so;
    Status s = SearchOptionsOf(IntOf(sp.mode), sp.filters, sp.filter_count, sp.restrict_matters,
                               sp.allowed_matters, sp.allowed_matter_count, IntOf(sp.syntax), &so);
    if (!s.ok()) return Report(&h->err, s);
    foldback::LlmRerankOptions o;
    o.depth = p.depth;
    o.window_size = p.window_size;
    o.step = p.step;
    o.passage_token_budget = p.passage_tokens;
    o.deadline_ms = p.deadline_ms;
    int code = RedactorOf(&h->err, p.redact, p.redact_count, "redact", &o.redactor);
    if (code != FB_OK) return code;
    Status valid = foldback::ValidateLlmRerankOptions(o);
    if (!valid.ok()) return Report(&h->err, valid);
    foldback::Predictor predictor;
    code =
        PredictorOf(&h->err, p.program_json, foldback::RankPassagesPredictor(Str(p.instructions)),
                    foldback::PickRerankPredictor, &predictor);
    if (code != FB_OK) return code;
    // The first stage, behind the walls.
    so.top_k = std::max<size_t>(sp.top_k, o.depth);
    std::shared_ptr<const foldback::FoldBack> fb;
    if (sp.use_feedback) {
      auto f = FoldBackFor(*h->state, so.allowed_matters);
      if (!f.ok()) return Report(&h->err, f.status());
      fb = *f;
    }
    const foldback::Index& index = *h->state->index;
    auto hits = fb ? fb->Search(index, query, so) : index.Search(query, so);
    if (!hits.ok()) return Report(&h->err, hits.status());
    auto r = std::make_unique<fb_llm_rerank>();
    r->top_k = sp.top_k;
    auto session = foldback::LlmRerankSession::Start(index, query, *hits, so, std::move(predictor),
                                                     std::move(o), now_ms);
    if (!session.ok()) return Report(&h->err, session.status());
    r->session = std::move(session.value());
    *out = r.release();
    return FB_OK;
  });
}

int fb_llm_rerank_take_needs(fb_llm_rerank* r, fb_needs** needs_out) {
  return TakeSessionNeeds(r, needs_out);
}

int fb_llm_rerank_provide(fb_llm_rerank* r, uint64_t need_id, const fb_need_result* result,
                          double now_ms) {
  return ProvideSessionResult(r, need_id, result, now_ms);
}

int fb_llm_rerank_tick(fb_llm_rerank* r, double now_ms) { return TickSession(r, now_ms); }

int fb_llm_rerank_done(const fb_llm_rerank* r) { return r && r->session->done() ? 1 : 0; }

int fb_llm_rerank_results(fb_llm_rerank* r, fb_results** results_out, int* applied_out) {
  if (!r) return FB_EINVALID;
  if (!results_out) return Fail(&r->err, FB_EINVALID, "results_out is NULL");
  *results_out = nullptr;
  if (!r->session->done()) return Fail(&r->err, FB_ESTATE, "the rerank session is not done");
  return Guard(&r->err, [&]() -> int {
    const foldback::LlmRerankResult& res = r->session->result();
    auto results = std::make_unique<fb_results>();
    results->hits = res.hits;
    if (results->hits.size() > r->top_k) results->hits.resize(r->top_k);
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(),
                               hit.score});
    }
    if (applied_out) *applied_out = res.applied ? 1 : 0;
    *results_out = results.release();
    return FB_OK;
  });
}

const char* fb_llm_rerank_failure(const fb_llm_rerank* r) {
  if (!r || !r->session->done() || !r->session->result().failed) return "";
  // Kept in the handle: valid until the handle is freed.
  auto* self = const_cast<fb_llm_rerank*>(r);
  if (self->failure.empty()) self->failure = r->session->result().status.ToString();
  return self->failure.c_str();
}

uint32_t fb_llm_rerank_requests(const fb_llm_rerank* r) {
  return r ? r->session->result().requests : 0;
}

const char* fb_llm_rerank_last_error(const fb_llm_rerank* r) {
  return r ? LastError(&r->err) : "rerank is NULL";
}

void fb_llm_rerank_free(fb_llm_rerank* r) { delete r; }
