/* The LLM listwise reranker through the C API: a walled search, then the
 * rerank session whose needs the test answers itself (as a host would
 * after an HTTP call): no passage of another matter in any need, the
 * redaction of what would be sent, the model's order in the results, a
 * lying reply retried as JSON, an endpoint that is down (the search's
 * order kept, the failure said), sliding windows, and refused inputs.
 * usage: foldback_c_llm_rerank_test [TEST_DATA_DIR [LLM_SERVER]] (unused) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foldback.h"
#include "test_check.h"

static fb_index* make_index(int docs) {
  int err = 0, i;
  fb_index_params ip = fb_index_default_params();
  fb_index* index = fb_index_init(&ip, &err);
  char id[32], text[512];
  CHECK(index != NULL && err == FB_OK);
  if (!index) return NULL;
  for (i = 0; i < docs; ++i) {
    fb_document doc;
    memset(&doc, 0, sizeof doc);
    snprintf(id, sizeof id, "%s-%02d", i % 2 ? "beta" : "acme", i);
    snprintf(text, sizeof text,
             "Termination notice clause %d: either party may terminate on written notice. "
             "Account 555-12-%04d. %s",
             i, i, i % 2 ? "Zebra pineapple strategy." : "All fees exclude taxes.");
    doc.id = id;
    doc.text = text;
    doc.matter = i % 2 ? "beta" : "acme";
    CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  }
  return index; /* BM25 only: no dense side needed */
}

/* How many <passage n= blocks a need's messages hold; checks walls and
 * redaction on the way. */
static int passages_in(const fb_need* n) {
  size_t m;
  int blocks = 0;
  for (m = 0; m < n->message_count; ++m) {
    const char* c = n->messages[m].content;
    const char* p = c;
    CHECK(strstr(c, "Zebra") == NULL);   /* a beta passage */
    CHECK(strstr(c, "555-12-") == NULL); /* redacted */
    while ((p = strstr(p, "<passage n=")) != NULL) {
      ++blocks;
      ++p;
    }
  }
  return blocks;
}

/* Answers "[k] > ... > [1]": the window reversed. */
static void reverse_reply(int blocks, char* out, size_t size) {
  int k;
  size_t used = 0;
  out[0] = 0;
  for (k = blocks; k >= 1 && used + 8 < size; --k)
    used += (size_t)snprintf(out + used, size - used, "%s[%d]", k == blocks ? "" : " > ", k);
}

static fb_llm_rerank* start(fb_index* index, size_t depth, size_t window, size_t step) {
  static const char* walls[] = {"acme"};
  static const char* redact[] = {"555-12-\\d{4}"};
  fb_search_params sp = fb_search_default_params();
  fb_llm_rerank_params rp = fb_llm_rerank_default_params();
  fb_llm_rerank* r = NULL;
  sp.restrict_matters = 1;
  sp.allowed_matters = walls;
  sp.allowed_matter_count = 1;
  sp.mode = FB_MODE_BM25;
  sp.top_k = 10;
  rp.depth = depth;
  rp.window_size = window;
  rp.step = step;
  rp.redact = redact;
  rp.redact_count = 1;
  CHECK(fb_llm_rerank_start(index, "termination notice", &sp, &rp, 0, &r) == FB_OK);
  if (!r) fprintf(stderr, "start: %s\n", fb_index_last_error(index));
  return r;
}

