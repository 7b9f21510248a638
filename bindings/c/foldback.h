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
 *   - Option structs are obtained from fb_<noun>_default_params() (records
 *     and results from fb_feedback_default_record, fb_need_default_result)
 *     and then adjusted; never zero-initialise them yourself.
 *   - Strings are UTF-8 and NUL-terminated. Invalid UTF-8 in documents,
 *     questions, queries and model replies is replaced (U+FFFD), never
 *     fatal; in a feedback record, which is kept, it is refused.
 *   - Strings returned by foldback are owned by the handle that returned them
 *     unless the function says the caller frees them with fb_string_free.
 *   - Every pointer argument may be NULL without crashing: a NULL handle
 *     gives FB_EINVALID (nothing to keep a message in), a NULL required
 *     argument FB_EINVALID with the handle's last error naming it.
 *   - Lifetimes cannot be got wrong by freeing in the "wrong" order: an ask
 *     session keeps its index alive (fb_index_free may come first), need and
 *     event lists are owned by the caller and outlive their session, and a
 *     feedback log keeps the index it checks records against.
 *   - Callbacks are a function pointer plus a void* user_data passed back
 *     unchanged; they run on the calling thread, before the call returns.
 *
 * Return codes
 *   FB_OK                    0   success
 *   FB_EINVALID             -1   invalid argument; nothing was changed
 *   FB_ENOTFOUND            -2   the named document/chunk/trace does not exist
 *   FB_ECORRUPT             -3   bytes (snapshot, log) are damaged or not foldback's
 *   FB_EUNSUPPORTED         -4   e.g. a snapshot version this build cannot read
 *   FB_EIO                  -5   an I/O error (a file, or one the host reported)
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

/* The version of the headers; fb_version() gives the library's. A
 * function or section marked "(since 0.2)" is not in a 0.1 library; the
 * rest are. */
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
 * fb_index: documents, chunks, lexical + dense search, snapshots, index
 * folders, ingestion of files.
 * Thread safety: fb_index_search, fb_index_snapshot, fb_index_save,
 * fb_ask_start, fb_index_chunks_missing_vectors and the counts may be
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

/* Opens the index saved in the folder `dir` (by fb_index_save, or by the
 * `foldback ingest` command). On failure returns NULL and sets *error_out:
 * FB_ENOTFOUND (no index there), FB_ECORRUPT, FB_EUNSUPPORTED, FB_EIO.
 * The handle remembers the folder: its feedback log and traces live there. */
FB_API fb_index* fb_index_open(const char* dir, int* error_out);

/* Writes the index into the folder `dir` (created if needed) atomically: a
 * crash leaves the old snapshot or the new one, never a mix. The handle
 * remembers the folder. */
FB_API int fb_index_save(fb_index* index, const char* dir);

/* Frees the handle. Ask sessions and feedback logs still using the index
 * keep it alive until they are freed. NULL is fine. */
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

/* Removes a document, its chunks and its attachments (the documents whose
 * parent_id is its id, and theirs in turn: a mail's attachments go with
 * it). FB_ENOTFOUND if unknown (nothing removed). */
FB_API int fb_index_remove(fb_index* index, const char* doc_id);

/* Builds the dense side (static embedder: trains on the corpus first).
 * External embedder: FB_ESTATE until every chunk has a vector. */
FB_API int fb_index_build_dense(fb_index* index);

/* ---- ingestion of real files: mail (.eml, mbox, Outlook .msg), .docx, .pdf, .html,
 * .txt/.md, BEIR corpus .jsonl. Files without an extension are recognised
 * by their first bytes. */

typedef enum {
  FB_FILE_INDEXED = 0,     /* every document of the file was added */
  FB_FILE_FAILED = 1,      /* broken or unreadable: reported, skipped */
  FB_FILE_UNSUPPORTED = 2  /* no reader for this type: reported, skipped */
} fb_file_outcome;

/* One file of an ingestion run. Valid during the callback only. */
typedef struct {
  const char* path;
  const char* doc_id;     /* id of its (first) document; "" when none was added */
  const char* format;     /* "mail", "mbox", "msg", "docx", "pdf", "html", "text", ...; "" */
  fb_file_outcome outcome;
  int status;             /* FB_OK, or why it failed (FB_ECORRUPT, FB_EIO, ...) */
  const char* message;    /* "" or what went wrong */
  const char* const* warnings; /* e.g. an attachment that could not be read */
  size_t warning_count;
  uint32_t documents;     /* documents added (mbox messages and attachments count) */
  uint32_t chunks;
  uint64_t bytes;         /* size of the file */
  /* Progress after this file. */
  uint64_t files_done, files_total, bytes_done, bytes_total;
} fb_ingest_file;

/* Called after each file. It must not free or change the index. */
typedef void (*fb_ingest_cb)(const fb_ingest_file* file, void* user_data);

typedef struct {
  uint64_t files;       /* files found under the path */
  uint64_t indexed;     /* files fully indexed */
  uint64_t failed;      /* broken files: reported, skipped */
  uint64_t unsupported; /* files of no supported type: reported, skipped */
  uint64_t documents;   /* documents added (attachments and mbox messages included) */
  uint64_t chunks;
  uint64_t bytes;       /* bytes of the supported files read */
  uint64_t warnings;
  uint64_t replaced;    /* undecodable or invalid UTF-8 sequences replaced by U+FFFD */
} fb_ingest_report;

/* Ingests a file, or every file under a folder (recursively). Document ids
 * are paths relative to `path` without the extension ("contracts/nda-1";
 * "contracts/nda-1.pdf" when two files would share an id); an mbox's
 * messages and mail attachments get ids under their file's
 * ("inbox/msg-3", "x/att-1-terms.pdf"), attachments linked by parent_id.
 * `matter` (NULL or "" = none) puts every document behind that ethical wall.
 * A broken or unsupported file never stops the run: it is reported through
 * `progress` (may be NULL) and counted in *report_out (may be NULL).
 * Returns FB_OK once every file was tried; FB_ENOTFOUND / FB_EIO only when
 * `path` itself cannot be read. Does not build the dense side: call
 * fb_index_build_dense afterwards. */
FB_API int fb_index_ingest_path(fb_index* index, const char* path, const char* matter,
                                fb_ingest_cb progress, void* user_data,
                                fb_ingest_report* report_out);

typedef enum { FB_MODE_BM25 = 0, FB_MODE_DENSE = 1, FB_MODE_HYBRID = 2 } fb_search_mode;

/* How a query string is read (README.md, "Query syntax"):
 * FB_SYNTAX_AUTO: terms and connectors ("a phrase", prefix*, /N, /s, /p)
 *   when the query uses them and they are well formed, else plain words —
 *   never an error; a query without operators ranks as a plain one.
 * FB_SYNTAX_PLAIN: plain words; quotes, '*' and connectors are punctuation.
 * FB_SYNTAX_CONNECTORS: terms and connectors, strictly: a malformed query
 *   is FB_EINVALID, an index without word positions FB_ESTATE. */
