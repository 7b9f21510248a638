/*
 * foldback.h — foldback's stable C API.
 *
 * For hosts written in C, C#, Java, Python (ctypes/cffi), Go, ...: opaque
 * handles, plain structs, int return codes. No C++ exception ever crosses
 * this boundary.
 *
 * Conventions
 *   - Names are fb_<noun>_<verb>. Objects come in init/free pairs.
 *   - Functions returning int return FB_OK (0) on success and a negative
 *     FB_E* code on failure (table below). After a failure the handle's
 *     last-error string (fb_<noun>_last_error) says what went wrong; it stays
 *     valid until the next call on the same handle.
 *   - Option structs are obtained from fb_<noun>_default_params() and then
 *     adjusted; never zero-initialise them yourself.
 *   - Strings are UTF-8 and NUL-terminated; invalid UTF-8 in document text is
 *     replaced (U+FFFD) and counted, never fatal.
 *   - Strings returned by foldback are owned by the handle that returned them
 *     unless the function says the caller frees them with fb_string_free.
 *
 * Return codes
 *   FB_OK                    0   success
 *   FB_EINVALID             -1   invalid argument; nothing was changed
 *   FB_ENOTFOUND            -2   the named document/chunk/trace does not exist
 *   FB_ECORRUPT             -3   bytes (snapshot, log) are damaged or not foldback's
 *   FB_EUNSUPPORTED         -4   e.g. a snapshot version this build cannot read
 *   FB_EIO                  -5   a host-reported I/O error
 *   FB_ERANGE               -6   a size or count limit was exceeded
 *   FB_EDEADLINE            -7   a deadline passed
 *   FB_EUNAVAILABLE         -8   an endpoint or resource could not be reached
 *   FB_EDENIED              -9   an ethical wall or access rule refused
 *   FB_ESTATE              -10   the object is not in a state to do this
 *   FB_EINTERNAL           -11   a bug in foldback (please report it)
 *   FB_ENOMEM              -12   out of memory; the object is unchanged
 *
 * Thread safety is stated for each object below.
 */
#ifndef FOLDBACK_C_H_
#define FOLDBACK_C_H_

#include <stddef.h>
#include <stdint.h>

#include "foldback/version.h"

#if defined(_WIN32) && defined(FOLDBACK_C_BUILDING)
#define FB_API __declspec(dllexport)
#elif defined(_WIN32)
#define FB_API __declspec(dllimport)
#elif defined(FOLDBACK_C_BUILDING)
#define FB_API __attribute__((visibility("default")))
#else
#define FB_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the headers; fb_version() gives the library's. */
#define FOLDBACK_VERSION FOLDBACK_VERSION_STRING

enum {
  FB_OK = 0,
  FB_EINVALID = -1,
  FB_ENOTFOUND = -2,
  FB_ECORRUPT = -3,
  FB_EUNSUPPORTED = -4,
  FB_EIO = -5,
  FB_ERANGE = -6,
  FB_EDEADLINE = -7,
  FB_EUNAVAILABLE = -8,
  FB_EDENIED = -9,
  FB_ESTATE = -10,
  FB_EINTERNAL = -11,
  FB_ENOMEM = -12
};

/* "0.1.0": the version of the linked library. */
FB_API const char* fb_version(void);

/* A short English description of a return code ("corrupt data"). */
FB_API const char* fb_strerror(int code);

/* Frees a string foldback allocated for the caller. NULL is fine. */
FB_API void fb_string_free(char* s);

/* ------------------------------------------------------------------------
 * fb_index: documents, chunks, lexical + dense search, snapshots.
 * Thread safety: fb_index_search, fb_index_snapshot and the counts may be
 * called from several threads at once; every other call needs exclusive
 * access. With concurrent calls, fb_index_last_error reports one of their
 * failures.
 * ---------------------------------------------------------------------- */
typedef struct fb_index fb_index;

typedef enum { FB_EMBEDDER_NONE = 0, FB_EMBEDDER_STATIC = 1, FB_EMBEDDER_EXTERNAL = 2 } fb_embedder_kind;

