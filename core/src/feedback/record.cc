// Feedback records and tombstones: validation, protobuf conversion, ratings.
#include <cstring>
#include <string>

#include <google/protobuf/arena.h>

#include <fmt/format.h>

#include "feedback.pb.h"
#include "feedback/record_internal.h"
#include "foldback/feedback.h"
#include "text/utf8.h"

namespace foldback {
namespace {

// ASCII without NUL, eight bytes at a time: the common case, and valid UTF-8.
bool PlainAscii(std::string_view v) {
  constexpr uint64_t kHigh = 0x8080808080808080ull, kOnes = 0x0101010101010101ull;
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, v.data() + i, 8);
    if ((w & kHigh) || ((w - kOnes) & ~w & kHigh)) return false;  // high bit, or a zero byte
  }
  for (; i < v.size(); ++i) {
    if (v[i] == 0 || static_cast<unsigned char>(v[i]) >= 0x80) return false;
  }
  return true;
}

Status CheckText(std::string_view field, std::string_view value, size_t limit) {
  if (value.size() > limit) {
    return Status::OutOfRange(fmt::format(FMT_STRING("{} is {} bytes; the limit is {}"),
                                          std::string(field), value.size(), limit));
  }
  if (!PlainAscii(value) && !text::IsValidUtf8(value)) {
    return Status::InvalidArgument(std::string(field) + " is not valid UTF-8 (or holds NUL bytes)");
  }
  return Status::OK();
}

Status CheckCount(std::string_view field, size_t n) {
  if (n > FeedbackLimits::kMaxItems) {
    return Status::OutOfRange(fmt::format(FMT_STRING("{} has {} items; the limit is {}"),
                                          std::string(field), n, FeedbackLimits::kMaxItems));
  }
  return Status::OK();
}

constexpr size_t kText = FeedbackLimits::kMaxTextBytes;
constexpr size_t kName = FeedbackLimits::kMaxNameBytes;

}  // namespace

const char* PassageLabelName(PassageLabel label) {
  switch (label) {
    case PassageLabel::kRelevant:
      return "relevant";
    case PassageLabel::kPartly:
      return "partly";
    case PassageLabel::kNotRelevant:
      return "not_relevant";
  }
  return "unknown";
}

Result<Rating> Rating::Parse(std::string_view text) {
  if (text == "up") return Rating::Up();
  if (text == "down") return Rating::Down();
  if (text.size() == 1 && text[0] >= '1' && text[0] <= '5') return Rating::Stars(text[0] - '0');
  return Status::InvalidArgument("rating must be up, down or 1..5, not '" +
                                 std::string(text.substr(0, 40)) + "'");
}

bool Rating::positive() const {
  return (kind == Kind::kThumbs && value > 0) || (kind == Kind::kStars && value >= 4);
}

bool Rating::negative() const {
  return (kind == Kind::kThumbs && value < 0) || (kind == Kind::kStars && value > 0 && value <= 2);
}

std::string Rating::ToString() const {
  switch (kind) {
    case Kind::kNone:
      return "";
    case Kind::kThumbs:
      return value > 0 ? "up" : "down";
    case Kind::kStars:
      return fmt::to_string(value);
  }
  return "";
}

