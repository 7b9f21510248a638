// BuildFeedbackRecord (foldback/feedback.h): a record from a saved trace and
// what the lawyer said, with the wall rules W1..W5 every host shares; and
// FoldBackCache, the one way hosts build fold-back from a log.
#include <gtest/gtest.h>

#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/index.h"

namespace foldback {
namespace {

class FeedbackRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IndexOptions o;
    o.dense.embedder = EmbedderKind::kNone;
    auto idx = Index::Create(o);
    ASSERT_TRUE(idx.ok());
    index_ = std::move(idx.value());
    Add("acme-1", "acme", "The recipient shall not reverse engineer the samples.");
    Add("acme-2", "acme", "The recipient shall return all materials on request.");
    Add("globex-1", "globex", "The tenant shall not reverse engineer the alarm.");
    Add("public-1", "", "Reverse engineering is lawful in some jurisdictions.");
  }

  void Add(const std::string& id, const std::string& matter, const std::string& text) {
    Document d;
    d.id = id;
    d.matter = matter;
    d.text = text;
    ASSERT_TRUE(index_->Add(d).ok());
  }

  std::string Chunk(const std::string& doc) {
    auto chunks = index_->ChunksOf(doc);
    EXPECT_EQ(chunks.size(), 1u) << doc;
    return chunks.empty() ? "" : chunks[0]->id;
  }

  // A trace as the ask session leaves it, showing `docs` (fused ranking).
  Trace TraceOf(const std::vector<std::string>& docs,
                std::optional<std::set<std::string>> walls = std::nullopt) {
    Trace t;
    t.trace_id = "t1";
    t.question = "May the recipient reverse engineer?";
    t.program_version = "prog-1";
    t.model = "m";
    t.answer = "No [1].";
    t.allowed_matters = std::move(walls);
    TraceHop hop;
    hop.hop = 1;
    hop.query = "reverse engineer recipient";
    double score = 1;
    for (const auto& d : docs) {
      TraceHit h{Chunk(d), d, score};
      score /= 2;
      hop.results.push_back(h);
      t.fused.push_back(h);
    }
    t.hops.push_back(hop);
    return t;
  }

  FeedbackInput Input() {
    FeedbackInput in;
    in.record_id = "r-1";
    in.trace_id = "t1";
    in.time_ms = 1700000000000;
    return in;
  }

  Result<FeedbackRecord> Build(const Trace& t, const FeedbackInput& in,
                               FeedbackRecordNotes* notes = nullptr) {
    return BuildFeedbackRecord(*index_, TraceToJson(t), in, state_, notes);
  }

  std::unique_ptr<Index> index_;
  FeedbackState state_;
};

TEST_F(FeedbackRecordTest, KeepsTheTraceTheAnswerAndThePassagesShown) {
  Trace t = TraceOf({"acme-1", "acme-2", "public-1"});
  FeedbackInput in = Input();
  in.rating = "up";
  in.relevant = {Chunk("acme-1")};
  in.not_relevant = {Chunk("public-1")};
  in.corrected_answer = "No: clause 1 forbids it [1].";
  in.consent_to_train = true;
  auto r = Build(t, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->record_id, "r-1");
  EXPECT_EQ(r->trace_id, "t1");
  EXPECT_EQ(r->time_ms, 1700000000000);
  EXPECT_EQ(r->question, t.question);
  EXPECT_EQ(r->answer, "No [1].");  // the trace carries the answer
  EXPECT_EQ(r->hop_queries, std::vector<std::string>{"reverse engineer recipient"});
  EXPECT_EQ(r->program_version, "prog-1");
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].rank, 1u);
  EXPECT_EQ(r->results[0].matter, "acme");
  EXPECT_EQ(r->results[2].matter, "");
  EXPECT_DOUBLE_EQ(r->results[1].score, 0.5);
  EXPECT_EQ(r->results[0].text_hash, FeedbackTextHash(index_->FindChunk(Chunk("acme-1"))->text));
  EXPECT_EQ(r->labels.size(), 2u);
  // W5: no wall, no matter given: the only matter among the passages shown
  // (the passage of no matter aside).
  EXPECT_EQ(r->matter, "acme");
  EXPECT_TRUE(ValidateFeedbackRecord(*r).ok());
}