typedef enum {
  FB_SYNTAX_AUTO = 0,
  FB_SYNTAX_PLAIN = 1,
  FB_SYNTAX_CONNECTORS = 2
} fb_query_syntax;

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
  /* 1: fold back what lawyers' feedback taught (relevance feedback on both
   * sides, the query adapter), from the feedback log in the index's folder
   * (fb_index_open / fb_index_save). Feedback about matters behind the
   * walls above never influences the search. FB_ESTATE when the index has
   * no folder. Default: 0 */
  int use_feedback;
  fb_query_syntax syntax; /* Default: FB_SYNTAX_AUTO */
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

/* The same bytes handed to `write` piece by piece (a few MiB, at most about
 * 64 MiB, at a time, in order), so that neither side holds the whole
 * snapshot: for indexes too large for one buffer. `write` returns 0 to go
 * on; any other value stops the snapshot, and fb_index_snapshot_to returns
 * FB_EIO (the bytes received so far are then not a snapshot: discard them).
 * The snapshot's length and checksum come last, so the destination need
 * not seek. (since 0.2) */
typedef int (*fb_snapshot_write_fn)(void* user, const void* bytes, size_t size);
FB_API int fb_index_snapshot_to(const fb_index* index, fb_snapshot_write_fn write, void* user);

/* Counts of live documents and chunks. */
FB_API uint64_t fb_index_document_count(const fb_index* index);
FB_API uint64_t fb_index_chunk_count(const fb_index* index);

/* External embedder (FB_EMBEDDER_EXTERNAL): the chunks that still need a
 * vector, as results (chunk_id, doc_id, text; score 0), at most `limit`
 * (0 = all). The host embeds their text and hands each vector back. */
FB_API int fb_index_chunks_missing_vectors(const fb_index* index, size_t limit,
                                           fb_results** results_out);
/* Sets a chunk's vector: `dimension` floats (the index's dimension). */
FB_API int fb_index_set_chunk_vector(fb_index* index, const char* chunk_id, const float* vector,
                                     size_t dimension);

/* ------------------------------------------------------------------------
 * fb_ask: multi-hop, query-rewriting retrieval as a state machine the host
 * drives. The session never performs I/O: it emits *needs* (an LLM chat
 * completion, texts to embed) that the host answers with its own HTTP
 * stack — C#'s HttpClient, Java's, Python's — in any order, several at once:
 *
 *   fb_ask_start(index, question, &params, now_ms, &ask);
 *   while (!fb_ask_done(ask)) {
 *     fb_ask_take_needs(ask, &needs);          // perform each need ...
 *     ... fb_ask_provide(ask, need->id, &result, now_ms) as results arrive
 *     ... or fb_ask_tick(ask, now_ms) when waiting gives nothing
 *   }
 *   fb_ask_passage(ask, 0); fb_ask_answer(ask); fb_ask_trace_json(ask);
 *
 * The host is the clock: `now_ms` is its monotonic time in milliseconds
 * (any origin, never going back); the session derives each need's timeout
 * from the question's deadline. An LLM that fails, times out or talks
 * nonsense is not an error of the session: it falls back (RM3, the
 * question itself) and says so in the trace.
 *
 * fb_ask_need_http_request / fb_ask_provide_http_response turn a need into
 * an OpenAI-compatible request body and a reply body back into a result,
 * so that a host only moves bytes. fb_ask_run_http does everything with
 * foldback's own libcurl client.
 *
 * While a session is alive its index refuses changes (fb_index_add,
 * _remove, _build_dense, _ingest_path, _set_chunk_vector give FB_ESTATE).
 *
 * Thread safety: one thread at a time per session; different sessions (on
 * the same index too) are independent. fb_ask_start may run while other
 * threads search the index.
 * ---------------------------------------------------------------------- */
typedef struct fb_ask fb_ask;

typedef enum {
  FB_REWRITE_LLM = 0,  /* an LLM writes each hop's query (RM3 when it fails) */
  FB_REWRITE_RM3 = 1,  /* offline pseudo-relevance feedback; no needs */
  FB_REWRITE_NONE = 2  /* the question itself, every hop */
} fb_rewrite_mode;

typedef struct {
  uint32_t hops;                 /* Default: 2 (1..16) */
  uint32_t depth;                /* passages retrieved per hop. Default: 5 (1..1000) */
  uint32_t top_k;                /* passages in the result. Default: 5 (1..1000) */
  int answer;                    /* also write an answer with [n] citations. Default: 0 */
  fb_rewrite_mode rewrite;       /* Default: FB_REWRITE_LLM */
  uint32_t variants;             /* LLM query variants per hop, in parallel. Default: 1 (1..8) */
  uint32_t context_token_budget; /* retrieved tokens per prompt. Default: 1500 */
  /* Milliseconds for the whole question on the host's clock; 0 = none.
   * Past it, outstanding needs are abandoned and later hops use RM3. */
  double deadline_ms;            /* Default: 0 */
  uint32_t retry_budget;         /* unusable LLM replies tolerated per hop. Default: 1 */
  /* Applied at every hop, as in fb_search_params: */
  fb_search_mode mode;           /* Default: FB_MODE_HYBRID */
  const char* const* filters;    /* "FIELD=VALUE", "FIELD>=VALUE", "FIELD<=VALUE" */
  size_t filter_count;
  int restrict_matters;          /* ethical walls. Default: 0 (every matter visible) */
  const char* const* allowed_matters;
  size_t allowed_matter_count;
  /* 1: fold back the index folder's feedback log: well-rated rewrites as
   * demos for the query writer, relevance feedback and the query adapter in
   * every hop's search — only feedback the walls let through. Default: 0 */
  int use_feedback;
  /* Id of this question's trace, which feedback refers to: 1..128 of
   * [A-Za-z0-9._-]. NULL: a new UUIDv7. Default: NULL */
  const char* trace_id;
  /* A DSPy program saved with program.save("x.json") (its JSON text):
   * prompts and demos. NULL: foldback's built-in program. Default: NULL */
  const char* program_json;
  /* Redaction before text leaves for an endpoint: every match of these
   * patterns becomes "[REDACTED]" in every message and embedding text of
   * every need, before the host sees it; the trace's "redactions" says which
   * pattern fired how often, never what it replaced. Patterns use the
   * linear-time ECMAScript subset of foldback/redact.h (no anchors,
   * lookaround or backreferences); one outside it gives FB_EINVALID naming
   * the pattern. Default: none */
  const char* const* redact_patterns;
  size_t redact_pattern_count;
  /* How every hop's query is read, as in fb_search_params (the LLM's
   * rewrites too). Default: FB_SYNTAX_AUTO */
  fb_query_syntax syntax;
} fb_ask_params;

FB_API fb_ask_params fb_ask_default_params(void);

/* Starts a session. `now_ms`: the host's monotonic clock (fb_monotonic_ms()
 * when the session will be run by fb_ask_run_http). On failure the index's
 * last error says why (FB_EINVALID: empty question, option out of range,
 * bad filter, malformed program; FB_ESTATE: use_feedback without a folder)
 * and *session_out is NULL. The first needs are ready at once; with
 * FB_REWRITE_RM3 or _NONE on a lexical index the session may be done
 * already. */
FB_API int fb_ask_start(const fb_index* index, const char* question, const fb_ask_params* params,
                        double now_ms, fb_ask** session_out);

FB_API void fb_ask_free(fb_ask* session);

/* The message of the last failed call on this session ("" if none). */
FB_API const char* fb_ask_last_error(const fb_ask* session);

