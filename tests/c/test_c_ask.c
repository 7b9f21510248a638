/* The ask state machine and the feedback log driven from C, as a C#, Java or
 * Python host would drive them: needs answered with canned strings and
 * canned HTTP bodies (no network), failures, deadlines, ethical walls,
 * lifetimes, then feedback recorded, folded back and exported; and
 * fb_ask_run_http against the OpenAI-compatible test server on loopback.
 * usage: foldback_c_ask_test TEST_DATA_DIR LLM_TEST_SERVER_BINARY */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foldback.h"
#include "test_check.h"
#include "test_server.h"

/* A canary, not a real key: it must appear in no request body, trace or
 * error message. */
static const char* kCanaryKey = "sk-canary-capi-not-a-real-key-7f3a9c";
static const char* kCanaryMark = "canary-capi";

static const char* kQuestion = "How can the agreement be terminated and on what notice?";

/* A small corpus in three matters; "escrow applies" only appears behind m-acme's wall. */
static fb_index* make_index(fb_embedder_kind embedder, uint32_t dimension) {
  static const char* docs[][3] = {
      {"nda-acme", "m-acme",
       "Termination. Either party may terminate this Agreement upon thirty (30) days written "
       "notice to the other party. Confidentiality obligations survive termination for five "
       "years. Zanzibar escrow applies."},
      {"lease-globex", "m-globex",
       "Termination for convenience. The Tenant may terminate the lease on ninety days notice "
       "to the Landlord. Rent is payable monthly in advance."},
      {"msa-public", "",
       "Governing law. This Master Services Agreement is governed by the laws of Delaware. The "
       "Supplier shall indemnify the Customer against third party claims."},
      {"supply-public", "",
       "Payment terms. Invoices are payable within forty-five days. Either party may terminate "
       "for material breach not cured within sixty days after notice."},
      {"employment-globex", "m-globex",
       "Resignation. The employee may resign by giving four weeks notice. A non-compete applies "
       "for twelve months after termination of employment."},
  };
  int err = 0;
  size_t i;
  fb_index_params p = fb_index_default_params();
  fb_index* index;
  p.embedder = embedder;
  p.dimension = dimension;
  index = fb_index_init(&p, &err);
  CHECK(index != NULL && err == FB_OK);
  if (!index) exit(1);
  for (i = 0; i < sizeof docs / sizeof docs[0]; ++i) {
    fb_document d;
    memset(&d, 0, sizeof d);
    d.id = docs[i][0];
    d.matter = docs[i][1];
    d.text = docs[i][2];
    CHECK(fb_index_add(index, &d, NULL) == FB_OK);
  }
  return index;
}

/* What a loop over needs saw. */
struct seen {
  unsigned needs, rewrites, answers, embeds, queries, retrieved, retrieved_hits;
  int leaked;          /* a walled-off word reached a prompt or an event */
  const char* secret;  /* the word that must not reach a prompt; NULL: none */
  const char* walled;  /* the document that must not be retrieved; NULL: none */
  int demo_seen;       /* a prompt held `demo` */
  const char* demo;
};

static fb_need_result text_result(const char* text) {
  fb_need_result r = fb_need_default_result();
  r.text = text;
  r.model = "canned-model";
  r.elapsed_ms = 3;
  return r;
}

static void look_at_need(const fb_need* n, struct seen* s) {
  size_t m;
  s->needs++;
  for (m = 0; m < n->message_count; ++m) {
    if (s->secret && strstr(n->messages[m].content, s->secret)) s->leaked = 1;
    if (s->demo && strstr(n->messages[m].content, s->demo)) s->demo_seen = 1;
  }
}

static void drain_events(fb_ask* ask, struct seen* s) {
  fb_events* events = NULL;
  size_t i, h;
  CHECK(fb_ask_take_events(ask, &events) == FB_OK);
  for (i = 0; i < fb_events_count(events); ++i) {
    const fb_event* e = fb_events_get(events, i);
    if (e->kind == FB_EVENT_QUERY) s->queries++;
    if (e->kind == FB_EVENT_RETRIEVED) {
      s->retrieved++;
      s->retrieved_hits += (unsigned)e->hit_count;
      for (h = 0; h < e->hit_count; ++h) {
        if (s->walled && strcmp(e->hits[h].doc_id, s->walled) == 0) s->leaked = 1;
      }
    }
  }
  CHECK(fb_events_get(events, fb_events_count(events)) == NULL);
  fb_events_free(events);
}

/* Answers every need with canned text until the session is done:
 * hop 1's query, later hops' query, the answer. */
static void run_canned(fb_ask* ask, const char* q1, const char* q2, const char* answer,
                       struct seen* s) {
  double now = 1000;
  int rounds = 0;
  while (!fb_ask_done(ask) && rounds++ < 50) {
    fb_needs* needs = NULL;
    size_t i;
    CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
    for (i = 0; i < fb_needs_count(needs); ++i) {
      const fb_need* n = fb_needs_get(needs, i);
      fb_need_result r;
      look_at_need(n, s);
      CHECK(n->kind == FB_NEED_LLM);
      if (strcmp(n->purpose, "rewrite") == 0) {
        s->rewrites++;
        CHECK(n->message_count >= 2 && strcmp(n->messages[0].role, "system") == 0);
        r = text_result(n->hop == 1 ? q1 : q2);
      } else {
        CHECK(strcmp(n->purpose, "answer") == 0 && n->hop == 0);
        s->answers++;
        r = text_result(answer);
      }
      now += 10;
      CHECK(fb_ask_provide(ask, n->id, &r, now) == FB_OK);
    }
    fb_needs_free(needs);
    drain_events(ask, s);
  }
  CHECK(fb_ask_done(ask));
}

static int passages_include(const fb_ask* ask, const char* chunk_id) {
  size_t i;
  for (i = 0; i < fb_ask_passage_count(ask); ++i) {
    if (strcmp(fb_ask_passage(ask, i)->chunk_id, chunk_id) == 0) return 1;
  }
  return 0;
}

/* A two-hop ask answered with canned strings. */
static void canned_ask(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  struct seen s;
  const char* trace;
  size_t i;
  memset(&s, 0, sizeof s);
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  p.depth = 3;
  p.top_k = 4;
  p.trace_id = "trace-canned-1";
  CHECK(fb_ask_start(index, kQuestion, &p, 1000, &ask) == FB_OK && ask != NULL);
  if (!ask) return;
  /* Nothing to read before the end. */
  CHECK(fb_ask_passage_count(ask) == 0 && fb_ask_passage(ask, 0) == NULL);
  CHECK(fb_ask_answer(ask) == NULL && fb_ask_trace_json(ask) == NULL && fb_ask_hop_count(ask) == 0);
  CHECK(fb_ask_save_trace(ask, "/tmp") == FB_ESTATE);
  CHECK(strcmp(fb_ask_trace_id(ask), "trace-canned-1") == 0);
  /* The index refuses changes while a session reads it. */
  CHECK(fb_index_remove(index, "msa-public") == FB_ESTATE);
  CHECK(strstr(fb_index_last_error(index), "ask session") != NULL);

  run_canned(ask, "terminate written notice days", "confidentiality survive termination",
             "Either party may terminate on thirty days written notice [1].", &s);
  CHECK(s.rewrites == 2 && s.answers == 1);
  CHECK(s.queries == 2 && s.retrieved == 2 && s.retrieved_hits > 0);
  CHECK(fb_ask_hop_count(ask) == 2);
  if (fb_ask_hop_count(ask) == 2) {
    CHECK(strcmp(fb_ask_hop(ask, 0)->query, "terminate written notice days") == 0);
    CHECK(strcmp(fb_ask_hop(ask, 0)->source, "llm") == 0);
    CHECK(fb_ask_hop(ask, 0)->hop == 1 && fb_ask_hop(ask, 0)->results > 0);
    CHECK(strcmp(fb_ask_hop(ask, 1)->query, "confidentiality survive termination") == 0);
  }
  CHECK(fb_ask_hop(ask, 2) == NULL);
  CHECK(fb_ask_passage_count(ask) >= 2 && fb_ask_passage_count(ask) <= 4);
  CHECK(fb_ask_passage(ask, fb_ask_passage_count(ask)) == NULL);
  CHECK(strstr(fb_ask_answer(ask), "thirty days") != NULL);
  CHECK(fb_ask_citation_count(ask) == 1);
  if (fb_ask_citation_count(ask) == 1) {
    const fb_citation* c = fb_ask_citation(ask, 0);
    CHECK(c->marker == 1 && passages_include(ask, c->chunk_id));
  }
  trace = fb_ask_trace_json(ask);
  CHECK(trace && strstr(trace, "\"trace_id\":\"trace-canned-1\"") != NULL);
  CHECK(trace && strstr(trace, "confidentiality survive termination") != NULL);
  CHECK(trace && strstr(trace, "\"answer\":\"Either party") != NULL);
  CHECK(trace && strstr(trace, "canned-model") != NULL);
  for (i = 0; i < fb_ask_passage_count(ask); ++i) CHECK(fb_ask_passage(ask, i)->text[0] != '\0');
  /* No folder: nowhere to save the trace by default. */
  CHECK(fb_ask_save_trace(ask, NULL) == FB_ESTATE);
  fb_ask_free(ask);
  CHECK(fb_index_remove(index, "msa-public") == FB_OK); /* free again */
  fb_index_free(index);
}

