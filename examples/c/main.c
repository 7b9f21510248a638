/* foldback from C: ingest a folder of mail and documents, search it, ask a
 * two-hop question whose LLM calls this program makes itself (libcurl), and
 * record the lawyer's feedback.
 *
 *   usage: foldback_example_c LLM_URL INDEX_DIR QUESTION PATH...
 *
 * LLM_URL is an OpenAI-compatible base URL ("http://127.0.0.1:8080/v1");
 * the key, if the endpoint wants one, comes from $FOLDBACK_API_KEY.
 * foldback never performs the HTTP here: the ask session emits *needs*, the
 * host (this file) sends them and hands the replies back. A C#, Java or
 * Python host does the same with its own HTTP client. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <foldback.h>

/* ---- the host's own HTTP: one POST with libcurl */

struct reply {
  char* data;
  size_t size;
};

static size_t on_body(char* ptr, size_t size, size_t n, void* user) {
  struct reply* r = (struct reply*)user;
  char* grown = realloc(r->data, r->size + size * n + 1);
  if (!grown) return 0;
  memcpy(grown + r->size, ptr, size * n);
  r->data = grown;
  r->size += size * n;
  r->data[r->size] = '\0';
  return size * n;
}

/* POSTs a JSON body; returns the HTTP status, or 0 with `error` set. */
static long post_json(const char* url, const char* body, double timeout_ms, struct reply* out,
                      char error[CURL_ERROR_SIZE]) {
  CURL* curl = curl_easy_init();
  struct curl_slist* headers = curl_slist_append(NULL, "Content-Type: application/json");
  const char* key = getenv("FOLDBACK_API_KEY");
  char auth[512];
  long status = 0;
  if (!curl) return 0;
  if (key && *key) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    headers = curl_slist_append(headers, auth);
  }
  error[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_URL, url);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? (long)timeout_ms : 60000L);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

/* Prints the start of a passage on one line. */
static void print_line(const char* text, int width) {
  int n = 0;
  for (; *text && n < width; ++text, ++n) putchar(*text == '\n' || *text == '\t' ? ' ' : *text);
  putchar('\n');
}

/* ---- ingestion progress: broken files are reported and skipped */

static void on_file(const fb_ingest_file* f, void* user_data) {
  (void)user_data;
  if (f->outcome != FB_FILE_INDEXED) {
    printf("  skipped %s: %s\n", f->path, f->message);
  }
}

/* ---- the ask: answer every need over HTTP until the session is done */

static int answer_needs(fb_ask* ask, const char* llm_url) {
  fb_llm_endpoint_params endpoint = fb_llm_endpoint_default_params();
  endpoint.url = llm_url;
  endpoint.model = "any";
  while (!fb_ask_done(ask)) {
    fb_needs* needs = NULL;
    fb_events* events = NULL;
    size_t i;
    if (fb_ask_take_needs(ask, &needs) != FB_OK) return -1;
    for (i = 0; i < fb_needs_count(needs); ++i) {
      const fb_need* need = fb_needs_get(needs, i);
      char* url = NULL;
      char* body = NULL;
      char error[CURL_ERROR_SIZE];
      struct reply reply = {NULL, 0};
      long status;
      double start = fb_monotonic_ms();
      if (fb_ask_need_http_request(ask, need->id, &endpoint, &url, &body) != FB_OK) {
        fprintf(stderr, "request: %s\n", fb_ask_last_error(ask));
        fb_needs_free(needs);
        return -1;
      }
      status = post_json(url, body, need->timeout_ms, &reply, error);
      if (status == 0) {
        /* No reply at all: tell the session, it falls back. */
        fb_need_result failed = fb_need_default_result();
        failed.status = FB_EUNAVAILABLE;
        failed.message = error;
        fb_ask_provide(ask, need->id, &failed, fb_monotonic_ms());
      } else {
        fb_ask_provide_http_response(ask, need->id, status, reply.data, reply.size,
                                     fb_monotonic_ms() - start, fb_monotonic_ms());
      }
      free(reply.data);
      fb_string_free(url);
      fb_string_free(body);
    }
    fb_needs_free(needs);
    /* Show each hop's query as soon as it is known. */
    fb_ask_take_events(ask, &events);
    for (i = 0; i < fb_events_count(events); ++i) {
      const fb_event* e = fb_events_get(events, i);
      if (e->kind == FB_EVENT_QUERY) printf("  hop %u query: %s\n", e->hop, e->message);
      if (e->kind == FB_EVENT_FALLBACK) printf("  fallback: %s\n", e->message);
    }
    fb_events_free(events);
  }
  return 0;
}