TEST_F(FeedbackRecordTest, MatterDerivedTheSameWayEverywhere) {
  FeedbackInput in = Input();
  in.rating = "up";
  // Passages of two matters, no wall: none.
  auto r = Build(TraceOf({"acme-1", "globex-1"}), in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matter, "");
  // A wall around one matter names it, even when nothing was shown.
  r = Build(TraceOf({}, std::set<std::string>{"acme"}), in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matter, "acme");
  // The trace's own matter comes before the wall's.
  Trace t = TraceOf({"acme-1"}, std::set<std::string>{"acme", "globex"});
  t.matter = "globex";
  r = Build(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matter, "globex");
  // The lawyer's word comes first.
  in.matter = "acme";
  r = Build(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matter, "acme");
}

TEST_F(FeedbackRecordTest, LabelsBehindTheWallAreRefusedLikeUnknownChunks) {
  FeedbackInput in = Input();
  in.relevant = {Chunk("globex-1")};
  // W1: the trace's wall (the question was asked behind it).
  auto r = Build(TraceOf({"acme-1"}, std::set<std::string>{"acme"}), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  std::string walled = r.status().message();
  EXPECT_NE(walled.find("unknown chunk '" + Chunk("globex-1") + "'"), std::string::npos);
  // The user's wall, the trace unwalled.
  in.allowed_matters = std::set<std::string>{"acme"};
  r = Build(TraceOf({"acme-1"}), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  // The same words as for a chunk that does not exist: no existence oracle.
  in.relevant = {"no-such#0-00000000"};
  auto unknown = Build(TraceOf({"acme-1"}), in);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(unknown.status().message(),
            std::string(walled).replace(walled.find(Chunk("globex-1")), Chunk("globex-1").size(),
                                        "no-such#0-00000000"));
  // A passage of no matter and one inside the wall are fine.
  in.relevant = {Chunk("acme-1"), Chunk("public-1")};
  EXPECT_TRUE(Build(TraceOf({"acme-1"}), in).ok());
  // Twin without any wall: the globex label is taken.
  in.allowed_matters.reset();
  in.relevant = {Chunk("globex-1")};
  EXPECT_TRUE(Build(TraceOf({"acme-1"}), in).ok());
}

TEST_F(FeedbackRecordTest, WallsAreIntersectedAndGuardTheMatterAndThePassagesShown) {
  FeedbackInput in = Input();
  in.rating = "up";
  // W4: a matter the user may not see.
  in.matter = "globex";
  in.allowed_matters = std::set<std::string>{"acme"};
  auto r = Build(TraceOf({"acme-1"}), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(r.status().message().find("ethical wall"), std::string::npos);
  // W1: the user's wall {acme, globex} and the trace's {acme}: globex is out.
  in.allowed_matters = std::set<std::string>{"acme", "globex"};
  r = Build(TraceOf({"acme-1"}, std::set<std::string>{"acme"}), in);
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  // W3: a trace showing a passage the user may no longer see, naming no matter.
  in.matter.clear();
  in.allowed_matters = std::set<std::string>{"acme"};
  r = Build(TraceOf({"acme-1", "globex-1"}), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(r.status().message().find("globex"), std::string::npos) << r.status().message();
  // An empty wall: only passages and labels of no matter.
  in.allowed_matters = std::set<std::string>{};
  in.relevant = {Chunk("public-1")};
  r = Build(TraceOf({"public-1"}), in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matter, "");
}

TEST_F(FeedbackRecordTest, ConflictingLabelsBadRatingsAndNothingToSay) {
  Trace t = TraceOf({"acme-1", "acme-2"});
  FeedbackInput in = Input();
  in.relevant = {Chunk("acme-1")};
  in.not_relevant = {Chunk("acme-1")};
  auto r = Build(t, in);
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("labelled both relevant and not_relevant"),
            std::string::npos);
  // The same label twice counts once.
  in.not_relevant.clear();
  in.relevant = {Chunk("acme-1"), Chunk("acme-1")};
  r = Build(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->labels.size(), 1u);
  in.relevant.clear();
  in.rating = "7";
  EXPECT_EQ(Build(t, in).status().code(), Status::Code::kInvalidArgument);
  in.rating.clear();
  r = Build(t, in);
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nothing to record"), std::string::npos);
  in.critique = std::string(FeedbackLimits::kMaxTextBytes + 1, 'x');
  r = Build(t, in);
  EXPECT_EQ(r.status().code(), Status::Code::kOutOfRange);
  EXPECT_NE(r.status().message().find("critique"), std::string::npos);
}

TEST_F(FeedbackRecordTest, PrivilegedIsKeptAndNeverExported) {
  FeedbackInput in = Input();
  in.rating = "up";
  in.relevant = {Chunk("acme-1")};
  in.corrected_answer = "No [1].";
  in.consent_to_train = true;
  in.privileged = true;
  auto r = Build(TraceOf({"acme-1", "acme-2"}), in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->privileged);
  ExportReport rep;
  auto out = ExportFeedback(*index_, {*r}, ExportFormat::kSft, ExportOptions(), &rep);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "");
  EXPECT_EQ(rep.privileged, 1u);
  // The twin without the flag is exported.
  in.privileged = false;
  r = Build(TraceOf({"acme-1", "acme-2"}), in);
  ASSERT_TRUE(r.ok());
  out = ExportFeedback(*index_, {*r}, ExportFormat::kSft, ExportOptions(), &rep);
  ASSERT_TRUE(out.ok());
  EXPECT_NE(*out, "");
}

TEST_F(FeedbackRecordTest, ForgottenMattersAndRecordsAreRefusedNotDroppedUnseen) {
  FeedbackInput in = Input();
  in.rating = "up";
  state_.forgotten_matters = {"globex"};
  auto r = Build(TraceOf({"acme-1", "globex-1"}), in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("forgotten"), std::string::npos);
  in.matter = "globex";
  EXPECT_EQ(Build(TraceOf({"acme-1"}), in).status().code(), Status::Code::kFailedPrecondition);
  in.matter.clear();
  EXPECT_TRUE(Build(TraceOf({"acme-1"}), in).ok());
  state_.deleted_records = {"r-1"};
  r = Build(TraceOf({"acme-1"}), in);
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("'r-1' was forgotten"), std::string::npos);
}

TEST_F(FeedbackRecordTest, ARetriedIdGivesTheStoredRecord) {
  FeedbackInput in = Input();
  in.rating = "up";
  auto first = Build(TraceOf({"acme-1"}), in);
  ASSERT_TRUE(first.ok());
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  ASSERT_TRUE(w.Add(*first).ok());
  state_ = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  in.rating = "down";
  FeedbackRecordNotes notes;
  auto again = Build(TraceOf({"acme-1"}), in, &notes);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(notes.retried);
  EXPECT_EQ(again->rating.ToString(), "up");
}

TEST_F(FeedbackRecordTest, UnknownChunksBrokenTracesAndMissingFields) {
  FeedbackInput in = Input();
  in.rating = "up";
  Trace t = TraceOf({"acme-1"});
  TraceHit gone{"gone#0-00000000", "gone", 0.1};
  t.fused.push_back(gone);
  FeedbackRecordNotes notes;
  auto r = Build(t, in, &notes);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(notes.missing_passages, 1u);
  EXPECT_EQ(r->results.size(), 2u);
  EXPECT_EQ(r->results[1].text_hash, "");
  in.partly = {"gone#0-00000000"};
  EXPECT_EQ(Build(t, in).status().code(), Status::Code::kNotFound);
  in.partly.clear();
  for (const char* bad : {"{", "[]", "{\"hops\": 3}", "{\"trace_id\": \"t1\"}"}) {
    auto b = BuildFeedbackRecord(*index_, bad, in, state_);
    EXPECT_EQ(b.status().code(), Status::Code::kCorruption) << bad;
  }
  t.trace_id = "t2";
  EXPECT_EQ(Build(t, in).status().code(), Status::Code::kCorruption);
  t.trace_id = "t1";
  FeedbackInput missing = in;
  missing.record_id.clear();
  EXPECT_EQ(Build(t, missing).status().code(), Status::Code::kInvalidArgument);
  missing = in;
  missing.time_ms = 0;
  EXPECT_EQ(Build(t, missing).status().code(), Status::Code::kInvalidArgument);
}

// A lawyer changes their judgment: the new record replaces their earlier
// ones of the same question in the one append that writes it — never
// another question's, never a colleague's — and the log reads them as
// gone for good (compaction and a retried write included).
TEST_F(FeedbackRecordTest, ANewJudgmentReplacesTheEarlierOnesInOneWrite) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  auto append = [&](FeedbackInput in, const Trace& t) {
    auto r = Build(t, in);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return FeedbackRecord();
    EXPECT_TRUE(w.Add(*r).ok());
    state_ = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
    return *r;
  };
  const Trace t1 = TraceOf({"acme-1", "acme-2"});
  Trace t2 = TraceOf({"acme-1"});
  t2.trace_id = "t2";
  FeedbackInput in = Input();
  in.user = "ann";
  in.rating = "up";
  in.consent_to_train = true;
  append(in, t1);  // r-1: ann on t1, consented
  in.record_id = "r-2";
  in.user = "bob";
  append(in, t1);  // r-2: bob on t1
  in.record_id = "r-3";
  in.user = "ann";
  in.trace_id = "t2";
  append(in, t2);  // r-3: ann on t2

  // Without the flag a second judgment is one more record.
  in.trace_id = "t1";
  in.record_id = "r-4";
  in.rating = "down";
  EXPECT_TRUE(append(in, t1).replaces.empty());
  ASSERT_EQ(state_.records.size(), 4u);

  // With it: ann's records of t1 (r-1, r-4) go; bob's and t2's stay.
  in.record_id = "r-5";
  in.rating = "";
  in.critique = "privileged after all";
  in.consent_to_train = true;
  in.privileged = true;
  in.replace_earlier = true;
  const FeedbackState prefix = state_;
  FeedbackRecord r5 = append(in, t1);
  EXPECT_EQ(r5.replaces, (std::vector<std::string>{"r-1", "r-4"}));
  // A host keeping the state in memory reaches the same state.
  FeedbackState kept = prefix;
  ApplyReplacements(r5, &kept);
  kept.records.push_back(r5);
  ASSERT_EQ(kept.records.size(), state_.records.size());
  for (size_t i = 0; i < kept.records.size(); ++i) {
    EXPECT_EQ(kept.records[i].record_id, state_.records[i].record_id);
  }
  EXPECT_EQ(kept.deleted_records, state_.deleted_records);
  EXPECT_EQ(kept.tombstones.size(), state_.tombstones.size());
  EXPECT_EQ(kept.deleted, state_.deleted);
  std::vector<std::string> live;
  for (const auto& r : state_.records) live.push_back(r.record_id);
  EXPECT_EQ(live, (std::vector<std::string>{"r-2", "r-3", "r-5"}));
  EXPECT_EQ(state_.deleted, 2u);
  EXPECT_TRUE(state_.deleted_records.count("r-1"));
  // What was consented before is no longer exported; the privileged
  // judgment never is.
  ExportReport rep;
  auto out = ExportFeedback(*index_, state_.records, ExportFormat::kSft, ExportOptions(), &rep);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->find("\"r-1\""), std::string::npos);
  EXPECT_EQ(rep.privileged, 1u);

  // A retried write of a replaced record does not bring it back; nor does
  // forgetting the record that replaced it.
  auto r1 = Build(t1, Input());
  EXPECT_EQ(r1.status().code(), Status::Code::kFailedPrecondition);
  {
    FeedbackRecord old;
    old.record_id = "r-1";
    old.trace_id = "t1";
    old.user = "ann";
    old.time_ms = 1;
    old.rating = Rating::Up();
    ASSERT_TRUE(w.Add(old).ok());
    Tombstone t;
    t.record_id = "r-5";
    ASSERT_TRUE(w.Add(t).ok());
  }
  state_ = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  live.clear();
  for (const auto& r : state_.records) live.push_back(r.record_id);
  EXPECT_EQ(live, (std::vector<std::string>{"r-2", "r-3"}));

  // Compaction keeps the meaning: the replacements are written as tombstones.
  auto compacted = CompactFeedbackLog(state_);
  ASSERT_TRUE(compacted.ok());
  FeedbackState again = ApplyFeedbackLog(ReadFeedbackLog(*compacted));
  EXPECT_EQ(again.records.size(), 2u);
  EXPECT_EQ(again.deleted_records, state_.deleted_records);
  EXPECT_TRUE(again.deleted_records.count("r-4"));

  // Nothing earlier: an empty list, not an error.
  in.record_id = "r-6";
  in.user = "cy";
  EXPECT_TRUE(append(in, t1).replaces.empty());
}