/* An LLM that fails: the session falls back, says so, and still answers
 * with passages. */
static void failing_llm(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  int rounds = 0;
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  while (!fb_ask_done(ask) && rounds++ < 50) {
    fb_needs* needs = NULL;
    size_t i;
    CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
    for (i = 0; i < fb_needs_count(needs); ++i) {
      fb_need_result r = fb_need_default_result();
      r.status = FB_EUNAVAILABLE;
      r.message = "endpoint down (HTTP 503 after 3 attempts)";
      r.attempts = 3;
      CHECK(fb_ask_provide(ask, fb_needs_get(needs, i)->id, &r, 5) == FB_OK);
    }
    fb_needs_free(needs);
  }
  CHECK(fb_ask_done(ask));
  CHECK(fb_ask_hop_count(ask) >= 1);
  if (fb_ask_hop_count(ask) >= 1) CHECK(strncmp(fb_ask_hop(ask, 0)->source, "fallback", 8) == 0);
  CHECK(fb_ask_hop_count(ask) >= 1 && fb_ask_hop(ask, 0)->note[0] != '\0');
  CHECK(fb_ask_passage_count(ask) > 0);
  CHECK(strcmp(fb_ask_answer(ask), "") == 0);
  CHECK(fb_ask_citation_count(ask) == 0);
  CHECK(strstr(fb_ask_trace_json(ask), "endpoint down") != NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

/* Return codes and last errors of misuse; nothing changes on failure. */
static void misuse(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = (fb_ask*)1;
  fb_needs* needs = NULL;
  fb_events* events = NULL;
  fb_need_result r = text_result("notice of termination");
  const char* null_filter[] = {NULL};
  const char* bad_filter[] = {"no_such_field=1"};
  uint64_t id;
  char* url = NULL;
  char* body = NULL;
  fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();

  p.mode = FB_MODE_BM25;
  /* fb_ask_start: each bad argument, each with a message on the index. */
  CHECK(fb_ask_start(NULL, kQuestion, &p, 0, &ask) == FB_EINVALID);
  CHECK(fb_ask_start(index, NULL, &p, 0, &ask) == FB_EINVALID);
  CHECK(fb_ask_start(index, kQuestion, &p, 0, NULL) == FB_EINVALID);
  CHECK(fb_ask_start(index, "   ", &p, 0, &ask) == FB_EINVALID && ask == NULL);
  CHECK(strstr(fb_index_last_error(index), "question") != NULL);
  CHECK(fb_ask_start(index, kQuestion, &p, NAN, &ask) == FB_EINVALID);
  p.hops = 0;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "hops") != NULL);
  p = fb_ask_default_params();
  p.rewrite = (fb_rewrite_mode)9;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  p = fb_ask_default_params();
  p.filters = null_filter;
  p.filter_count = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  p.filters = bad_filter;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "no_such_field") != NULL);
  p = fb_ask_default_params();
  p.trace_id = "../../etc/passwd";
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "trace_id") != NULL);
  p = fb_ask_default_params();
  p.program_json = "{not json";
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "program_json") != NULL);
  p = fb_ask_default_params();
  p.use_feedback = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_ESTATE);
  CHECK(strstr(fb_index_last_error(index), "folder") != NULL);

  /* A session, and misuse of it. */
  p = fb_ask_default_params();
  p.mode = FB_MODE_BM25;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  CHECK(fb_ask_take_needs(NULL, &needs) == FB_EINVALID);
  CHECK(fb_ask_take_needs(ask, NULL) == FB_EINVALID);
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK && fb_needs_count(needs) == 1);
  id = fb_needs_count(needs) ? fb_needs_get(needs, 0)->id : 0;
  CHECK(fb_needs_get(needs, 1) == NULL && fb_needs_get(NULL, 0) == NULL && fb_needs_count(NULL) == 0);
  fb_needs_free(needs);
  fb_needs_free(NULL);
  CHECK(fb_ask_provide(NULL, id, &r, 1) == FB_EINVALID);
  CHECK(fb_ask_provide(ask, id, NULL, 1) == FB_EINVALID);
  CHECK(fb_ask_provide(ask, id + 100, &r, 1) == FB_EINVALID);
  CHECK(strstr(fb_ask_last_error(ask), "unknown") != NULL);
  r.status = 42;
  CHECK(fb_ask_provide(ask, id, &r, 1) == FB_EINVALID);
  CHECK(strstr(fb_ask_last_error(ask), "42") != NULL);
  r.status = FB_OK;
  CHECK(fb_ask_provide(ask, id, &r, INFINITY) == FB_EINVALID);
  /* HTTP helpers refuse what cannot be a request. */
  CHECK(fb_ask_need_http_request(ask, id, NULL, &url, &body) == FB_EINVALID);
  CHECK(fb_ask_need_http_request(ask, id, &ep, NULL, &body) == FB_EINVALID);
  CHECK(fb_ask_need_http_request(ask, id, &ep, &url, NULL) == FB_EINVALID);
  ep.url = "ftp://example.com/v1";
  CHECK(fb_ask_need_http_request(ask, id, &ep, &url, &body) == FB_EINVALID && url == NULL);
  ep.url = "https://lawyer:hunter2secret@example.com/v1";
  CHECK(fb_ask_need_http_request(ask, id, &ep, &url, &body) == FB_EINVALID);
  CHECK(strstr(fb_ask_last_error(ask), "credentials") != NULL);
  CHECK(strstr(fb_ask_last_error(ask), "hunter2") == NULL);
  ep.url = "http://127.0.0.1:9/v1";
  ep.provider = "carrier-pigeon";
  CHECK(fb_ask_need_http_request(ask, id, &ep, &url, &body) == FB_EINVALID);
  CHECK(fb_ask_provide_http_response(ask, id, 200, NULL, 10, 1, 1) == FB_EINVALID);
  CHECK(fb_ask_provide_http_response(ask, id + 100, 502, NULL, 0, 1, 1) == FB_EINVALID);
  CHECK(fb_ask_run_http(ask, NULL, NULL, NULL) == FB_EINVALID);
  ep = fb_llm_endpoint_default_params();
  CHECK(fb_ask_run_http(ask, &ep, NULL, NULL) == FB_ESTATE); /* need `id` is the host's */
  /* After all that, the need is still there to answer — once. */
  CHECK(fb_ask_provide(ask, id, &r, 1) == FB_OK);
  CHECK(fb_ask_provide(ask, id, &r, 2) == FB_EINVALID);
  CHECK(fb_ask_tick(NULL, 1) == FB_EINVALID);
  CHECK(fb_ask_tick(ask, NAN) == FB_EINVALID);
  CHECK(fb_ask_take_events(NULL, &events) == FB_EINVALID);
  CHECK(fb_ask_take_events(ask, NULL) == FB_EINVALID);
  CHECK(fb_events_count(NULL) == 0 && fb_events_get(NULL, 0) == NULL);
  fb_events_free(NULL);
  CHECK(fb_ask_done(NULL) == 0);
  CHECK(fb_ask_passage_count(NULL) == 0 && fb_ask_passage(NULL, 0) == NULL);
  CHECK(fb_ask_answer(NULL) == NULL && fb_ask_trace_json(NULL) == NULL);
  CHECK(fb_ask_trace_id(NULL) == NULL && fb_ask_hop(NULL, 0) == NULL);
  CHECK(fb_ask_citation_count(NULL) == 0 && fb_ask_citation(NULL, 0) == NULL);
  CHECK(fb_ask_hop_count(NULL) == 0);
  CHECK(fb_ask_save_trace(NULL, "/tmp") == FB_EINVALID);
  CHECK(strcmp(fb_ask_last_error(NULL), "") == 0);
  CHECK(fb_ask_need_http_request(NULL, 1, &ep, &url, &body) == FB_EINVALID);
  CHECK(fb_ask_provide_http_response(NULL, 1, 200, "", 0, 1, 1) == FB_EINVALID);
  CHECK(fb_ask_run_http(NULL, &ep, NULL, NULL) == FB_EINVALID);
  fb_ask_free(ask);
  fb_ask_free(NULL);
  fb_index_free(index);
}

