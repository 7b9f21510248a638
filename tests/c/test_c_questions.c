/* LLM-written training questions through the C API: the question session
 * behind the walls (no passage of another matter in any need), redaction
 * of what would be sent, a lying reply retried as JSON, the pairs, and
 * training on them (fb_train_params.pairs_jsonl); refused inputs. The host
 * part (HTTP) is played by this test: it answers each need itself.
 * usage: foldback_c_questions_test [TEST_DATA_DIR [LLM_SERVER]] (unused) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foldback.h"
#include "test_check.h"

static const char* kThing[] = {"software", "equipment", "services", "data", "designs", "samples"};
static const char* kDays[] = {"thirty", "sixty", "ninety", "ten", "fifteen", "forty"};

static fb_index* make_index(void) {
  int err = 0, i;
  fb_index_params ip = fb_index_default_params();
  fb_index* index = fb_index_init(&ip, &err);
  char id[32], text[2048];
  CHECK(index != NULL && err == FB_OK);
  if (!index) return NULL;
  for (i = 0; i < 16; ++i) {
    fb_document doc;
    memset(&doc, 0, sizeof doc);
    snprintf(id, sizeof id, "%s-%02d", i % 2 ? "beta" : "acme", i);
    snprintf(text, sizeof text,
             "1. Termination\n\nEither party may terminate this Agreement upon %s days written "
             "notice; account 555-12-%04d is closed at termination. Upon termination the "
             "Recipient shall return the %s.\n\n"
             "2. Payment\n\nThe customer shall pay the fees within %s days of the invoice date. "
             "Late payments bear interest at one percent per month. %s\n",
             kDays[i % 6], i, kThing[i % 6], kDays[(i + 2) % 6],
             i % 2 ? "Zebra pineapple strategy." : "All fees exclude taxes.");
    doc.id = id;
    doc.text = text;
    doc.matter = i % 2 ? "beta" : "acme";
    CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  }
  CHECK(fb_index_build_dense(index) == FB_OK);
  return index;
}

static size_t count_lines(const char* s) {
  size_t n = 0;
  for (; *s; ++s) n += *s == '\n';
  return n;
}

int main(void) {
  fb_index* index = make_index();
  const char* walls[] = {"acme"};
  const char* redact[] = {"\\b555-\\d{2}-\\d{4}\\b"};
  fb_questions_params qp = fb_questions_default_params();
  fb_questions* q = NULL;
  fb_needs* needs = NULL;
  char* jsonl = NULL;
  size_t passages = 0, failed = 0, i, rounds = 0, junked = 0, json_retries = 0;
  if (!index) return 1;
  CHECK(qp.questions_per_passage == 3 && qp.sample == 100 && qp.max_in_flight == 8);

  qp.restrict_matters = 1;
  qp.allowed_matters = walls;
  qp.allowed_matter_count = 1;
  qp.redact = redact;
  qp.redact_count = 1;
  qp.questions_per_passage = 2;
  qp.min_words = 5;
  qp.sample = 100;
  CHECK(fb_questions_start(index, &qp, 0, &q) == FB_OK);
  CHECK(q != NULL);
  CHECK(fb_questions_pairs_jsonl(q, &jsonl, NULL, NULL) == FB_ESTATE);
  while (q && !fb_questions_done(q) && rounds++ < 100) {
    CHECK(fb_questions_take_needs(q, &needs) == FB_OK);
    for (i = 0; i < fb_needs_count(needs); ++i) {
      const fb_need* n = fb_needs_get(needs, i);
      fb_need_result r = fb_need_default_result();
      size_t m;
      int is_json_retry = 0;
      CHECK(n->kind == FB_NEED_LLM);
      for (m = 0; m < n->message_count; ++m) {
        CHECK(strstr(n->messages[m].content, "Zebra") == NULL);   /* behind the wall */
        CHECK(strstr(n->messages[m].content, "555-12-") == NULL); /* redacted */
        if (strstr(n->messages[m].content, "Respond with a JSON object")) is_json_retry = 1;
      }
      json_retries += (size_t)is_json_retry;
      if (junked == 0) {
        r.text = "I cannot help with that."; /* lying: a retry asking for JSON follows */
        ++junked;
      } else {
        r.text =
            "{\"questions\": [\"How much notice ends the deal?\", \"When are invoices due for "
            "payment?\", \"A third question beyond the two asked for?\"]}";
      }
      r.model = "test-model";
      CHECK(fb_questions_provide(q, n->id, &r, 1) == FB_OK);
      CHECK(fb_questions_provide(q, n->id, &r, 1) == FB_EINVALID); /* answered already */
    }
    fb_needs_free(needs);
    needs = NULL;
  }
  CHECK(q && fb_questions_done(q));
  CHECK(json_retries == 1);
  CHECK(fb_questions_pairs_jsonl(q, &jsonl, &passages, &failed) == FB_OK);
  CHECK(passages >= 8 && failed == 0); /* the 8 acme documents, a passage or more each */
  CHECK(jsonl && count_lines(jsonl) == 2 * passages);
  CHECK(jsonl && strstr(jsonl, "\"chunk_id\":\"acme-") != NULL);
  CHECK(jsonl && strstr(jsonl, "beta-") == NULL);
  CHECK(jsonl && strstr(jsonl, "beyond the two") == NULL);
  fb_questions_free(q);

  /* Training on them: more pairs than the structure alone. */
  {
    fb_train_params tp = fb_train_default_params();
    fb_trainer* plain = NULL;
    fb_trainer* with = NULL;
    size_t n_plain, n_with;
    tp.sources = "structure";
    CHECK(fb_train_start(index, &tp, &plain) == FB_OK);
    tp.pairs_jsonl = jsonl;
    CHECK(fb_train_start(index, &tp, &with) == FB_OK);
    n_plain = plain ? fb_train_pair_count(plain, NULL) : 0;
    n_with = with ? fb_train_pair_count(with, NULL) : 0;
    CHECK(n_with == n_plain + 2 * passages);
    fb_trainer_free(plain);
    fb_trainer_free(with);
    tp.pairs_jsonl = "{\"query\": \"q a b\"}\n";
    CHECK(fb_train_start(index, &tp, &plain) == FB_EINVALID);
    CHECK(strstr(fb_index_last_error(index), "line 1") != NULL);
    tp.pairs_jsonl = "{\"query\": \"q a b\", \"chunk_id\": \"gone#1\"}\n";
    CHECK(fb_train_start(index, &tp, &plain) == FB_EINVALID);
  }
  fb_string_free(jsonl);

  /* Refused. */
  qp = fb_questions_default_params();
  qp.questions_per_passage = 0;
  CHECK(fb_questions_start(index, &qp, 0, &q) == FB_EINVALID);
  qp = fb_questions_default_params();
  qp.matter = "beta";
  qp.restrict_matters = 1;
  qp.allowed_matters = walls;
  qp.allowed_matter_count = 1;
  CHECK(fb_questions_start(index, &qp, 0, &q) == FB_EDENIED);
  qp = fb_questions_default_params();
  qp.min_words = 10000;
  CHECK(fb_questions_start(index, &qp, 0, &q) == FB_ESTATE);
  qp = fb_questions_default_params();
  qp.program_json =
      "{\"s.predict\": {\"signature\": {\"instructions\": \"x\", \"fields\": "
      "[{\"prefix\": \"Document:\", \"description\": \"${document}\"}, "
      "{\"prefix\": \"Summary:\", \"description\": \"${summary}\"}]}}}";
  CHECK(fb_questions_start(index, &qp, 0, &q) == FB_EINVALID);
  CHECK(fb_questions_start(NULL, &qp, 0, &q) == FB_EINVALID);
  CHECK(fb_questions_take_needs(NULL, &needs) == FB_EINVALID);
  fb_questions_free(NULL);

  fb_index_free(index);
  if (failures) {
    fprintf(stderr, "c_questions: %d checks failed\n", failures);
    return 1;
  }
  printf("c_questions: all checks passed\n");
  return 0;
}
