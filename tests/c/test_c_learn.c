/* Training the embedder and the learned reranker through the C API:
 * stepping a trainer to the end, determinism for a seed, install and
 * restore, refused inputs (an index without a dense side, NULLs, bad
 * sources), and the reranker from an index folder's feedback log (none
 * here: the gate stays closed and results keep the first stage's order),
 * its bytes and damaged bytes; the embedder trained on a lawyer's labels
 * (the feedback source), only from shareable matters.
 * usage: foldback_c_learn_test [TEST_DATA_DIR [LLM_SERVER]] (unused) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foldback.h"
#include "test_check.h"

static const char* kParty[] = {"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark"};
static const char* kThing[] = {"software", "equipment", "services", "data", "designs", "samples"};
static const char* kDays[] = {"thirty", "sixty", "ninety", "ten", "fifteen", "forty"};

/* A generated contract with headings, a definition and several sentences
 * per section, so that every pair source but mail finds something. */
static void contract(int i, char* out, size_t n) {
  const char* p = kParty[i % 6];
  const char* t = kThing[(i / 2) % 6];
  const char* d = kDays[(i + 3) % 6];
  snprintf(out, n,
           "1. Definitions\n\n\"Confidential Information\" means any %s disclosed by %s to the "
           "Recipient under this Agreement. The Recipient shall protect the Confidential "
           "Information with reasonable care. Disclosure to employees is permitted when they "
           "need to know.\n\n"
           "2. Termination\n\nEither party may terminate this Agreement upon %s days written "
           "notice to the other party. Upon termination the Recipient shall return the %s. The "
           "obligations of Section 1 survive termination for %s years.\n\n"
           "3. Payment\n\n%s shall pay the fees within %s days of the invoice date. Late "
           "payments bear interest at one percent per month. All fees are exclusive of taxes.\n\n"
           "4. Governing Law\n\nThis Agreement is governed by the laws of the State of "
           "Delaware. The courts of Wilmington have exclusive jurisdiction over any dispute.\n",
           t, p, d, t, d, p, d);
}

static fb_index* make_index(int dense) {
  int err = 0;
  fb_index_params ip = fb_index_default_params();
  fb_index* index = fb_index_init(&ip, &err);
  char id[32], title[64], text[4096];
  int i;
  CHECK(index != NULL && err == FB_OK);
  if (!index) return NULL;
  for (i = 0; i < 12; ++i) {
    fb_document doc;
    memset(&doc, 0, sizeof doc);
    snprintf(id, sizeof id, "nda-%02d", i);
    snprintf(title, sizeof title, "Agreement with %s %d", kParty[i % 6], i);
    contract(i, text, sizeof text);
    doc.id = id;
    doc.title = title;
    doc.text = text;
    CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  }
  if (dense) CHECK(fb_index_build_dense(index) == FB_OK);
  return index;
}

/* The top chunk ids and scores of a query, as one string. */
static void top(const fb_index* index, const char* q, char* out, size_t n) {
  fb_search_params sp = fb_search_default_params();
  fb_results* r = NULL;
  size_t i, used = 0;
  out[0] = 0;
  sp.mode = FB_MODE_DENSE;
  sp.top_k = 5;
  CHECK(fb_index_search(index, q, &sp, &r) == FB_OK);
  for (i = 0; i < fb_results_count(r) && used + 1 < n; ++i) {
    const fb_hit* h = fb_results_get(r, i);
    int w = snprintf(out + used, n - used, "%s:%.9f;", h->chunk_id, h->score);
    if (w < 0) break;
    used += (size_t)w;
    if (used >= n) used = n - 1;
  }
  fb_results_free(r);
}

/* Trains to the end; returns the steps taken (0 on failure). */
static unsigned long long train(fb_index* index, uint64_t seed, double* loss_before,
                                double* loss_after) {
  fb_train_params p = fb_train_default_params();
  fb_trainer* t = NULL;
  fb_train_progress pr;
  unsigned long long steps = 0, last = 0;
  size_t per[7];
  p.seed = seed;
  p.epochs = 2;
  CHECK(fb_train_start(index, &p, &t) == FB_OK && t != NULL);
  if (!t) return 0;
  CHECK(fb_train_pair_count(t, per) >= 2);
  CHECK(per[0] > 0); /* headings */
  CHECK(per[3] > 0); /* inverse cloze */
  *loss_before = fb_train_mean_loss(t);
  while (!fb_train_done(t)) {
    CHECK(fb_train_step(t, &pr) == FB_OK);
    CHECK(pr.step == last + 1 && pr.step <= pr.steps && pr.epochs == 2);
    last = pr.step;
    if (++steps > 100000) break;
  }
  CHECK(fb_train_step(t, &pr) == FB_ESTATE); /* done */
  CHECK(strlen(fb_trainer_last_error(t)) > 0);
  *loss_after = fb_train_mean_loss(t);
  CHECK(fb_train_install(t, index) == FB_OK);
  CHECK(fb_train_install(t, index) == FB_ESTATE); /* once only */
  fb_trainer_free(t);
  return steps;
}

