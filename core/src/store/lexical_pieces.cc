// Format 3's lexical pieces (lexical_pieces.h; the layout is described in
// core/proto/snapshot.proto).
#include "store/lexical_pieces.h"

#include <limits>
#include <utility>

#include <google/protobuf/io/coded_stream.h>

#include "snapshot.pb.h"

namespace foldback::store {
namespace {

constexpr uint32_t kDrop = std::numeric_limits<uint32_t>::max();

void PutVarint(uint64_t v, std::string* out) {
  uint8_t buf[10];
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

// Reads a varint of at most 64 bits from the front of *in. False when the
// bytes end inside it or it runs past 10 bytes.
bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (size_t i = 0; i < in->size() && i < 10; ++i) {
    const uint8_t b = static_cast<uint8_t>((*in)[i]);
    result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      if (i == 9 && b > 1) return false;  // past 64 bits
      in->remove_prefix(i + 1);
      *v = result;
      return true;
    }
  }
  return false;
}

bool GetVarint32(std::string_view* in, uint32_t* v) {
  uint64_t wide;
  if (!GetVarint(in, &wide) || wide > std::numeric_limits<uint32_t>::max()) return false;
  *v = static_cast<uint32_t>(wide);
  return true;
}

bool ParsePiece(std::string_view bytes, google::protobuf::MessageLite* m) {
  return bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
         m->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

Status Corrupt(const std::string& what) { return Status::Corruption("snapshot lexical " + what); }

}  // namespace

namespace {

// One posting of a slice: `gap` as the format defines it, then its tf.
void PutPosting(uint64_t gap, uint32_t tf, std::string* out) {
  PutVarint(gap << 1 | (tf > 1 ? 1 : 0), out);
  if (tf > 1) PutVarint(tf - 2, out);
}

}  // namespace

void EncodePostings(const index::Posting* postings, size_t n, std::string* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t gap =
        i == 0 ? postings[i].chunk : uint64_t{postings[i].chunk} - postings[i - 1].chunk - 1;
    PutPosting(gap, postings[i].tf, out);
  }
}

bool DecodePostings(std::string_view* in, size_t n, std::vector<index::Posting>* out) {
  uint64_t chunk = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t v;
    if (!GetVarint(in, &v)) return false;
    chunk = i == 0 ? v >> 1 : chunk + 1 + (v >> 1);
    uint64_t tf = 1;
    if (v & 1) {
      if (!GetVarint(in, &tf) || tf > std::numeric_limits<uint32_t>::max() - 2) return false;
      tf += 2;
    }
    if (chunk > std::numeric_limits<uint32_t>::max()) return false;
    out->push_back({static_cast<uint32_t>(chunk), static_cast<uint32_t>(tf)});
  }
  return true;
}

void WriteLexicalHeader(const index::LexicalIndex::SnapshotPlan& plan, pb::Lexical* lexical) {
  lexical->set_has_positions(plan.positions);
  lexical->set_term_count(static_cast<uint32_t>(plan.terms.size()));
  lexical->set_posting_count(plan.postings);
  lexical->set_word_count(plan.words);
}

Status AppendLexicalPieces(const index::LexicalIndex& lexical,
                           const index::LexicalIndex::SnapshotPlan& plan,
                           const std::vector<uint32_t>& renumber, size_t piece_bytes,
                           FieldWriter* out) {
  auto emit = [&](uint32_t field, google::protobuf::MessageLite* piece) -> Status {
    FB_RETURN_IF_ERROR(out->AppendField(field, *piece, "a lexical piece"));
    piece->Clear();
    return Status::OK();
  };

  // In field order (16, 17, 18), as protobuf writes a whole message.
  // Terms and their postings, by term range; a list that does not fit in
  // what is left of a piece is cut and goes on in the next.
  pb::LexicalTerms terms;
  size_t used = 0;  // bytes in `terms` so far
  std::vector<index::Posting> list;
  std::string slice;
  for (uint32_t id : plan.terms) {
    lexical.SnapshotPostings(id, renumber, &list);
    const std::string& term = lexical.term(id);
    size_t i = 0;
    bool continued = false;
    while (i < list.size()) {
      if (used >= piece_bytes) {
        FB_RETURN_IF_ERROR(emit(kLexicalTermsField, &terms));
        used = 0;
      }
      if (terms.terms_size() == 0 && continued) terms.set_continues(true);
      // At least one posting per slice, then as many as the piece takes.
      size_t end = i + 1;
      slice.clear();
      PutPosting(list[i].chunk, list[i].tf, &slice);
      while (end < list.size() && used + term.size() + slice.size() < piece_bytes) {
        PutPosting(uint64_t{list[end].chunk} - list[end - 1].chunk - 1, list[end].tf, &slice);
        ++end;
      }
      terms.add_terms(term);
      PutVarint(end - i, terms.mutable_postings());
      terms.mutable_postings()->append(slice);
      used += term.size() + slice.size() + 8;
      i = end;
      continued = true;
    }
  }
  if (terms.terms_size() > 0) FB_RETURN_IF_ERROR(emit(kLexicalTermsField, &terms));

  // Chunks: lengths and word streams, by chunk range.
  pb::LexicalChunks chunks;
  uint32_t in_piece = 0;
  std::string stream;
  for (uint32_t s = 0; s < plan.chunks.size(); ++s) {
    const uint32_t c = plan.chunks[s];
    if (in_piece == 0) chunks.set_first_chunk(s);
    PutVarint(c == kDrop ? 0 : lexical.length(c), chunks.mutable_lengths());
    if (plan.positions) {
      stream.clear();
      if (c != kDrop) lexical.SnapshotStream(c, plan, &stream);
      PutVarint(stream.size(), chunks.mutable_streams());
      chunks.mutable_streams()->append(stream);
    }
    chunks.set_chunk_count(++in_piece);
    if (chunks.lengths().size() + chunks.streams().size() >= piece_bytes) {
      FB_RETURN_IF_ERROR(emit(kLexicalChunksField, &chunks));
      in_piece = 0;
    }
  }
  if (in_piece > 0) FB_RETURN_IF_ERROR(emit(kLexicalChunksField, &chunks));

  // The surface dictionary, by word range.
  if (plan.positions) {
    pb::LexicalWords words;
    used = 0;
    for (const auto& [word, t] : lexical.surface_words()) {
      if (t >= plan.term_renumber.size() || plan.term_renumber[t] == kDrop) continue;
      words.add_words(word);
      PutVarint(plan.term_renumber[t], words.mutable_terms());
      used += word.size() + 8;
      if (used >= piece_bytes) {
        FB_RETURN_IF_ERROR(emit(kLexicalWordsField, &words));
        used = 0;
      }
    }
    if (words.words_size() > 0) FB_RETURN_IF_ERROR(emit(kLexicalWordsField, &words));
  }
  return Status::OK();
}