typedef struct {
  uint32_t chunk_target_tokens; /* Default: 120 */
  uint32_t chunk_max_tokens;    /* Default: 256 */
  double bm25_k1;               /* Default: see docs/benchmarks.md */
  double bm25_b;                /* Default: see docs/benchmarks.md */
  fb_embedder_kind embedder;    /* Default: FB_EMBEDDER_STATIC */
  uint32_t dimension;           /* Default: 0 (static: 128; external: required) */
} fb_index_params;

FB_API fb_index_params fb_index_default_params(void);

/* Creates an empty index. Returns NULL only when out of memory or when the
 * params are invalid (then *error_out, if not NULL, receives a code). */
FB_API fb_index* fb_index_init(const fb_index_params* params, int* error_out);

/* Loads a snapshot (bytes from fb_index_snapshot, native or wasm).
 * On failure returns NULL and sets *error_out (FB_ECORRUPT, FB_EUNSUPPORTED). */
FB_API fb_index* fb_index_load(const void* bytes, size_t size, int* error_out);

FB_API void fb_index_free(fb_index* index);

/* The message of the last failed call on this handle ("" if none). */
FB_API const char* fb_index_last_error(const fb_index* index);

typedef enum { FB_KIND_DOCUMENT = 0, FB_KIND_EMAIL = 1, FB_KIND_WEB = 2 } fb_doc_kind;

typedef struct {
  const char* id;     /* required, unique; an existing id is replaced */
  const char* title;  /* may be NULL */
  const char* text;   /* may be NULL (empty document) */
  size_t text_len;    /* bytes of text; 0 with non-NULL text means strlen(text) */
  fb_doc_kind kind;
  const char* matter; /* ethical-wall matter; NULL or "" = no matter */
  const char* parent_id; /* attachments: the containing message; may be NULL */
  /* Metadata as parallel arrays of field names and values (a field may
   * repeat to give several values). */
  const char* const* meta_keys;
  const char* const* meta_values;
  size_t meta_count;
} fb_document;

/* Adds (or replaces) a document. *chunks_out (if not NULL) receives the
 * number of chunks it was cut into. */
FB_API int fb_index_add(fb_index* index, const fb_document* doc, uint32_t* chunks_out);

/* Removes a document and its chunks. FB_ENOTFOUND if unknown. */
FB_API int fb_index_remove(fb_index* index, const char* doc_id);

/* Builds the dense side (static embedder: trains on the corpus first). */
FB_API int fb_index_build_dense(fb_index* index);

typedef enum { FB_MODE_BM25 = 0, FB_MODE_DENSE = 1, FB_MODE_HYBRID = 2 } fb_search_mode;

typedef struct {
  fb_search_mode mode; /* Default: FB_MODE_HYBRID */
  uint32_t top_k;      /* Default: 10 */
  /* Filters "FIELD=VALUE", "FIELD>=VALUE", "FIELD<=VALUE"; all must hold. */
  const char* const* filters;
  size_t filter_count;
  /* Ethical walls: the matters the user may see. With restrict_matters = 0
   * every matter is visible (single-user hosts only). */
  int restrict_matters; /* Default: 0 */
  const char* const* allowed_matters;
  size_t allowed_matter_count;
} fb_search_params;

FB_API fb_search_params fb_search_default_params(void);

typedef struct {
  const char* chunk_id;
  const char* doc_id;
  const char* text;
  const char* title;
  const char* section;
  const char* matter;
  double score;
} fb_hit;

/* Search results; owned by the caller, freed with fb_results_free. */
typedef struct fb_results fb_results;

/* Runs a search. On success *results_out receives the results. */
FB_API int fb_index_search(const fb_index* index, const char* query,
                           const fb_search_params* params, fb_results** results_out);

FB_API size_t fb_results_count(const fb_results* results);
/* The i-th hit, best first; NULL when i >= count. Valid until fb_results_free. */
FB_API const fb_hit* fb_results_get(const fb_results* results, size_t i);
FB_API void fb_results_free(fb_results* results);

/* Serialises the index. On success *bytes_out receives a buffer the caller
 * frees with fb_string_free, and *size_out its size. */
FB_API int fb_index_snapshot(const fb_index* index, char** bytes_out, size_t* size_out);

/* Counts of live documents and chunks. */
FB_API uint64_t fb_index_document_count(const fb_index* index);
FB_API uint64_t fb_index_chunk_count(const fb_index* index);

#ifdef __cplusplus
}
#endif

#endif /* FOLDBACK_C_H_ */
