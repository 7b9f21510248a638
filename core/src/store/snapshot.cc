// Index <-> bytes. The envelope protects the protobuf payload against
// truncation and bit rot, which protobuf parsing alone does not detect:
//
//   offset  size  field
//   0       4     magic "FBSN"
//   4       4     format version (u32 LE)
//   8       8     payload length (u64 LE)
//   16      4     masked CRC-32C of the payload (u32 LE)
//   20      n     payload: foldback.pb.Snapshot
#include <limits>

#include <fmt/format.h>

#include "foldback/index.h"
#include "foldback/version.h"
#include "index/index_internal.h"
#include "embed/static_embedder.h"
#include "index/dense_index.h"
#include "snapshot.pb.h"
#include "store/bytes.h"
#include "store/crc32c.h"
#include "text/utf8.h"

namespace foldback {
namespace {

constexpr char kMagic[4] = {'F', 'B', 'S', 'N'};
// 2: word positions (phrases, proximity). Version 1 still loads.
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kOldestFormatVersion = 1;
constexpr size_t kHeaderSize = 20;
constexpr uint32_t kDropped = std::numeric_limits<uint32_t>::max();

void SaveOptions(const IndexOptions& o, pb::IndexOptions* p) {
  p->set_chunk_target_tokens(o.chunker.target_tokens);
  p->set_chunk_max_tokens(o.chunker.max_tokens);
  p->set_chunk_overlap_tokens(o.chunker.overlap_tokens);
  p->set_stemmer(o.text.stemmer);
  p->set_has_stopwords(o.text.stopwords.has_value());
  if (o.text.stopwords) {
    for (const auto& w : *o.text.stopwords) p->add_stopwords(w);
  }
  p->set_bm25_k1(o.bm25.k1);
  p->set_bm25_b(o.bm25.b);
  p->set_title_weight(o.bm25.title_weight);
  p->set_embedder(static_cast<uint32_t>(o.dense.embedder));
  p->set_metric(static_cast<uint32_t>(o.dense.metric));
  p->set_dimension(o.dense.dimension);
  p->set_hnsw_m(o.dense.m);
  p->set_hnsw_ef_construction(o.dense.ef_construction);
  p->set_hnsw_ef_search(o.dense.ef_search);
  p->set_seed(o.dense.seed);
  p->set_no_positions(!o.bm25.positions);
}

Status LoadOptions(const pb::IndexOptions& p, IndexOptions* o) {
  o->chunker.target_tokens = p.chunk_target_tokens();
  o->chunker.max_tokens = p.chunk_max_tokens();
  o->chunker.overlap_tokens = p.chunk_overlap_tokens();
  o->text.stemmer = p.stemmer();
  if (p.has_stopwords()) {
    o->text.stopwords = std::vector<std::string>(p.stopwords().begin(), p.stopwords().end());
  }
  o->bm25.k1 = p.bm25_k1();
  o->bm25.b = p.bm25_b();
  o->bm25.title_weight = p.title_weight();
  o->bm25.positions = !p.no_positions();
  if (p.embedder() > 2 || p.metric() > 1) return Status::Corruption("snapshot options are invalid");
  o->dense.embedder = static_cast<EmbedderKind>(p.embedder());
  o->dense.metric = static_cast<Metric>(p.metric());
  o->dense.dimension = p.dimension();
  o->dense.m = p.hnsw_m();
  o->dense.ef_construction = p.hnsw_ef_construction();
  o->dense.ef_search = p.hnsw_ef_search();
  o->dense.seed = p.seed();
  return Status::OK();
}

void PutU64(std::string* out, uint64_t v) {
  store::PutU32(out, static_cast<uint32_t>(v));
  store::PutU32(out, static_cast<uint32_t>(v >> 32));
}

}  // namespace

Result<std::string> Index::Snapshot() const {
  const Rep& r = *rep_;
  pb::Snapshot snap;
  snap.set_magic(0x4E534246u);
  snap.set_format_version(kFormatVersion);
  snap.set_library_version(FOLDBACK_VERSION_STRING);
  SaveOptions(r.options, snap.mutable_options());

  std::vector<uint32_t> renumber(r.chunks.size(), kDropped);
  uint32_t next_chunk = 0;
  uint32_t next_doc = 0;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    pb::Document* pd = snap.add_documents();
    pd->set_id(d.doc.id);
    pd->set_title(d.doc.title);
    pd->set_text(d.doc.text);
    pd->set_kind(static_cast<uint32_t>(d.doc.kind));
    pd->set_matter(d.doc.matter);
    pd->set_parent_id(d.doc.parent_id);
    for (const auto& [name, values] : d.doc.metadata) {
      pb::MetadataField* f = pd->add_metadata();
      f->set_name(name);
      for (const auto& v : values) f->add_values(v);
    }
    for (uint32_t c : d.chunks) {
      const ChunkSlot& cs = r.chunks[c];
      pb::Chunk* pc = snap.add_chunks();
      pc->set_id(cs.chunk.id);
      pc->set_document(next_doc);
      pc->set_begin(cs.chunk.begin);
      pc->set_end(cs.chunk.end);
      pc->set_section(cs.chunk.section);
      pc->set_role(static_cast<uint32_t>(cs.chunk.role));
      pc->set_has_vector(cs.has_vector);
      renumber[c] = next_chunk++;
    }
    ++next_doc;
  }
  std::string* sketches = snap.mutable_dup_sketches();
  sketches->reserve(static_cast<size_t>(next_chunk) * index::DupSketch::kEncodedSize);
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    for (uint32_t c : d.chunks) r.chunks[c].sketch.AppendTo(sketches);
  }
  snap.set_dup_sketch_scheme(index::DupSketch::kScheme);
  std::vector<std::string> terms;
  pb::Lexical* lex = snap.mutable_lexical();
  index::PositionData positions;
  r.lexical.Serialize(renumber, &terms, lex->mutable_offsets(), lex->mutable_postings(),
                      lex->mutable_lengths(), &positions);
  for (auto& t : terms) lex->add_terms(std::move(t));
  if (positions.present) {
    lex->set_has_positions(true);
    lex->set_positions(std::move(positions.streams));
    lex->set_position_offsets(std::move(positions.offsets));
    for (auto& w : positions.words) lex->add_words(std::move(w));
    lex->set_word_terms(std::move(positions.word_terms));
  }
  r.SaveDense(renumber, &snap);
  for (const auto& [name, payload] : r.extensions) {
    pb::Extension* e = snap.add_extensions();
    e->set_name(name);
    e->set_payload(payload);
  }

  std::string payload;
  if (!snap.SerializeToString(&payload)) {
    return Status::Internal("snapshot serialization failed (index larger than 2 GiB?)");
  }
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out.append(kMagic, 4);
  store::PutU32(&out, kFormatVersion);
  PutU64(&out, payload.size());
  store::PutU32(&out, store::MaskCrc(store::Crc32c(payload)));
  out += payload;
  return out;
}