/* ---- needs */

typedef enum { FB_NEED_LLM = 0, FB_NEED_EMBED = 1 } fb_need_kind;

typedef struct {
  const char* role; /* "system" | "user" | "assistant" */
  const char* content;
} fb_chat_message;

typedef struct {
  uint64_t id;          /* unique within the session */
  fb_need_kind kind;
  uint32_t hop;         /* 1-based hop served; 0 = the final answer */
  const char* purpose;  /* "rewrite" | "answer" | "embed-query": for display */
  /* FB_NEED_LLM: an OpenAI-style chat completion. */
  const fb_chat_message* messages;
  size_t message_count;
  double temperature;
  uint32_t max_tokens;
  const char* json_schema;      /* "" or a JSON schema for the reply (response_format) */
  const char* json_schema_name;
  /* FB_NEED_EMBED: texts to embed, one vector each. */
  const char* const* texts;
  size_t text_count;
  /* Time the host may spend on it, retries included; 0 = no limit. */
  double timeout_ms;
} fb_need;

/* A list of needs, owned by the caller (fb_needs_free); it does not depend
 * on the session. */
typedef struct fb_needs fb_needs;

/* The needs emitted since the last call (possibly none). */
FB_API int fb_ask_take_needs(fb_ask* session, fb_needs** needs_out);
FB_API size_t fb_needs_count(const fb_needs* needs);
/* The i-th need; NULL when i >= count. Valid until fb_needs_free. */
FB_API const fb_need* fb_needs_get(const fb_needs* needs, size_t i);
FB_API void fb_needs_free(fb_needs* needs);

/* What the host hands back for a need. Pointers are read during the call
 * only. */
typedef struct {
  /* FB_OK, or why the host gave up: FB_EUNAVAILABLE (endpoint down, HTTP
   * 408/409/429/5xx after retries), FB_EDEADLINE (timeout), FB_EDENIED
   * (401/403), FB_ENOTFOUND (404), FB_EINVALID (other 4xx), FB_EIO (a reply
   * that does not parse, anything else). */
  int status;
  /* Failure: shown to the lawyer in the trace. Never put an API key here. */
  const char* message;
  /* FB_NEED_LLM: the assistant's content (text_len 0: strlen). */
  const char* text;
  size_t text_len;
  /* FB_NEED_EMBED: vector_count x dimension floats, row after row, one row
   * per text in order. */
  const float* vectors;
  size_t vector_count;
  size_t dimension;
  const char* model;    /* the model that answered; may be NULL */
  double elapsed_ms;    /* host-measured, for the trace */
  uint32_t attempts;    /* HTTP attempts made. Default: 1 */
} fb_need_result;

FB_API fb_need_result fb_need_default_result(void);

/* Hands back a need's result, in any order. FB_EINVALID for an unknown or
 * already answered id, or a result that makes no sense (NULL vectors with a
 * count, an unknown status code): nothing changes then. A result that comes
 * after the deadline, or for a need the session abandoned, is accepted and
 * ignored. Vectors of the wrong count or size count as a failed need,
 * reported in the trace. */
FB_API int fb_ask_provide(fb_ask* session, uint64_t need_id, const fb_need_result* result,
                          double now_ms);

/* Tells the session the time when the host has nothing to hand back (its
 * wait timed out). Past the deadline it abandons outstanding needs and
 * finishes offline within the call. */
FB_API int fb_ask_tick(fb_ask* session, double now_ms);

/* 1 once the result is final (needs still in flight were abandoned: cancel
 * them), 0 otherwise or for NULL. */
FB_API int fb_ask_done(const fb_ask* session);

/* ---- talking to an OpenAI-compatible endpoint */

typedef struct {
  /* Chat endpoint base URL, e.g. "https://api.openai.com/v1" or
   * "http://127.0.0.1:8080/v1". NULL or "": none (LLM needs fail at once
   * and the session falls back to RM3). Credentials never go in the URL. */
  const char* url;
  const char* provider;    /* "openai" | "azure" | "ollama" | "vllm". Default: "openai" */
  const char* model;       /* Azure: the deployment */
  /* The API key, in memory only: foldback never logs, traces, stores or
   * exports it, and wipes its copy when done. NULL: none. */
  const char* api_key;
  const char* api_version; /* Azure; NULL: 2024-10-21 */
  int structured_output;   /* send response_format with JSON schemas. Default: 1 */
  /* Embeddings endpoint (indexes with an external embedder); NULL: none.
   * Shares provider and key. */
  const char* embed_url;
  const char* embed_model;
  /* fb_ask_run_http only: */
  double timeout_ms;       /* per need when the session sets none. Default: 120000 */
  uint32_t max_retries;    /* of 408/409/429/5xx and connection errors. Default: 2 */
  const char* ca_bundle;   /* PEM file of CAs to trust; NULL: the system's */
} fb_llm_endpoint_params;

FB_API fb_llm_endpoint_params fb_llm_endpoint_default_params(void);

/* The request a pending need becomes on `endpoint`: the URL to POST to and
 * the JSON body (chat completion or embeddings), each freed by the caller
 * with fb_string_free. The host adds the authentication header itself
 * ("Authorization: Bearer KEY", Azure: "api-key: KEY"); api_key is not read.
 * FB_EINVALID for an unknown or answered need or a bad URL. */
FB_API int fb_ask_need_http_request(fb_ask* session, uint64_t need_id,
                                    const fb_llm_endpoint_params* endpoint, char** url_out,
                                    char** body_out);

/* Hands back a need from the endpoint's HTTP reply: status 2xx bodies are
 * parsed (chat: choices[0].message.content; embeddings: data[].embedding;
 * an unparseable body: FB_EIO), anything else becomes a failure carrying
 * the server's message, mapped as every foldback host maps it
 * (foldback/wire.h): 408/409/429/5xx FB_EUNAVAILABLE (worth a retry),
 * 401/403 FB_EDENIED, 404 FB_ENOTFOUND, 3xx and other 4xx FB_EINVALID.
 * Transport failures (no reply at all) go through fb_ask_provide with a
 * status. Return codes as fb_ask_provide. */
FB_API int fb_ask_provide_http_response(fb_ask* session, uint64_t need_id, long http_status,
                                        const char* body, size_t body_len, double elapsed_ms,
                                        double now_ms);

/* ---- a host that retries as foldback does: one call per HTTP attempt (since 0.2)
 *
 * fb_ask_provide_http_response hands back one reply and is done; a host
 * that wants foldback's retry policy (the one its own libcurl client and
 * the JS host follow: 408/409/429/5xx and cut-off replies retried, with
 * backoff, Retry-After / retry-after-ms and x-should-retry honoured, within
 * the need's timeout_ms) reports every attempt instead:
 *
 *   fb_ask_need_http_request(ask, id, &ep, &url, &body);
 *   for (;;) {
 *     ... POST body to url (+ the key's header), fill `attempt` ...
 *     fb_ask_http_attempt(ask, id, &ep, &attempt, fb_monotonic_ms(), &retry_in);
 *     if (retry_in < 0) break;   // the need is answered
 *     ... wait retry_in ms ...
 *   }
 *
 * The decision is the core's (foldback/wire.h), so every host retries the
 * same requests after the same waits and ends with the same message. */

