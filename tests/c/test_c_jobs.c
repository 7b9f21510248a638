/* Durable jobs from C (fb_jobs_*): map and embed jobs over a saved index
 * folder in a SQLite store, worked until idle against the OpenAI-compatible
 * test server on loopback, behind an ethical wall; status, results, cancel,
 * bad input — and the API key (read from the variable the job names) in no
 * result, message or store byte.
 * usage: foldback_c_jobs_test TEST_DATA_DIR LLM_TEST_SERVER_BINARY */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foldback.h"
#include "test_check.h"
#include "test_server.h"

static const char* kKey = "sk-c-jobs-canary-Qm4Zt8Lw2Vx6";
static const char* kKeyVar = "FOLDBACK_C_JOBS_TEST_KEY";

static size_t count(const char* text, const char* what) {
  size_t n = 0;
  const char* p = text;
  while (p && (p = strstr(p, what)) != NULL) {
    ++n;
    p += strlen(what);
  }
  return n;
}

/* The whole file, or NULL. */
static char* slurp(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (char*)malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
  if (buf) buf[n] = '\0';
  fclose(f);
  *size = (size_t)n;
  return buf;
}

static int contains_bytes(const char* hay, size_t n, const char* needle) {
  size_t k = strlen(needle), i;
  for (i = 0; i + k <= n; ++i) {
    if (memcmp(hay + i, needle, k) == 0) return 1;
  }
  return 0;
}

/* An index folder of two matters: acme (3 documents), beta (1). */
static int make_index_dir(const char* dir) {
  static const char* docs[][3] = {
      {"acme-advice", "acme",
       "Privileged and confidential. Counsel advises that the merger may be terminated."},
      {"acme-lunch", "acme", "Team lunch is moved to Friday at noon in the cafeteria."},
      {"acme-invoice", "acme", "Invoice 4411 for consulting services rendered in March."},
      {"beta-memo", "beta", "Beta walled memo: zebra pineapple strategy."},
  };
  size_t i;
  int err = 0;
  fb_index* index = fb_index_init(NULL, &err);
  if (!index) return 0;
  for (i = 0; i < sizeof docs / sizeof docs[0]; ++i) {
    fb_document d;
    memset(&d, 0, sizeof d);
    d.id = docs[i][0];
    d.title = docs[i][0];
    d.matter = docs[i][1];
    d.text = docs[i][2];
    if (fb_index_add(index, &d, NULL) != FB_OK) {
      fb_index_free(index);
      return 0;
    }
  }
  err = fb_index_save(index, dir);
  fb_index_free(index);
  return err == FB_OK;
}

