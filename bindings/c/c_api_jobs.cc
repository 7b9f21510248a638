// The C ABI: durable jobs (embed, map) — a thin layer over native/jobs, the
// code `foldback jobs` runs: SubmitJob, RunWorker, the store, and
// JobResultsJsonl.
#include <cstring>

#include "c_api.h"
#include "jobs/job_store.h"
#include "jobs/submit.h"
#include "jobs/worker.h"

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

struct fb_jobs {
  ErrorSlot err;
  std::unique_ptr<foldback::jobs::JobStore> store;
};

namespace {

bool NeedStore(fb_jobs* h) { return h && h->store; }

}  // namespace

fb_job_params fb_job_default_params(void) {
  foldback::jobs::SubmitRequest r;
  fb_job_params p;
  std::memset(&p, 0, sizeof p);
  p.embed_batch = r.embed_batch;
  p.token_budget = r.token_budget;
  p.lease_ms = r.lease.lease_ms;
  p.max_attempts = r.lease.max_attempts;
  return p;
}

int fb_jobs_open(const char* store_url, fb_jobs** out) {
  if (!out) return FB_EINVALID;
  *out = nullptr;
  fb_jobs* h = new (std::nothrow) fb_jobs();
  if (!h) return FB_ENOMEM;
  *out = h;
  return Guard(&h->err, [&]() -> int {
    if (!store_url || !*store_url) return Fail(&h->err, FB_EINVALID, "store_url is NULL or empty");
    auto store = foldback::jobs::OpenJobStore(store_url);
    if (!store.ok()) return Report(&h->err, store.status());
    h->store = std::move(*store);
    return FB_OK;
  });
}

void fb_jobs_free(fb_jobs* h) { delete h; }

const char* fb_jobs_last_error(const fb_jobs* h) { return h ? LastError(&h->err) : ""; }

int fb_jobs_submit(fb_jobs* h, const fb_job_params* p, char** job_id_out) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (!NeedStore(h)) return Fail(&h->err, FB_ESTATE, "the store did not open");
    if (!p) return Fail(&h->err, FB_EINVALID, "params is NULL");
    if (!job_id_out) return Fail(&h->err, FB_EINVALID, "job_id_out is NULL");
    *job_id_out = nullptr;
    std::string kind = Str(p->kind);
    if (kind != "map" && kind != "embed") {
      return Fail(&h->err, FB_EINVALID, "kind must be \"map\" or \"embed\"");
    }
    if (!p->index_dir) return Fail(&h->err, FB_EINVALID, "index_dir is NULL");
    foldback::jobs::SubmitRequest r;
    r.kind = kind;
    r.index_dir = p->index_dir;
    r.matter = Str(p->matter);
    std::string error;
    if (!Strings(p->filters, p->filter_count, "filters", &r.filters, &error)) {
      return Fail(&h->err, FB_EINVALID, error);
    }
    if (p->restrict_matters) {
      std::vector<std::string> walls;
      if (!Strings(p->allowed_matters, p->allowed_matter_count, "allowed_matters", &walls,
                   &error)) {
        return Fail(&h->err, FB_EINVALID, error);
      }
      r.allowed_matters = std::set<std::string>(walls.begin(), walls.end());
    }
    r.instructions = Str(p->instructions);
    r.program_json = Str(p->program_json);
    r.program_source = "program_json";
    r.question = Str(p->question);
    r.endpoint.url = Str(p->endpoint_url);
    r.endpoint.provider = p->provider && *p->provider ? p->provider : "openai";
    r.endpoint.model = Str(p->model);
    r.endpoint.api_key_env = Str(p->api_key_env);
    r.endpoint.api_version = Str(p->api_version);
    if (!Strings(p->redact, p->redact_count, "redact", &r.redact, &error)) {
      return Fail(&h->err, FB_EINVALID, error);
    }
    r.embed_batch = p->embed_batch;
    r.token_budget = p->token_budget;
    r.lease.lease_ms = p->lease_ms;
    r.lease.max_attempts = p->max_attempts;
    r.limits.requests_per_minute = p->requests_per_minute;
    r.limits.max_requests = p->max_requests;
    r.limits.max_tokens = p->max_tokens;
    auto done = foldback::jobs::SubmitJob(*h->store, r);
    if (!done.ok()) return Report(&h->err, done.status());
    *job_id_out = Dup(done->job_id);
    return *job_id_out ? FB_OK : Fail(&h->err, FB_ENOMEM, "out of memory");
  });
}

int fb_jobs_work(fb_jobs* h, const char* job_id, uint32_t concurrency, fb_job_work_report* out) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (!NeedStore(h)) return Fail(&h->err, FB_ESTATE, "the store did not open");
    if (out) std::memset(out, 0, sizeof *out);
    foldback::jobs::WorkerOptions o;
    o.concurrency = concurrency == 0 ? 16 : concurrency;
    o.until_idle = true;
    o.only_job = Str(job_id);
    auto report = foldback::jobs::RunWorker(*h->store, o);
    if (!report.ok()) return Report(&h->err, report.status());
    if (out) {
      out->done = report->done;
      out->failed = report->failed;
      out->retried = report->retried;
      out->duplicates = report->duplicates;
      out->requests = report->requests;
    }
    return FB_OK;
  });
}

int fb_jobs_status(fb_jobs* h, const char* job_id, fb_job_status* out) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (!NeedStore(h)) return Fail(&h->err, FB_ESTATE, "the store did not open");
    if (!job_id) return Fail(&h->err, FB_EINVALID, "job_id is NULL");
    if (!out) return Fail(&h->err, FB_EINVALID, "status_out is NULL");
    std::memset(out, 0, sizeof *out);
    auto j = h->store->GetJob(job_id);
    if (!j.ok()) return Report(&h->err, j.status());
    out->total = j->progress.total;
    out->pending = j->progress.pending;
    out->leased = j->progress.leased;
    out->done = j->progress.done;
    out->failed = j->progress.failed;
    out->attempts = j->progress.attempts;
    out->requests = j->counters.requests;
    out->tokens = j->counters.tokens;
    out->cancelled = j->state == foldback::jobs::JobState::kCancelled;
    out->finished = j->progress.finished();
    return FB_OK;
  });
}

int fb_jobs_results_jsonl(fb_jobs* h, const char* job_id, int include_failed, char** jsonl_out) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (!NeedStore(h)) return Fail(&h->err, FB_ESTATE, "the store did not open");
    if (!job_id) return Fail(&h->err, FB_EINVALID, "job_id is NULL");
    if (!jsonl_out) return Fail(&h->err, FB_EINVALID, "jsonl_out is NULL");
    *jsonl_out = nullptr;
    auto text = foldback::jobs::JobResultsJsonl(*h->store, job_id, include_failed != 0,
                                                /*raw=*/false, nullptr);
    if (!text.ok()) return Report(&h->err, text.status());
    *jsonl_out = Dup(*text);
    return *jsonl_out ? FB_OK : Fail(&h->err, FB_ENOMEM, "out of memory");
  });
}

int fb_jobs_cancel(fb_jobs* h, const char* job_id) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (!NeedStore(h)) return Fail(&h->err, FB_ESTATE, "the store did not open");
    if (!job_id) return Fail(&h->err, FB_EINVALID, "job_id is NULL");
    Status s = h->store->Cancel(job_id);
    return s.ok() ? FB_OK : Report(&h->err, s);
  });
}
