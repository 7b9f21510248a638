/* foldback from C: index the .txt files named on the command line, then
 * search them.   usage: foldback_example_c QUERY FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <foldback.h>

static char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  char* buf;
  long n;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *size = (size_t)n;
  }
  return buf;
}

int main(int argc, char** argv) {
  int err = 0, i;
  fb_index_params params = fb_index_default_params();
  fb_index* index;
  fb_search_params sp = fb_search_default_params();
  fb_results* results = NULL;

  if (argc < 3) {
    fprintf(stderr, "usage: %s QUERY FILE...\n", argv[0]);
    return 2;
  }
  printf("foldback %s (C API)\n", fb_version());
  index = fb_index_init(&params, &err);
  if (!index) {
    fprintf(stderr, "fb_index_init: %s\n", fb_strerror(err));
    return 1;
  }
  for (i = 2; i < argc; ++i) {
    size_t size = 0;
    char* text = read_file(argv[i], &size);
    fb_document doc;
    uint32_t chunks = 0;
    if (!text) {
      fprintf(stderr, "cannot read %s\n", argv[i]);
      continue;
    }
    memset(&doc, 0, sizeof doc);
    doc.id = argv[i];
    doc.text = text;
    doc.text_len = size;
    doc.kind = FB_KIND_DOCUMENT;
    if (fb_index_add(index, &doc, &chunks) != FB_OK) {
      fprintf(stderr, "add %s: %s\n", argv[i], fb_index_last_error(index));
    }
    free(text);
  }
  if (fb_index_build_dense(index) != FB_OK) {
    printf("(dense index not built: %s)\n", fb_index_last_error(index));
  }
  sp.top_k = 3;
  if (fb_index_search(index, argv[1], &sp, &results) != FB_OK) {
    fprintf(stderr, "search: %s\n", fb_index_last_error(index));
    fb_index_free(index);
    return 1;
  }
  printf("%zu documents indexed; top results for \"%s\":\n", (size_t)fb_index_document_count(index),
         argv[1]);
  for (i = 0; i < (int)fb_results_count(results); ++i) {
    const fb_hit* h = fb_results_get(results, (size_t)i);
    printf("%d. %s (%.3f) %.80s\n", i + 1, h->doc_id, h->score, h->text);
  }
  fb_results_free(results);
  fb_index_free(index);
  return 0;
}
