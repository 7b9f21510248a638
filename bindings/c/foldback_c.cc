// The C ABI over foldback's C++ API and native host: indexes, ingestion,
// search. Type conversion, error mapping and lifetimes only; no exception
// leaves any function here. Ask sessions: c_api_ask.cc; feedback:
// c_api_feedback.cc.
#include "c_api.h"

#include <fmt/format.h>

using namespace foldback::capi;  // NOLINT: the C functions below are this file's API

extern "C" {

/* ---------------------------------------------------------------- index */

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
      int embedder = IntOf(params->embedder);
      if (embedder < FB_EMBEDDER_NONE || embedder > FB_EMBEDDER_EXTERNAL) code = FB_EINVALID;
      o.dense.embedder = static_cast<foldback::EmbedderKind>(embedder);
      o.dense.dimension = params->dimension;
    }
    if (code == FB_OK) {
      auto created = foldback::Index::Create(o);
      if (!created.ok()) {
        code = CodeOf(created.status());
      } else {
        out = NewHandle(std::move(created.value()), "");
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
      auto loaded =
          foldback::Index::FromSnapshot(std::string_view(static_cast<const char*>(bytes), size));
      if (!loaded.ok()) {
        code = CodeOf(loaded.status());
      } else {
        out = NewHandle(std::move(loaded.value()), "");
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

fb_index* fb_index_open(const char* dir, int* error_out) {
  int code = FB_OK;
  fb_index* out = nullptr;
  try {
    if (!dir || !*dir) {
      code = FB_EINVALID;
    } else {
      auto opened = foldback::host::OpenIndex(dir, /*create=*/false);
      if (!opened.ok()) {
        code = CodeOf(opened.status());
      } else {
        out = NewHandle(std::move(opened.value()), dir);
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

int fb_index_save(fb_index* h, const char* dir) {
  if (!h) return FB_EINVALID;
  if (!dir || !*dir) return Fail(&h->err, FB_EINVALID, "dir is NULL or empty");
  return Guard(&h->err, [&]() -> int {
    Status s = foldback::host::SaveIndex(dir, *h->state->index);
    if (!s.ok()) return Report(&h->err, s);
    h->state->SetDir(dir);
    return FB_OK;
  });
}

void fb_index_free(fb_index* index) { delete index; }

const char* fb_index_last_error(const fb_index* index) {
  return index ? LastError(&index->err) : "";
}

int fb_index_add(fb_index* h, const fb_document* doc, uint32_t* chunks_out) {
  if (!h) return FB_EINVALID;
  if (!doc || !doc->id) return Fail(&h->err, FB_EINVALID, "document or document id is NULL");
  return Guard(&h->err, [&]() -> int {
    foldback::Document d;
    d.id = doc->id;
    d.title = Str(doc->title);
    if (doc->text) d.text.assign(doc->text, doc->text_len ? doc->text_len : std::strlen(doc->text));
    int kind = IntOf(doc->kind);
    if (kind < FB_KIND_DOCUMENT || kind > FB_KIND_WEB) {
      return Fail(&h->err, FB_EINVALID, fmt::format(FMT_STRING("unknown document kind {}"), kind));
    }
    d.kind = static_cast<foldback::DocKind>(kind);
    d.matter = Str(doc->matter);
    d.parent_id = Str(doc->parent_id);
    for (size_t i = 0; i < doc->meta_count; ++i) {
      if (!doc->meta_keys || !doc->meta_values || !doc->meta_keys[i] || !doc->meta_values[i]) {
        return Fail(&h->err, FB_EINVALID, "metadata key or value is NULL");
      }
      d.metadata[doc->meta_keys[i]].push_back(doc->meta_values[i]);
    }
    if (int c = BeginChange(h)) return c;
    auto r = h->state->index->Add(d);
    if (!r.ok()) return Report(&h->err, r.status());
    if (chunks_out) *chunks_out = r->chunks;
    return FB_OK;
  });
}

int fb_index_remove(fb_index* h, const char* doc_id) {
  if (!h) return FB_EINVALID;
  if (!doc_id) return Fail(&h->err, FB_EINVALID, "doc_id is NULL");
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->RemoveWithAttachments(doc_id));
  });
}

int fb_index_build_dense(fb_index* h) {
  if (!h) return FB_EINVALID;
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->BuildDense());
  });
}

int fb_index_ingest_path(fb_index* h, const char* path, const char* matter, fb_ingest_cb progress,
                         void* user_data, fb_ingest_report* report_out) {
  if (!h) return FB_EINVALID;
  if (!path || !*path) return Fail(&h->err, FB_EINVALID, "path is NULL or empty");
  if (report_out) std::memset(report_out, 0, sizeof *report_out);
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    foldback::host::IngestPathOptions o;
    o.matter = Str(matter);
    auto on_file = [&](const foldback::host::IngestFileOutcome& f) {
      if (!progress) return;
      std::vector<const char*> warnings;
      for (const auto& w : f.warnings) warnings.push_back(w.c_str());
      std::string message = f.status.ok() ? std::string() : f.status.ToString();
      fb_ingest_file v;
      v.path = f.path.c_str();
      v.doc_id = f.doc_id.c_str();
      v.format = f.format.c_str();
      v.outcome = static_cast<fb_file_outcome>(f.kind);
      v.status = CodeOf(f.status);
      v.message = message.c_str();
      v.warnings = warnings.empty() ? nullptr : warnings.data();
      v.warning_count = warnings.size();
      v.documents = f.documents;
      v.chunks = f.chunks;
      v.bytes = f.bytes;
      v.files_done = f.files_done;
      v.files_total = f.files_total;
      v.bytes_done = f.bytes_done;
      v.bytes_total = f.bytes_total;
      progress(&v, user_data);
    };
    foldback::host::IngestPathReport rep;
    Status s = foldback::host::IngestPath(h->state->index.get(), path, o, on_file, &rep);
    if (!s.ok()) return Report(&h->err, s);
    if (report_out) {
      report_out->files = rep.files;
      report_out->indexed = rep.indexed;
      report_out->failed = rep.failed;
      report_out->unsupported = rep.unsupported;
      report_out->documents = rep.documents;
      report_out->chunks = rep.chunks;
      report_out->bytes = rep.bytes;
      report_out->warnings = rep.warnings;
      report_out->replaced = rep.replaced;
    }
    return FB_OK;
  });
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
  p.use_feedback = 0;
  p.syntax = static_cast<fb_query_syntax>(o.syntax);
  return p;
}

