// Index <-> bytes. The envelope protects the protobuf payload against
// truncation and bit rot, which protobuf parsing alone does not detect.
// Format 4 (this build's):
//
//   offset  size  field
//   0       4     magic "FBSN"
//   4       4     format version (u32 LE)
//   8       n     payload: foldback.pb.Snapshot
//   8 + n   8     payload length n (u64 LE)
//   16 + n  4     masked CRC-32C of the payload (u32 LE)
//
// The length and checksum come last because the writer streams the payload
// to its host's SnapshotSink as it serializes it (Index::WriteSnapshot) and
// knows them only at the end; a sink need not seek (a C callback, a pipe).
// A reader checks the trailer against the bytes it was given before it
// parses anything, as before. Formats 1 to 3 put the same two fields in
// the header (offset 8: the u64 length, 16: the CRC, 20: the payload) and
// still load.
//
// The payload is written and read one top-level field at a time: each
// document, chunk, lexical piece (format 3, store/lexical_pieces.h) and
// dense piece (format 4: the HNSW graph's nodes, vectors and links by node
// range) is its own length-delimited field, so neither side holds a second
// copy of the corpus's text, postings or vectors in a protobuf message, and
// the payload is not limited to protobuf's 2 GiB per message (one document
// still is, and the near-duplicate sketches: 36 bytes a chunk, about 59
// million chunks). The bytes are exactly those of serializing the whole
// message; snapshots of formats 1 to 3, whose dense part is one message,
// load unchanged.
#include <algorithm>
#include <limits>

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include "embed/static_embedder.h"
#include "foldback/index.h"
#include "foldback/version.h"
#include "index/dense_index.h"
#include "index/index_internal.h"
#include "snapshot.pb.h"
#include "store/bytes.h"
#include "store/crc32c.h"
#include "store/field_writer.h"
#include "store/lexical_pieces.h"
#include "text/utf8.h"

namespace foldback {
namespace {

constexpr char kMagic[4] = {'F', 'B', 'S', 'N'};
// 2: word positions (phrases, proximity). 3: the lexical part in pieces,
// postings varint-coded. 4: the dense part in pieces, the length and
// checksum in a trailer. Versions 1 to 3 still load.
constexpr uint32_t kFormatVersion = 4;
constexpr uint32_t kOldestFormatVersion = 1;
constexpr uint32_t kFirstTrailerVersion = 4;
constexpr size_t kHeaderSize = 8;      // magic, version
constexpr size_t kOldHeaderSize = 20;  // formats 1-3: + length, CRC
constexpr size_t kTrailerSize = 12;    // format 4: length, CRC
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
  p->set_bm25_idf(static_cast<uint32_t>(o.bm25.idf));
  p->set_bm25_query_saturation(o.bm25.query_saturation);
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
  if (p.bm25_idf() > 1 || !(p.bm25_query_saturation() >= 0))
    return Status::Corruption("snapshot BM25 options are invalid");
  o->bm25.idf = static_cast<Bm25Idf>(p.bm25_idf());
  o->bm25.query_saturation = p.bm25_query_saturation();
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

// Snapshot's repeated fields written and read one element at a time.
constexpr uint32_t kDocumentsField = 5;
constexpr uint32_t kChunksField = 6;
constexpr uint32_t kDupSketchesField = 11;
constexpr uint32_t kDensePiecesField = 19;
constexpr uint32_t kLengthDelimited = 2;

// One top-level field of a payload: its number and the bytes of the whole
// field (tag included), or of its value alone for a length-delimited one.
struct RawField {
  uint32_t number = 0;
  std::string_view whole;
  std::string_view value;  // length-delimited fields only
  bool delimited = false;
};

// Reads the field starting at `pos` (the tag and, for a length-delimited
// field, its length through protobuf's own reader). False when the bytes
// are not a well-formed field.
bool NextField(std::string_view payload, size_t pos, RawField* f) {
  const std::string_view rest = payload.substr(pos);
  // A tag and a length take at most 15 bytes; the reader sees no more, so
  // the 2 GiB limit of one CodedInputStream never applies to the payload.
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(rest.data()),
                                            static_cast<int>(std::min<size_t>(rest.size(), 15)));
  const uint32_t tag = in.ReadTag();
  if (tag == 0) return false;
  f->number = tag >> 3;
  size_t value_begin = 0;
  size_t end = 0;
  switch (tag & 7) {
    case 0: {  // varint
      uint64_t v;
      if (!in.ReadVarint64(&v)) return false;
      end = static_cast<size_t>(in.CurrentPosition());
      break;
    }
    case 1:  // fixed64
      end = static_cast<size_t>(in.CurrentPosition()) + 8;
      break;
    case 5:  // fixed32
      end = static_cast<size_t>(in.CurrentPosition()) + 4;
      break;
    case kLengthDelimited: {
      uint64_t length;
      if (!in.ReadVarint64(&length)) return false;
      value_begin = static_cast<size_t>(in.CurrentPosition());
      if (length > rest.size() - value_begin) return false;
      end = value_begin + static_cast<size_t>(length);
      f->value = rest.substr(value_begin, static_cast<size_t>(length));
      f->delimited = true;
      break;
    }
    default:  // groups: never written by foldback
      return false;
  }
  if (end > rest.size()) return false;
  f->whole = rest.substr(0, end);
  return true;
}

bool ParseValue(std::string_view bytes, google::protobuf::MessageLite* m) {
  return bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
         m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

}  // namespace

namespace {

// Snapshot() as a sink: the bytes appended to one string.
class StringSink : public SnapshotSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  Status Append(std::string_view bytes) override {
    out_->append(bytes);
    return Status::OK();
  }