typedef struct {
  const char* name;
  const char* value;
} fb_http_header;

typedef enum {
  FB_TRANSPORT_OK = 0,              /* a response came: http_status, headers, body */
  FB_TRANSPORT_UNREACHABLE = 1,     /* refused, DNS, TLS handshake, reset before a reply */
  FB_TRANSPORT_CUT_OFF = 2,         /* the connection closed in the middle of the reply */
  FB_TRANSPORT_ATTEMPT_TIMEOUT = 3, /* this attempt's own limit passed (limit: its ms) */
  FB_TRANSPORT_HOPELESS = 4,        /* retrying cannot help (bad CA file, unknown protocol) */
  FB_TRANSPORT_TOO_LARGE = 5,       /* the reply exceeds what the host accepts (limit: bytes) */
  FB_TRANSPORT_NEED_TIMEOUT = 6     /* the need's whole timeout_ms ran out (http_status: one
                                       seen before the stall, else 0) */
} fb_transport;

/* One HTTP attempt at a need, as the host saw it. Pointers are read during
 * the call only. */
typedef struct {
  fb_transport transport;               /* Default: FB_TRANSPORT_OK */
  long http_status;
  const fb_http_header* headers;        /* names compared case-insensitively */
  size_t header_count;
  const char* body;
  size_t body_len;
  const char* why;                      /* a transport failure in the stack's words */
  double limit;                         /* FB_TRANSPORT_ATTEMPT_TIMEOUT / _TOO_LARGE */
  double elapsed_ms;                    /* of this attempt */
  /* Wall-clock time (ms since 1970), for a Retry-After given as an HTTP
   * date; 0: foldback reads the system clock. */
  double now_unix_ms;
} fb_http_attempt;

FB_API fb_http_attempt fb_http_attempt_default(void);

/* Reports an attempt at pending need `need_id`, sent as
 * fb_ask_need_http_request built it for `endpoint` (the same params). The
 * reply is read as in fb_ask_provide_http_response. *retry_in_ms_out >= 0:
 * send the same request again after that many milliseconds and report that
 * attempt too; -1: the need is answered — with the reply, or with the
 * failure once endpoint->max_retries retries are spent, the error is not
 * worth another attempt, or the wait would pass the need's timeout_ms
 * (endpoint->timeout_ms when the need has none), counted from the first
 * attempt's start. endpoint->api_key, when given, is never sent or kept: it
 * tells a 401 "check the API key" from "no API key was given", and is
 * removed from any message a server echoes it in. Return codes as
 * fb_ask_provide; on an error *retry_in_ms_out is -1 and nothing changes. */
FB_API int fb_ask_http_attempt(fb_ask* session, uint64_t need_id,
                               const fb_llm_endpoint_params* endpoint,
                               const fb_http_attempt* attempt, double now_ms,
                               double* retry_in_ms_out);

/* ---- progress */

typedef enum {
  FB_EVENT_HOP_STARTED = 0,
  FB_EVENT_QUERY = 1,     /* the hop's query is known (message) */
  FB_EVENT_RETRIEVED = 2, /* the hop's results are known (hits) */
  FB_EVENT_FALLBACK = 3,
  FB_EVENT_ANSWER = 4,
  FB_EVENT_DONE = 5,
  FB_EVENT_ERROR = 6
} fb_event_kind;

typedef struct {
  const char* chunk_id;
  const char* doc_id;
  double score;
} fb_trace_hit;

typedef struct {
  fb_event_kind kind;
  uint32_t hop;
  const char* message;
  const fb_trace_hit* hits; /* FB_EVENT_RETRIEVED: the hop's results, best first */
  size_t hit_count;
} fb_event;

/* A list of events, owned by the caller (fb_events_free). */
typedef struct fb_events fb_events;

/* Progress events since the last call. */
FB_API int fb_ask_take_events(fb_ask* session, fb_events** events_out);
FB_API size_t fb_events_count(const fb_events* events);
FB_API const fb_event* fb_events_get(const fb_events* events, size_t i);
FB_API void fb_events_free(fb_events* events);

/* Called for every event as it happens; `event` is valid during the call. */
typedef void (*fb_event_cb)(const fb_event* event, void* user_data);

/* Milliseconds of the monotonic clock fb_ask_run_http uses. */
FB_API double fb_monotonic_ms(void);

/* Runs the session to its end with foldback's own HTTP client (libcurl:
 * several needs in flight, timeouts, retries with backoff as the OpenAI
 * SDKs do them, no redirects followed). The session must have been started
 * with now_ms = fb_monotonic_ms(). Events go to `on_event` (may be NULL)
 * instead of fb_ask_take_events. FB_OK once done — what the endpoint did
 * (errors, fallbacks) is in the trace; FB_EINVALID for a bad endpoint. The
 * key goes into the authentication header only; every message is redacted. */
FB_API int fb_ask_run_http(fb_ask* session, const fb_llm_endpoint_params* endpoint,
                           fb_event_cb on_event, void* user_data);

/* ---- the result. REQUIRES fb_ask_done: before, counts are 0, pointers
 * NULL. Everything stays valid until fb_ask_free. */

FB_API size_t fb_ask_passage_count(const fb_ask* session);
/* The i-th passage, best first (fused across hops); NULL when i >= count. */
FB_API const fb_hit* fb_ask_passage(const fb_ask* session, size_t i);
/* The answer ("" unless params.answer and an LLM wrote one). */
FB_API const char* fb_ask_answer(const fb_ask* session);

typedef struct {
  uint32_t marker; /* the n of "[n]" in the answer */
  const char* chunk_id;
  const char* doc_id;
} fb_citation;

/* Citations: only markers pointing at passages the answer writer was shown. */
FB_API size_t fb_ask_citation_count(const fb_ask* session);
FB_API const fb_citation* fb_ask_citation(const fb_ask* session, size_t i);

typedef struct {
  uint32_t hop;        /* 1-based */
  const char* query;   /* the query searched */
  /* "question" | "llm" | "rm3" | "fallback-rm3" | "fallback-question" */
  const char* source;
  const char* note;    /* e.g. why it fell back; "" */
  size_t results;      /* passages retrieved */
  size_t new_results;  /* of them, not seen in earlier hops */
} fb_hop;

FB_API size_t fb_ask_hop_count(const fb_ask* session);
FB_API const fb_hop* fb_ask_hop(const fb_ask* session, size_t i);

/* The trace id (available from the start). */
FB_API const char* fb_ask_trace_id(const fb_ask* session);
/* The whole trace as JSON: trace_id, question, hops[{hop, query,
 * variant_queries, source, results, new_chunks, llm_ms, llm_attempts,
 * note}], fused, fallbacks, errors, program_version, model, stopped_early,
 * and "answer" when there is one. Never contains an API key. */
FB_API const char* fb_ask_trace_json(const fb_ask* session);

/* (since 0.2) The question's OpenTelemetry spans as an OTLP/HTTP JSON body — POST it to
 * the collector's /v1/traces with Content-Type: application/json — the same
 * spans every foldback host sends (foldback/telemetry.h: an invoke_agent
 * root, a span per hop, a CLIENT span per LLM or embedding call with the
 * GenAI attributes). `start_unix_ms`: the wall clock (ms since 1970) when
 * the host called fb_ask_start. `endpoint` (may be NULL): the chat
 * endpoint's provider, model and URL for gen_ai.* and server.* attributes.
 * `service_name`: NULL for "foldback". `capture_content`: 1 adds the
 * question, hop queries and answer (never prompts, never a key); 0 (the
 * default a host should keep) exports no text. Freed with fb_string_free.
 * FB_ESTATE before the session is done. */