// The replacement is in the record's own bytes: a write torn before its
// end leaves the earlier judgment live and the new one absent, never both
// live nor neither.
TEST_F(FeedbackRecordTest, ATornReplacementLeavesTheEarlierJudgment) {
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  FeedbackInput in = Input();
  in.rating = "up";
  in.consent_to_train = true;
  auto first = Build(TraceOf({"acme-1"}), in);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(w.Add(*first).ok());
  const size_t before = sink.data().size();
  state_ = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  in.record_id = "r-2";
  in.privileged = true;
  in.replace_earlier = true;
  auto second = Build(TraceOf({"acme-1"}), in);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(w.Add(*second).ok());
  const std::string whole = sink.data();
  for (size_t cut = before + 1; cut < whole.size(); ++cut) {
    FeedbackState st = ApplyFeedbackLog(ReadFeedbackLog(std::string_view(whole).substr(0, cut)));
    ASSERT_EQ(st.records.size(), 1u) << cut;
    EXPECT_EQ(st.records[0].record_id, "r-1") << cut;
  }
  FeedbackState st = ApplyFeedbackLog(ReadFeedbackLog(whole));
  ASSERT_EQ(st.records.size(), 1u);
  EXPECT_EQ(st.records[0].record_id, "r-2");
}

TEST(FeedbackRecordValidation, ReplacesHoldsOtherRecordsIds) {
  FeedbackRecord r;
  r.record_id = "r-1";
  r.trace_id = "t";
  r.rating = Rating::Up();
  r.replaces = {"r-0"};
  EXPECT_TRUE(ValidateFeedbackRecord(r).ok());
  auto bytes = EncodeFeedbackRecord(r);
  ASSERT_TRUE(bytes.ok());
  auto back = DecodeFeedbackRecord(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->replaces, r.replaces);
  r.replaces = {"r-1"};
  EXPECT_NE(ValidateFeedbackRecord(r).message().find("cannot replace itself"), std::string::npos);
  r.replaces = {""};
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kInvalidArgument);
  r.replaces = {std::string(FeedbackLimits::kMaxNameBytes + 1, 'x')};
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kOutOfRange);
  r.replaces.assign(FeedbackLimits::kMaxItems + 1, "r-0");
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kOutOfRange);
  r.replaces = {"\xff"};
  EXPECT_EQ(ValidateFeedbackRecord(r).code(), Status::Code::kInvalidArgument);
}

