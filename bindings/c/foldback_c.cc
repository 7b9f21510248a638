// The C ABI over foldback's C++ API. Type conversion and error mapping only;
// no exception leaves any function here.
#include "foldback.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "foldback/version.h"

using foldback::Status;

struct fb_index {
  std::unique_ptr<foldback::Index> index;
  mutable std::mutex error_mu;
  mutable std::string last_error;
};

struct fb_results {
  std::vector<foldback::SearchHit> hits;
  std::vector<fb_hit> view;
};

namespace {

int CodeOf(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return FB_OK;
    case Status::Code::kInvalidArgument: return FB_EINVALID;
    case Status::Code::kNotFound: return FB_ENOTFOUND;
    case Status::Code::kCorruption: return FB_ECORRUPT;
    case Status::Code::kNotSupported: return FB_EUNSUPPORTED;
    case Status::Code::kIOError: return FB_EIO;
    case Status::Code::kOutOfRange: return FB_ERANGE;
    case Status::Code::kDeadlineExceeded: return FB_EDEADLINE;
    case Status::Code::kUnavailable: return FB_EUNAVAILABLE;
    case Status::Code::kPermissionDenied: return FB_EDENIED;
    case Status::Code::kFailedPrecondition: return FB_ESTATE;
    case Status::Code::kInternal: return FB_EINTERNAL;
  }
  return FB_EINTERNAL;
}

int Fail(const fb_index* h, int code, const std::string& msg) {
  if (h) {
    std::lock_guard<std::mutex> lock(h->error_mu);
    h->last_error = msg;
  }
  return code;
}

int Report(const fb_index* h, const Status& s) {
  return s.ok() ? FB_OK : Fail(h, CodeOf(s), s.ToString());
}

// Runs `fn`, turning any escaping C++ exception into a return code.
template <typename Fn>
int Guard(const fb_index* h, Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Fail(h, FB_ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return Fail(h, FB_EINTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(h, FB_EINTERNAL, "internal error: unknown exception");
  }
}

const char* Str(const char* s) { return s ? s : ""; }

}  // namespace

extern "C" {

const char* fb_version(void) { return foldback::Version(); }

const char* fb_strerror(int code) {
  switch (code) {
    case FB_OK: return "success";
    case FB_EINVALID: return "invalid argument";
    case FB_ENOTFOUND: return "not found";
    case FB_ECORRUPT: return "corrupt data";
    case FB_EUNSUPPORTED: return "not supported";
    case FB_EIO: return "I/O error";
    case FB_ERANGE: return "limit exceeded";
    case FB_EDEADLINE: return "deadline exceeded";
    case FB_EUNAVAILABLE: return "unavailable";
    case FB_EDENIED: return "permission denied";
    case FB_ESTATE: return "wrong state";
    case FB_EINTERNAL: return "internal error";
    case FB_ENOMEM: return "out of memory";
  }
  return "unknown error code";
}

void fb_string_free(char* s) { std::free(s); }

fb_index_params fb_index_default_params(void) {
  foldback::IndexOptions o;
  fb_index_params p;
  p.chunk_target_tokens = o.chunker.target_tokens;
  p.chunk_max_tokens = o.chunker.max_tokens;
  p.bm25_k1 = o.bm25.k1;
  p.bm25_b = o.bm25.b;
  p.embedder = static_cast<fb_embedder_kind>(o.dense.embedder);
  p.dimension = o.dense.dimension;
  return p;
}

fb_index* fb_index_init(const fb_index_params* params, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    foldback::IndexOptions o;
    if (params) {
      o.chunker.target_tokens = params->chunk_target_tokens;
      o.chunker.max_tokens = params->chunk_max_tokens;
      o.bm25.k1 = params->bm25_k1;
      o.bm25.b = params->bm25_b;
      if (params->embedder < FB_EMBEDDER_NONE || params->embedder > FB_EMBEDDER_EXTERNAL) {
        code = FB_EINVALID;
      }
      o.dense.embedder = static_cast<foldback::EmbedderKind>(params->embedder);
      o.dense.dimension = params->dimension;
    }
    if (code == FB_OK) {
      auto created = foldback::Index::Create(o);
      if (!created.ok()) {
        code = CodeOf(created.status());
      } else {
        out = new fb_index;
        out->index = std::move(created.value());
      }
    }
  } catch (const std::bad_alloc&) {
    code = FB_ENOMEM;
  } catch (...) {
    code = FB_EINTERNAL;
  }
  if (error_out) *error_out = code;
  return out;
}

fb_index* fb_index_load(const void* bytes, size_t size, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    if (!bytes && size) {
      code = FB_EINVALID;
    } else {
      auto loaded = foldback::Index::FromSnapshot(
          std::string_view(static_cast<const char*>(bytes), size));
      if (!loaded.ok()) {
        code = CodeOf(loaded.status());
      } else {
        out = new fb_index;
        out->index = std::move(loaded.value());
      }
    }
  } catch (const std::bad_alloc&) {
    code = FB_ENOMEM;
  } catch (...) {
    code = FB_EINTERNAL;
  }
  if (error_out) *error_out = code;
  return out;
}

void fb_index_free(fb_index* index) { delete index; }