FB_API int fb_ask_otlp_json(fb_ask* session, double start_unix_ms,
                            const fb_llm_endpoint_params* endpoint, const char* service_name,
                            int capture_content, char** json_out);

/* Saves the trace as <dir>/traces/<trace id>.json (atomically), where
 * fb_feedback_log_append looks for it. `dir` NULL: the index's folder
 * (FB_ESTATE when it has none). REQUIRES fb_ask_done (else FB_ESTATE). */
FB_API int fb_ask_save_trace(fb_ask* session, const char* dir);

/* ------------------------------------------------------------------------
 * fb_feedback_log: what lawyers say about results, appended durably to
 * <index dir>/feedback.log (CRC-framed records, LevelDB's log format).
 * One log handle per folder at a time: it holds an exclusive lock on the
 * folder's log (another process — e.g. `foldback feedback` — waits for it;
 * a second open in the same process gives FB_ESTATE).
 * Thread safety: every call may come from several threads at once
 * (concurrent appends share fsyncs).
 * ---------------------------------------------------------------------- */
typedef struct fb_feedback_log fb_feedback_log;

/* Opens (creating if needed) the feedback log of the index folder
 * `index_dir`. Records are checked against `index` — the index saved in that
 * folder; NULL: loaded from the folder now (FB_ENOTFOUND when there is
 * none). The log keeps `index` alive. */
FB_API int fb_feedback_log_open(const char* index_dir, const fb_index* index,
                                fb_feedback_log** log_out);
FB_API void fb_feedback_log_free(fb_feedback_log* log);
FB_API const char* fb_feedback_log_last_error(const fb_feedback_log* log);

/* What a lawyer said about one question's results. */
typedef struct {
  /* NULL: a new UUIDv7. A retried write passes the id it got the first time
   * and is acknowledged without being stored twice. */
  const char* record_id;
  /* Required: the trace of the question (fb_ask_save_trace). The question,
   * hop queries and passages shown come from it. */
  const char* trace_id;
  const char* rating;                   /* "up" | "down" | "1".."5" | NULL */
  const char* const* relevant;          /* chunk ids marked relevant */
  size_t relevant_count;
  const char* const* partly;            /* ... partly relevant */
  size_t partly_count;
  const char* const* not_relevant;      /* ... not relevant */
  size_t not_relevant_count;
  const char* critique;                 /* what was wrong or missing */
  const char* corrected_answer;
  const char* preferred_rewrite;        /* the query that should have been written */
  const char* const* tags;
  size_t tag_count;
  const char* user;     /* pseudonymous; NULL: the trace's */
  const char* matter;   /* NULL: the trace's, else the one matter of every passage shown */
  int consent_to_train; /* exported for training only with consent. Default: 0 */
  int privileged;       /* never exported. Default: 0 */
  int64_t time_ms;      /* unix ms; 0: now */
} fb_feedback_record;

FB_API fb_feedback_record fb_feedback_default_record(void);

/* Appends a record and returns once it is on disk (fsync). Checked first,
 * as `foldback feedback` checks it (foldback::BuildFeedbackRecord) —
 * nothing is written when it fails: FB_ENOTFOUND (unknown trace or chunk,
 * or a chunk behind the wall the question was asked behind), FB_EINVALID
 * (a chunk labelled twice differently, a bad rating, invalid UTF-8, nothing
 * to record), FB_EDENIED (a matter behind that wall), FB_ESTATE (a forgotten
 * record id or matter), FB_ERANGE (a text over 64 KiB, ...).
 * *record_id_out (may be NULL) gets the record id, freed by the caller with
 * fb_string_free. */
FB_API int fb_feedback_log_append(fb_feedback_log* log, const fb_feedback_record* record,
                                  char** record_id_out);

/* fb_feedback_log_append for a user behind an ethical wall (the matters in
 * `allowed_matters`; the wall the question was asked behind, kept in its
 * trace, applies as well): a label on a passage of another matter is
 * refused as FB_ENOTFOUND ("unknown chunk", as for a chunk that does not
 * exist), a `matter` outside the wall and a trace showing passages outside
 * it as FB_EDENIED. The rules are foldback::BuildFeedbackRecord's
 * (core/include/foldback/feedback.h), the same in every host. (since 0.2) */
FB_API int fb_feedback_log_append_walled(fb_feedback_log* log, const fb_feedback_record* record,
                                         const char* const* allowed_matters,
                                         size_t allowed_matter_count, char** record_id_out);

/* fb_feedback_log_append for a lawyer who changes their judgment: the new
 * record replaces every live record of the same question (trace) by the
 * same user, in the same write — a crash leaves the earlier judgment or
 * the new one, never both, so an answer consented to training and then
 * marked privileged is never exported. Another user's records of the
 * question stay. `allowed_matters` NULL (count 0): no wall beyond the
 * trace's, as fb_feedback_log_append; non-NULL: the user's wall, as
 * fb_feedback_log_append_walled. The rule is the core's
 * (FeedbackInput::replace_earlier), the same as `foldback feedback
 * --replace-earlier` and the JS package's replaceEarlier. (since 0.2) */
FB_API int fb_feedback_log_append_replacing(fb_feedback_log* log, const fb_feedback_record* record,
                                            const char* const* allowed_matters,
                                            size_t allowed_matter_count, char** record_id_out);

/* Forgets one record (a tombstone; FB_ENOTFOUND when there is no such live
 * record). `user` may be NULL. */
FB_API int fb_feedback_forget_record(fb_feedback_log* log, const char* record_id,
                                     const char* user);

/* Forgets every record of a matter, past and future retries included: they
 * never influence a search again nor reach an export. *affected_out (may
 * be NULL) gets the number of live records it touched. An embedder trained
 * on the matter's labels lives in the index, not the log: call
 * fb_index_forget_matter on the index too, then save it. */
FB_API int fb_feedback_forget_matter(fb_feedback_log* log, const char* matter, const char* user,
                                     uint64_t* affected_out);

typedef enum {
  FB_EXPORT_TRIPLETS = 0, /* sentence-transformers JSONL, columns in order anchor, positive,
                             negative (the library takes them by position) */
  FB_EXPORT_DPO = 1,      /* TRL standard JSONL {prompt, chosen, rejected}; the prompt starts
                             with the same system prompt as FB_EXPORT_SFT */
  FB_EXPORT_SFT = 2,      /* OpenAI chat fine-tuning JSONL {messages} */
  FB_EXPORT_DEMOS = 3,    /* a DSPy saved program whose query writer holds the demos */
  FB_EXPORT_DPO_CHAT = 4, /* TRL conversational JSONL {prompt: [system, user], chosen:
                             [assistant], rejected: [assistant]} (since 0.2) */
  FB_EXPORT_OPENAI_PREFERENCE = 5 /* OpenAI / Azure OpenAI preference fine-tuning JSONL
                             {input: {messages}, preferred_output, non_preferred_output}
                             (since 0.2) */
} fb_export_format;