TEST(TraceJson, CarriesTheAnswerTheMatterTheUserAndTheWall) {
  Trace t;
  t.trace_id = "t";
  t.question = "q";
  t.answer = "a [1]";
  t.matter = "acme";
  t.user = "u-1";
  t.allowed_matters = std::set<std::string>{"acme", "beta"};
  auto back = TraceFromJson(TraceToJson(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->answer, "a [1]");
  EXPECT_EQ(back->matter, "acme");
  EXPECT_EQ(back->user, "u-1");
  EXPECT_EQ(back->allowed_matters, t.allowed_matters);
  t.allowed_matters = std::set<std::string>{};  // an empty wall is a wall
  back = TraceFromJson(TraceToJson(t));
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(back->allowed_matters.has_value());
  EXPECT_TRUE(back->allowed_matters->empty());
  t.allowed_matters.reset();
  back = TraceFromJson(TraceToJson(t));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->allowed_matters.has_value());
}

// The scope a question was searched in goes from the ask session's options
// to its trace, through the trace's JSON, into the feedback record.
TEST_F(FeedbackRecordTest, KeepsTheFiltersTheQuestionWasSearchedWith) {
  Trace t = TraceOf({"acme-1", "acme-2"});
  t.filters = {{"doc_id", Filter::Op::kEq, "acme-1"}, {"date", Filter::Op::kGe, "2021-03-04"}};
  std::string json = TraceToJson(t);
  EXPECT_NE(json.find(R"("filters":[{"field":"doc_id","op":"=","value":"acme-1"})"),
            std::string::npos)
      << json;
  FeedbackInput in = Input();
  in.relevant = {Chunk("acme-1")};
  auto r = Build(t, in);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->filters.size(), 2u);
  EXPECT_EQ(r->filters[0].field, "doc_id");
  EXPECT_EQ(r->filters[0].op, Filter::Op::kEq);
  EXPECT_EQ(r->filters[0].value, "acme-1");
  EXPECT_EQ(r->filters[1].op, Filter::Op::kGe);
  auto bytes = EncodeFeedbackRecord(*r);
  ASSERT_TRUE(bytes.ok());
  auto back = DecodeFeedbackRecord(*bytes);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->filters.size(), 2u);
  EXPECT_EQ(back->filters[1].value, "2021-03-04");
  // A trace without filters (or from before they were kept): none.
  t.filters.clear();
  EXPECT_EQ(TraceToJson(t).find("filters"), std::string::npos);
  in.record_id = "r-2";
  r = Build(t, in);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->filters.empty());
  // Malformed filters in a trace: InvalidArgument naming the field.
  for (const char* bad : {R"({"question":"q","filters":{"doc_id":"x"}})",
                          R"({"question":"q","filters":[{"field":"doc_id","value":"x"}]})",
                          R"({"question":"q","filters":[{"field":"","op":"=","value":"x"}]})",
                          R"({"question":"q","filters":[{"field":"d","op":"<","value":"x"}]})"}) {
    auto parsed = TraceFromJson(bad);
    EXPECT_TRUE(parsed.status().IsInvalidArgument()) << bad;
    EXPECT_NE(parsed.status().message().find("filters"), std::string::npos) << bad;
  }
  // Too long a value: the record is refused, naming it; nothing is built.
  t.filters = {{"doc_id", Filter::Op::kEq, std::string(FeedbackLimits::kMaxNameBytes + 1, 'x')}};
  in.record_id = "r-3";
  r = Build(t, in);
  EXPECT_EQ(r.status().code(), Status::Code::kOutOfRange) << r.status().ToString();
  EXPECT_NE(r.status().message().find("filter value"), std::string::npos);
}