Result<std::unique_ptr<Index>> Index::FromSnapshot(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) {
    return Status::Corruption(fmt::format(
        FMT_STRING("snapshot is truncated: {} bytes, the header alone takes 20"), bytes.size()));
  }
  if (bytes.substr(0, 4) != std::string_view(kMagic, 4)) {
    return Status::Corruption("not a foldback snapshot (bad magic)");
  }
  uint32_t version = store::GetU32(bytes, 1);
  if (version < kOldestFormatVersion || version > kFormatVersion) {
    return Status::NotSupported(fmt::format(
        FMT_STRING("snapshot format version {}; this build of foldback reads versions {} to {}"),
        version, kOldestFormatVersion, kFormatVersion));
  }
  uint64_t length = static_cast<uint64_t>(store::GetU32(bytes, 2)) |
                    static_cast<uint64_t>(store::GetU32(bytes, 3)) << 32;
  std::string_view payload = bytes.substr(kHeaderSize);
  if (payload.size() != length) {
    return Status::Corruption(fmt::format(
        FMT_STRING("snapshot is truncated or padded: header says {} payload bytes, found {}"),
        length, payload.size()));
  }
  if (store::UnmaskCrc(store::GetU32(bytes, 4)) != store::Crc32c(payload)) {
    return Status::Corruption("snapshot checksum mismatch: the bytes are damaged");
  }
  pb::Snapshot snap;
  if (!snap.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return Status::Corruption("snapshot payload does not parse");
  }
  if (snap.magic() != 0x4E534246u || snap.format_version() != version) {
    return Status::Corruption("snapshot payload header is inconsistent");
  }
  IndexOptions options;
  FB_RETURN_IF_ERROR(LoadOptions(snap.options(), &options));
  auto rep = std::make_unique<Rep>(options);
  Rep& r = *rep;
  r.docs.reserve(snap.documents_size());
  for (const pb::Document& pd : snap.documents()) {
    DocSlot slot;
    slot.live = true;
    slot.doc.id = pd.id();
    slot.doc.title = pd.title();
    slot.doc.text = pd.text();
    if (pd.kind() > 2) return Status::Corruption("snapshot document has an unknown kind");
    slot.doc.kind = static_cast<DocKind>(pd.kind());
    slot.doc.matter = pd.matter();
    slot.doc.parent_id = pd.parent_id();
    for (const pb::MetadataField& f : pd.metadata()) {
      slot.doc.metadata[f.name()] = std::vector<std::string>(f.values().begin(), f.values().end());
    }
    if (!r.doc_ids.emplace(slot.doc.id, static_cast<uint32_t>(r.docs.size())).second) {
      return Status::Corruption("snapshot holds document '" + slot.doc.id + "' twice");
    }
    r.text_bytes += slot.doc.text.size();
    r.docs.push_back(std::move(slot));
    r.IndexDocFields(static_cast<uint32_t>(r.docs.size() - 1));
  }
  r.chunks.reserve(snap.chunks_size());
  // Stored sketches of this build's scheme spare shingling every chunk.
  const std::string& sketches = snap.dup_sketches();
  const bool stored_sketches =
      snap.dup_sketch_scheme() == index::DupSketch::kScheme &&
      sketches.size() == static_cast<size_t>(snap.chunks_size()) * index::DupSketch::kEncodedSize;
  for (const pb::Chunk& pc : snap.chunks()) {
    if (pc.document() >= r.docs.size()) return Status::Corruption("snapshot chunk names no document");
    DocSlot& d = r.docs[pc.document()];
    if (pc.begin() > pc.end() || pc.end() > d.doc.text.size() || pc.role() > 2) {
      return Status::Corruption("snapshot chunk '" + pc.id() + "' is out of its document's bounds");
    }
    ChunkSlot c;
    c.live = true;
    c.doc = pc.document();
    c.has_vector = pc.has_vector();
    c.chunk.id = pc.id();
    c.chunk.doc_id = d.doc.id;
    c.chunk.begin = pc.begin();
    c.chunk.end = pc.end();
    c.chunk.text = d.doc.text.substr(pc.begin(), pc.end() - pc.begin());
    c.chunk.section = pc.section();
    c.chunk.role = static_cast<ChunkRole>(pc.role());
    c.sketch = stored_sketches ? index::DupSketch::Decode(
                                     sketches, r.chunks.size() * index::DupSketch::kEncodedSize)
                               : index::DupSketch::Of(c.chunk.text);
    uint32_t n = static_cast<uint32_t>(r.chunks.size());
    if (!r.chunk_ids.emplace(c.chunk.id, n).second) {
      return Status::Corruption("snapshot holds chunk '" + c.chunk.id + "' twice");
    }
    d.chunks.push_back(n);
    r.chunk_doc.push_back(c.doc);
    r.chunks.push_back(std::move(c));
  }
  r.live_docs = r.docs.size();
  r.live_chunks = r.chunks.size();
  const pb::Lexical& lex = snap.lexical();
  std::vector<std::string> terms(lex.terms().begin(), lex.terms().end());
  index::PositionData positions;
  if (version >= 2 && lex.has_positions()) {
    positions.present = true;
    positions.streams = lex.positions();
    positions.offsets = lex.position_offsets();
    positions.words.assign(lex.words().begin(), lex.words().end());
    positions.word_terms = lex.word_terms();
  }
  if (!r.lexical.Deserialize(terms, lex.offsets(), lex.postings(), lex.lengths(),
                             static_cast<uint32_t>(r.chunks.size()), &positions)) {
    return Status::Corruption("snapshot lexical index is inconsistent");
  }
  FB_RETURN_IF_ERROR(r.LoadDense(snap));
  for (const pb::Extension& e : snap.extensions()) r.extensions[e.name()] = e.payload();
  return std::unique_ptr<Index>(new Index(std::move(rep)));
}

}  // namespace foldback