int main(int argc, char** argv) {
  char dir[] = "/tmp/foldback-c-jobs-XXXXXX";
  char script[512], store[512], idx[512], dbfile[512], url[256];
  const char* acme[] = {"acme"};
  fb_jobs* jobs = NULL;
  fb_job_params p;
  fb_job_status st;
  fb_job_work_report rep;
  char* map_id = NULL;
  char* embed_id = NULL;
  char* other = NULL;
  char* results = NULL;
  pid_t server;
  FILE* f;
  int rc;
  if (argc < 3) {
    fprintf(stderr, "usage: %s TEST_DATA_DIR LLM_TEST_SERVER_BINARY\n", argv[0]);
    return 2;
  }
  if (!mkdtemp(dir)) return 2;
  snprintf(script, sizeof script, "%s/script.json", dir);
  snprintf(store, sizeof store, "sqlite:%s/jobs.sqlite", dir);
  snprintf(dbfile, sizeof dbfile, "%s/jobs.sqlite", dir);
  snprintf(idx, sizeof idx, "%s/idx", dir);
  CHECK(make_index_dir(idx));
  f = fopen(script, "w");
  if (!f) return 2;
  fprintf(f,
          "{\"expected_key\": \"%s\", \"default_content\": "
          "\"[[ ## answer ## ]]\\nYes: legal advice from counsel [1].\\n\\n[[ ## completed ## ]]\"}\n",
          kKey);
  fclose(f);
  server = start_server(argv[2], script, url, sizeof url);
  CHECK(server > 0);
  if (server <= 0) return 1;
  setenv(kKeyVar, kKey, 1);

  /* NULLs never crash. */
  CHECK(fb_jobs_open(NULL, NULL) == FB_EINVALID);
  CHECK(fb_jobs_submit(NULL, NULL, NULL) == FB_EINVALID);
  CHECK(fb_jobs_work(NULL, NULL, 0, NULL) == FB_EINVALID);
  CHECK(fb_jobs_status(NULL, NULL, NULL) == FB_EINVALID);
  fb_jobs_free(NULL);

  rc = fb_jobs_open(store, &jobs);
  CHECK(rc == FB_OK);
  if (rc != FB_OK) return 1;

  /* A map job behind acme's wall: one request per acme document. */
  p = fb_job_default_params();
  p.kind = "map";
  p.index_dir = idx;
  p.restrict_matters = 1;
  p.allowed_matters = acme;
  p.allowed_matter_count = 1;
  p.instructions = "Is this privileged? Why? Cite passages as [n].";
  p.endpoint_url = url;
  p.model = "test-model";
  p.api_key_env = kKeyVar;
  rc = fb_jobs_submit(jobs, &p, &map_id);
  CHECK(rc == FB_OK);
  if (rc != FB_OK) fprintf(stderr, "submit: %s\n", fb_jobs_last_error(jobs));
  CHECK(fb_jobs_status(jobs, map_id, &st) == FB_OK);
  CHECK(st.total == 3 && st.pending == 3 && st.done == 0);
  rc = fb_jobs_work(jobs, map_id, 4, &rep);
  CHECK(rc == FB_OK);
  if (rc != FB_OK) fprintf(stderr, "work: %s\n", fb_jobs_last_error(jobs));
  CHECK(rep.done == 3 && rep.failed == 0 && rep.requests == 3);
  CHECK(fb_jobs_status(jobs, map_id, &st) == FB_OK);
  CHECK(st.done == 3 && st.finished == 1 && st.attempts == 3 && st.requests == 3);
  CHECK(fb_jobs_results_jsonl(jobs, map_id, 0, &results) == FB_OK);
  CHECK(results && count(results, "\"doc_id\":\"acme-") == 3);
  CHECK(results && strstr(results, "beta-memo") == NULL);
  CHECK(results && strstr(results, "legal advice from counsel") != NULL);
  CHECK(results && strstr(results, kKey) == NULL);
  fb_string_free(results);
  results = NULL;
  /* Worked again: nothing is sent twice. */
  CHECK(fb_jobs_work(jobs, map_id, 4, &rep) == FB_OK);
  CHECK(rep.requests == 0 && rep.done == 0);

  /* An embed job: every acme passage gets a vector. */
  p = fb_job_default_params();
  p.kind = "embed";
  p.index_dir = idx;
  p.matter = "acme";
  p.endpoint_url = url;
  p.model = "test-embed";
  p.api_key_env = kKeyVar;
  p.embed_batch = 2;
  CHECK(fb_jobs_submit(jobs, &p, &embed_id) == FB_OK);
  CHECK(fb_jobs_work(jobs, NULL, 2, &rep) == FB_OK);
  CHECK(fb_jobs_status(jobs, embed_id, &st) == FB_OK);
  CHECK(st.total >= 3 && st.done == st.total && st.failed == 0);
  CHECK(fb_jobs_results_jsonl(jobs, embed_id, 0, &results) == FB_OK);
  CHECK(results && count(results, "\"vector\":[") == st.total);
  CHECK(results && count(results, "\"dim\":64") == st.total);
  fb_string_free(results);
  results = NULL;

  /* Walls and bad input: clear codes, nothing submitted. */
  p = fb_job_default_params();
  p.kind = "map";
  p.index_dir = idx;
  p.matter = "beta";
  p.restrict_matters = 1;
  p.allowed_matters = acme;
  p.allowed_matter_count = 1;
  p.instructions = "x";
  p.endpoint_url = url;
  p.api_key_env = kKeyVar;
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_EDENIED);
  CHECK(other == NULL);
  p.matter = NULL;
  p.kind = "sort";
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_EINVALID);
  p.kind = "map";
  p.api_key_env = "FOLDBACK_C_JOBS_UNSET_VARIABLE";
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_ENOTFOUND);
  CHECK(strstr(fb_jobs_last_error(jobs), "FOLDBACK_C_JOBS_UNSET_VARIABLE") != NULL);
  p.api_key_env = kKeyVar;
  p.instructions = NULL;
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_EINVALID);
  CHECK(strstr(fb_jobs_last_error(jobs), "instructions") != NULL);
  CHECK(fb_jobs_status(jobs, "0190aaaa-0000-7000-8000-000000000000", &st) == FB_ENOTFOUND);

  /* Cancelled before any worker: nothing is sent. */
  p.instructions = "x";
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_OK);
  CHECK(fb_jobs_cancel(jobs, other) == FB_OK);
  CHECK(fb_jobs_work(jobs, other, 4, &rep) == FB_OK);
  CHECK(rep.requests == 0);
  CHECK(fb_jobs_status(jobs, other, &st) == FB_OK);
  CHECK(st.cancelled == 1 && st.done == 0);

  /* The key is in no byte of the store. */
  fb_jobs_free(jobs);
  {
    size_t n = 0;
    char* bytes = slurp(dbfile, &n);
    CHECK(bytes != NULL);
    if (bytes) CHECK(!contains_bytes(bytes, n, kKey));
    free(bytes);
  }
  /* A store that cannot open: a handle that says why. */
  jobs = NULL;
  CHECK(fb_jobs_open("mysql://nowhere", &jobs) != FB_OK);
  CHECK(jobs != NULL && strlen(fb_jobs_last_error(jobs)) > 0);
  CHECK(fb_jobs_submit(jobs, &p, &other) == FB_ESTATE);
  fb_jobs_free(jobs);

  fb_string_free(map_id);
  fb_string_free(embed_id);
  fb_string_free(other);
  stop_server(server);
  {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  }
  if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