TEST_F(FeedbackRecordTest, FoldBackCacheBuildsOncePerVersionAndWall) {
  FeedbackInput in = Input();
  in.rating = "up";
  in.relevant = {Chunk("acme-1")};
  auto r = Build(TraceOf({"acme-1"}), in);
  ASSERT_TRUE(r.ok());
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  int reads = 0;
  auto read = [&]() -> Result<FeedbackLogContents> {
    ++reads;
    return ReadFeedbackLog(sink.data());
  };
  FoldBackCache cache;
  auto empty = cache.Get(*index_, 1, "v0", std::nullopt, read);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(*empty == nullptr);  // no live record: search the index itself
  ASSERT_TRUE(w.Add(*r).ok());
  auto a = cache.Get(*index_, 1, "v1", std::nullopt, read);
  ASSERT_TRUE(a.ok() && *a);
  EXPECT_EQ(reads, 2);
  auto b = cache.Get(*index_, 1, "v1", std::nullopt, read);
  EXPECT_EQ(a->get(), b->get());
  EXPECT_EQ(reads, 2);
  // Another wall: its own fold-back, learned only inside it.
  auto walled = cache.Get(*index_, 1, "v1", std::set<std::string>{"globex"}, read);
  ASSERT_TRUE(walled.ok() && *walled);
  EXPECT_NE(walled->get(), a->get());
  EXPECT_EQ((*walled)->stats().used, 0u);
  EXPECT_EQ((*a)->stats().used, 1u);
  // A new index version rebuilds.
  auto c = cache.Get(*index_, 2, "v1", std::nullopt, read);
  EXPECT_NE(c->get(), a->get());
  EXPECT_EQ(reads, 4);
  // Errors are returned and not cached.
  auto failed = cache.Get(*index_, 3, "v1", std::nullopt,
                          []() -> Result<FeedbackLogContents> { return Status::IOError("disk"); });
  EXPECT_EQ(failed.status().code(), Status::Code::kIOError);
}

