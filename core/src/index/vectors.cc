// The dense side of the index: embedder training, chunk vectors, the HNSW
// graph, and their snapshot form.
#include <cmath>

#include <fmt/format.h>

#include "embed/static_embedder.h"
#include "index/dense_index.h"
#include "index/index_internal.h"
#include "snapshot.pb.h"

namespace foldback {
namespace {

index::DenseIndex::Params DenseParams(const IndexOptions& o, uint32_t dimension) {
  index::DenseIndex::Params p;
  p.dimension = dimension;
  p.metric = o.dense.metric;
  p.m = o.dense.m;
  p.ef_construction = o.dense.ef_construction;
  p.seed = o.dense.seed;
  return p;
}

}  // namespace

void Index::Rep::DropVector(uint32_t chunk) {
  ChunkSlot& slot = chunks[chunk];
  if (slot.has_vector && dense) dense->Remove(chunk);
  slot.has_vector = false;
}

void Index::Rep::SaveDense(pb::Snapshot* out) const {
  if (dense) dense->SerializeHeader(out->mutable_dense());
  if (embedder) embedder->Serialize(out->mutable_embedder());
  if (previous_embedder) previous_embedder->Serialize(out->mutable_previous_embedder());
}

Status Index::Rep::LoadDense(const pb::Snapshot& in, const std::vector<std::string_view>& pieces,
                             bool pieced) {
  if (in.has_embedder() && in.embedder().trained()) {
    auto e = embed::StaticEmbedder::Deserialize(in.embedder());
    if (!e.ok()) return e.status();
    embedder = std::move(e.value());
  }
  if (in.has_previous_embedder() && in.previous_embedder().trained()) {
    auto e = embed::StaticEmbedder::Deserialize(in.previous_embedder());
    if (!e.ok()) return e.status();
    previous_embedder = std::move(e.value());
  }
  if (in.has_dense() && in.dense().dimension() > 0) {
    auto d = index::DenseIndex::Deserialize(in.dense(), pieces, pieced,
                                            static_cast<uint32_t>(chunks.size()));
    if (!d.ok()) return d.status();
    dense = std::move(d.value());
    if (embedder && embedder->dimension() != dense->dimension()) {
      return Status::Corruption("snapshot embedder and dense index disagree on the dimension");
    }
  } else if (!pieces.empty()) {
    return Status::Corruption("snapshot holds dense pieces without a dense index");
  }
  for (uint32_t c = 0; c < chunks.size(); ++c) {
    bool in_graph = dense && dense->Contains(c);
    if (chunks[c].has_vector != in_graph) {
      return Status::Corruption("snapshot chunk '" + chunks[c].chunk.id +
                                "' disagrees with the dense index about its vector");
    }
  }
  return Status::OK();
}

Status Index::BuildDense(bool retrain) {
  Rep& r = *rep_;
  const IndexOptions& o = r.options;
  if (o.dense.embedder == EmbedderKind::kNone) return Status::OK();
  if (o.dense.embedder == EmbedderKind::kExternal) {
    for (const ChunkSlot& c : r.chunks) {
      if (c.live && !c.has_vector) {
        return Status::FailedPrecondition("chunk '" + c.chunk.id +
                                          "' has no vector yet: the host supplies them "
                                          "(ChunksMissingVectors / SetChunkVector)");
      }
    }
    return Status::OK();
  }
  // What the static embedder reads of a chunk: its text, and for mail the
  // subject too — a message's subject is often the only place its topic is
  // named ("Translation of articles" over "the versions are attached"), and
  // the lexical side already counts it in every chunk (title_weight).
  auto embed_text = [&r](const ChunkSlot& c) -> std::string {
    const Document& d = r.docs[c.doc].doc;
    if (d.kind != DocKind::kEmail || d.title.empty()) return std::string(c.chunk.text);
    return d.title + "\n" + std::string(c.chunk.text);
  };
  if (!r.embedder || retrain) {
    std::vector<std::string> owned;
    std::vector<std::string_view> texts;
    for (const ChunkSlot& c : r.chunks) {
      if (!c.live) continue;
      if (r.docs[c.doc].doc.kind == DocKind::kEmail) {
        owned.push_back(embed_text(c));
      }
    }
    size_t next = 0;
    for (const ChunkSlot& c : r.chunks) {
      if (!c.live) continue;
      texts.push_back(r.docs[c.doc].doc.kind == DocKind::kEmail ? std::string_view(owned[next++])
                                                               : std::string_view(c.chunk.text));
    }
    embed::StaticEmbedderParams p;
    p.dimension = o.dense.dimension ? o.dense.dimension : 128;
    p.seed = o.dense.seed;
    auto trained = embed::StaticEmbedder::Train(texts, r.analyzer, p);
    if (!trained.ok()) return trained.status();
    if (r.embedder) {
      // The replaced model stays restorable (RestorePreviousEmbedder).
      trained.value()->set_version(r.embedder->version() + 1);
      r.previous_embedder = std::move(r.embedder);
    }
    r.embedder = std::move(trained.value());
    r.dense.reset();
    for (ChunkSlot& c : r.chunks) c.has_vector = false;
  }
  if (!r.dense) {
    auto created = index::DenseIndex::Create(DenseParams(o, r.embedder->dimension()));
    if (!created.ok()) return created.status();
    r.dense = std::move(created.value());
  }
  for (uint32_t i = 0; i < r.chunks.size(); ++i) {
    ChunkSlot& c = r.chunks[i];
    if (!c.live || c.has_vector) continue;
    std::vector<float> v = r.embedder->Embed(embed_text(c), r.analyzer);
    FB_RETURN_IF_ERROR(r.dense->Add(i, v.data()));
    c.has_vector = true;
  }
  return Status::OK();
}

std::vector<std::string> Index::ChunksMissingVectors(size_t limit) const {
  std::vector<std::string> out;
  if (rep_->options.dense.embedder != EmbedderKind::kExternal) return out;
  for (const ChunkSlot& c : rep_->chunks) {
    if (c.live && !c.has_vector) out.push_back(c.chunk.id);
    if (limit && out.size() == limit) break;
  }
  return out;
}

Status Index::SetChunkVector(std::string_view chunk_id, const std::vector<float>& vector) {
  Rep& r = *rep_;
  if (r.options.dense.embedder != EmbedderKind::kExternal) {
    return Status::FailedPrecondition("chunk vectors come from the host only with an external embedder");
  }
  auto it = r.chunk_ids.find(std::string(chunk_id));
  if (it == r.chunk_ids.end()) return Status::NotFound("no chunk '" + std::string(chunk_id) + "'");
  if (vector.size() != r.options.dense.dimension) {
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("vector has {} dimensions; the index expects {}"), vector.size(),
                    r.options.dense.dimension));
  }
  for (float f : vector) {
    if (!std::isfinite(f)) return Status::InvalidArgument("vector holds NaN or infinity");
  }
  if (!r.dense) {
    auto created = index::DenseIndex::Create(DenseParams(r.options, r.options.dense.dimension));
    if (!created.ok()) return created.status();
    r.dense = std::move(created.value());
  }
  FB_RETURN_IF_ERROR(r.dense->Add(it->second, vector.data()));
  r.chunks[it->second].has_vector = true;
  return Status::OK();
}

Result<std::vector<float>> Index::Rep::QueryVector(std::string_view query,
                                                  const SearchOptions& so) const {
  if (!dense || dense->size() == 0) return std::vector<float>();
  if (options.dense.embedder == EmbedderKind::kExternal) {
    if (so.query_vector.empty()) {
      if (so.mode == SearchMode::kDense) {
        return Status::FailedPrecondition(
            "dense search over host-supplied vectors needs the query's vector (query_vector)");
      }
      return std::vector<float>();
    }
    if (so.query_vector.size() != dense->dimension()) {
      return Status::InvalidArgument(
          fmt::format(FMT_STRING("query_vector has {} dimensions; the index expects {}"),
                      so.query_vector.size(), dense->dimension()));
    }
    return so.query_vector;
  }
  if (!embedder) return std::vector<float>();
  std::vector<float> q = embedder->Embed(query, analyzer);
  bool zero = true;
  for (float f : q) zero &= f == 0.0f;
  if (zero) return std::vector<float>();  // no known word: nothing to compare
  return q;
}

}  // namespace foldback