Status ValidateFeedbackRecord(const FeedbackRecord& r) {
  if (r.version != FeedbackRecord::kCurrentVersion) {
    return Status::NotSupported(
        fmt::format(FMT_STRING("record version {} (this build writes version {})"), r.version,
                    FeedbackRecord::kCurrentVersion));
  }
  if (r.record_id.empty()) return Status::InvalidArgument("record_id is empty");
  if (r.trace_id.empty()) return Status::InvalidArgument("trace_id is empty");
  FB_RETURN_IF_ERROR(CheckText("record_id", r.record_id, kName));
  FB_RETURN_IF_ERROR(CheckText("trace_id", r.trace_id, kName));
  FB_RETURN_IF_ERROR(CheckText("user", r.user, kName));
  FB_RETURN_IF_ERROR(CheckText("matter", r.matter, kName));
  FB_RETURN_IF_ERROR(CheckText("question", r.question, kText));
  FB_RETURN_IF_ERROR(CheckText("answer", r.answer, kText));
  FB_RETURN_IF_ERROR(CheckText("critique", r.critique, kText));
  FB_RETURN_IF_ERROR(CheckText("corrected_answer", r.corrected_answer, kText));
  FB_RETURN_IF_ERROR(CheckText("preferred_rewrite", r.preferred_rewrite, kText));
  FB_RETURN_IF_ERROR(CheckText("program_version", r.program_version, kName));
  FB_RETURN_IF_ERROR(CheckText("model", r.model, kName));
  FB_RETURN_IF_ERROR(CheckCount("hop_queries", r.hop_queries.size()));
  for (const auto& q : r.hop_queries) FB_RETURN_IF_ERROR(CheckText("hop query", q, kText));
  FB_RETURN_IF_ERROR(CheckCount("results", r.results.size()));
  for (const auto& s : r.results) {
    if (s.chunk_id.empty()) return Status::InvalidArgument("a shown result has no chunk_id");
    FB_RETURN_IF_ERROR(CheckText("result chunk_id", s.chunk_id, kName));
    FB_RETURN_IF_ERROR(CheckText("result doc_id", s.doc_id, kName));
    FB_RETURN_IF_ERROR(CheckText("result text_hash", s.text_hash, kName));
    FB_RETURN_IF_ERROR(CheckText("result matter", s.matter, kName));
  }
  FB_RETURN_IF_ERROR(CheckCount("labels", r.labels.size()));
  for (const auto& l : r.labels) {
    if (l.chunk_id.empty()) return Status::InvalidArgument("a passage label has no chunk_id");
    FB_RETURN_IF_ERROR(CheckText("label chunk_id", l.chunk_id, kName));
    int v = static_cast<int>(l.label);
    if (v < 1 || v > 3) {
      return Status::InvalidArgument(fmt::format(FMT_STRING("passage label {} is not 1..3"), v));
    }
  }
  FB_RETURN_IF_ERROR(CheckCount("filters", r.filters.size()));
  for (const Filter& f : r.filters) {
    if (f.field.empty()) return Status::InvalidArgument("a filter has no field");
    FB_RETURN_IF_ERROR(CheckText("filter field", f.field, kName));
    FB_RETURN_IF_ERROR(CheckText("filter value", f.value, kName));
    int op = static_cast<int>(f.op);
    if (op < 0 || op > 2) {
      return Status::InvalidArgument(fmt::format(FMT_STRING("filter operator {} is not 0..2"), op));
    }
  }
  FB_RETURN_IF_ERROR(CheckCount("tags", r.tags.size()));
  for (const auto& t : r.tags) FB_RETURN_IF_ERROR(CheckText("tag", t, kName));
  FB_RETURN_IF_ERROR(CheckCount("replaces", r.replaces.size()));
  for (const auto& id : r.replaces) {
    if (id.empty()) return Status::InvalidArgument("replaces holds an empty record id");
    if (id == r.record_id) return Status::InvalidArgument("a record cannot replace itself");
    FB_RETURN_IF_ERROR(CheckText("replaces", id, kName));
  }
  switch (r.rating.kind) {
    case Rating::Kind::kNone:
      if (r.rating.value != 0) return Status::InvalidArgument("rating value without a rating kind");
      break;
    case Rating::Kind::kThumbs:
      if (r.rating.value != 1 && r.rating.value != -1) {
        return Status::InvalidArgument("a thumbs rating is +1 or -1");
      }
      break;
    case Rating::Kind::kStars:
      if (r.rating.value < 1 || r.rating.value > 5) {
        return Status::InvalidArgument("a star rating is 1..5");
      }
      break;
    default:
      return Status::InvalidArgument("unknown rating kind");
  }
  return Status::OK();
}