static void trainer(void) {
  fb_index* a = make_index(1);
  fb_index* b = make_index(1);
  fb_index* none = make_index(0);
  fb_trainer* t = (fb_trainer*)1;
  fb_train_params p = fb_train_default_params();
  char before[2048], ta[2048], tb[2048], restored[2048];
  double l0 = 0, l1 = 0, m0 = 0, m1 = 0;
  const char* q = "how much notice to terminate the agreement";
  uint32_t v;
  if (!a || !b || !none) return;

  /* Refused: NULLs, no dense side, bad params. */
  CHECK(fb_train_start(NULL, &p, &t) == FB_EINVALID);
  CHECK(fb_train_start(a, &p, NULL) == FB_EINVALID);
  CHECK(fb_train_start(none, &p, &t) == FB_ESTATE && t == NULL);
  CHECK(strstr(fb_index_last_error(none), "embedder") != NULL ||
        strstr(fb_index_last_error(none), "dense") != NULL);
  p.sources = "heading,nonsense";
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  CHECK(strstr(fb_index_last_error(a), "nonsense") != NULL);
  p = fb_train_default_params();
  p.batch_size = 0;
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  p = fb_train_default_params();
  p.epochs = 0; /* the default for the sources: 2 for structure */
  CHECK(fb_train_start(a, &p, &t) == FB_OK && t != NULL);
  if (t) {
    fb_train_progress pr;
    CHECK(fb_train_step(t, &pr) == FB_OK && pr.epochs == 2);
    fb_trainer_free(t);
    t = NULL;
  }
  p = fb_train_default_params();
  CHECK(p.interpolation == 1.0f);
  p.interpolation = 1.5f;
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  CHECK(strstr(fb_index_last_error(a), "interpolation") != NULL);
  p = fb_train_default_params();
  CHECK(p.soup == 1);
  p.soup = 0;
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  CHECK(strstr(fb_index_last_error(a), "soup") != NULL);
  p = fb_train_default_params();
  CHECK(p.source_weights == NULL);
  p.source_weights = "cloze=abc";
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  CHECK(strstr(fb_index_last_error(a), "weight") != NULL);
  p.source_weights = "structure=0";
  CHECK(fb_train_start(a, &p, &t) == FB_EINVALID && t == NULL);
  CHECK(strstr(fb_index_last_error(a), "weight 0") != NULL);
  CHECK(fb_train_step(NULL, NULL) == FB_EINVALID);
  CHECK(fb_train_done(NULL) == 0);
  CHECK(fb_train_pair_count(NULL, NULL) == 0);
  CHECK(fb_train_install(NULL, a) == FB_EINVALID);
  CHECK(strcmp(fb_trainer_last_error(NULL), "") == 0);
  fb_trainer_free(NULL);
  CHECK(fb_index_restore_previous_embedder(a) == FB_ESTATE); /* nothing to restore */

  /* Train two identical indexes with the same seed: the same model. */
  top(a, q, before, sizeof before);
  v = fb_index_embedder_version(a);
  CHECK(v >= 1);
  CHECK(train(a, 7, &l0, &l1) > 0);
  CHECK(l1 < l0); /* the loss went down */
  CHECK(train(b, 7, &m0, &m1) > 0);
  CHECK(l0 == m0 && l1 == m1);
  top(a, q, ta, sizeof ta);
  top(b, q, tb, sizeof tb);
  CHECK(strcmp(ta, tb) == 0);
  CHECK(strcmp(ta, before) != 0); /* the model changed the dense scores */
  CHECK(fb_index_embedder_version(a) == v + 1);

  /* A trainer installs only into the index it read. */
  p = fb_train_default_params();
  CHECK(fb_train_start(a, &p, &t) == FB_OK && t != NULL);
  CHECK(fb_train_install(t, b) == FB_EINVALID);
  CHECK(strstr(fb_trainer_last_error(t), "another index") != NULL);
  fb_trainer_free(t);

  /* Restore: back to the PPMI model and its scores. */
  CHECK(fb_index_restore_previous_embedder(a) == FB_OK);
  CHECK(fb_index_embedder_version(a) == v);
  top(a, q, restored, sizeof restored);
  CHECK(strcmp(restored, before) == 0);
  CHECK(fb_index_embedder_version(NULL) == 0);
  fb_index_free(a);
  fb_index_free(b);
  fb_index_free(none);
}