int main(void) {
  fb_index* index = make_index(12); /* 6 acme, 6 beta */
  fb_llm_rerank* r;
  fb_needs* needs = NULL;
  fb_results* first = NULL;
  fb_results* results = NULL;
  char reply[256];
  int applied = -1, windows = 0;
  size_t i;
  fb_search_params sp = fb_search_default_params();
  static const char* walls[] = {"acme"};
  if (!index) return 1;

  /* The search alone, for the first-stage order. */
  sp.restrict_matters = 1;
  sp.allowed_matters = walls;
  sp.allowed_matter_count = 1;
  sp.mode = FB_MODE_BM25;
  sp.top_k = 10;
  CHECK(fb_index_search(index, "termination notice", &sp, &first) == FB_OK);
  CHECK(fb_results_count(first) == 6);

  /* 1. One window of six, answered reversed: the results are reversed. */
  r = start(index, 20, 20, 10);
  if (!r) return 1;
  CHECK(!fb_llm_rerank_done(r));
  CHECK(fb_llm_rerank_results(r, &results, &applied) == FB_ESTATE);
  while (!fb_llm_rerank_done(r)) {
    fb_need_result nr = fb_need_default_result();
    const fb_need* n;
    CHECK(fb_llm_rerank_take_needs(r, &needs) == FB_OK);
    CHECK(fb_needs_count(needs) == 1);
    n = fb_needs_get(needs, 0);
    CHECK(strcmp(n->purpose, "rerank") == 0);
    CHECK(passages_in(n) == 6);
    reverse_reply(6, reply, sizeof reply);
    nr.text = reply;
    CHECK(fb_llm_rerank_provide(r, n->id, &nr, 1) == FB_OK);
    CHECK(fb_llm_rerank_provide(r, n->id, &nr, 1) == FB_EINVALID); /* answered */
    fb_needs_free(needs);
  }
  CHECK(fb_llm_rerank_results(r, &results, &applied) == FB_OK);
  CHECK(applied == 1);
  CHECK(strcmp(fb_llm_rerank_failure(r), "") == 0);
  CHECK(fb_llm_rerank_requests(r) == 1);
  CHECK(fb_results_count(results) == 6);
  for (i = 0; i < fb_results_count(results); ++i) {
    CHECK(strcmp(fb_results_get(results, i)->matter, "acme") == 0);
    CHECK(strcmp(fb_results_get(results, i)->chunk_id,
                 fb_results_get(first, fb_results_count(first) - 1 - i)->chunk_id) == 0);
  }
  fb_results_free(results);
  fb_llm_rerank_free(r);

  /* 2. Windows of 4 moved by 2 over 6: two needs; a lying reply is retried
   * as JSON; then the endpoint is down: the search's order, the failure said. */
  r = start(index, 6, 4, 2);
  if (!r) return 1;
  while (!fb_llm_rerank_done(r)) {
    fb_need_result nr = fb_need_default_result();
    const fb_need* n;
    CHECK(fb_llm_rerank_take_needs(r, &needs) == FB_OK);
    if (fb_needs_count(needs) == 0) {
      fb_needs_free(needs);
      break;
    }
    n = fb_needs_get(needs, 0);
    CHECK(passages_in(n) == 4);
    ++windows;
    if (windows == 1) {
      nr.text = "I would rather not rank legal texts.";
    } else if (windows == 2) {
      CHECK(strstr(n->messages[n->message_count - 1].content, "JSON") != NULL);
      nr.text = "{\"ranking\": [4, 3, 2, 1]}";
    } else {
      nr.status = FB_EUNAVAILABLE;
      nr.message = "connection refused";
    }
    CHECK(fb_llm_rerank_provide(r, n->id, &nr, 1) == FB_OK);
    fb_needs_free(needs);
  }
  CHECK(windows == 3);
  CHECK(fb_llm_rerank_done(r));
  CHECK(fb_llm_rerank_results(r, &results, &applied) == FB_OK);
  CHECK(applied == 0);
  CHECK(strstr(fb_llm_rerank_failure(r), "connection refused") != NULL);
  CHECK(fb_results_count(results) == 6);
  for (i = 0; i < fb_results_count(results); ++i)
    CHECK(strcmp(fb_results_get(results, i)->chunk_id, fb_results_get(first, i)->chunk_id) == 0);
  fb_results_free(results);
  fb_llm_rerank_free(r);

  /* 3. Refused inputs. */
  {
    fb_llm_rerank_params bad = fb_llm_rerank_default_params();
    fb_llm_rerank* none = NULL;
    bad.window_size = 1;
    CHECK(fb_llm_rerank_start(index, "q", NULL, &bad, 0, &none) == FB_EINVALID);
    CHECK(none == NULL);
    CHECK(strstr(fb_index_last_error(index), "window") != NULL);
    CHECK(fb_llm_rerank_start(index, NULL, NULL, NULL, 0, &none) == FB_EINVALID);
    CHECK(fb_llm_rerank_done(NULL) == 0);
    CHECK(fb_llm_rerank_take_needs(NULL, &needs) == FB_EINVALID);
    fb_llm_rerank_free(NULL);
  }

  fb_results_free(first);
  fb_index_free(index);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("c_llm_rerank: ok\n");
  return 0;
}