typedef struct {
  uint64_t records;        /* live records */
  uint64_t exported;       /* records that gave at least one row */
  uint64_t rows;
  uint64_t no_consent;     /* skipped: no consent to train */
  uint64_t privileged;     /* skipped: privileged */
  uint64_t unusable;       /* skipped: nothing this format can use */
  uint64_t stale_passages; /* passages gone from the index or changed */
} fb_export_report;

/* Writes fine-tuning data from the live records of <index_dir>/feedback.log
 * to `out_path` (atomically): only records with consent, never privileged
 * or forgotten ones. Reads the log without its lock (an export job runs
 * while a host holds the log open) and loads the index saved in the
 * folder. *report_out may be NULL. On failure *error_out (may be NULL) gets
 * the message, freed by the caller with fb_string_free: FB_ENOTFOUND (no
 * index there), FB_EIO (cannot write out_path), FB_EINVALID. */
FB_API int fb_feedback_export(const char* index_dir, fb_export_format format,
                              const char* out_path, fb_export_report* report_out,
                              char** error_out);

/* fb_feedback_export behind an ethical wall: a record is exported only when
 * every matter it touches (its own, and those of the passages it shows or
 * labels, as recorded and as the index now says) is in `allowed_matters`;
 * records touching no matter always are. For an export made on behalf of a
 * user or team walled off from some matters. */
FB_API int fb_feedback_export_walled(const char* index_dir, fb_export_format format,
                                     const char* out_path, const char* const* allowed_matters,
                                     size_t allowed_matter_count, fb_export_report* report_out,
                                     char** error_out);

/* ------------------------------------------------------------------------
 * Training the embedder on the corpus (foldback/train.h), sans-IO: start a
 * trainer, step it until done (show the progress, keep your own time),
 * install the model into the index. Deterministic for a seed.
 * Thread safety: a trainer is used by one thread at a time; install needs
 * exclusive access to the index. (since 0.2)
 * ---------------------------------------------------------------------- */
typedef struct fb_trainer fb_trainer;

typedef struct {
  /* Default: 2. 0: the default for the sources — 2, or 10 for "feedback"
   * alone (a few hundred pairs; foldback/train.h kFeedbackOnlyEpochs). */
  uint32_t epochs;
  uint32_t batch_size;  /* Default: 64 */
  uint32_t max_pairs;   /* Default: 20000 */
  float temperature;    /* Default: 0.2 */
  float learning_rate;  /* Default: 0.002 */
  int hard_negatives;   /* Default: 1 */
  int warm_start;       /* continue from the current (trained) model. Default: 0 */
  uint64_t seed;        /* Default: 42 */
  /* Comma-separated pair sources: heading, caption, definition, cloze, xref,
   * subject, reply, or "structure" for all; "feedback" (since 0.2): the
   * lawyers' labels in the index folder's feedback log (FB_ESTATE when the
   * index has no folder, or when no record gives a pair — the message says
   * why). NULL or "": all but feedback. */
  const char* sources;
  /* LLM-written question pairs as JSONL (fb_questions_pairs_jsonl, `foldback
   * jobs results` of a synthesize job): trained on as the llm source beside
   * `sources`. NULL or "": none. FB_EINVALID naming the line when malformed. */
  const char* pairs_jsonl;
  /* Mix with the starting model, in [0, 1] (WiSE-FT): installed vectors are
   * (1 - x) * start + x * trained. FB_EINVALID outside [0, 1]. Default: 1 */
  float interpolation;
  /* Models trained and averaged (a model soup), 1 to 16. Default: 1 */
  uint32_t soup;
  /* Loss weight per pair source, "cloze=0.3,heading=2" (names as in
   * `sources`; unnamed sources weigh 1), each in [0, 100]. NULL or "": 1
   * each. FB_EINVALID on an unknown name or a bad weight. */
  const char* source_weights;
  /* With "feedback": the matters an administrator marks shareable. The
   * embedder serves every search whatever the asker's walls, so only
   * records touching no matter or only these are used. (since 0.2) */
  const char* const* shareable_matters;
  size_t shareable_matter_count;
} fb_train_params;

typedef struct {
  uint32_t epoch, epochs;
  uint64_t step, steps;
  double loss;       /* the last step's mean loss */
  double epoch_loss; /* mean loss of the current epoch so far */
} fb_train_progress;

FB_API fb_train_params fb_train_default_params(void);
/* Mines pairs from `index` and prepares the model. FB_ESTATE when the index
 * has no static embedder (fb_index_build_dense first) or too few pairs;
 * FB_EINVALID on bad params (message in fb_index_last_error). The trainer
 * keeps the index alive. */
FB_API int fb_train_start(const fb_index* index, const fb_train_params* params,
                          fb_trainer** trainer_out);
/* One step (one batch); FB_ESTATE once done. progress_out may be NULL. */
FB_API int fb_train_step(fb_trainer* trainer, fb_train_progress* progress_out);
FB_API int fb_train_done(const fb_trainer* trainer);
/* Pairs trained on; per_source_out (may be NULL) gets 7 counts in the
 * order heading, caption, definition, cloze, xref, subject, reply. */
FB_API size_t fb_train_pair_count(const fb_trainer* trainer, size_t per_source_out[7]);
/* Mean loss over every pair (compare before and after training). */
FB_API double fb_train_mean_loss(const fb_trainer* trainer);
/* Installs the model into `index` (the one it was started on): the current
 * model becomes the previous one, chunks are re-embedded. Once only. */
FB_API int fb_train_install(fb_trainer* trainer, fb_index* index);
FB_API const char* fb_trainer_last_error(const fb_trainer* trainer);
FB_API void fb_trainer_free(fb_trainer* trainer);
/* Swaps the index's embedder with the previous one (FB_ESTATE: none). */
FB_API int fb_index_restore_previous_embedder(fb_index* index);
/* The static embedder's version (0: none). */
FB_API uint32_t fb_index_embedder_version(const fb_index* index);
/* A forgotten matter's influence on the embedder (foldback/train.h
 * ForgetMatterInEmbedder): a model trained on its labels is dropped — the
 * previous model restored when it did not learn from them, else the corpus
 * model retrained — and a previous model that did is dropped too. Needs
 * exclusive access to the index; save it afterwards. *action_out (may be
 * NULL; fb_string_free) says what was done, "" when nothing had learned
 * from the matter. (since 0.2) */
FB_API int fb_index_forget_matter(fb_index* index, const char* matter, char** action_out);

/* ------------------------------------------------------------------------
 * The learned reranker (foldback/rerank.h; docs/rerank.md): trained from the
 * labels in the index folder's feedback log, per scope of matters, behind
 * the walls given; a gate keeps it closed with too few labels (results are
 * then the first stage's). Thread safety: a reranker may be used by several
 * searches at once. (since 0.2)
 * ---------------------------------------------------------------------- */
typedef struct fb_reranker fb_reranker;

typedef struct {
  double l2;                /* Default: 0.1 */
  int memory;               /* similar past questions' labels. Default: 1 */
  int label_prior;          /* other questions' labelled passages. Default: 1 */
  size_t min_labels;        /* the gate. Default: 40 */
  size_t min_relevant;      /* Default: 10 */
  size_t min_questions;     /* Default: 3 */
  /* Training wall: with restrict_matters set, records touching a matter
   * outside allowed_matters are refused. */
  int restrict_matters;
  const char* const* allowed_matters;
  size_t allowed_matter_count;
} fb_reranker_params;