 private:
  std::string* out_;
};

}  // namespace

Status Index::WriteSnapshot(SnapshotSink& sink) const {
  const Rep& r = *rep_;
  const size_t piece_bytes = r.snapshot_piece_bytes ? r.snapshot_piece_bytes : store::kPieceBytes;
  // Chunk numbers as written: live chunks, document by document.
  std::vector<uint32_t> renumber(r.chunks.size(), kDropped);
  uint32_t next_chunk = 0;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    for (uint32_t c : d.chunks) renumber[c] = next_chunk++;
  }

  std::string header;
  header.append(kMagic, 4);
  store::PutU32(&header, kFormatVersion);
  FB_RETURN_IF_ERROR(sink.Append(header));

  // Fields 1-4, then each document (5), each chunk (6), the fields from 7
  // to 15 (`tail`), the lexical pieces (16-18) and the dense pieces (19):
  // the order in which protobuf serializes a whole Snapshot.
  // The sink is given a few MiB at a time (tests' small pieces: a piece).
  store::FieldWriter out(&sink, std::min(piece_bytes, store::FieldWriter::kFlushBytes));
  pb::Snapshot head;
  head.set_magic(0x4E534246u);
  head.set_format_version(kFormatVersion);
  head.set_library_version(FOLDBACK_VERSION_STRING);
  SaveOptions(r.options, head.mutable_options());
  FB_RETURN_IF_ERROR(out.AppendFields(head, "the snapshot header"));

  pb::Document pd;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    pd.Clear();
    pd.set_id(d.doc.id);
    pd.set_title(d.doc.title);
    pd.set_text(d.doc.text);
    pd.set_kind(static_cast<uint32_t>(d.doc.kind));
    pd.set_matter(d.doc.matter);
    pd.set_parent_id(d.doc.parent_id);
    for (const auto& [name, values] : d.doc.metadata) {
      pb::MetadataField* f = pd.add_metadata();
      f->set_name(name);
      for (const auto& v : values) f->add_values(v);
    }
    Status s = out.AppendField(kDocumentsField, pd, "a document");
    if (!s.ok()) return s.WithContext("document '" + d.doc.id + "'");
  }
  uint32_t next_doc = 0;
  pb::Chunk pc;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    for (uint32_t c : d.chunks) {
      const ChunkSlot& cs = r.chunks[c];
      pc.Clear();
      pc.set_id(cs.chunk.id);
      pc.set_document(next_doc);
      pc.set_begin(cs.chunk.begin);
      pc.set_end(cs.chunk.end);
      pc.set_section(cs.chunk.section);
      pc.set_role(static_cast<uint32_t>(cs.chunk.role));
      pc.set_has_vector(cs.has_vector);
      Status s = out.AppendField(kChunksField, pc, "a chunk");
      if (!s.ok()) return s.WithContext("chunk '" + cs.chunk.id + "'");
    }
    ++next_doc;
  }

  // Fields 7 to 15: the lexical part's counts, the dense part's header,
  // the embedders, then the sketches — streamed (36 bytes a chunk: 360 MB
  // at 10 million chunks, which a message would hold twice) —, their
  // scheme and the extensions.
  const index::LexicalIndex::SnapshotPlan plan = r.lexical.PlanSnapshot(renumber);
  {
    pb::Snapshot tail;
    store::WriteLexicalHeader(plan, tail.mutable_lexical());
    r.SaveDense(&tail);
    FB_RETURN_IF_ERROR(out.AppendFields(tail, "the snapshot's embedders"));
  }
  // (An empty bytes field is not written, as protobuf leaves it out.)
  if (next_chunk > 0) {
    FB_RETURN_IF_ERROR(out.BeginBytesField(kDupSketchesField,
                                           uint64_t{next_chunk} * index::DupSketch::kEncodedSize));
  }
  std::string sketches;
  for (const DocSlot& d : r.docs) {
    if (!d.live) continue;
    for (uint32_t c : d.chunks) r.chunks[c].sketch.AppendTo(&sketches);
    if (sketches.size() >= std::min(piece_bytes, store::FieldWriter::kFlushBytes)) {
      FB_RETURN_IF_ERROR(out.AppendRaw(sketches));
      sketches.clear();
    }
  }
  FB_RETURN_IF_ERROR(out.AppendRaw(sketches));
  {
    pb::Snapshot tail;
    tail.set_dup_sketch_scheme(index::DupSketch::kScheme);
    for (const auto& [name, payload] : r.extensions) {
      pb::Extension* e = tail.add_extensions();
      e->set_name(name);
      e->set_payload(payload);
    }
    FB_RETURN_IF_ERROR(out.AppendFields(tail, "the snapshot's extensions"));
  }
  FB_RETURN_IF_ERROR(store::AppendLexicalPieces(r.lexical, plan, renumber, piece_bytes, &out));
  if (r.dense) {
    index::DenseIndex::PieceCursor cursor;
    pb::DensePiece piece;
    while (r.dense->SerializePiece(renumber, piece_bytes, &cursor, &piece)) {
      FB_RETURN_IF_ERROR(out.AppendField(kDensePiecesField, piece, "a dense piece"));
    }
  }
  FB_RETURN_IF_ERROR(out.Flush());

  std::string trailer;
  PutU64(&trailer, out.length());
  store::PutU32(&trailer, store::MaskCrc(out.crc()));
  return sink.Append(trailer);
}

