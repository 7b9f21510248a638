/* The C API from C: a C compiler must accept foldback.h, and the basic
 * lifecycle (init, add, search, snapshot, load, errors, free) must work;
 * index folders (save, open), ingestion of real mail and documents, NULL for
 * every pointer argument, bad UTF-8.
 * usage: foldback_c_api_test TEST_DATA_DIR */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foldback.h"
#include "test_check.h"

struct ingest_seen {
  unsigned files, failed, unsupported, with_message, last_total;
  int order_ok;
  unsigned long long last_done;
};

static void on_file(const fb_ingest_file* f, void* user_data) {
  struct ingest_seen* seen = (struct ingest_seen*)user_data;
  seen->files++;
  if (f->files_done != seen->last_done + 1) seen->order_ok = 0;
  seen->last_done = f->files_done;
  seen->last_total = (unsigned)f->files_total;
  if (f->outcome == FB_FILE_FAILED) {
    seen->failed++;
    if (f->status != FB_OK && f->message[0] != '\0') seen->with_message++;
  }
  if (f->outcome == FB_FILE_UNSUPPORTED) seen->unsupported++;
}

/* Every function given NULL for each pointer argument: an error code, no crash. */
static void null_arguments(void) {
  int err = 0;
  fb_index* index = fb_index_init(NULL, &err); /* NULL params: the defaults */
  fb_results* results = (fb_results*)1;
  char* bytes = NULL;
  size_t size = 0;
  fb_document doc;
  const char* bad_filters[] = {NULL};
  fb_search_params sp = fb_search_default_params();
  CHECK(index != NULL && err == FB_OK);
  if (!index) return;
  {
    fb_index* x = fb_index_init(NULL, NULL);
    CHECK(x != NULL);
    fb_index_free(x);
  }
  CHECK(fb_index_load(NULL, 0, &err) == NULL && err == FB_ECORRUPT);
  CHECK(fb_index_load(NULL, 10, &err) == NULL && err == FB_EINVALID);
  CHECK(fb_index_open(NULL, &err) == NULL && err == FB_EINVALID);
  CHECK(fb_index_open(NULL, NULL) == NULL);
  CHECK(fb_index_save(NULL, "/tmp") == FB_EINVALID);
  CHECK(fb_index_save(index, NULL) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "dir") != NULL);
  CHECK(strcmp(fb_index_last_error(NULL), "") == 0);
  CHECK(fb_index_add(NULL, NULL, NULL) == FB_EINVALID);
  CHECK(fb_index_add(index, NULL, NULL) == FB_EINVALID);
  memset(&doc, 0, sizeof doc);
  CHECK(fb_index_add(index, &doc, NULL) == FB_EINVALID); /* NULL id */
  doc.id = "d";
  doc.meta_count = 1; /* NULL arrays with a count */
  CHECK(fb_index_add(index, &doc, NULL) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "metadata") != NULL);
  doc.meta_count = 0;
  doc.kind = (fb_doc_kind)42;
  CHECK(fb_index_add(index, &doc, NULL) == FB_EINVALID);
  CHECK(fb_index_remove(NULL, "d") == FB_EINVALID);
  CHECK(fb_index_remove(index, NULL) == FB_EINVALID);
  CHECK(fb_index_build_dense(NULL) == FB_EINVALID);
  CHECK(fb_index_ingest_path(NULL, "/tmp", NULL, NULL, NULL, NULL) == FB_EINVALID);
  CHECK(fb_index_ingest_path(index, NULL, NULL, NULL, NULL, NULL) == FB_EINVALID);
  CHECK(fb_index_search(NULL, "q", NULL, &results) == FB_EINVALID);
  CHECK(fb_index_search(index, NULL, NULL, &results) == FB_EINVALID);
  CHECK(fb_index_search(index, "q", NULL, NULL) == FB_EINVALID);
  sp.filters = bad_filters;
  sp.filter_count = 1;
  CHECK(fb_index_search(index, "q", &sp, &results) == FB_EINVALID && results == NULL);
  sp = fb_search_default_params();
  sp.restrict_matters = 1;
  sp.allowed_matter_count = 2; /* NULL array with a count */
  CHECK(fb_index_search(index, "q", &sp, &results) == FB_EINVALID);
  sp = fb_search_default_params();
  sp.mode = (fb_search_mode)7;
  CHECK(fb_index_search(index, "q", &sp, &results) == FB_EINVALID);
  CHECK(fb_results_count(NULL) == 0);
  CHECK(fb_results_get(NULL, 0) == NULL);
  fb_results_free(NULL);
  CHECK(fb_index_snapshot(NULL, &bytes, &size) == FB_EINVALID);
  CHECK(fb_index_snapshot(index, NULL, &size) == FB_EINVALID);
  CHECK(fb_index_snapshot(index, &bytes, NULL) == FB_EINVALID);
  CHECK(fb_index_document_count(NULL) == 0);
  CHECK(fb_index_chunk_count(NULL) == 0);
  CHECK(fb_index_chunks_missing_vectors(NULL, 0, &results) == FB_EINVALID);
  CHECK(fb_index_chunks_missing_vectors(index, 0, NULL) == FB_EINVALID);
  CHECK(fb_index_set_chunk_vector(NULL, "c", NULL, 0) == FB_EINVALID);
  CHECK(fb_index_set_chunk_vector(index, NULL, NULL, 0) == FB_EINVALID);
  CHECK(fb_index_set_chunk_vector(index, "c", NULL, 4) == FB_EINVALID);
  fb_string_free(NULL);
  fb_index_free(NULL);
  CHECK(strcmp(fb_strerror(12345), "unknown error code") == 0);
  fb_index_free(index);
}