Status ValidateTombstone(const Tombstone& t) {
  if (t.version != Tombstone::kCurrentVersion) {
    return Status::NotSupported(fmt::format(FMT_STRING("tombstone version {}"), t.version));
  }
  if (t.record_id.empty() == t.matter.empty()) {
    return Status::InvalidArgument("a tombstone names exactly one of a record id and a matter");
  }
  FB_RETURN_IF_ERROR(CheckText("record_id", t.record_id, kName));
  FB_RETURN_IF_ERROR(CheckText("matter", t.matter, kName));
  FB_RETURN_IF_ERROR(CheckText("user", t.user, kName));
  return Status::OK();
}

std::string FeedbackTextHash(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  static const char* kHex = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) out[static_cast<size_t>(i)] = kHex[h & 0xF];
  return out;
}

namespace {

void ToProto(const FeedbackRecord& r, pb::FeedbackRecord* p) {
  p->set_version(r.version);
  p->set_record_id(r.record_id);
  p->set_trace_id(r.trace_id);
  p->set_time_ms(r.time_ms);
  p->set_user(r.user);
  p->set_matter(r.matter);
  p->set_question(r.question);
  for (const auto& q : r.hop_queries) p->add_hop_queries(q);
  for (const auto& s : r.results) {
    pb::ShownResult* o = p->add_results();
    o->set_chunk_id(s.chunk_id);
    o->set_doc_id(s.doc_id);
    o->set_rank(s.rank);
    o->set_score(s.score);
    o->set_text_hash(s.text_hash);
    o->set_matter(s.matter);
  }
  p->set_answer(r.answer);
  if (r.rating.kind != Rating::Kind::kNone) {
    p->mutable_rating()->set_kind(static_cast<uint32_t>(r.rating.kind));
    p->mutable_rating()->set_value(r.rating.value);
  }
  for (const auto& l : r.labels) {
    pb::PassageLabel* o = p->add_labels();
    o->set_chunk_id(l.chunk_id);
    o->set_label(static_cast<uint32_t>(l.label));
  }
  p->set_critique(r.critique);
  p->set_corrected_answer(r.corrected_answer);
  p->set_preferred_rewrite(r.preferred_rewrite);
  for (const auto& t : r.tags) p->add_tags(t);
  p->set_consent_to_train(r.consent_to_train);
  p->set_privileged(r.privileged);
  p->set_program_version(r.program_version);
  p->set_model(r.model);
  for (const Filter& f : r.filters) {
    pb::SearchFilter* o = p->add_filters();
    o->set_field(f.field);
    o->set_op(static_cast<uint32_t>(f.op));
    o->set_value(f.value);
  }
  for (const auto& id : r.replaces) p->add_replaces(id);
}

void FromProto(const pb::FeedbackRecord& p, FeedbackRecord* r) {
  r->version = p.version();
  r->record_id = p.record_id();
  r->trace_id = p.trace_id();
  r->time_ms = p.time_ms();
  r->user = p.user();
  r->matter = p.matter();
  r->question = p.question();
  r->hop_queries.assign(p.hop_queries().begin(), p.hop_queries().end());
  r->results.clear();
  for (const auto& s : p.results()) {
    ShownResult o;
    o.chunk_id = s.chunk_id();
    o.doc_id = s.doc_id();
    o.rank = s.rank();
    o.score = s.score();
    o.text_hash = s.text_hash();
    o.matter = s.matter();
    r->results.push_back(std::move(o));
  }
  r->answer = p.answer();
  r->rating.kind = static_cast<Rating::Kind>(p.rating().kind());
  r->rating.value = p.rating().value();
  r->labels.clear();
  for (const auto& l : p.labels()) {
    r->labels.push_back({l.chunk_id(), static_cast<PassageLabel>(l.label())});
  }
  r->critique = p.critique();
  r->corrected_answer = p.corrected_answer();
  r->preferred_rewrite = p.preferred_rewrite();
  r->tags.assign(p.tags().begin(), p.tags().end());
  r->consent_to_train = p.consent_to_train();
  r->privileged = p.privileged();
  r->program_version = p.program_version();
  r->model = p.model();
  r->filters.clear();
  for (const auto& f : p.filters()) {
    // An operator this build does not know is kept out of range, so that
    // validation refuses the record rather than widen its scope.
    int op = f.op() <= 2 ? static_cast<int>(f.op()) : -1;
    r->filters.push_back({f.field(), static_cast<Filter::Op>(op), f.value()});
  }
  r->replaces.assign(p.replaces().begin(), p.replaces().end());
}

}  // namespace

