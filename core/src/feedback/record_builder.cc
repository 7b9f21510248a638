// BuildFeedbackRecord: a feedback record from a saved trace and what the
// lawyer said, with the wall rules of foldback/feedback.h (W1..W5).
#include <map>
#include <set>
#include <string>
#include <vector>

#include "feedback/walls.h"
#include "foldback/ask.h"
#include "foldback/feedback.h"

namespace foldback {
namespace {

using walls::Inside;
using walls::Intersect;
using walls::Wall;

// The matter of a chunk's document as the index says now ("" for none or
// when the chunk is gone).
std::string MatterOf(const Index& index, const Chunk& c) {
  const Document* d = index.FindDocument(c.doc_id);
  return d ? d->matter : std::string();
}

}  // namespace

Result<FeedbackRecord> BuildFeedbackRecord(const Index& index, std::string_view trace_json,
                                           const FeedbackInput& in, const FeedbackState& state,
                                           FeedbackRecordNotes* notes) {
  if (notes) *notes = FeedbackRecordNotes();
  if (in.record_id.empty()) return Status::InvalidArgument("feedback: no record id");
  if (in.trace_id.empty()) {
    return Status::InvalidArgument("feedback: no trace id (the question it is about)");
  }
  if (in.time_ms <= 0) return Status::InvalidArgument("feedback: time_ms must be positive");
  if (state.deleted_records.count(in.record_id)) {
    return Status::FailedPrecondition("record '" + in.record_id +
                                      "' was forgotten: it is not recorded again");
  }
  if (const FeedbackRecord* existing = state.Find(in.record_id)) {
    if (notes) notes->retried = true;
    return *existing;
  }

  auto trace = TraceFromJson(trace_json);
  if (!trace.ok()) {
    return Status::Corruption("trace '" + in.trace_id + "': " + trace.status().message());
  }
  if (!trace->trace_id.empty() && trace->trace_id != in.trace_id) {
    return Status::Corruption("trace '" + in.trace_id + "' holds trace '" + trace->trace_id + "'");
  }
  if (trace->question.empty()) {
    return Status::Corruption("trace '" + in.trace_id + "' has no question");
  }
  const Wall wall = Intersect(in.allowed_matters, trace->allowed_matters);  // W1

  FeedbackRecord r;
  r.record_id = in.record_id;
  r.trace_id = in.trace_id;
  r.time_ms = in.time_ms;
  r.question = trace->question;
  for (const TraceHop& h : trace->hops) r.hop_queries.push_back(h.query);
  r.answer = trace->answer;
  r.program_version = trace->program_version;
  r.model = trace->model;
  r.filters = trace->filters;  // the scope it was searched in
  r.user = in.user.empty() ? trace->user : in.user;

  // The passages shown: the fused ranking, else every hop's results.
  std::vector<const TraceHit*> shown;
  std::set<std::string> seen;
  auto take = [&](const std::vector<TraceHit>& hits) {
    for (const TraceHit& h : hits) {
      if (!h.chunk_id.empty() && seen.insert(h.chunk_id).second) shown.push_back(&h);
    }
  };
  take(trace->fused);
  if (shown.empty()) {
    for (const TraceHop& h : trace->hops) take(h.results);
  }
  std::set<std::string> shown_matters;
  size_t missing = 0;
  for (const TraceHit* h : shown) {
    ShownResult sr;
    sr.chunk_id = h->chunk_id;
    sr.doc_id = h->doc_id;
    sr.rank = static_cast<uint32_t>(r.results.size() + 1);
    sr.score = h->score;
    if (const Chunk* c = index.FindChunk(h->chunk_id)) {
      sr.text_hash = FeedbackTextHash(c->text);
      sr.doc_id = c->doc_id;
      sr.matter = MatterOf(index, *c);
    } else {
      ++missing;
    }
    if (!Inside(wall, sr.matter)) {  // W3
      return Status::PermissionDenied("trace '" + in.trace_id +
                                      "' shows passages behind this user's ethical wall");
    }
    if (!sr.matter.empty()) shown_matters.insert(sr.matter);
    r.results.push_back(std::move(sr));
  }
  if (notes) notes->missing_passages = missing;

  // Labels: every chunk in the index and inside the wall (W2), labelled once.
  std::map<std::string, PassageLabel> labels;
  auto label = [&](const std::vector<std::string>& ids, PassageLabel l) -> Status {
    for (const auto& id : ids) {
      const Chunk* c = index.FindChunk(id);
      if (!c || !Inside(wall, MatterOf(index, *c))) {
        return Status::NotFound("unknown chunk '" + id +
                                "': not in the index (or behind this user's ethical wall)");
      }
      auto [it, fresh] = labels.emplace(id, l);
      if (!fresh && it->second != l) {
        return Status::InvalidArgument("chunk '" + id + "' is labelled both " +
                                       PassageLabelName(it->second) + " and " +
                                       PassageLabelName(l));
      }
    }
    return Status::OK();
  };
  FB_RETURN_IF_ERROR(label(in.relevant, PassageLabel::kRelevant));
  FB_RETURN_IF_ERROR(label(in.partly, PassageLabel::kPartly));
  FB_RETURN_IF_ERROR(label(in.not_relevant, PassageLabel::kNotRelevant));
  for (const auto& [id, l] : labels) r.labels.push_back({id, l});
  if (!in.rating.empty()) {
    auto rating = Rating::Parse(in.rating);
    if (!rating.ok()) return rating.status();
    r.rating = *rating;
  }
  r.critique = in.critique;
  r.corrected_answer = in.corrected_answer;
  r.preferred_rewrite = in.preferred_rewrite;
  r.tags = in.tags;
  r.consent_to_train = in.consent_to_train;
  r.privileged = in.privileged;

  // The record's matter (W4, W5).
  if (!in.matter.empty()) {
    if (!Inside(wall, in.matter)) {
      return Status::PermissionDenied("matter '" + in.matter +
                                      "' is behind an ethical wall for this user");
    }
    r.matter = in.matter;
  } else if (!trace->matter.empty()) {
    r.matter = trace->matter;
  } else if (wall && wall->size() == 1) {
    r.matter = *wall->begin();  // asked behind a wall around one matter
  } else if (shown_matters.size() == 1) {
    r.matter = *shown_matters.begin();  // every passage of a matter shown was of this one
  }
  if (!Inside(wall, r.matter)) {  // the trace's own matter, outside the user's wall now
    return Status::PermissionDenied("the question's matter is behind this user's ethical wall");
  }

  // A forgotten matter's records never come back: refuse rather than drop.
  if (state.forgotten_matters.count(r.matter)) {
    return Status::FailedPrecondition("matter '" + r.matter +
                                      "' was forgotten: its feedback is no longer recorded");
  }
  for (const ShownResult& s : r.results) {
    if (state.forgotten_matters.count(s.matter)) {
      return Status::FailedPrecondition(
          "trace '" + in.trace_id + "' shows passages of matter '" + s.matter +
          "', which was forgotten: feedback on it is no longer recorded");
    }
  }

  if (r.rating.kind == Rating::Kind::kNone && r.labels.empty() && r.critique.empty() &&
      r.corrected_answer.empty() && r.preferred_rewrite.empty() && r.tags.empty()) {
    return Status::InvalidArgument(
        "nothing to record: give a rating, passage labels, a critique, a correction, a "
        "preferred rewrite or a tag");
  }
  if (in.replace_earlier) r.replaces = EarlierJudgments(state, r);
  FB_RETURN_IF_ERROR(ValidateFeedbackRecord(r));
  return r;
}

}  // namespace foldback