/* Invalid UTF-8 in a document is replaced and counted, never fatal; a
 * query with invalid UTF-8 is searched. */
static void bad_utf8(void) {
  int err = 0;
  fb_index_params p = fb_index_default_params();
  fb_index* index;
  fb_document doc;
  fb_results* results = NULL;
  p.embedder = FB_EMBEDDER_NONE;
  index = fb_index_init(&p, &err);
  CHECK(index != NULL);
  if (!index) return;
  memset(&doc, 0, sizeof doc);
  doc.id = "latin1";
  doc.title = "Caf\xe9 \xff agreement";
  doc.text = "The indemnit\xe9 clause \xc3\x28 survives termination of the lease \xf0\x28\x8c\x28.";
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  CHECK(fb_index_search(index, "lease \xfe\xfe termination", NULL, &results) == FB_OK);
  CHECK(fb_results_count(results) == 1);
  if (fb_results_count(results) == 1) CHECK(strstr(fb_results_get(results, 0)->text, "\xef\xbf\xbd") != NULL);
  fb_results_free(results);
  fb_index_free(index);
}

/* Ingestion of a folder of real mail, .docx and .pdf files, saved to a
 * folder and opened again. */
static void ingest_and_folders(const char* data) {
  char path[4096], dir[] = "/tmp/foldback-c-api-XXXXXX", cmd[4200];
  int err = 0;
  fb_index_params p = fb_index_default_params();
  fb_index* index;
  fb_index* opened;
  fb_ingest_report rep;
  struct ingest_seen seen;
  fb_results* results = NULL;
  fb_search_params sp = fb_search_default_params();
  size_t i;
  int found_pdf = 0;
  int found_msg = 0;

  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  index = fb_index_init(&p, &err);
  CHECK(index != NULL);
  if (!index) return;
  memset(&seen, 0, sizeof seen);
  seen.order_ok = 1;
  snprintf(path, sizeof path, "%s/mail", data);
  CHECK(fb_index_ingest_path(index, path, "m-mail", on_file, &seen, &rep) == FB_OK);
  CHECK(rep.files > 100 && rep.files == seen.files && seen.last_total == rep.files);
  CHECK(seen.order_ok);
  CHECK(rep.indexed > 90);
  CHECK(rep.documents > rep.indexed); /* attachments became documents */
  CHECK(rep.failed + rep.indexed + rep.unsupported == rep.files);
  CHECK(seen.failed == rep.failed && seen.with_message == seen.failed);
  snprintf(path, sizeof path, "%s/docx", data);
  CHECK(fb_index_ingest_path(index, path, NULL, NULL, NULL, &rep) == FB_OK);
  CHECK(rep.indexed >= 10);
  memset(&seen, 0, sizeof seen);
  seen.order_ok = 1;
  snprintf(path, sizeof path, "%s/pdf", data);
  CHECK(fb_index_ingest_path(index, path, "m-pdf", on_file, &seen, &rep) == FB_OK);
  /* The password-protected PDF is reported and skipped; the others are read. */
  CHECK(rep.files == 3 && rep.failed == 1 && rep.indexed == 2);
  CHECK(seen.failed == 1 && seen.with_message == 1);
  CHECK(fb_index_ingest_path(index, path, "m-pdf", NULL, NULL, NULL) == FB_OK); /* again: replaced */
  /* Outlook .msg (tests/data/msg/generated): 13 readable files; 7 broken
   * containers and 2 signed/encrypted messages refused, each with a message. */
  memset(&seen, 0, sizeof seen);
  seen.order_ok = 1;
  snprintf(path, sizeof path, "%s/msg/generated", data);
  CHECK(fb_index_ingest_path(index, path, "m-msg", on_file, &seen, &rep) == FB_OK);
  CHECK(rep.files == 22 && rep.indexed == 13 && rep.failed == 9);
  CHECK(seen.failed == 9 && seen.with_message == 9);
  CHECK(rep.documents > rep.indexed); /* embedded messages and attachments */
  CHECK(fb_index_ingest_path(index, "/no/such/folder", NULL, NULL, NULL, &rep) == FB_ENOTFOUND);
  CHECK(strstr(fb_index_last_error(index), "/no/such/folder") != NULL);
  CHECK(fb_index_build_dense(index) == FB_OK);

  sp.top_k = 20;
  CHECK(fb_index_search(index, "settlement agreement", &sp, &results) == FB_OK);
  for (i = 0; i < fb_results_count(results); ++i) {
    const fb_hit* h = fb_results_get(results, i);
    if (strncmp(h->doc_id, "settlement", 10) == 0 && strcmp(h->matter, "m-pdf") == 0) found_pdf = 1;
  }
  CHECK(found_pdf);
  fb_results_free(results);
  CHECK(fb_index_search(index, "Meridian escrow schedule", &sp, &results) == FB_OK);
  for (i = 0; i < fb_results_count(results); ++i) {
    const fb_hit* h = fb_results_get(results, i);
    if (strcmp(h->doc_id, "all_properties/att-4-Fwd: Meridian escrow terms/att-1-inner-notes.txt") == 0 &&
        strcmp(h->matter, "m-msg") == 0) {
      found_msg = 1;
    }
  }
  CHECK(found_msg);
  fb_results_free(results);

  CHECK(fb_index_save(index, dir) == FB_OK);
  opened = fb_index_open(dir, &err);
  CHECK(opened != NULL && err == FB_OK);
  if (opened) {
    CHECK(fb_index_document_count(opened) == fb_index_document_count(index));
    CHECK(fb_index_search(opened, "settlement agreement", &sp, &results) == FB_OK);
    CHECK(fb_results_count(results) > 0);
    fb_results_free(results);
    fb_index_free(opened);
  }
  snprintf(path, sizeof path, "%s/empty", dir);
  CHECK(fb_index_open(path, &err) == NULL && err == FB_ENOTFOUND);
  {
    /* A damaged snapshot: FB_ECORRUPT. */
    FILE* f;
    snprintf(path, sizeof path, "%s/broken", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/broken/index.fbsnap", dir);
    f = fopen(path, "wb");
    if (f) {
      fputs("not a snapshot at all", f);
      fclose(f);
    }
    snprintf(path, sizeof path, "%s/broken", dir);
    CHECK(fb_index_open(path, &err) == NULL && err == FB_ECORRUPT);
  }
  fb_index_free(index);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* fb_search_params.syntax: a phrase is a phrase under connectors, words
 * under plain; a malformed query is an error only under connectors; an
 * unknown value is FB_EINVALID. fb_index_remove takes a message's
 * attachments with it. */
static void syntax_and_attachments(void) {
  int err = 0;
  fb_index_params ip = fb_index_default_params();
  fb_index* index;
  fb_document doc;
  fb_search_params sp = fb_search_default_params();
  fb_ask_params ap = fb_ask_default_params();
  fb_results* results = NULL;
  ip.embedder = FB_EMBEDDER_NONE;
  index = fb_index_init(&ip, &err);
  CHECK(index != NULL);
  if (!index) return;
  CHECK(sp.syntax == FB_SYNTAX_AUTO && ap.syntax == FB_SYNTAX_AUTO);
  memset(&doc, 0, sizeof doc);
  doc.id = "in-order";
  doc.text = "The supplier shall indemnify the customer.";
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  doc.id = "scattered";
  doc.text = "The customer shall pay; indemnify nobody, said the supplier.";
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);

  sp.mode = FB_MODE_BM25;
  sp.syntax = FB_SYNTAX_CONNECTORS;
  CHECK(fb_index_search(index, "\"supplier shall indemnify\"", &sp, &results) == FB_OK);
  CHECK(fb_results_count(results) == 1);
  CHECK(fb_results_count(results) == 1 &&
        strcmp(fb_results_get(results, 0)->doc_id, "in-order") == 0);
  fb_results_free(results);
  sp.syntax = FB_SYNTAX_PLAIN;
  CHECK(fb_index_search(index, "\"supplier shall indemnify\"", &sp, &results) == FB_OK);
  CHECK(fb_results_count(results) == 2);
  fb_results_free(results);
  sp.syntax = FB_SYNTAX_CONNECTORS;
  CHECK(fb_index_search(index, "\"supplier shall", &sp, &results) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "quote") != NULL);
  sp.syntax = FB_SYNTAX_AUTO;
  CHECK(fb_index_search(index, "\"supplier shall", &sp, &results) == FB_OK);
  CHECK(fb_results_count(results) == 2);
  fb_results_free(results);
  sp.syntax = (fb_query_syntax)7;
  CHECK(fb_index_search(index, "supplier", &sp, &results) == FB_EINVALID);
  CHECK(strstr(fb_index_last_error(index), "syntax") != NULL);

  /* A message and its attachment (and the attachment's own). */
  doc.id = "mail";
  doc.text = "Escrow terms attached.";
  doc.kind = FB_KIND_EMAIL;
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  doc.id = "mail/att-1-terms";
  doc.text = "Escrow release conditions.";
  doc.kind = FB_KIND_DOCUMENT;
  doc.parent_id = "mail";
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  doc.id = "mail/att-1-terms/att-1-annex";
  doc.parent_id = "mail/att-1-terms";
  CHECK(fb_index_add(index, &doc, NULL) == FB_OK);
  CHECK(fb_index_document_count(index) == 5);
  CHECK(fb_index_remove(index, "mail") == FB_OK);
  CHECK(fb_index_document_count(index) == 2);
  sp.syntax = FB_SYNTAX_AUTO;
  CHECK(fb_index_search(index, "escrow", &sp, &results) == FB_OK);
  CHECK(fb_results_count(results) == 0);
  fb_results_free(results);
  fb_index_free(index);
}

