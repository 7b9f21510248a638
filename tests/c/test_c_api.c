/* The C API from C: a C compiler must accept foldback.h, and the basic
 * lifecycle (init, add, search, snapshot, load, errors, free) must work. */
#include <stdio.h>
#include <string.h>

#include "foldback.h"

static int failures = 0;
#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      failures++;                                                      \
    }                                                                  \
  } while (0)

int main(void) {
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
  fb_string_free(bytes);

  fb_index_free(index);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("C API test passed (foldback %s)\n", fb_version());
  return 0;
}