const char* fb_index_last_error(const fb_index* index) {
  if (!index) return "";
  std::lock_guard<std::mutex> lock(index->error_mu);
  return index->last_error.c_str();
}

int fb_index_add(fb_index* h, const fb_document* doc, uint32_t* chunks_out) {
  if (!h) return FB_EINVALID;
  if (!doc || !doc->id) return Fail(h, FB_EINVALID, "document or document id is NULL");
  return Guard(h, [&]() -> int {
    foldback::Document d;
    d.id = doc->id;
    d.title = Str(doc->title);
    if (doc->text) d.text.assign(doc->text, doc->text_len ? doc->text_len : std::strlen(doc->text));
    if (doc->kind < FB_KIND_DOCUMENT || doc->kind > FB_KIND_WEB) {
      return Fail(h, FB_EINVALID, "unknown document kind");
    }
    d.kind = static_cast<foldback::DocKind>(doc->kind);
    d.matter = Str(doc->matter);
    d.parent_id = Str(doc->parent_id);
    for (size_t i = 0; i < doc->meta_count; ++i) {
      if (!doc->meta_keys || !doc->meta_values || !doc->meta_keys[i] || !doc->meta_values[i]) {
        return Fail(h, FB_EINVALID, "metadata key or value is NULL");
      }
      d.metadata[doc->meta_keys[i]].push_back(doc->meta_values[i]);
    }
    auto r = h->index->Add(d);
    if (!r.ok()) return Report(h, r.status());
    if (chunks_out) *chunks_out = r->chunks;
    return FB_OK;
  });
}

int fb_index_remove(fb_index* h, const char* doc_id) {
  if (!h) return FB_EINVALID;
  if (!doc_id) return Fail(h, FB_EINVALID, "doc_id is NULL");
  return Guard(h, [&]() -> int { return Report(h, h->index->Remove(doc_id)); });
}

int fb_index_build_dense(fb_index* h) {
  if (!h) return FB_EINVALID;
  return Guard(h, [&]() -> int { return Report(h, h->index->BuildDense()); });
}

fb_search_params fb_search_default_params(void) {
  foldback::SearchOptions o;
  fb_search_params p;
  p.mode = static_cast<fb_search_mode>(o.mode);
  p.top_k = static_cast<uint32_t>(o.top_k);
  p.filters = nullptr;
  p.filter_count = 0;
  p.restrict_matters = 0;
  p.allowed_matters = nullptr;
  p.allowed_matter_count = 0;
  return p;
}

int fb_index_search(const fb_index* h, const char* query, const fb_search_params* params,
                    fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!query || !results_out) return Fail(h, FB_EINVALID, "query or results_out is NULL");
  *results_out = nullptr;
  return Guard(h, [&]() -> int {
    foldback::SearchOptions o;
    fb_search_params p = params ? *params : fb_search_default_params();
    if (p.mode < FB_MODE_BM25 || p.mode > FB_MODE_HYBRID) return Fail(h, FB_EINVALID, "unknown mode");
    o.mode = static_cast<foldback::SearchMode>(p.mode);
    o.top_k = p.top_k;
    for (size_t i = 0; i < p.filter_count; ++i) {
      if (!p.filters || !p.filters[i]) return Fail(h, FB_EINVALID, "filter is NULL");
      auto f = foldback::Filter::Parse(p.filters[i]);
      if (!f.ok()) return Report(h, f.status());
      o.filters.push_back(*f);
    }
    if (p.restrict_matters) {
      o.allowed_matters.emplace();
      for (size_t i = 0; i < p.allowed_matter_count; ++i) {
        if (!p.allowed_matters || !p.allowed_matters[i]) return Fail(h, FB_EINVALID, "matter is NULL");
        o.allowed_matters->insert(p.allowed_matters[i]);
      }
    }
    auto r = h->index->Search(query, o);
    if (!r.ok()) return Report(h, r.status());
    auto results = std::make_unique<fb_results>();
    results->hits = std::move(r.value());
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(),
                               hit.score});
    }
    *results_out = results.release();
    return FB_OK;
  });
}

size_t fb_results_count(const fb_results* r) { return r ? r->view.size() : 0; }

const fb_hit* fb_results_get(const fb_results* r, size_t i) {
  return r && i < r->view.size() ? &r->view[i] : nullptr;
}

void fb_results_free(fb_results* r) { delete r; }

int fb_index_snapshot(const fb_index* h, char** bytes_out, size_t* size_out) {
  if (!h) return FB_EINVALID;
  if (!bytes_out || !size_out) return Fail(h, FB_EINVALID, "bytes_out or size_out is NULL");
  return Guard(h, [&]() -> int {
    auto r = h->index->Snapshot();
    if (!r.ok()) return Report(h, r.status());
    char* buf = static_cast<char*>(std::malloc(r->size() ? r->size() : 1));
    if (!buf) return Fail(h, FB_ENOMEM, "out of memory");
    std::memcpy(buf, r->data(), r->size());
    *bytes_out = buf;
    *size_out = r->size();
    return FB_OK;
  });
}

uint64_t fb_index_document_count(const fb_index* h) { return h ? h->index->Stats().documents : 0; }
uint64_t fb_index_chunk_count(const fb_index* h) { return h ? h->index->Stats().chunks : 0; }

}  // extern "C"