FB_API fb_reranker_params fb_reranker_default_params(void);
/* Trains from the feedback log of the index's folder (FB_ESTATE when the
 * index has no folder; no log or no labels give a reranker with no open
 * model), as foldback::TrainSearchReranker trains every host's reranker:
 * each record within the list the search it will reorder gives its
 * question held out (foldback/rerank.h), in the scope the question was
 * asked in (the filters its trace kept). fb_reranker_train: for
 * fb_index_search_rerank with fb_search_default_params() and depth 0.
 * Errors in fb_index_last_error. */
FB_API int fb_reranker_train(const fb_index* index, const fb_reranker_params* params,
                             fb_reranker** reranker_out);
/* The same for the search it will serve: `search` (NULL: the defaults) as
 * fb_index_search_rerank will get it — its mode, use_feedback (fold-back's
 * lists) and walls (restrict_matters: the asker's; joined with the training
 * wall of `params`); its filters and top_k are not used (each record is
 * ranked in its own scope) — and the `depth` it will rerank (0: 50).
 * (since 0.2) */
FB_API int fb_reranker_train_for_search(const fb_index* index, const fb_reranker_params* params,
                                        const fb_search_params* search, size_t depth,
                                        fb_reranker** reranker_out);
/* Portable bytes of every kept model version (JSON), and back
 * (FB_ECORRUPT on bytes that are not a reranker; message in *error_out,
 * freed with fb_string_free, when error_out is not NULL). */
FB_API int fb_reranker_serialize(const fb_reranker* reranker, char** bytes_out, size_t* size_out);
FB_API int fb_reranker_load(const void* bytes, size_t size, fb_reranker** reranker_out,
                            char** error_out);
/* The current models as JSON: [{scope, version, gate_open, note, records,
 * relevant, not_relevant, questions, validation_gain}]. */
FB_API int fb_reranker_models_json(const fb_reranker* reranker, char** json_out);
FB_API void fb_reranker_free(fb_reranker* reranker);
/* fb_index_search, then `reranker` (NULL: none) over the first `depth`
 * hits (0: 50), behind the same walls. */
FB_API int fb_index_search_rerank(const fb_index* index, const fb_reranker* reranker,
                                  const char* query, const fb_search_params* params, size_t depth,
                                  fb_results** results_out);

/* ---- training questions written by an LLM (foldback/questions.h) (since 0.2)
 *
 * A sans-IO session like fb_ask: it samples passages of the index behind
 * the walls (deterministic by seed; passages under min_words and repeated
 * texts skipped), emits one FB_NEED_LLM need per passage (the passage as
 * data, `redact` patterns applied), checks every reply (empty, not JSON,
 * too many, too long, copied from the passage: filtered, or the need is
 * retried once asking for JSON) and yields (question, chunk) pairs for
 * fb_train_params.pairs_jsonl. The session copies what it needs: the index
 * may change or be freed once fb_questions_start returns.
 *
 *   fb_questions_start(index, &params, now_ms, &q);
 *   while (!fb_questions_done(q)) {
 *     fb_questions_take_needs(q, &needs);   ... perform, then
 *     fb_questions_provide(q, id, &result, now_ms) or fb_questions_tick(q, now_ms)
 *   }
 *   fb_questions_pairs_jsonl(q, &jsonl, &passages, &failed);  */
typedef struct fb_questions fb_questions;

typedef struct {
  const char* matter;   /* only this matter's passages; NULL or "": any */
  int restrict_matters; /* ethical walls: only allowed_matters (and no matter) */
  const char* const* allowed_matters;
  size_t allowed_matter_count;
  uint32_t sample;                /* passages. Default: 100 */
  uint64_t seed;                  /* Default: 42 */
  uint32_t min_words;             /* Default: 12 */
  uint32_t questions_per_passage; /* 1..20. Default: 3 */
  /* A DSPy saved program (JSON text) whose predictor has a `passage` input;
   * NULL: the built-in lawyer-style predictor, with `instructions` (NULL:
   * the built-in ones). */
  const char* program_json;
  const char* instructions;
  const char* const* redact; /* patterns (foldback/redact.h) */
  size_t redact_count;
  double deadline_ms;     /* for the whole session; 0: none */
  uint32_t max_in_flight; /* needs outstanding at once. Default: 8 */
} fb_questions_params;

FB_API fb_questions_params fb_questions_default_params(void);
/* FB_EDENIED for a matter outside the walls, FB_ESTATE when no passage
 * qualifies, FB_EINVALID on bad params (message in fb_index_last_error). */
FB_API int fb_questions_start(const fb_index* index, const fb_questions_params* params,
                              double now_ms, fb_questions** questions_out);
FB_API int fb_questions_take_needs(fb_questions* questions, fb_needs** needs_out);
/* As fb_ask_provide: FB_EINVALID for an unknown or answered id. A failed
 * need (status not FB_OK) fails its passage; the host has retried it. */
FB_API int fb_questions_provide(fb_questions* questions, uint64_t need_id,
                                const fb_need_result* result, double now_ms);
FB_API int fb_questions_tick(fb_questions* questions, double now_ms);
FB_API int fb_questions_done(const fb_questions* questions);
/* REQUIRES done (else FB_ESTATE). *jsonl_out (fb_string_free): one line per
 * question {query, chunk_id, doc_id, source, model, program_hash,
 * foldback_version}; *passages_out and *failed_out (may be NULL): passages
 * asked about, and those that gave no question. */
FB_API int fb_questions_pairs_jsonl(fb_questions* questions, char** jsonl_out, size_t* passages_out,
                                    size_t* failed_out);
FB_API const char* fb_questions_last_error(const fb_questions* questions);
FB_API void fb_questions_free(fb_questions* questions);

/* ---- the LLM listwise reranker (foldback/llm_rerank.h; docs/rerank.md) (since 0.2)
 *
 * RankGPT-style, off unless a host starts it: a search behind the walls of
 * `search` (top_k raised to `depth`), then a sans-IO session that emits one
 * FB_NEED_LLM need per window (purpose "rerank": the question and the top
 * `depth` passages as numbered data blocks, `redact` patterns applied) and
 * orders the passages by the replies, sliding windows of `window_size`
 * moved up by `step`. A walled passage is never in a need. If a window
 * fails (host failure, unusable replies after one retry asking for JSON,
 * the deadline), the results keep the search's order and
 * fb_llm_rerank_failure says why. The session copies what it needs.
 *
 *   fb_llm_rerank_start(index, query, &search, &params, now_ms, &r);
 *   while (!fb_llm_rerank_done(r)) {
 *     fb_llm_rerank_take_needs(r, &needs);   ... perform, then
 *     fb_llm_rerank_provide(r, id, &result, now_ms) or fb_llm_rerank_tick(r, now_ms)
 *   }
 *   fb_llm_rerank_results(r, &results, &applied);   (since 0.2) */
typedef struct fb_llm_rerank fb_llm_rerank;