/* The deadline passes while the host waits: Tick finishes offline. */
static void deadline(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_needs* needs = NULL;
  fb_need_result r = text_result("late query");
  uint64_t id = 0;
  p.mode = FB_MODE_BM25;
  p.deadline_ms = 1000;
  CHECK(fb_ask_start(index, kQuestion, &p, 50000, &ask) == FB_OK);
  if (!ask) return;
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK && fb_needs_count(needs) == 1);
  if (fb_needs_count(needs) == 1) {
    CHECK(fb_needs_get(needs, 0)->timeout_ms > 0 && fb_needs_get(needs, 0)->timeout_ms <= 1000);
    id = fb_needs_get(needs, 0)->id;
  }
  fb_needs_free(needs);
  CHECK(fb_ask_tick(ask, 50500) == FB_OK && !fb_ask_done(ask));
  CHECK(fb_ask_tick(ask, 51500) == FB_OK && fb_ask_done(ask));
  CHECK(fb_ask_passage_count(ask) > 0);
  CHECK(strstr(fb_ask_trace_json(ask), "deadline") != NULL);
  /* The abandoned need's late result is accepted and ignored. */
  CHECK(fb_ask_provide(ask, id, &r, 52000) == FB_OK);
  CHECK(strstr(fb_ask_trace_json(ask), "late query") == NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

/* Ethical walls: a user cleared for m-globex never sees m-acme's passages,
 * not in the result, not in a prompt, not in an event. */
static void walls(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  struct seen s;
  const char* matters[] = {"m-globex"};
  size_t i;
  memset(&s, 0, sizeof s);
  s.secret = "escrow applies"; /* from nda-acme's text, not in the question */
  s.walled = "nda-acme";
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  p.restrict_matters = 1;
  p.allowed_matters = matters;
  p.allowed_matter_count = 1;
  CHECK(fb_ask_start(index, "zanzibar escrow termination notice", &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "zanzibar escrow terminate notice", "termination thirty days zanzibar",
             "Notice is required [1].", &s);
  CHECK(s.needs >= 3);
  CHECK(!s.leaked);
  CHECK(fb_ask_passage_count(ask) > 0);
  for (i = 0; i < fb_ask_passage_count(ask); ++i) {
    const fb_hit* h = fb_ask_passage(ask, i);
    CHECK(strcmp(h->matter, "m-acme") != 0);
    CHECK(strstr(h->text, "escrow applies") == NULL);
  }
  CHECK(strstr(fb_ask_trace_json(ask), "nda-acme") == NULL);
  fb_ask_free(ask);
  /* The same question without the wall does reach nda-acme. */
  memset(&s, 0, sizeof s);
  p.restrict_matters = 0;
  CHECK(fb_ask_start(index, "zanzibar escrow termination notice", &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "zanzibar escrow terminate notice", "termination thirty days zanzibar",
             "Notice is required [1].", &s);
  CHECK(strstr(fb_ask_trace_json(ask), "nda-acme") != NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

/* Redaction: nothing a pattern matches reaches any need; the trace says
 * which pattern fired, not what it replaced. A pattern outside the language
 * is refused with FB_EINVALID. */
static void redaction(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  struct seen s;
  const char* patterns[] = {"(?i)zanzibar", "\\b\\d{2} ?\\(?\\d*\\)? ?days"};
  const char* bad[] = {"^anchored"};
  const char* trace;
  memset(&s, 0, sizeof s);
  s.secret = "anzibar"; /* in nda-acme's text and in the question */
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  p.redact_patterns = patterns;
  p.redact_pattern_count = 2;
  CHECK(fb_ask_start(index, "Zanzibar escrow: termination notice?", &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "zanzibar escrow terminate notice", "termination notice days",
             "Notice is required [1].", &s);
  CHECK(s.needs >= 3);
  CHECK(!s.leaked);
  trace = fb_ask_trace_json(ask);
  CHECK(strstr(trace, "\"redactions\"") != NULL);
  CHECK(strstr(trace, "pattern-1") != NULL);
  fb_ask_free(ask);

  /* Without the patterns the word does reach the prompts (the check can fail). */
  memset(&s, 0, sizeof s);
  s.secret = "anzibar";
  p.redact_pattern_count = 0;
  CHECK(fb_ask_start(index, "Zanzibar escrow: termination notice?", &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "zanzibar escrow terminate notice", "termination notice days",
             "Notice is required [1].", &s);
  CHECK(s.leaked);
  fb_ask_free(ask);

  p.redact_patterns = bad;
  p.redact_pattern_count = 1;
  CHECK(fb_ask_start(index, "termination", &p, 0, &ask) == FB_EINVALID);
  CHECK(ask == NULL);
  CHECK(strstr(fb_index_last_error(index), "^anchored") != NULL);
  p.redact_patterns = NULL;
  CHECK(fb_ask_start(index, "termination", &p, 0, &ask) == FB_EINVALID);
  fb_index_free(index);
}

/* Invalid UTF-8 from the host — in the question, in the model's reply — is
 * repaired, never fatal, and never reaches the trace. */
static void bad_utf8(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  struct seen s;
  const char* trace;
  memset(&s, 0, sizeof s);
  p.mode = FB_MODE_BM25;
  CHECK(fb_ask_start(index, "Termination \xff\xfe notice \xc3\x28?", &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "terminate \xc3\x28 notice \xed\xa0\x80", "survive \xf8\x88\x80\x80\x80", "-", &s);
  CHECK(fb_ask_passage_count(ask) > 0);
  trace = fb_ask_trace_json(ask);
  CHECK(trace != NULL);
  CHECK(trace && strstr(trace, "\xc3\x28") == NULL && strstr(trace, "\xff") == NULL);
  CHECK(fb_ask_hop_count(ask) >= 1 && strstr(fb_ask_hop(ask, 0)->query, "terminate") != NULL);
  CHECK(fb_ask_hop_count(ask) >= 1 && strstr(fb_ask_hop(ask, 0)->query, "\xc3\x28") == NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

/* Freeing in any order is safe: a session keeps its index alive; need lists
 * outlive their session. (Run under AddressSanitizer as a CTest.) */
static void lifetimes(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_needs* needs = NULL;
  const fb_need* n;
  fb_need_result r = text_result("terminate notice");
  p.mode = FB_MODE_BM25;
  p.hops = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  fb_index_free(index); /* the session still holds the index */
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK && fb_needs_count(needs) == 1);
  n = fb_needs_get(needs, 0);
  if (n) CHECK(fb_ask_provide(ask, n->id, &r, 1) == FB_OK);
  CHECK(fb_ask_done(ask) && fb_ask_passage_count(ask) > 0);
  CHECK(strlen(fb_ask_passage(ask, 0)->text) > 0);
  fb_ask_free(ask); /* frees the index too */
  if (n) CHECK(strlen(n->messages[n->message_count - 1].content) > 0); /* the list is the caller's */
  fb_needs_free(needs);
}

/* The OpenAI-compatible request/response helpers, with canned HTTP bodies. */
static void http_helpers(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
  int rounds = 0;
  static const char* kOk =
      "{\"id\":\"c1\",\"object\":\"chat.completion\",\"model\":\"served-model\",\"choices\":[{"
      "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"[[ ## query ## ]]\\nterminate "
      "notice days\\n\\n[[ ## completed ## ]]\"},\"finish_reason\":\"stop\"}]}";
  static const char* kOverloaded = "{\"error\":{\"message\":\"model overloaded, try later\"}}";
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  ep.url = "http://127.0.0.1:9/v1";
  ep.model = "test-model";
  ep.api_key = kCanaryKey;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  while (!fb_ask_done(ask) && rounds++ < 20) {
    fb_needs* needs = NULL;
    size_t i;
    CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
    for (i = 0; i < fb_needs_count(needs); ++i) {
      const fb_need* n = fb_needs_get(needs, i);
      char* url = NULL;
      char* body = NULL;
      CHECK(fb_ask_need_http_request(ask, n->id, &ep, &url, &body) == FB_OK);
      CHECK(url && strcmp(url, "http://127.0.0.1:9/v1/chat/completions") == 0);
      CHECK(body && strstr(body, "\"model\":\"test-model\"") != NULL);
      CHECK(body && strstr(body, "\"messages\"") != NULL);
      CHECK(body && strstr(body, kCanaryMark) == NULL);
      if (n->hop == 1) {
        CHECK(fb_ask_provide_http_response(ask, n->id, 200, kOk, strlen(kOk), 12, 10) == FB_OK);
      } else if (n->hop == 2) {
        CHECK(fb_ask_provide_http_response(ask, n->id, 503, kOverloaded, strlen(kOverloaded), 5,
                                           20) == FB_OK);
      } else {
        /* The answer: a 200 whose body is not a chat completion. */
        CHECK(fb_ask_provide_http_response(ask, n->id, 200, "<html>proxy</html>", 18, 5, 30) ==
              FB_OK);
      }
      fb_string_free(url);
      fb_string_free(body);
    }
    fb_needs_free(needs);
  }
  CHECK(fb_ask_done(ask));
  CHECK(fb_ask_hop_count(ask) == 2);
  if (fb_ask_hop_count(ask) == 2) {
    CHECK(strcmp(fb_ask_hop(ask, 0)->query, "terminate notice days") == 0);
    CHECK(strncmp(fb_ask_hop(ask, 1)->source, "fallback", 8) == 0);
  }
  CHECK(strstr(fb_ask_trace_json(ask), "served-model") != NULL);
  CHECK(strstr(fb_ask_trace_json(ask), "503") != NULL);
  CHECK(strstr(fb_ask_trace_json(ask), "model overloaded") != NULL);
  CHECK(strcmp(fb_ask_answer(ask), "") == 0);
  CHECK(strstr(fb_ask_trace_json(ask), kCanaryMark) == NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

/* fb_ask_provide_http_response maps statuses as every foldback host does
 * (foldback/wire.h): 409 is Unavailable (retryable), 404 Not found, other
 * 4xx Invalid argument — the trace says which. */
static void http_status_mapping(void) {
  static const long kStatus[] = {409, 404, 422};
  static const char* kExpected[] = {"Unavailable: endpoint returned 409 Conflict: busy",
                                    "Not found: endpoint returned 404 Not Found: check the endpoint URL: busy",
                                    "Invalid argument: endpoint returned 422 Unprocessable Entity: busy"};
  static const char* kBusy = "{\"error\":{\"message\":\"busy\"}}";
  size_t k;
  for (k = 0; k < 3; ++k) {
    fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
    fb_ask_params p = fb_ask_default_params();
    fb_ask* ask = NULL;
    int rounds = 0;
    p.mode = FB_MODE_BM25;
    p.hops = 1;
    CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
    if (!ask) return;
    while (!fb_ask_done(ask) && rounds++ < 10) {
      fb_needs* needs = NULL;
      size_t i;
      CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
      for (i = 0; i < fb_needs_count(needs); ++i) {
        CHECK(fb_ask_provide_http_response(ask, fb_needs_get(needs, i)->id, kStatus[k], kBusy,
                                           strlen(kBusy), 3, 5) == FB_OK);
      }
      fb_needs_free(needs);
    }
    CHECK(fb_ask_done(ask));
    CHECK(strstr(fb_ask_trace_json(ask), kExpected[k]) != NULL);
    if (!strstr(fb_ask_trace_json(ask), kExpected[k])) fprintf(stderr, "%s\n", fb_ask_trace_json(ask));
    fb_ask_free(ask);
    fb_index_free(index);
  }
}

/* fb_ask_http_attempt: the core decides after every attempt — the same
 * retries, waits and final messages as foldback's own clients. */
static void http_attempts(void) {
  static const char* kBusy = "{\"error\":{\"message\":\"busy, key sk-canary-capi-not-a-real-key-7f3a9c\"}}";
  static const char* kReply =
      "{\"model\":\"m-1\",\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":"
      "\"{\\\"query\\\": \\\"termination notice days\\\"}\"}}]}";
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
  fb_ask* ask = NULL;
  fb_needs* needs = NULL;
  fb_http_header retry_after = {"Retry-After", "2"};
  fb_http_header retry_ms = {"retry-after-ms", "40"};
  fb_http_header no_retry = {"x-should-retry", "false"};
  fb_http_attempt at = fb_http_attempt_default();
  double wait = 0;
  uint64_t id, id2;
  const char* trace;
  ep.url = "http://127.0.0.1:9/v1";
  ep.model = "m-1";
  ep.api_key = kCanaryKey;
  p.mode = FB_MODE_BM25;
  p.hops = 2;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
  CHECK(fb_needs_count(needs) == 1);
  id = fb_needs_get(needs, 0)->id;
  fb_needs_free(needs);

  /* Bad calls change nothing. */
  CHECK(fb_ask_http_attempt(ask, id, &ep, NULL, 1, &wait) == FB_EINVALID && wait == -1);
  CHECK(fb_ask_http_attempt(ask, id + 99, &ep, &at, 1, &wait) == FB_EINVALID);
  at.transport = (fb_transport)42;
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 1, &wait) == FB_EINVALID);
  at = fb_http_attempt_default();

  /* 503 with Retry-After: 2 s -> send again in 2000 ms. */
  at.http_status = 503;
  at.headers = &retry_after;
  at.header_count = 1;
  at.body = kBusy;
  at.body_len = strlen(kBusy);
  at.elapsed_ms = 5;
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 10, &wait) == FB_OK);
  CHECK(wait == 2000);
  /* 429 with retry-after-ms: 40 -> 40 ms. */
  at.http_status = 429;
  at.headers = &retry_ms;
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 2100, &wait) == FB_OK);
  CHECK(wait == 40);
  /* A third failure ends the need: max_retries (2) are spent. */
  at.http_status = 500;
  at.headers = NULL;
  at.header_count = 0;
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 2200, &wait) == FB_OK);
  CHECK(wait == -1);
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 2300, &wait) == FB_EINVALID); /* answered */

  /* Hop 2: a cut-off reply is retried after a backoff, then the reply parses. */
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
  CHECK(fb_needs_count(needs) == 1);
  id2 = fb_needs_count(needs) ? fb_needs_get(needs, 0)->id : 0;
  fb_needs_free(needs);
  at = fb_http_attempt_default();
  at.transport = FB_TRANSPORT_CUT_OFF;
  at.why = "connection closed";
  CHECK(fb_ask_http_attempt(ask, id2, &ep, &at, 3000, &wait) == FB_OK);
  CHECK(wait >= 375 && wait <= 500);
  /* x-should-retry: false on a 503 is final at once... but first a good reply. */
  at = fb_http_attempt_default();
  at.http_status = 200;
  at.body = kReply;
  at.body_len = strlen(kReply);
  CHECK(fb_ask_http_attempt(ask, id2, &ep, &at, 3600, &wait) == FB_OK);
  CHECK(wait == -1);
  CHECK(fb_ask_done(ask));
  trace = fb_ask_trace_json(ask);
  CHECK(strstr(trace, "termination notice days") != NULL);
  CHECK(strstr(trace, "(3 attempts)") != NULL);
  CHECK(strstr(trace, "[REDACTED]") != NULL);
  CHECK(strstr(trace, kCanaryMark) == NULL);
  if (!strstr(trace, "(3 attempts)") || strstr(trace, kCanaryMark)) fprintf(stderr, "%s\n", trace);
  /* The spans a C host sends to its collector: the core's, no text by default. */
  {
    char* otlp = NULL;
    CHECK(fb_ask_otlp_json(ask, -1, &ep, NULL, 0, &otlp) == FB_EINVALID && otlp == NULL);
    CHECK(fb_ask_otlp_json(ask, 1733400000000.0, &ep, "c-host", 0, &otlp) == FB_OK && otlp != NULL);
    if (otlp) {
      CHECK(strstr(otlp, "\"invoke_agent foldback\"") != NULL);
      CHECK(strstr(otlp, "\"chat m-1\"") != NULL);
      CHECK(strstr(otlp, "\"c-host\"") != NULL);
      CHECK(strstr(otlp, "\"error.type\"") != NULL); /* hop 1's failed call */
      CHECK(strstr(otlp, "\"server.port\"") != NULL);
      CHECK(strstr(otlp, "terminate") == NULL && strstr(otlp, "termination") == NULL);
      CHECK(strstr(otlp, kCanaryMark) == NULL);
      fb_string_free(otlp);
    }
    CHECK(fb_ask_otlp_json(ask, 1733400000000.0, NULL, NULL, 1, &otlp) == FB_OK && otlp != NULL);
    if (otlp) {
      CHECK(strstr(otlp, "termination notice days") != NULL); /* a hop query, content on */
      fb_string_free(otlp);
    }
  }
  fb_ask_free(ask);

  /* x-should-retry: false makes a 503 final after one attempt. */
  p.hops = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
  id = fb_needs_count(needs) ? fb_needs_get(needs, 0)->id : 0;
  fb_needs_free(needs);
  at = fb_http_attempt_default();
  at.http_status = 503;
  at.headers = &no_retry;
  at.header_count = 1;
  CHECK(fb_ask_http_attempt(ask, id, &ep, &at, 1, &wait) == FB_OK);
  CHECK(wait == -1);
  CHECK(fb_ask_done(ask));
  fb_ask_free(ask);
  fb_index_free(index);
}

/* fb_ask_run_http against a port where nothing listens: every need fails
 * fast, the session falls back, the key appears nowhere. */
static void run_http_refused(void) {
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
  p.mode = FB_MODE_BM25;
  ep.url = "http://127.0.0.1:9/v1";
  ep.model = "m";
  ep.api_key = kCanaryKey;
  ep.max_retries = 0;
  ep.timeout_ms = 5000;
  CHECK(fb_ask_start(index, kQuestion, &p, fb_monotonic_ms(), &ask) == FB_OK);
  if (!ask) return;
  ep.provider = "carrier-pigeon";
  CHECK(fb_ask_run_http(ask, &ep, NULL, NULL) == FB_EINVALID);
  CHECK(strstr(fb_ask_last_error(ask), "carrier-pigeon") != NULL);
  ep.provider = NULL;
  CHECK(fb_ask_run_http(ask, &ep, NULL, NULL) == FB_OK);
  CHECK(fb_ask_done(ask) && fb_ask_passage_count(ask) > 0);
  CHECK(fb_ask_hop_count(ask) >= 1 && strncmp(fb_ask_hop(ask, 0)->source, "fallback", 8) == 0);
  CHECK(strstr(fb_ask_trace_json(ask), kCanaryMark) == NULL);
  CHECK(strstr(fb_ask_last_error(ask), kCanaryMark) == NULL);
  fb_ask_free(ask);
  fb_index_free(index);
}

struct events_seen {
  unsigned queries, retrieved, answers, errors;
};

static void on_event(const fb_event* e, void* user_data) {
  struct events_seen* s = (struct events_seen*)user_data;
  if (e->kind == FB_EVENT_QUERY) s->queries++;
  if (e->kind == FB_EVENT_RETRIEVED && e->hit_count > 0 && e->hits[0].chunk_id[0]) s->retrieved++;
  if (e->kind == FB_EVENT_ANSWER) s->answers++;
  if (e->kind == FB_EVENT_ERROR) s->errors++;
}

/* fb_ask_run_http against the test server, which wants an API key: with
 * the right key every hop is the LLM's; with a wrong one the session falls
 * back and says 401. The key appears in no trace and no message. */
static void run_http_server(const char* server_bin) {
  static const char* kKey = "sk-test-KEY-0123456789abcdefghij";
  char script[] = "/tmp/foldback-c-llm-XXXXXX";
  char url[256];
  int fd = mkstemp(script);
  FILE* f = fd >= 0 ? fdopen(fd, "w") : NULL;
  pid_t pid;
  int round;
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  CHECK(f != NULL);
  if (!f) return;
  fprintf(f, "{\"echo\": true, \"expected_key\": \"%s\"}\n", kKey);
  fclose(f);
  pid = start_server(server_bin, script, url, sizeof url);
  CHECK(pid > 0);
  for (round = 0; pid > 0 && round < 2; ++round) {
    fb_ask_params p = fb_ask_default_params();
    fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
    fb_ask* ask = NULL;
    struct events_seen seen;
    const char* trace;
    memset(&seen, 0, sizeof seen);
    p.mode = FB_MODE_BM25;
    p.answer = 1;
    ep.url = url;
    ep.model = "echo";
    ep.api_key = round == 0 ? kKey : "sk-test-WRONG-0123456789abcdef";
    ep.max_retries = 0;
    CHECK(fb_ask_start(index, kQuestion, &p, fb_monotonic_ms(), &ask) == FB_OK);
    if (!ask) break;
    CHECK(fb_ask_run_http(ask, &ep, on_event, &seen) == FB_OK);
    CHECK(fb_ask_done(ask) && fb_ask_passage_count(ask) > 0);
    CHECK(seen.queries == 2 && seen.retrieved >= 1);
    trace = fb_ask_trace_json(ask);
    CHECK(trace && strstr(trace, "KEY-0123") == NULL && strstr(trace, "WRONG-0123") == NULL);
    if (round == 0) {
      /* The echo server writes the question as each hop's query. */
      CHECK(fb_ask_hop_count(ask) == 2);
      if (fb_ask_hop_count(ask) == 2) {
        CHECK(strcmp(fb_ask_hop(ask, 0)->source, "llm") == 0);
        CHECK(strcmp(fb_ask_hop(ask, 0)->query, kQuestion) == 0);
      }
      CHECK(seen.answers == 1 && seen.errors == 0);
      CHECK(strncmp(fb_ask_answer(ask), "Echo: ", 6) == 0);
      CHECK(fb_ask_citation_count(ask) == 1);
    } else {
      CHECK(fb_ask_hop_count(ask) >= 1 && strncmp(fb_ask_hop(ask, 0)->source, "fallback", 8) == 0);
      CHECK(seen.errors >= 1);
      CHECK(trace && strstr(trace, "401") != NULL);
      CHECK(strcmp(fb_ask_answer(ask), "") == 0);
    }
    fb_ask_free(ask);
  }
  stop_server(pid);
  remove(script);
  fb_index_free(index);
}

/* A deterministic toy embedding: words hashed into 16 buckets. */
static void embed(const char* text, float* out) {
  unsigned h = 2166136261u;
  int k;
  float norm = 0;
  for (k = 0; k < 16; ++k) out[k] = 0;
  for (;; ++text) {
    char c = *text;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      h = (h ^ (unsigned)(c | 32)) * 16777619u;
    } else {
      if (h != 2166136261u) out[h % 16] += 1;
      h = 2166136261u;
      if (!c) break;
    }
  }
  for (k = 0; k < 16; ++k) norm += out[k] * out[k];
  if (norm == 0) out[0] = 1, norm = 1;
  for (k = 0; k < 16; ++k) out[k] /= (float)sqrt(norm);
}

/* An index whose vectors the host computes: chunks to embed, embedding
 * needs, vectors handed back raw or as an /embeddings reply. */
static void external_embeddings(void) {
  fb_index* index = make_index(FB_EMBEDDER_EXTERNAL, 16);
  fb_results* missing = NULL;
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  size_t i;
  int round;
  float v[16];
  CHECK(fb_index_build_dense(index) == FB_ESTATE); /* vectors missing */
  CHECK(fb_index_chunks_missing_vectors(index, 0, &missing) == FB_OK);
  CHECK(fb_results_count(missing) == fb_index_chunk_count(index));
  for (i = 0; i < fb_results_count(missing); ++i) {
    const fb_hit* h = fb_results_get(missing, i);
    embed(h->text, v);
    CHECK(fb_index_set_chunk_vector(index, h->chunk_id, v, 16) == FB_OK);
  }
  CHECK(fb_index_set_chunk_vector(index, fb_results_get(missing, 0)->chunk_id, v, 3) == FB_EINVALID);
  fb_results_free(missing);
  CHECK(fb_index_build_dense(index) == FB_OK);

  p.mode = FB_MODE_HYBRID;
  p.rewrite = FB_REWRITE_NONE;
  for (round = 0; round < 3; ++round) {
    /* 0: good vectors; 1: a NaN (a failed need); 2: an /embeddings reply. */
    int embeds = 0, rounds = 0;
    CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
    if (!ask) return;
    while (!fb_ask_done(ask) && rounds++ < 20) {
      fb_needs* needs = NULL;
      CHECK(fb_ask_take_needs(ask, &needs) == FB_OK);
      for (i = 0; i < fb_needs_count(needs); ++i) {
        const fb_need* n = fb_needs_get(needs, i);
        fb_need_result r = fb_need_default_result();
        CHECK(n->kind == FB_NEED_EMBED && n->text_count == 1);
        embeds++;
        embed(n->texts[0], v);
        r.vectors = v;
        r.vector_count = 1;
        r.dimension = 16;
        if (round == 1) v[3] = (float)NAN;
        if (round == 2) {
          char* url = NULL;
          char* body = NULL;
          char reply[1024];
          int k, len;
          fb_llm_endpoint_params ep = fb_llm_endpoint_default_params();
          ep.embed_url = "http://127.0.0.1:9/v1";
          ep.embed_model = "toy-embedder";
          CHECK(fb_ask_need_http_request(ask, n->id, &ep, &url, &body) == FB_OK);
          CHECK(url && strcmp(url, "http://127.0.0.1:9/v1/embeddings") == 0);
          CHECK(body && strstr(body, "toy-embedder") != NULL);
          fb_string_free(url);
          fb_string_free(body);
          len = snprintf(reply, sizeof reply, "{\"model\":\"toy-embedder\",\"data\":[{\"index\":0,\"embedding\":[");
          for (k = 0; k < 16; ++k) len += snprintf(reply + len, sizeof reply - (size_t)len, "%s%g", k ? "," : "", v[k]);
          len += snprintf(reply + len, sizeof reply - (size_t)len, "]}]}");
          CHECK(fb_ask_provide_http_response(ask, n->id, 200, reply, (size_t)len, 2, 1) == FB_OK);
        } else {
          CHECK(fb_ask_provide(ask, n->id, &r, 1) == FB_OK);
        }
      }
      fb_needs_free(needs);
    }
    CHECK(fb_ask_done(ask) && embeds >= 1);
    CHECK(fb_ask_passage_count(ask) > 0);
    if (round == 1) CHECK(strstr(fb_ask_trace_json(ask), "finite") != NULL);
    else CHECK(strstr(fb_ask_trace_json(ask), "finite") == NULL);
    fb_ask_free(ask);
  }
  fb_index_free(index);
}

/* Position of a chunk in a search's results, or 1000. */
static size_t rank_of(const fb_index* index, const char* query, const fb_search_params* sp,
                      const char* chunk_id) {
  fb_results* r = NULL;
  size_t i, rank = 1000;
  CHECK(fb_index_search(index, query, sp, &r) == FB_OK);
  for (i = 0; i < fb_results_count(r); ++i) {
    if (strcmp(fb_results_get(r, i)->chunk_id, chunk_id) == 0) rank = i;
  }
  fb_results_free(r);
  return rank;
}

/* The doc ids of a search's results, joined. */
static void ranking(const fb_index* index, const char* query, const fb_search_params* sp,
                    char* out, size_t size) {
  fb_results* r = NULL;
  size_t i;
  out[0] = '\0';
  CHECK(fb_index_search(index, query, sp, &r) == FB_OK);
  for (i = 0; i < fb_results_count(r); ++i) {
    char item[128];
    snprintf(item, sizeof item, "%s:%.6f ", fb_results_get(r, i)->chunk_id, fb_results_get(r, i)->score);
    strncat(out, item, size - strlen(out) - 1);
  }
  fb_results_free(r);
}

/* Whether an ask's first rewrite prompt holds `text` (a demo from feedback). */
static int demo_in_prompt(const fb_index* index, const fb_ask_params* p, const char* text) {
  fb_ask* ask = NULL;
  struct seen s;
  memset(&s, 0, sizeof s);
  s.demo = text;
  CHECK(fb_ask_start(index, kQuestion, p, 0, &ask) == FB_OK);
  if (!ask) return -1;
  run_canned(ask, "terminate notice", "termination survive", "-", &s);
  fb_ask_free(ask);
  return s.demo_seen;
}

static size_t file_lines(const char* path) {
  FILE* f = fopen(path, "rb");
  size_t n = 0;
  int c;
  if (!f) return (size_t)-1;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}

/* Bytes in a file (0 when there is none). */
static uint64_t file_size(const char* path) {
  FILE* f = fopen(path, "rb");
  uint64_t n = 0;
  if (!f) return 0;
  while (fgetc(f) != EOF) ++n;
  fclose(f);
  return n;
}

/* 1 when the file holds `needle` (bytes), 0 when not or unreadable. */
static int file_contains(const char* path, const char* needle) {
  FILE* f = fopen(path, "rb");
  size_t n = strlen(needle), matched = 0;
  int c;
  if (!f) return 0;
  while ((c = fgetc(f)) != EOF) {
    if ((char)c == needle[matched]) {
      if (++matched == n) break;
    } else {
      matched = (char)c == needle[0] ? 1 : 0;
    }
  }
  fclose(f);
  return matched == n;
}

/* Feedback recorded against a saved trace, checked as the CLI checks it,
 * folded back into search and ask (walled), forgotten, exported. */
static void feedback(void) {
  char dir[] = "/tmp/foldback-c-ask-XXXXXX", path[512], cmd[600];
  char plain[4096], folded[4096];
  fb_index* index = make_index(FB_EMBEDDER_NONE, 0);
  fb_ask_params p = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_feedback_log* log = NULL;
  fb_feedback_log* second = (fb_feedback_log*)1;
  fb_feedback_record rec = fb_feedback_default_record();
  fb_search_params sp = fb_search_default_params();
  fb_export_report rep;
  struct seen s;
  char* id = NULL;
  char* again = NULL;
  char top[256], low[256], globex_chunk[256] = "";
  const char* relevant[1];
  const char* not_relevant[1];
  const char* unknown[] = {"no-such-chunk#0-00000000"};
  const char* globex[] = {"m-globex"};
  const char* preferred = "thirty days written notice termination clause";
  uint64_t affected = 0;
  fb_results* r = NULL;

  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  sp.mode = FB_MODE_BM25;
  CHECK(fb_index_search(index, kQuestion, &sp, &r) == FB_OK);
  CHECK(fb_results_count(r) >= 3);
  if (fb_results_count(r) < 3) return;
  snprintf(top, sizeof top, "%s", fb_results_get(r, 0)->chunk_id);
  snprintf(low, sizeof low, "%s", fb_results_get(r, fb_results_count(r) - 1)->chunk_id);
  {
    size_t i;
    for (i = 0; i < fb_results_count(r) && !globex_chunk[0]; ++i) {
      if (strcmp(fb_results_get(r, i)->matter, "m-globex") == 0) {
        snprintf(globex_chunk, sizeof globex_chunk, "%s", fb_results_get(r, i)->chunk_id);
      }
    }
  }
  CHECK(globex_chunk[0] != 0);
  fb_results_free(r);
  sp.use_feedback = 1;
  CHECK(fb_index_search(index, kQuestion, &sp, &r) == FB_ESTATE); /* no folder yet */
  CHECK(fb_index_save(index, dir) == FB_OK);

  /* A question, its trace saved in the index folder. */
  memset(&s, 0, sizeof s);
  p.mode = FB_MODE_BM25;
  p.answer = 1;
  CHECK(fb_ask_start(index, kQuestion, &p, 0, &ask) == FB_OK);
  if (!ask) return;
  run_canned(ask, "terminate notice", "termination survive", "On notice [1].", &s);
  CHECK(fb_ask_save_trace(ask, NULL) == FB_OK);
  snprintf(path, sizeof path, "%s/traces/%s.json", dir, fb_ask_trace_id(ask));
  CHECK(file_lines(path) != (size_t)-1);
  /* The trace carries the answer (the core's Trace::answer), as the CLI's does. */
  CHECK(strstr(fb_ask_trace_json(ask), "\"answer\":\"On notice [1].\"") != NULL);
  CHECK(strstr(fb_ask_trace_json(ask), "\"filters\"") == NULL); /* asked unscoped */

  CHECK(fb_feedback_log_open(NULL, index, &log) == FB_EINVALID);
  CHECK(fb_feedback_log_open(dir, index, NULL) == FB_EINVALID);
  CHECK(fb_feedback_log_open("/tmp/no-such-foldback-index", NULL, &second) == FB_ENOTFOUND && second == NULL);
  CHECK(fb_feedback_log_open(dir, index, &log) == FB_OK && log != NULL);
  if (!log) return;
  CHECK(fb_feedback_log_open(dir, NULL, &second) == FB_ESTATE && second == NULL);

  /* Refused records: a clear code and message, nothing written. */
  CHECK(fb_feedback_log_append(NULL, &rec, &id) == FB_EINVALID);
  CHECK(fb_feedback_log_append(log, NULL, &id) == FB_EINVALID);
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID && id == NULL); /* no trace id */
  rec.trace_id = "no-such-trace";
  rec.rating = "up";
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_ENOTFOUND);
  CHECK(strstr(fb_feedback_log_last_error(log), "no-such-trace") != NULL);
  rec.trace_id = "../../etc/passwd";
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  rec.trace_id = fb_ask_trace_id(ask);
  rec.rating = "7";
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  rec.rating = NULL;
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  CHECK(strstr(fb_feedback_log_last_error(log), "nothing to record") != NULL);
  rec.relevant = unknown;
  rec.relevant_count = 1;
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_ENOTFOUND);
  CHECK(strstr(fb_feedback_log_last_error(log), "unknown chunk") != NULL);
  relevant[0] = low;
  not_relevant[0] = low;
  rec.relevant = relevant;
  rec.not_relevant = not_relevant;
  rec.not_relevant_count = 1;
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  CHECK(strstr(fb_feedback_log_last_error(log), "labelled both") != NULL);
  rec.not_relevant = NULL; /* a count without an array */
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  not_relevant[0] = top;
  rec.not_relevant = not_relevant;
  rec.critique = "bad \xff\xfe UTF-8";
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_EINVALID);
  CHECK(strstr(fb_feedback_log_last_error(log), "UTF-8") != NULL);
  snprintf(path, sizeof path, "%s/feedback.log", dir);

  /* Walls, as every host applies them (foldback::BuildFeedbackRecord). */
  {
    const char* acme_only[] = {"m-acme"};
    const char* labels[1];
    fb_ask* walled = NULL;
    fb_ask_params wp = fb_ask_default_params();
    fb_feedback_record w = fb_feedback_default_record();
    uint64_t size = file_size(path);
    w.trace_id = fb_ask_trace_id(ask);
    w.rating = "up";
    /* The question showed m-globex passages: a user walled to m-acme may not judge them. */
    CHECK(fb_feedback_log_append_walled(log, &w, acme_only, 1, NULL) == FB_EDENIED);
    CHECK(strstr(fb_feedback_log_last_error(log), "ethical wall") != NULL);
    CHECK(fb_feedback_log_append_walled(log, &w, NULL, 1, NULL) == FB_EINVALID);
    /* A question asked behind a wall keeps it in its trace: a label on a
     * passage behind it is an unknown chunk, a matter behind it refused. */
    wp.mode = FB_MODE_BM25;
    wp.restrict_matters = 1;
    wp.allowed_matters = acme_only;
    wp.allowed_matter_count = 1;
    CHECK(fb_ask_start(index, kQuestion, &wp, 0, &walled) == FB_OK);
    if (walled) {
      run_canned(walled, "terminate notice", "termination survive", "On notice [1].", &s);
      CHECK(fb_ask_save_trace(walled, NULL) == FB_OK);
      w.trace_id = fb_ask_trace_id(walled);
      labels[0] = globex_chunk;
      w.relevant = labels;
      w.relevant_count = 1;
      CHECK(fb_feedback_log_append(log, &w, NULL) == FB_ENOTFOUND);
      CHECK(strstr(fb_feedback_log_last_error(log), "unknown chunk") != NULL);
      w.relevant = NULL;
      w.relevant_count = 0;
      w.matter = "m-globex";
      CHECK(fb_feedback_log_append(log, &w, NULL) == FB_EDENIED);
      CHECK(file_size(path) == size); /* nothing was written */
      fb_ask_free(walled);
    }
  }

  /* A question scoped to one contract keeps its filter in the trace and in
   * the record the log holds (foldback::BuildFeedbackRecord): a reranker
   * trained on it ranks its list in that scope. */
  {
    const char* scope[] = {"id>=mzz-scope"}; /* nda-acme, supply-public */
    fb_ask* scoped = NULL;
    fb_ask_params sp2 = fb_ask_default_params();
    fb_feedback_record w = fb_feedback_default_record();
    uint64_t before = file_size(path);
    char* scoped_id = NULL;
    sp2.mode = FB_MODE_BM25;
    sp2.filters = scope;
    sp2.filter_count = 1;
    CHECK(fb_ask_start(index, kQuestion, &sp2, 0, &scoped) == FB_OK);
    if (scoped) {
      run_canned(scoped, "terminate notice", "termination survive", "On notice [1].", &s);
      CHECK(strstr(fb_ask_trace_json(scoped),
                   "\"filters\":[{\"field\":\"id\",\"op\":\">=\",\"value\":\"mzz-scope\"}]") !=
            NULL);
      CHECK(fb_ask_save_trace(scoped, NULL) == FB_OK);
      w.trace_id = fb_ask_trace_id(scoped);
      w.rating = "up";
      w.matter = "m-acme";
      CHECK(file_contains(path, "mzz-scope") == 0);
      CHECK(fb_feedback_log_append(log, &w, &scoped_id) == FB_OK);
      CHECK(file_size(path) > before);
      /* The record's filter, in the log (the value is nowhere else). */
      CHECK(file_contains(path, "mzz-scope") == 1);
      /* Forgotten again: the checks below count one live record. */
      CHECK(scoped_id && fb_feedback_forget_record(log, scoped_id, NULL) == FB_OK);
      fb_string_free(scoped_id);
      fb_ask_free(scoped);
    }
  }

  /* A lawyer changes their judgment: fb_feedback_log_append_replacing
   * retires their earlier record of the question in the same write (the
   * core's FeedbackInput::replace_earlier). */
  {
    fb_feedback_record w = fb_feedback_default_record();
    char* first = NULL;
    char* second_id = NULL;
    char out[512];
    fb_export_report xr;
    w.trace_id = fb_ask_trace_id(ask);
    w.user = "ann";
    w.rating = "up";
    w.matter = "m-acme";
    w.consent_to_train = 1;
    w.corrected_answer = "CONSENTED answer";
    snprintf(out, sizeof out, "%s/replace.jsonl", dir);
    CHECK(fb_feedback_log_append(log, &w, &first) == FB_OK && first != NULL);
    CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, out, &xr, NULL) == FB_OK && xr.rows == 1);
    w.rating = "down";
    w.privileged = 1;
    CHECK(fb_feedback_log_append_replacing(log, &w, NULL, 1, &second_id) == FB_EINVALID);
    CHECK(fb_feedback_log_append_replacing(NULL, &w, NULL, 0, &second_id) == FB_EINVALID);
    CHECK(fb_feedback_log_append_replacing(log, &w, NULL, 0, &second_id) == FB_OK &&
          second_id != NULL);
    /* One live record (the new one, privileged): nothing exported. */
    CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, out, &xr, NULL) == FB_OK);
    CHECK(xr.records == 1 && xr.rows == 0 && xr.privileged == 1 && file_lines(out) == 0);
    CHECK(first && fb_feedback_forget_record(log, first, NULL) == FB_ENOTFOUND);
    /* Forgotten again: the checks below count one live record. */
    CHECK(second_id && fb_feedback_forget_record(log, second_id, NULL) == FB_OK);
    fb_string_free(first);
    fb_string_free(second_id);
  }

  /* A good record: up, the lowest passage relevant, the top one not, a
   * preferred rewrite; in matter m-acme. */
  rec.critique = "The notice period matters most.";
  rec.rating = "up";
  rec.preferred_rewrite = preferred;
  rec.matter = "m-acme";
  rec.consent_to_train = 1;
  CHECK(fb_feedback_log_append(log, &rec, &id) == FB_OK && id != NULL);
  CHECK(id && strlen(id) == 36 && id[14] == '7'); /* a UUIDv7 */
  /* A retried write with the same id is acknowledged, not stored twice. */
  rec.record_id = id;
  CHECK(fb_feedback_log_append(log, &rec, &again) == FB_OK && again && strcmp(again, id) == 0);
  fb_string_free(again);
  rec.record_id = NULL;

  /* Fold-back: the lawyer's relevant passage rises above the one marked
   * not relevant. */
  sp.use_feedback = 0;
  CHECK(rank_of(index, kQuestion, &sp, top) < rank_of(index, kQuestion, &sp, low));
  sp.use_feedback = 1;
  CHECK(rank_of(index, kQuestion, &sp, low) < rank_of(index, kQuestion, &sp, top));
  /* Walls: a user cleared for m-globex only gets nothing from m-acme's feedback. */
  sp.restrict_matters = 1;
  sp.allowed_matters = globex;
  sp.allowed_matter_count = 1;
  sp.use_feedback = 0;
  ranking(index, kQuestion, &sp, plain, sizeof plain);
  sp.use_feedback = 1;
  ranking(index, kQuestion, &sp, folded, sizeof folded);
  CHECK(strcmp(plain, folded) == 0);
  /* The preferred rewrite becomes a demo for the query writer — walled too. */
  p = fb_ask_default_params();
  p.mode = FB_MODE_BM25;
  p.use_feedback = 1;
  CHECK(demo_in_prompt(index, &p, preferred) == 1);
  p.restrict_matters = 1;
  p.allowed_matters = globex;
  p.allowed_matter_count = 1;
  CHECK(demo_in_prompt(index, &p, preferred) == 0);
  p.restrict_matters = 0;
  p.use_feedback = 0;
  CHECK(demo_in_prompt(index, &p, preferred) == 0);

  /* Export: one row per record (the retry is not a second one); privileged
   * records never leave. */
  memset(&rep, 0, sizeof rep);
  snprintf(path, sizeof path, "%s/sft.jsonl", dir);
  CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, path, &rep, NULL) == FB_OK);
  CHECK(rep.records == 1 && rep.exported == 1 && rep.rows == 1 && file_lines(path) == 1);
  /* Behind a wall that hides m-acme the record stays out; cleared for it, it goes. */
  CHECK(fb_feedback_export_walled(dir, FB_EXPORT_SFT, path, globex, 1, &rep, NULL) == FB_OK);
  CHECK(rep.records == 1 && rep.rows == 0 && file_lines(path) == 0);
  {
    const char* cleared[] = {"m-globex", "m-acme"};
    CHECK(fb_feedback_export_walled(dir, FB_EXPORT_SFT, path, cleared, 2, &rep, NULL) == FB_OK);
    CHECK(rep.rows == 1 && file_lines(path) == 1);
    CHECK(fb_feedback_export_walled(dir, FB_EXPORT_SFT, path, NULL, 1, &rep, NULL) == FB_EINVALID);
  }
  rec.privileged = 1;
  rec.matter = "m-globex";
  CHECK(fb_feedback_log_append(log, &rec, &again) == FB_OK);
  CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, path, &rep, NULL) == FB_OK);
  CHECK(rep.records == 2 && rep.rows == 1 && rep.privileged == 1 && file_lines(path) == 1);
  /* Forgetting one record. */
  CHECK(fb_feedback_forget_record(log, again, "lawyer-7") == FB_OK);
  CHECK(fb_feedback_forget_record(log, again, NULL) == FB_ENOTFOUND);
  CHECK(strstr(fb_feedback_log_last_error(log), "already forgotten") != NULL);
  fb_string_free(again);
  CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, path, &rep, NULL) == FB_OK && rep.records == 1);
  {
    /* The three preference formats take the same records. */
    uint64_t dpo_rows;
    CHECK(fb_feedback_export(dir, FB_EXPORT_DPO, path, &rep, NULL) == FB_OK);
    dpo_rows = rep.rows;
    CHECK(fb_feedback_export(dir, FB_EXPORT_DPO_CHAT, path, &rep, NULL) == FB_OK);
    CHECK(rep.rows == dpo_rows && file_lines(path) == (size_t)dpo_rows);
    CHECK(fb_feedback_export(dir, FB_EXPORT_OPENAI_PREFERENCE, path, &rep, NULL) == FB_OK);
    CHECK(rep.rows == dpo_rows && file_lines(path) == (size_t)dpo_rows);
  }
  CHECK(fb_feedback_export(dir, (fb_export_format)9, path, &rep, NULL) == FB_EINVALID);
  CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, NULL, &rep, NULL) == FB_EINVALID);
  CHECK(fb_feedback_export(NULL, FB_EXPORT_SFT, path, &rep, NULL) == FB_EINVALID);
  {
    char* message = NULL;
    CHECK(fb_feedback_export("/tmp/no-such-foldback-index", FB_EXPORT_SFT, path, &rep, &message) ==
          FB_ENOTFOUND);
    CHECK(message && strstr(message, "no-such-foldback-index") != NULL);
    fb_string_free(message);
    snprintf(path, sizeof path, "%s/no-such-dir/x.jsonl", dir);
    CHECK(fb_feedback_export(dir, FB_EXPORT_TRIPLETS, path, NULL, &message) == FB_EIO);
    CHECK(message && strstr(message, "no-such-dir") != NULL);
    fb_string_free(message);
  }

  /* Forgetting m-acme: its feedback never influences a search again. */
  CHECK(fb_feedback_forget_matter(NULL, "m-acme", NULL, &affected) == FB_EINVALID);
  CHECK(fb_feedback_forget_matter(log, NULL, NULL, &affected) == FB_EINVALID);
  CHECK(fb_feedback_forget_matter(log, "", NULL, &affected) == FB_EINVALID);
  CHECK(fb_feedback_forget_matter(log, "m-nobody", NULL, NULL) == FB_OK);
  CHECK(fb_feedback_forget_matter(log, "m-acme", "lawyer-7", &affected) == FB_OK);
  CHECK(affected == 1);
  /* New feedback on the forgotten matter is refused, not dropped unseen. */
  rec.privileged = 0;
  rec.matter = "m-acme";
  CHECK(fb_feedback_log_append(log, &rec, NULL) == FB_ESTATE);
  CHECK(strstr(fb_feedback_log_last_error(log), "forgotten") != NULL);
  sp.restrict_matters = 0;
  sp.use_feedback = 1;
  ranking(index, kQuestion, &sp, folded, sizeof folded);
  sp.use_feedback = 0;
  ranking(index, kQuestion, &sp, plain, sizeof plain);
  CHECK(strcmp(plain, folded) == 0);
  p = fb_ask_default_params();
  p.mode = FB_MODE_BM25;
  p.use_feedback = 1;
  CHECK(demo_in_prompt(index, &p, preferred) == 0);
  snprintf(path, sizeof path, "%s/sft.jsonl", dir);
  CHECK(fb_feedback_export(dir, FB_EXPORT_SFT, path, &rep, NULL) == FB_OK && rep.rows == 0);
  CHECK(fb_feedback_forget_record(log, id, NULL) == FB_ENOTFOUND);
  CHECK(fb_feedback_forget_record(log, NULL, NULL) == FB_EINVALID);
  CHECK(fb_feedback_forget_record(NULL, id, NULL) == FB_EINVALID);
  fb_string_free(id);

  /* The log handle keeps the index it checks against. */
  fb_ask_free(ask);
  fb_index_free(index);
  rec = fb_feedback_default_record();
  rec.trace_id = "no-such-trace";
  rec.rating = "down";
  CHECK(fb_feedback_log_append(log, &rec, NULL) == FB_ENOTFOUND);
  fb_feedback_log_free(log);
  fb_feedback_log_free(NULL);
  CHECK(strcmp(fb_feedback_log_last_error(NULL), "") == 0);
  /* Closed: the folder can be opened again (index loaded from it). */
  CHECK(fb_feedback_log_open(dir, NULL, &log) == FB_OK);
  fb_feedback_log_free(log);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s TEST_DATA_DIR LLM_TEST_SERVER_BINARY\n", argv[0]);
    return 2;
  }
  canned_ask();
  failing_llm();
  misuse();
  deadline();
  walls();
  redaction();
  bad_utf8();
  lifetimes();
  http_helpers();
  http_status_mapping();
  http_attempts();
  run_http_refused();
  run_http_server(argv[2]);
  external_embeddings();
  feedback();
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C ask + feedback test passed (foldback %s)\n", fb_version());
  return 0;
}