Result<std::string> Index::Snapshot() const {
  const Rep& r = *rep_;
  // Reserved once from the index's sizes, so that the string is not grown
  // by doubling (which copied and page-faulted the whole snapshot several
  // times over): the text plus an allowance for ids, titles, metadata and
  // sections, a few bytes a posting, the word streams, the vectors and
  // graph. Pages reserved and never written cost no memory; past the
  // estimate the string grows as usual.
  const size_t estimate = kHeaderSize + kTrailerSize + 4096 + r.text_bytes + r.live_docs * 1024 +
                          r.live_chunks * (256 + index::DupSketch::kEncodedSize) +
                          r.lexical.posting_count() * 4 + r.lexical.position_bytes() +
                          r.lexical.term_count() * 24 + r.lexical.surface_word_count() * 16 +
                          (r.dense ? r.dense->memory_bytes() : 0);
  std::string out;
  out.reserve(estimate);
  StringSink sink(&out);
  FB_RETURN_IF_ERROR(WriteSnapshot(sink));
  return out;
}

Result<std::unique_ptr<Index>> Index::FromSnapshot(std::string_view bytes) {
  // Every format's envelope takes 20 bytes (header, or header + trailer):
  // anything shorter is cut, whatever its version field says.
  if (bytes.size() < kOldHeaderSize) {
    return Status::Corruption(fmt::format(
        FMT_STRING("snapshot is truncated: {} bytes, the envelope alone takes 20"), bytes.size()));
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
  // The length and CRC: after the payload (format 4), or in the header.
  const bool trailer = version >= kFirstTrailerVersion;
  const size_t overhead = trailer ? kHeaderSize + kTrailerSize : kOldHeaderSize;
  static_assert(kHeaderSize + kTrailerSize == kOldHeaderSize);
  const std::string_view sums =
      trailer ? bytes.substr(bytes.size() - kTrailerSize) : bytes.substr(8);
  uint64_t length = static_cast<uint64_t>(store::GetU32(sums, 0)) |
                    static_cast<uint64_t>(store::GetU32(sums, 1)) << 32;
  std::string_view payload =
      trailer ? bytes.substr(kHeaderSize, bytes.size() - overhead) : bytes.substr(kOldHeaderSize);
  if (payload.size() != length) {
    return Status::Corruption(fmt::format(
        FMT_STRING("snapshot is truncated or padded: its envelope says {} payload bytes, found {}"),
        length, payload.size()));
  }
  if (store::UnmaskCrc(store::GetU32(sums, 2)) != store::Crc32c(payload)) {
    return Status::Corruption("snapshot checksum mismatch: the bytes are damaged");
  }
  // Documents and chunks are read one at a time below; every other field is
  // merged into `snap` as protobuf would parse it.
  pb::Snapshot snap;
  std::vector<std::string_view> doc_fields;
  std::vector<std::string_view> chunk_fields;
  store::LexicalPieceFields lexical_pieces;
  std::vector<std::string_view> dense_pieces;
  std::string_view sketches;  // read in place, not copied into `snap`
  for (size_t pos = 0; pos < payload.size();) {
    RawField f;
    if (!NextField(payload, pos, &f)) return Status::Corruption("snapshot payload does not parse");
    pos += f.whole.size();
    if (f.number == kDocumentsField && f.delimited) {
      doc_fields.push_back(f.value);
    } else if (f.number == kChunksField && f.delimited) {
      chunk_fields.push_back(f.value);
    } else if (f.number == store::kLexicalTermsField && f.delimited) {
      lexical_pieces.terms.push_back(f.value);
    } else if (f.number == store::kLexicalChunksField && f.delimited) {
      lexical_pieces.chunks.push_back(f.value);
    } else if (f.number == store::kLexicalWordsField && f.delimited) {
      lexical_pieces.words.push_back(f.value);
    } else if (f.number == kDensePiecesField && f.delimited) {
      dense_pieces.push_back(f.value);
    } else if (f.number == kDupSketchesField && f.delimited) {
      sketches = f.value;  // a bytes field: the last one read wins, as protobuf's
    } else {
      if (f.whole.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
        return Status::Corruption("snapshot payload does not parse");
      }
      google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(f.whole.data()),
                                                static_cast<int>(f.whole.size()));
      if (!snap.MergeFromCodedStream(&in)) {
        return Status::Corruption("snapshot payload does not parse");
      }
    }
  }
  if (snap.magic() != 0x4E534246u || snap.format_version() != version) {
    return Status::Corruption("snapshot payload header is inconsistent");
  }
  IndexOptions options;
  FB_RETURN_IF_ERROR(LoadOptions(snap.options(), &options));
  auto rep = std::make_unique<Rep>(options);
  Rep& r = *rep;
  r.docs.reserve(doc_fields.size());
  pb::Document pd;
  for (std::string_view field : doc_fields) {
    if (!ParseValue(field, &pd)) return Status::Corruption("snapshot document does not parse");
    DocSlot slot;
    slot.live = true;
    slot.doc.id = std::move(*pd.mutable_id());
    slot.doc.title = std::move(*pd.mutable_title());
    slot.doc.text = std::move(*pd.mutable_text());
    PinText(&slot.doc.text);  // its chunks view it in place
    if (pd.kind() > 2) return Status::Corruption("snapshot document has an unknown kind");
    slot.doc.kind = static_cast<DocKind>(pd.kind());
    slot.doc.matter = std::move(*pd.mutable_matter());
    slot.doc.parent_id = std::move(*pd.mutable_parent_id());
    for (pb::MetadataField& f : *pd.mutable_metadata()) {
      slot.doc.metadata[f.name()] =
          std::vector<std::string>(std::make_move_iterator(f.mutable_values()->begin()),
                                   std::make_move_iterator(f.mutable_values()->end()));
    }
    if (!r.doc_ids.emplace(slot.doc.id, static_cast<uint32_t>(r.docs.size())).second) {
      return Status::Corruption("snapshot holds document '" + slot.doc.id + "' twice");
    }
    r.text_bytes += slot.doc.text.size();
    r.docs.push_back(std::move(slot));
    r.IndexDocFields(static_cast<uint32_t>(r.docs.size() - 1));
  }
  r.chunks.reserve(chunk_fields.size());
  // Stored sketches of this build's scheme spare shingling every chunk.
  const bool stored_sketches =
      snap.dup_sketch_scheme() == index::DupSketch::kScheme &&
      sketches.size() == chunk_fields.size() * index::DupSketch::kEncodedSize;
  pb::Chunk pc;
  for (std::string_view field : chunk_fields) {
    if (!ParseValue(field, &pc)) return Status::Corruption("snapshot chunk does not parse");
    if (pc.document() >= r.docs.size()) return Status::Corruption("snapshot chunk names no document");
    DocSlot& d = r.docs[pc.document()];
    if (pc.begin() > pc.end() || pc.end() > d.doc.text.size() || pc.role() > 2) {
      return Status::Corruption("snapshot chunk '" + pc.id() + "' is out of its document's bounds");
    }
    ChunkSlot c;
    c.live = true;
    c.doc = pc.document();
    c.has_vector = pc.has_vector();
    c.chunk.id = std::move(*pc.mutable_id());
    c.chunk.doc_id = d.doc.id;
    c.chunk.begin = pc.begin();
    c.chunk.end = pc.end();
    c.chunk.text = std::string_view(d.doc.text).substr(pc.begin(), pc.end() - pc.begin());
    c.chunk.section = std::move(*pc.mutable_section());
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
  const bool pieces = !lexical_pieces.terms.empty() || !lexical_pieces.chunks.empty() ||
                      !lexical_pieces.words.empty();
  const bool whole = lex.terms_size() > 0 || !lex.offsets().empty() || !lex.postings().empty() ||
                     !lex.lengths().empty() || !lex.positions().empty() || lex.words_size() > 0;
  if (version >= 3) {
    if (whole)
      return Status::Corruption("snapshot lexical part holds format 2's arrays in format 3");
    FB_RETURN_IF_ERROR(store::LoadLexicalPieces(
        lex, lexical_pieces, static_cast<uint32_t>(r.chunks.size()), &r.lexical));
  } else {
    if (pieces)
      return Status::Corruption("snapshot of format 2 or earlier holds format 3's lexical pieces");
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
  }
  FB_RETURN_IF_ERROR(r.LoadDense(snap, dense_pieces, version >= 4));
  for (const pb::Extension& e : snap.extensions()) r.extensions[e.name()] = e.payload();
  return std::unique_ptr<Index>(new Index(std::move(rep)));
}

}  // namespace foldback