typedef struct {
  size_t depth;            /* passages reordered, 1..1000. Default: 20 */
  size_t window_size;      /* passages per need, 2..100. Default: 20 */
  size_t step;             /* 1..window_size. Default: 10 */
  uint32_t passage_tokens; /* words of each passage shown. Default: 150 */
  double deadline_ms;      /* for the whole rerank; 0: none */
  /* A DSPy saved program (JSON text) with a question, passages -> ranking
   * predictor; NULL: the built-in one, with `instructions` (NULL: the
   * built-in ones). */
  const char* program_json;
  const char* instructions;
  const char* const* redact; /* patterns (foldback/redact.h) */
  size_t redact_count;
} fb_llm_rerank_params;

FB_API fb_llm_rerank_params fb_llm_rerank_default_params(void);
/* FB_EINVALID on bad params or an empty query; search errors as
 * fb_index_search (messages in fb_index_last_error). */
FB_API int fb_llm_rerank_start(const fb_index* index, const char* query,
                               const fb_search_params* search, const fb_llm_rerank_params* params,
                               double now_ms, fb_llm_rerank** rerank_out);
FB_API int fb_llm_rerank_take_needs(fb_llm_rerank* rerank, fb_needs** needs_out);
/* As fb_ask_provide: FB_EINVALID for an unknown or answered id. */
FB_API int fb_llm_rerank_provide(fb_llm_rerank* rerank, uint64_t need_id,
                                 const fb_need_result* result, double now_ms);
FB_API int fb_llm_rerank_tick(fb_llm_rerank* rerank, double now_ms);
FB_API int fb_llm_rerank_done(const fb_llm_rerank* rerank);
/* REQUIRES done (else FB_ESTATE). The first top_k hits (search's top_k),
 * reordered or not; *applied_out (may be NULL): 1 when the model's order is
 * in them, 0 when the search's order was kept. */
FB_API int fb_llm_rerank_results(fb_llm_rerank* rerank, fb_results** results_out,
                                 int* applied_out);
/* "" unless the rerank failed: why (the search's order was kept). */
FB_API const char* fb_llm_rerank_failure(const fb_llm_rerank* rerank);
/* Needs sent so far (windows + retries). */
FB_API uint32_t fb_llm_rerank_requests(const fb_llm_rerank* rerank);
FB_API const char* fb_llm_rerank_last_error(const fb_llm_rerank* rerank);
FB_API void fb_llm_rerank_free(fb_llm_rerank* rerank);

/* ---------------------------------------------------------------- durable jobs (since 0.2)
 *
 * `foldback jobs` from C: embed and map jobs over a saved index folder,
 * kept in a job store (SQLite: "sqlite:PATH" or a path; PostgreSQL:
 * "postgresql://..."), worked by fb_jobs_work — the same code as the CLI,
 * so a job submitted here can be worked by `foldback jobs work` and the
 * other way round. Each item's state is in the store: a worker killed at any
 * point loses nothing and pays for nothing twice (see README, Batch jobs).
 *
 * The API key is never passed here: a job names the environment variable
 * that holds it (api_key_env), and each worker reads it in its own process.
 *
 * Thread safety: one thread at a time per fb_jobs handle; any number of
 * handles and processes on one store.
 */
typedef struct fb_jobs fb_jobs;

typedef struct {
  const char* kind;      /* "map" | "embed" */
  const char* index_dir; /* a saved index folder (fb_index_save) */
  const char* matter;    /* NULL: every matter the walls allow */
  const char* const* filters; /* "FIELD=VALUE", "FIELD>=VALUE", "FIELD<=VALUE" */
  size_t filter_count;
  /* Ethical walls, as in fb_search_params. Default: 0 (no restriction). */
  int restrict_matters;
  const char* const* allowed_matters;
  size_t allowed_matter_count;
  /* map: what to ask of every document, or a DSPy saved program (JSON
   * text) whose predictor has a `document` input (one of the two). */
  const char* instructions;
  const char* program_json;
  const char* question;  /* map: the predictor's `question` input, if any */
  const char* endpoint_url;
  const char* provider;    /* Default: "openai" (tei for embeddings servers) */
  const char* model;
  const char* api_key_env; /* the NAME of the variable holding the key; NULL: none */
  const char* api_version; /* Azure */
  const char* const* redact; /* patterns (foldback/redact.h) */
  size_t redact_count;
  uint32_t embed_batch;   /* passages per /embeddings request. Default: 64 */
  uint32_t token_budget;  /* map: document tokens per request. Default: 6000 */
  int64_t lease_ms;       /* Default: 60000 */
  uint32_t max_attempts;  /* Default: 3 */
  double requests_per_minute; /* all workers together; 0: no limit */
  uint64_t max_requests;      /* 0: no budget */
  uint64_t max_tokens;        /* 0: no budget */
} fb_job_params;

FB_API fb_job_params fb_job_default_params(void);

/* Opens (creating when missing) a job store. On failure *jobs_out is a
 * handle whose fb_jobs_last_error says why (free it), or NULL when out of
 * memory. */
FB_API int fb_jobs_open(const char* store_url, fb_jobs** jobs_out);
FB_API void fb_jobs_free(fb_jobs* jobs);
FB_API const char* fb_jobs_last_error(const fb_jobs* jobs);

/* Selects the items behind the walls and creates the job; *job_id_out
 * (fb_string_free) is its id. FB_EINVALID for bad params (the message names
 * the CLI's flag), FB_ENOTFOUND for a key variable that is unset,
 * FB_EDENIED for a matter outside the walls. */
FB_API int fb_jobs_submit(fb_jobs* jobs, const fb_job_params* params, char** job_id_out);

typedef struct {
  uint64_t done;       /* results recorded by this worker */
  uint64_t failed;     /* items it failed for good */
  uint64_t retried;    /* items put back after a retryable failure */
  uint64_t duplicates; /* results not recorded: done already */
  uint64_t requests;   /* HTTP requests started */
} fb_job_work_report;

/* Works the store's jobs (job_id NULL: all; else that one) with
 * `concurrency` requests in flight (0: 16) until no job has work left.
 * *report_out may be NULL. */
FB_API int fb_jobs_work(fb_jobs* jobs, const char* job_id, uint32_t concurrency,
                        fb_job_work_report* report_out);

typedef struct {
  uint64_t total, pending, leased, done, failed, attempts;
  uint64_t requests, tokens; /* the job's shared counters */
  int cancelled;             /* 1 once fb_jobs_cancel (or `jobs cancel`) stopped it */
  int finished;              /* 1 when every item is done or failed */
} fb_job_status;

/* FB_ENOTFOUND for an unknown job. */
FB_API int fb_jobs_status(fb_jobs* jobs, const char* job_id, fb_job_status* status_out);
/* The job's results as `foldback jobs results` writes them (map: {doc_id,
 * output, citations, model, program_hash, ...}; embed: {chunk_id, doc_id,
 * dim, model, vector}), one JSON line per done item; with include_failed,
 * a line {id, error, attempts} per failed item. *jsonl_out: fb_string_free. */
FB_API int fb_jobs_results_jsonl(fb_jobs* jobs, const char* job_id, int include_failed,
                                 char** jsonl_out);
FB_API int fb_jobs_cancel(fb_jobs* jobs, const char* job_id);

#ifdef __cplusplus
}
#endif

#endif /* FOLDBACK_C_H_ */