int fb_index_search(const fb_index* h, const char* query, const fb_search_params* params,
                    fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!query || !results_out) return Fail(&h->err, FB_EINVALID, "query or results_out is NULL");
  *results_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    foldback::SearchOptions o;
    fb_search_params p = params ? *params : fb_search_default_params();
    Status s = SearchOptionsOf(IntOf(p.mode), p.filters, p.filter_count, p.restrict_matters,
                               p.allowed_matters, p.allowed_matter_count, IntOf(p.syntax), &o);
    if (!s.ok()) return Report(&h->err, s);
    o.top_k = p.top_k;
    foldback::Result<std::vector<foldback::SearchHit>> r = std::vector<foldback::SearchHit>();
    if (p.use_feedback) {
      auto fb = FoldBackFor(*h->state, o.allowed_matters);
      if (!fb.ok()) return Report(&h->err, fb.status());
      r = *fb ? (*fb)->Search(*h->state->index, query, o) : h->state->index->Search(query, o);
    } else {
      r = h->state->index->Search(query, o);
    }
    if (!r.ok()) return Report(&h->err, r.status());
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
  if (!bytes_out || !size_out) return Fail(&h->err, FB_EINVALID, "bytes_out or size_out is NULL");
  return Guard(&h->err, [&]() -> int {
    auto r = h->state->index->Snapshot();
    if (!r.ok()) return Report(&h->err, r.status());
    char* buf = static_cast<char*>(std::malloc(r->size() ? r->size() : 1));
    if (!buf) return Fail(&h->err, FB_ENOMEM, "out of memory");
    std::memcpy(buf, r->data(), r->size());
    *bytes_out = buf;
    *size_out = r->size();
    return FB_OK;
  });
}

int fb_index_snapshot_to(const fb_index* h, fb_snapshot_write_fn write, void* user) {
  if (!h) return FB_EINVALID;
  if (!write) return Fail(&h->err, FB_EINVALID, "write is NULL");
  return Guard(&h->err, [&]() -> int {
    class CallbackSink : public foldback::SnapshotSink {
     public:
      CallbackSink(fb_snapshot_write_fn write, void* user) : write_(write), user_(user) {}
      foldback::Status Append(std::string_view bytes) override {
        int rc = write_(user_, bytes.data(), bytes.size());
        if (rc == 0) return foldback::Status::OK();
        return foldback::Status::IOError(
            fmt::format(FMT_STRING("the snapshot's write callback returned {}"), rc));
      }

     private:
      fb_snapshot_write_fn write_;
      void* user_;
    } sink(write, user);
    foldback::Status s = h->state->index->WriteSnapshot(sink);
    if (!s.ok()) return Report(&h->err, s);
    return FB_OK;
  });
}

uint64_t fb_index_document_count(const fb_index* h) {
  return h ? h->state->index->Stats().documents : 0;
}
uint64_t fb_index_chunk_count(const fb_index* h) { return h ? h->state->index->Stats().chunks : 0; }

int fb_index_chunks_missing_vectors(const fb_index* h, size_t limit, fb_results** results_out) {
  if (!h) return FB_EINVALID;
  if (!results_out) return Fail(&h->err, FB_EINVALID, "results_out is NULL");
  *results_out = nullptr;
  return Guard(&h->err, [&]() -> int {
    const foldback::Index& index = *h->state->index;
    auto results = std::make_unique<fb_results>();
    for (const std::string& id : index.ChunksMissingVectors(limit)) {
      const foldback::Chunk* c = index.FindChunk(id);
      if (!c) continue;
      foldback::SearchHit hit;
      hit.chunk_id = c->id;
      hit.doc_id = c->doc_id;
      hit.text = c->text;
      hit.section = c->section;
      if (const foldback::Document* d = index.FindDocument(c->doc_id)) {
        hit.title = d->title;
        hit.matter = d->matter;
      }
      results->hits.push_back(std::move(hit));
    }
    for (const auto& hit : results->hits) {
      results->view.push_back({hit.chunk_id.c_str(), hit.doc_id.c_str(), hit.text.c_str(),
                               hit.title.c_str(), hit.section.c_str(), hit.matter.c_str(), 0});
    }
    *results_out = results.release();
    return FB_OK;
  });
}

int fb_index_set_chunk_vector(fb_index* h, const char* chunk_id, const float* vector,
                              size_t dimension) {
  if (!h) return FB_EINVALID;
  if (!chunk_id || !vector) return Fail(&h->err, FB_EINVALID, "chunk_id or vector is NULL");
  return Guard(&h->err, [&]() -> int {
    if (int c = BeginChange(h)) return c;
    return Report(&h->err, h->state->index->SetChunkVector(
                               chunk_id, std::vector<float>(vector, vector + dimension)));
  });
}

}  // extern "C"