/* fb_index_snapshot_to's callback: appends to a growing buffer; after
 * `fail_after` calls (-1: never) it returns an error. */
struct collected {
  char* data;
  size_t size;
  int calls;
  int fail_after;
};

static int collect(void* user, const void* bytes, size_t size) {
  struct collected* c = (struct collected*)user;
  if (c->fail_after >= 0 && c->calls >= c->fail_after) {
    ++c->calls;
    return 7;
  }
  ++c->calls;
  char* grown = (char*)realloc(c->data, c->size + size + 1);
  if (!grown) return 1;
  memcpy(grown + c->size, bytes, size);
  c->data = grown;
  c->size += size;
  return 0;
}

int main(int argc, char** argv) {
  int err = 1;
  fb_index_params params = fb_index_default_params();
  fb_index* index;
  fb_document doc;
  fb_search_params sp;
  fb_results* results = NULL;
  const fb_hit* hit;
  char* bytes = NULL;
  size_t size = 0;
  fb_index* loaded;
  const char* keys[] = {"jurisdiction"};
  const char* values[] = {"Delaware"};
  uint32_t chunks = 0;

  CHECK(strcmp(fb_version(), FOLDBACK_VERSION) == 0);
  CHECK(strcmp(fb_strerror(FB_ECORRUPT), "corrupt data") == 0);

  params.embedder = FB_EMBEDDER_NONE;
  index = fb_index_init(&params, &err);
  CHECK(index != NULL && err == FB_OK);
  if (!index) return 1;

  memset(&doc, 0, sizeof doc);
  doc.id = "nda-1";
  doc.title = "Mutual NDA";
  doc.text = "1. Confidentiality. The Receiving Party shall hold Confidential Information in strict confidence.\n\n"
             "2. Governing Law. This Agreement is governed by the laws of the State of Delaware.";
  doc.kind = FB_KIND_DOCUMENT;
  doc.matter = "m1";
  doc.meta_keys = keys;
  doc.meta_values = values;
  doc.meta_count = 1;
  CHECK(fb_index_add(index, &doc, &chunks) == FB_OK);
  CHECK(chunks >= 1);
  CHECK(fb_index_document_count(index) == 1);

  sp = fb_search_default_params();
  sp.mode = FB_MODE_BM25;
  CHECK(fb_index_search(index, "governing law", &sp, &results) == FB_OK);
  CHECK(fb_results_count(results) >= 1);
  hit = fb_results_get(results, 0);
  CHECK(hit != NULL && strcmp(hit->doc_id, "nda-1") == 0);
  CHECK(hit != NULL && strstr(hit->text, "Delaware") != NULL);
  CHECK(fb_results_get(results, 1000) == NULL);
  fb_results_free(results);

  {
    /* Ethical wall: a user cleared for m2 only sees nothing of m1. */
    const char* matters[] = {"m2"};
    sp.restrict_matters = 1;
    sp.allowed_matters = matters;
    sp.allowed_matter_count = 1;
    CHECK(fb_index_search(index, "governing law", &sp, &results) == FB_OK);
    CHECK(fb_results_count(results) == 0);
    fb_results_free(results);
    sp.restrict_matters = 0;
  }
  {
    /* A filter on an unknown field is an error with a message. */
    const char* filters[] = {"no_such_field=x"};
    sp.filters = filters;
    sp.filter_count = 1;
    CHECK(fb_index_search(index, "law", &sp, &results) == FB_EINVALID);
    CHECK(strstr(fb_index_last_error(index), "no_such_field") != NULL);
    sp.filter_count = 0;
  }

  CHECK(fb_index_remove(index, "nope") == FB_ENOTFOUND);
  CHECK(fb_index_snapshot(index, &bytes, &size) == FB_OK);
  CHECK(size > 20);
  loaded = fb_index_load(bytes, size, &err);
  CHECK(loaded != NULL && err == FB_OK);
  CHECK(fb_index_document_count(loaded) == 1);
  fb_index_free(loaded);
  /* Truncated bytes: FB_ECORRUPT, no crash. */
  loaded = fb_index_load(bytes, size - 3, &err);
  CHECK(loaded == NULL && err == FB_ECORRUPT);
  /* Streamed: the same bytes through the callback; a callback that gives
   * up stops the snapshot with FB_EIO. */
  {
    struct collected got = {NULL, 0, 0, -1};
    CHECK(fb_index_snapshot_to(index, NULL, &got) == FB_EINVALID);
    CHECK(fb_index_snapshot_to(NULL, collect, &got) == FB_EINVALID);
    CHECK(fb_index_snapshot_to(index, collect, &got) == FB_OK);
    CHECK(got.size == size && memcmp(got.data, bytes, size) == 0);
    CHECK(got.calls >= 3); /* header, payload, trailer at least */
    free(got.data);
    struct collected failing = {NULL, 0, 0, 1};
    CHECK(fb_index_snapshot_to(index, collect, &failing) == FB_EIO);
    CHECK(strstr(fb_index_last_error(index), "write callback") != NULL);
    CHECK(failing.calls == 2);
    free(failing.data);
  }
  fb_string_free(bytes);

  fb_index_free(index);

  null_arguments();
  bad_utf8();
  syntax_and_attachments();
  if (argc > 1) {
    ingest_and_folders(argv[1]);
  } else {
    fprintf(stderr, "usage: %s TEST_DATA_DIR\n", argv[0]);
    failures++;
  }
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C API test passed (foldback %s)\n", fb_version());
  return 0;
}