static void reranker(void) {
  char dir[] = "/tmp/foldback-c-learn-XXXXXX";
  fb_index* index = make_index(1);
  fb_reranker* r = (fb_reranker*)1;
  fb_reranker* back = NULL;
  fb_reranker_params p = fb_reranker_default_params();
  fb_search_params sp = fb_search_default_params();
  fb_results* plain = NULL;
  fb_results* reranked = NULL;
  char* json = NULL;
  char* bytes = NULL;
  char* error = NULL;
  size_t size = 0, i;
  const char* q = "who may terminate and with how much notice";
  const char* walls[] = {NULL};
  if (!index) return;
  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  CHECK(p.min_labels == 40 && p.memory == 1 && p.label_prior == 1);
  CHECK(fb_reranker_train(NULL, &p, &r) == FB_EINVALID);
  CHECK(fb_reranker_train(index, &p, NULL) == FB_EINVALID);
  /* No folder, so no feedback log. */
  CHECK(fb_reranker_train(index, &p, &r) == FB_ESTATE && r == NULL);
  CHECK(strstr(fb_index_last_error(index), "folder") != NULL);
  CHECK(fb_index_save(index, dir) == FB_OK);
  /* A NULL among the walls is refused. */
  p.restrict_matters = 1;
  p.allowed_matters = walls;
  p.allowed_matter_count = 1;
  CHECK(fb_reranker_train(index, &p, &r) == FB_EINVALID && r == NULL);
  p = fb_reranker_default_params();
  /* For a given search: its walls and mode are checked as a search's. */
  CHECK(fb_reranker_train_for_search(NULL, &p, &sp, 0, &r) == FB_EINVALID);
  CHECK(fb_reranker_train_for_search(index, &p, &sp, 0, NULL) == FB_EINVALID);
  sp.restrict_matters = 1;
  sp.allowed_matters = walls;
  sp.allowed_matter_count = 1;
  CHECK(fb_reranker_train_for_search(index, &p, &sp, 0, &r) == FB_EINVALID && r == NULL);
  sp = fb_search_default_params();
  sp.mode = (fb_search_mode)9;
  CHECK(fb_reranker_train_for_search(index, &p, &sp, 0, &r) == FB_EINVALID && r == NULL);
  sp = fb_search_default_params();
  sp.use_feedback = 1;
  CHECK(fb_reranker_train_for_search(index, &p, &sp, 20, &r) == FB_OK && r != NULL);
  fb_reranker_free(r);
  r = NULL;
  sp = fb_search_default_params();
  /* No log yet: a reranker with no model, results as the first stage's. */
  CHECK(fb_reranker_train(index, &p, &r) == FB_OK && r != NULL);
  if (!r) return;
  CHECK(fb_reranker_models_json(r, &json) == FB_OK && json && strcmp(json, "[]") == 0);
  fb_string_free(json);
  sp.top_k = 5;
  CHECK(fb_index_search(index, q, &sp, &plain) == FB_OK);
  CHECK(fb_index_search_rerank(index, r, q, &sp, 20, &reranked) == FB_OK);
  CHECK(fb_results_count(plain) == fb_results_count(reranked) && fb_results_count(plain) > 0);
  for (i = 0; i < fb_results_count(plain); ++i) {
    CHECK(strcmp(fb_results_get(plain, i)->chunk_id, fb_results_get(reranked, i)->chunk_id) == 0);
  }
  fb_results_free(reranked);
  reranked = NULL;
  /* NULL reranker: the first stage. */
  CHECK(fb_index_search_rerank(index, NULL, q, &sp, 0, &reranked) == FB_OK);
  CHECK(fb_results_count(reranked) == fb_results_count(plain));
  fb_results_free(reranked);
  fb_results_free(plain);
  CHECK(fb_index_search_rerank(index, r, NULL, &sp, 0, &reranked) == FB_EINVALID);

  /* Bytes and back; damaged bytes are refused with a message. */
  CHECK(fb_reranker_serialize(r, &bytes, &size) == FB_OK && bytes && size > 0);
  CHECK(fb_reranker_load(bytes, size, &back, &error) == FB_OK && back != NULL && error == NULL);
  fb_string_free(bytes);
  fb_reranker_free(back);
  back = NULL;
  CHECK(fb_reranker_load("{\"not\": 1}", 10, &back, &error) == FB_ECORRUPT && back == NULL);
  CHECK(error != NULL && strlen(error) > 0);
  fb_string_free(error);
  CHECK(fb_reranker_load(NULL, 3, &back, NULL) == FB_EINVALID);
  CHECK(fb_reranker_serialize(NULL, &bytes, &size) == FB_EINVALID);
  CHECK(fb_reranker_models_json(NULL, &json) == FB_EINVALID);
  fb_reranker_free(r);
  fb_reranker_free(NULL);
  fb_index_free(index);
  {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
}

/* The feedback source: questions asked and labelled in the index folder
 * train the embedder; labels of a matter not marked shareable are not used. */
static void feedback_source(void) {
  char dir[] = "/tmp/foldback-c-learn-fb-XXXXXX";
  fb_index* index = make_index(1);
  fb_train_params tp = fb_train_default_params();
  fb_ask_params ap = fb_ask_default_params();
  fb_feedback_log* log = NULL;
  fb_trainer* t = NULL;
  const char* shared[] = {"m-open"};
  const char* questions[] = {"how much notice to terminate", "when are fees payable",
                             "which law governs the agreement"};
  size_t q, i, per[7];
  if (!index) return;
  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  tp.sources = "feedback";
  CHECK(fb_train_start(index, &tp, &t) == FB_ESTATE && t == NULL); /* no folder, no log */
  CHECK(fb_index_save(index, dir) == FB_OK);
  CHECK(fb_train_start(index, &tp, &t) == FB_ESTATE && t == NULL); /* no labels yet */
  CHECK(strstr(fb_index_last_error(index), "no pairs") != NULL);
  CHECK(fb_feedback_log_open(dir, index, &log) == FB_OK && log != NULL);
  if (!log) return;
  ap.rewrite = FB_REWRITE_NONE;
  ap.mode = FB_MODE_BM25;
  for (q = 0; q < 3; ++q) {
    fb_ask* ask = NULL;
    fb_feedback_record rec = fb_feedback_default_record();
    const char* relevant[1];
    const char* not_relevant[1];
    CHECK(fb_ask_start(index, questions[q], &ap, 0, &ask) == FB_OK && ask != NULL);
    if (!ask) return;
    CHECK(fb_ask_done(ask) && fb_ask_passage_count(ask) >= 2);
    CHECK(fb_ask_save_trace(ask, NULL) == FB_OK);
    relevant[0] = fb_ask_passage(ask, 0)->chunk_id;
    not_relevant[0] = fb_ask_passage(ask, 1)->chunk_id;
    rec.trace_id = fb_ask_trace_id(ask);
    rec.relevant = relevant;
    rec.relevant_count = 1;
    rec.not_relevant = not_relevant;
    rec.not_relevant_count = 1;
    rec.consent_to_train = 1;
    rec.matter = "m-open";
    CHECK(fb_feedback_log_append(log, &rec, NULL) == FB_OK);
    fb_ask_free(ask);
  }
  fb_feedback_log_free(log);
  /* Matter m-open is not marked shareable: nothing to train on. */
  CHECK(fb_train_start(index, &tp, &t) == FB_ESTATE && t == NULL);
  CHECK(strstr(fb_index_last_error(index), "3 touching a matter not marked shareable") != NULL);
  tp.shareable_matters = shared;
  tp.shareable_matter_count = 1;
  tp.epochs = 0; /* the default for labels alone */
  CHECK(fb_train_start(index, &tp, &t) == FB_OK && t != NULL);
  if (!t) return;
  CHECK(fb_train_pair_count(t, per) == 3);
  for (i = 0; i < 7; ++i) CHECK(per[i] == 0); /* no structure pair */
  {
    fb_train_progress pr;
    int steps = 0;
    double before = fb_train_mean_loss(t);
    while (!fb_train_done(t) && steps++ < 1000) CHECK(fb_train_step(t, &pr) == FB_OK);
    CHECK(pr.epochs == 10);
    CHECK(fb_train_mean_loss(t) < before);
  }
  CHECK(fb_train_install(t, index) == FB_OK);
  CHECK(fb_index_embedder_version(index) == 2);
  fb_trainer_free(t);
  /* Forgetting the matter drops the model its labels trained: the corpus
   * model (version 1, the previous one) is back and nothing to restore. */
  {
    char* action = NULL;
    CHECK(fb_index_forget_matter(index, NULL, &action) == FB_EINVALID);
    CHECK(fb_index_forget_matter(index, "m-other", &action) == FB_OK && action && !*action);
    fb_string_free(action);
    action = NULL;
    CHECK(fb_index_forget_matter(index, "m-open", &action) == FB_OK && action);
    CHECK(action && strstr(action, "version 1 restored") != NULL);
    fb_string_free(action);
    CHECK(fb_index_embedder_version(index) == 1);
    CHECK(fb_index_restore_previous_embedder(index) == FB_ESTATE);
  }
  fb_index_free(index);
  {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
  }
}

int main(void) {
  trainer();
  reranker();
  feedback_source();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("c_learn: all checks passed\n");
  return 0;
}