Status LoadLexicalPieces(const pb::Lexical& header, const LexicalPieceFields& pieces,
                         uint32_t chunk_count, index::LexicalIndex* lexical) {
  const bool positions = header.has_positions();
  const uint32_t term_count = header.term_count();
  lexical->BeginLoad(chunk_count, positions);

  // Chunks first: the terms' shortest-chunk bounds need the lengths.
  pb::LexicalChunks chunks;
  uint32_t next_chunk = 0;
  for (std::string_view field : pieces.chunks) {
    if (!ParsePiece(field, &chunks)) return Corrupt("chunk piece does not parse");
    if (chunks.first_chunk() != next_chunk || chunks.chunk_count() > chunk_count - next_chunk) {
      return Corrupt("chunk pieces do not follow each other");
    }
    std::string_view lengths = chunks.lengths();
    std::string_view streams = chunks.streams();
    if (!positions && !streams.empty()) return Corrupt("chunk piece has streams without positions");
    for (uint32_t i = 0; i < chunks.chunk_count(); ++i, ++next_chunk) {
      uint32_t length;
      if (!GetVarint32(&lengths, &length)) return Corrupt("chunk lengths are truncated");
      lexical->LoadLength(next_chunk, length);
      if (!positions) continue;
      uint64_t size;
      if (!GetVarint(&streams, &size) || size > streams.size()) {
        return Corrupt("word streams are truncated");
      }
      if (!lexical->LoadStream(next_chunk, streams.substr(0, size), term_count)) {
        return Corrupt("word stream does not decode");
      }
      streams.remove_prefix(size);
    }
    if (!lengths.empty() || !streams.empty()) return Corrupt("chunk piece has trailing bytes");
  }
  if (next_chunk != chunk_count) return Corrupt("chunk pieces cover the wrong number of chunks");

  pb::LexicalTerms terms;
  uint64_t postings = 0;
  std::vector<index::Posting> list;
  const std::string* last_term = nullptr;  // the previous piece's, for `continues`
  std::string last;
  for (std::string_view field : pieces.terms) {
    if (!ParsePiece(field, &terms)) return Corrupt("term piece does not parse");
    std::string_view bytes = terms.postings();
    for (int i = 0; i < terms.terms_size(); ++i) {
      uint64_t n;
      if (!GetVarint(&bytes, &n) || n == 0 || n > bytes.size()) {
        return Corrupt("postings are truncated");
      }
      list.clear();
      list.reserve(static_cast<size_t>(n));
      if (!DecodePostings(&bytes, static_cast<size_t>(n), &list))
        return Corrupt("postings are truncated");
      postings += n;
      const bool continues = i == 0 && terms.continues();
      if (continues) {
        if (!last_term || *last_term != terms.terms(0) || !lexical->ExtendLastTerm(list)) {
          return Corrupt("a continued posting list does not follow its start");
        }
        continue;
      }
      if (!lexical->LoadTerm(std::move(*terms.mutable_terms(i)), std::move(list))) {
        return Corrupt(
            "postings are inconsistent (a repeated term, or chunks out of order or range)");
      }
      list = std::vector<index::Posting>();
    }
    if (!bytes.empty()) return Corrupt("term piece has trailing bytes");
    if (terms.terms_size() > 0) {
      last = lexical->term(static_cast<uint32_t>(lexical->term_count() - 1));
      last_term = &last;
    }
  }
  if (lexical->term_count() != term_count || postings != header.posting_count()) {
    return Corrupt("term pieces disagree with the header's counts");
  }

  pb::LexicalWords words;
  uint64_t word_count = 0;
  for (std::string_view field : pieces.words) {
    if (!positions) return Corrupt("surface words without positions");
    if (!ParsePiece(field, &words)) return Corrupt("word piece does not parse");
    std::string_view ids = words.terms();
    for (std::string& w : *words.mutable_words()) {
      uint32_t t;
      if (!GetVarint32(&ids, &t) || !lexical->LoadWord(std::move(w), t)) {
        return Corrupt("surface word names no term");
      }
    }
    if (!ids.empty()) return Corrupt("word piece has trailing bytes");
    word_count += static_cast<uint64_t>(words.words_size());
  }
  if (word_count != header.word_count())
    return Corrupt("word pieces disagree with the header's count");
  lexical->FinishLoad();
  return Status::OK();
}

}  // namespace foldback::store