Result<std::string> EncodeFeedbackRecord(const FeedbackRecord& record) {
  FB_RETURN_IF_ERROR(ValidateFeedbackRecord(record));
  pb::FeedbackRecord p;
  ToProto(record, &p);
  std::string out;
  if (!p.SerializeToString(&out)) return Status::Internal("cannot serialize a feedback record");
  if (out.size() > FeedbackLimits::kMaxEntryBytes) {
    return Status::OutOfRange(
        fmt::format(FMT_STRING("the encoded record is {} bytes; the limit is {}"), out.size(),
                    FeedbackLimits::kMaxEntryBytes));
  }
  return out;
}

namespace feedback {

Status AppendEncodedRecord(const FeedbackRecord& record, google::protobuf::Arena* arena,
                           std::string* out) {
  FB_RETURN_IF_ERROR(ValidateFeedbackRecord(record));
  auto* p = google::protobuf::Arena::CreateMessage<pb::FeedbackRecord>(arena);
  ToProto(record, p);
  size_t before = out->size();
  if (!p->AppendToString(out)) {
    out->resize(before);
    return Status::Internal("cannot serialize a feedback record");
  }
  if (out->size() - before > FeedbackLimits::kMaxEntryBytes) {
    size_t n = out->size() - before;
    out->resize(before);
    return Status::OutOfRange(
        fmt::format(FMT_STRING("the encoded record is {} bytes; the limit is {}"), n,
                    FeedbackLimits::kMaxEntryBytes));
  }
  return Status::OK();
}

std::string TaughtRewrite(const FeedbackRecord& r) {
  if (r.question.empty() || !(r.rating.positive() || !r.preferred_rewrite.empty())) return "";
  if (!r.preferred_rewrite.empty()) return r.preferred_rewrite;
  for (const auto& h : r.hop_queries) {
    if (!h.empty() && h != r.question) return h;
  }
  return "";
}

}  // namespace feedback

Result<FeedbackRecord> DecodeFeedbackRecord(std::string_view bytes) {
  pb::FeedbackRecord p;
  if (bytes.size() > FeedbackLimits::kMaxEntryBytes ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("feedback record does not parse");
  }
  if (p.version() != FeedbackRecord::kCurrentVersion) {
    return Status::NotSupported(fmt::format(FMT_STRING("unknown record version {}"), p.version()));
  }
  FeedbackRecord r;
  FromProto(p, &r);
  Status s = ValidateFeedbackRecord(r);
  if (!s.ok()) return Status::Corruption("invalid feedback record: " + s.message());
  return r;
}

Result<std::string> EncodeTombstone(const Tombstone& t) {
  FB_RETURN_IF_ERROR(ValidateTombstone(t));
  pb::Tombstone p;
  p.set_version(t.version);
  p.set_record_id(t.record_id);
  p.set_matter(t.matter);
  p.set_time_ms(t.time_ms);
  p.set_user(t.user);
  std::string out;
  if (!p.SerializeToString(&out)) return Status::Internal("cannot serialize a tombstone");
  return out;
}

Result<Tombstone> DecodeTombstone(std::string_view bytes) {
  pb::Tombstone p;
  if (bytes.size() > FeedbackLimits::kMaxEntryBytes ||
      !p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("tombstone does not parse");
  }
  if (p.version() != Tombstone::kCurrentVersion) {
    return Status::NotSupported(
        fmt::format(FMT_STRING("unknown tombstone version {}"), p.version()));
  }
  Tombstone t;
  t.version = p.version();
  t.record_id = p.record_id();
  t.matter = p.matter();
  t.time_ms = p.time_ms();
  t.user = p.user();
  Status s = ValidateTombstone(t);
  if (!s.ok()) return Status::Corruption("invalid tombstone: " + s.message());
  return t;
}

}  // namespace foldback