int main(int argc, char** argv) {
  const char *llm_url, *dir, *question;
  int err = 0, i;
  fb_index* index;
  fb_ingest_report report;
  fb_search_params sp = fb_search_default_params();
  fb_results* results = NULL;
  fb_ask_params ap = fb_ask_default_params();
  fb_ask* ask = NULL;
  fb_feedback_log* log = NULL;
  fb_feedback_record record = fb_feedback_default_record();
  const char* relevant[1];
  char* record_id = NULL;
  size_t k;

  if (argc < 5) {
    fprintf(stderr, "usage: %s LLM_URL INDEX_DIR QUESTION PATH...\n", argv[0]);
    return 2;
  }
  llm_url = argv[1];
  dir = argv[2];
  question = argv[3];
  printf("foldback %s (C API)\n", fb_version());
  curl_global_init(CURL_GLOBAL_DEFAULT);

  /* 1. Ingest: mail, .docx, .pdf, .html, .txt ... */
  index = fb_index_init(NULL, &err);
  if (!index) {
    fprintf(stderr, "fb_index_init: %s\n", fb_strerror(err));
    return 1;
  }
  for (i = 4; i < argc; ++i) {
    if (fb_index_ingest_path(index, argv[i], NULL, on_file, NULL, &report) != FB_OK) {
      fprintf(stderr, "ingest %s: %s\n", argv[i], fb_index_last_error(index));
      return 1;
    }
    printf("ingested %s: %llu files, %llu indexed, %llu failed, %llu unsupported, %llu documents\n",
           argv[i], (unsigned long long)report.files, (unsigned long long)report.indexed,
           (unsigned long long)report.failed, (unsigned long long)report.unsupported,
           (unsigned long long)report.documents);
  }
  if (fb_index_build_dense(index) != FB_OK) {
    printf("(no dense index, lexical search only: %s)\n", fb_index_last_error(index));
  }
  if (fb_index_save(index, dir) != FB_OK) {
    fprintf(stderr, "save: %s\n", fb_index_last_error(index));
    return 1;
  }
  printf("index %s: %llu documents, %llu chunks\n", dir,
         (unsigned long long)fb_index_document_count(index),
         (unsigned long long)fb_index_chunk_count(index));

  /* 2. Search. */
  sp.top_k = 3;
  if (fb_index_search(index, question, &sp, &results) != FB_OK) {
    fprintf(stderr, "search: %s\n", fb_index_last_error(index));
    return 1;
  }
  printf("search \"%s\":\n", question);
  for (k = 0; k < fb_results_count(results); ++k) {
    const fb_hit* h = fb_results_get(results, k);
    printf("  %zu. %s (%.3f) ", k + 1, h->doc_id, h->score);
    print_line(h->text, 60);
  }
  fb_results_free(results);

  /* 3. Ask: two hops, each query written by the LLM, then an answer. */
  ap.hops = 2;
  ap.answer = 1;
  if (fb_ask_start(index, question, &ap, fb_monotonic_ms(), &ask) != FB_OK) {
    fprintf(stderr, "ask: %s\n", fb_index_last_error(index));
    return 1;
  }
  printf("ask %s:\n", fb_ask_trace_id(ask));
  if (answer_needs(ask, llm_url) != 0) return 1;
  for (k = 0; k < fb_ask_hop_count(ask); ++k) {
    const fb_hop* hop = fb_ask_hop(ask, k);
    printf("hop %u (%s): %s - %zu passages, %zu new\n", hop->hop, hop->source, hop->query,
           hop->results, hop->new_results);
  }
  printf("passages: %zu\n", fb_ask_passage_count(ask));
  for (k = 0; k < fb_ask_passage_count(ask); ++k) {
    const fb_hit* h = fb_ask_passage(ask, k);
    printf("  [%zu] %s: ", k + 1, h->doc_id);
    print_line(h->text, 60);
  }
  printf("answer: %s\n", fb_ask_answer(ask));
  if (fb_ask_save_trace(ask, NULL) != FB_OK) {
    fprintf(stderr, "trace: %s\n", fb_ask_last_error(ask));
    return 1;
  }
  printf("trace: %s/traces/%s.json\n", dir, fb_ask_trace_id(ask));

  /* 4. Feedback: the lawyer liked it and marks the first passage relevant. */
  if (fb_feedback_log_open(dir, index, &log) != FB_OK) {
    fprintf(stderr, "cannot open the feedback log in %s\n", dir);
    return 1;
  }
  record.trace_id = fb_ask_trace_id(ask);
  record.rating = "up";
  if (fb_ask_passage_count(ask) > 0) {
    relevant[0] = fb_ask_passage(ask, 0)->chunk_id;
    record.relevant = relevant;
    record.relevant_count = 1;
  }
  record.critique = "Right clause; the notice period is what mattered.";
  if (fb_feedback_log_append(log, &record, &record_id) != FB_OK) {
    fprintf(stderr, "feedback: %s\n", fb_feedback_log_last_error(log));
    return 1;
  }
  printf("feedback record: %s\n", record_id);

  fb_string_free(record_id);
  fb_feedback_log_free(log);
  fb_ask_free(ask);
  fb_index_free(index);
  curl_global_cleanup();
  return 0;
}