// A record the host appended is folded into the cached fold-backs of that
// log version (no read of the log, no rebuild): the next Get finds them
// under the new version, holding what a build from the log would; a wall
// that may not see it leaves it out; other versions are dropped.
TEST_F(FeedbackRecordTest, FoldBackCacheFoldsAnAppendedRecordIn) {
  FeedbackInput in = Input();
  in.rating = "up";
  in.relevant = {Chunk("acme-1")};
  auto first = Build(TraceOf({"acme-1", "acme-2"}), in);
  ASSERT_TRUE(first.ok());
  in.record_id = "r-2";
  in.relevant = {Chunk("acme-2")};
  in.not_relevant = {Chunk("acme-1")};
  auto second = Build(TraceOf({"acme-1", "acme-2"}), in);
  ASSERT_TRUE(second.ok());
  MemorySink sink;
  FeedbackLogWriter w(&sink);
  ASSERT_TRUE(w.Add(*first).ok());
  int reads = 0;
  auto read = [&]() -> Result<FeedbackLogContents> {
    ++reads;
    return ReadFeedbackLog(sink.data());
  };
  FoldBackCache cache;
  const std::set<std::string> globex = {"globex"};
  auto all = cache.Get(*index_, 1, "v1", std::nullopt, read);
  auto walled = cache.Get(*index_, 1, "v1", globex, read);
  ASSERT_TRUE(all.ok() && walled.ok());
  EXPECT_EQ(reads, 2);
  EXPECT_TRUE(cache.Ready(*index_, 1, "v1", std::nullopt));
  EXPECT_FALSE(cache.Ready(*index_, 1, "v2", std::nullopt));
  ASSERT_TRUE(w.Add(*second).ok());
  ASSERT_TRUE(cache.Appended(*index_, 1, "v1", "v2", *second).ok());
  EXPECT_TRUE(cache.Ready(*index_, 1, "v2", std::nullopt));
  EXPECT_FALSE(cache.Ready(*index_, 1, "v1", std::nullopt));
  auto grown = cache.Get(*index_, 1, "v2", std::nullopt, read);
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->get(), all->get());  // the same fold-back, grown
  EXPECT_EQ(reads, 2);
  EXPECT_EQ((*grown)->stats().used, 2u);
  EXPECT_EQ((*cache.Get(*index_, 1, "v2", globex, read))->stats().used, 0u);
  EXPECT_EQ(reads, 2);
  // What a build from the log gives.
  auto rebuilt = FoldBack::Build(*index_, {*first, *second});
  ASSERT_TRUE(rebuilt.ok());
  SearchOptions so;
  so.mode = SearchMode::kBm25;
  auto a = (*grown)->Search(*index_, "May the recipient reverse engineer?", so);
  auto b = (*rebuilt)->Search(*index_, "May the recipient reverse engineer?", so);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id);
    EXPECT_EQ((*a)[i].score, (*b)[i].score);
  }
  // A retried record changes nothing; an empty cache entry gets a first
  // record as a one-record build.
  ASSERT_TRUE(cache.Appended(*index_, 1, "v2", "v3", *second).ok());
  EXPECT_EQ((*cache.Get(*index_, 1, "v3", std::nullopt, read))->stats().used, 2u);
  FoldBackCache fresh;
  MemorySink none;
  auto nothing = fresh.Get(*index_, 1, "e0", std::nullopt, [&]() -> Result<FeedbackLogContents> {
    return ReadFeedbackLog(none.data());
  });
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(*nothing == nullptr);
  ASSERT_TRUE(fresh.Appended(*index_, 1, "e0", "e1", *first).ok());
  auto one = fresh.Get(*index_, 1, "e1", std::nullopt, read);
  ASSERT_TRUE(one.ok() && *one);
  EXPECT_EQ((*one)->stats().used, 1u);
  // Another index version: dropped, rebuilt from the log on the next Get.
  ASSERT_TRUE(cache.Appended(*index_, 2, "v3", "v4", *second).ok());
  EXPECT_FALSE(cache.Ready(*index_, 1, "v3", std::nullopt));
  // A record that replaces another cannot be folded in: records left the
  // log. Dropped; the next Get reads the log and holds the new one only.
  ASSERT_TRUE(cache.Get(*index_, 1, "v4", std::nullopt, read).ok());
  in.record_id = "r-3";
  in.user = "";
  in.replace_earlier = true;
  state_ = ApplyFeedbackLog(ReadFeedbackLog(sink.data()));
  auto third = Build(TraceOf({"acme-1", "acme-2"}), in);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->replaces, (std::vector<std::string>{"r-1", "r-2"}));
  ASSERT_TRUE(w.Add(*third).ok());
  ASSERT_TRUE(cache.Appended(*index_, 1, "v4", "v5", *third).ok());
  EXPECT_FALSE(cache.Ready(*index_, 1, "v5", std::nullopt));
  const int before = reads;
  auto after = cache.Get(*index_, 1, "v5", std::nullopt, read);
  ASSERT_TRUE(after.ok() && *after);
  EXPECT_EQ(reads, before + 1);
  EXPECT_EQ((*after)->stats().used, 1u);
}

}  // namespace
}  // namespace foldback
