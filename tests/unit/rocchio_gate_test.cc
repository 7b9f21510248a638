// The Rocchio gate (FoldBackOptions::rocchio_gate): other questions' labels
// shift a query only when, held out by question, they helped.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "foldback/feedback.h"
#include "foldback/index.h"

namespace foldback {
namespace {

// Two topics in two wordings each; 4 passages of each (topic, wording).
const char* kText[2][2] = {
    {"The recipient shall not reverse engineer the products or samples",
     "No party may decompile or disassemble any software, prototypes or firmware"},
    {"Either party may terminate this agreement for convenience on written notice",
     "This contract can be ended by either side without cause after thirty days"}};

std::string Id(int topic, int wording, int n) {
  return "d" + std::to_string(topic) + std::to_string(wording) + std::to_string(n);
}

std::unique_ptr<Index> Corpus() {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  for (int t = 0; t < 2; ++t) {
    for (int w = 0; w < 2; ++w) {
      for (int n = 0; n < 4; ++n) {
        Document d;
        d.id = Id(t, w, n);
        d.text = std::string(kText[t][w]) + " (copy " + std::to_string(n) + ").";
        EXPECT_TRUE((*idx)->Add(d).ok());
      }
    }
  }
  return std::move(idx.value());
}

FeedbackRecord Record(const Index& idx, const std::string& id, const std::string& question,
                      const std::vector<std::string>& relevant,
                      const std::vector<std::string>& irrelevant) {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "trace-" + id;
  r.question = question;
  r.hop_queries = {question};
  r.rating = Rating::Up();
  r.consent_to_train = true;
  uint32_t rank = 0;
  auto show = [&](const std::string& doc, PassageLabel label) {
    const Chunk* c = idx.ChunksOf(doc).at(0);
    r.results.push_back({c->id, doc, ++rank, 1.0, FeedbackTextHash(c->text), ""});
    r.labels.push_back({c->id, label});
  };
  for (const auto& d : irrelevant) show(d, PassageLabel::kNotRelevant);
  for (const auto& d : relevant) show(d, PassageLabel::kRelevant);
  return r;
}

// Six lawyers per question; every record labels one passage of each
// wording of `relevant_topic` relevant and one of the other topic not.
std::vector<FeedbackRecord> Feedback(const Index& idx, const std::vector<std::string>& questions,
                                     const std::vector<int>& relevant_topic) {
  std::vector<FeedbackRecord> out;
  for (size_t q = 0; q < questions.size(); ++q) {
    for (int n = 0; n < 6; ++n) {
      int t = relevant_topic[q];
      out.push_back(Record(idx, "r" + std::to_string(q) + std::to_string(n), questions[q],
                           {Id(t, 0, n % 4), Id(t, 1, n % 4)},
                           {Id(1 - t, 0, n % 4), Id(1 - t, 1, (n + 1) % 4)}));
    }
  }
  return out;
}

FoldBackOptions RocchioOnly() {
  FoldBackOptions o;
  o.adapter = false;
  o.demos = false;
  // The wordings below are 0.5-0.7 similar: neighbours at this threshold
  // (the default until 2026-12-06), so that the gate has evidence to weigh.
  o.min_similarity = 0.5;
  return o;
}

TEST(RocchioGate, OtherQuestionsThatHelpKeepItOpen) {
  auto idx = Corpus();
  // Two wordings of one need: each question's labels bridge the other's
  // wording ("decompile or disassemble").
  auto records = Feedback(*idx,
                          {"May the recipient reverse engineer the products?",
                           "May the recipient reverse engineer the products and samples?"},
                          {0, 0});
  auto fb = FoldBack::Build(*idx, records, RocchioOnly());
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  const FoldBackStats& s = (*fb)->stats();
  EXPECT_EQ(s.rocchio_gate_records, 12u);
  EXPECT_GT(s.rocchio_gate_gain, 0);
  EXPECT_TRUE(s.rocchio_cross_questions);
  // A third wording of the question gets the other questions' expansion.
  auto e = (*fb)->Expand(*idx, "Could the recipient reverse engineer the products?", {});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->neighbours.size(), 12u);
}

TEST(RocchioGate, OtherQuestionsThatMisleadCloseItSameQuestionStillFolds) {
  auto idx = Corpus();
  // Near-identical wordings, opposite needs: each question's relevant
  // passages are the other's not relevant ones.
  const std::string q0 = "May the recipient reverse engineer the products for convenience?";
  const std::string q1 = "May the recipient terminate the products for convenience?";
  auto records = Feedback(*idx, {q0, q1}, {0, 1});
  auto fb = FoldBack::Build(*idx, records, RocchioOnly());
  ASSERT_TRUE(fb.ok());
  const FoldBackStats& s = (*fb)->stats();
  EXPECT_EQ(s.rocchio_gate_records, 12u);
  EXPECT_LT(s.rocchio_gate_gain, 0);
  EXPECT_FALSE(s.rocchio_cross_questions);
  // The same question asked again still uses its own records only...
  auto same = (*fb)->Expand(*idx, q0, {});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->neighbours.size(), 6u);
  for (const auto& id : same->neighbours) EXPECT_EQ(id.substr(0, 2), "r0");
  // ...a new wording gets nothing from either.
  auto other = (*fb)->Expand(*idx, "May the recipient reverse engineer or terminate?", {});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->neighbours.empty());

  // The gate off: the old behaviour, every similar question counts.
  FoldBackOptions off = RocchioOnly();
  off.rocchio_gate = false;
  auto ungated = FoldBack::Build(*idx, records, off);
  ASSERT_TRUE(ungated.ok());
  EXPECT_TRUE((*ungated)->stats().rocchio_cross_questions);
  EXPECT_EQ((*ungated)->stats().rocchio_gate_records, 0u);
  auto all = (*ungated)->Expand(*idx, q0, {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->neighbours.size(), 12u);
}

TEST(RocchioGate, TooLittleEvidenceLeavesItOpen) {
  auto idx = Corpus();
  const std::string q0 = "May the recipient reverse engineer the products for convenience?";
  const std::string q1 = "May the recipient terminate the products for convenience?";
  auto records = Feedback(*idx, {q0, q1}, {0, 1});
  records.resize(3);  // three records of q0 only: no other question to hold out against
  FeedbackRecord extra = Feedback(*idx, {q1}, {1})[0];
  extra.record_id = "extra";
  records.push_back(extra);
  auto fb = FoldBack::Build(*idx, records, RocchioOnly());
  ASSERT_TRUE(fb.ok());
  EXPECT_LT((*fb)->stats().rocchio_gate_records, RocchioOnly().rocchio_gate_min_records);
  EXPECT_TRUE((*fb)->stats().rocchio_cross_questions);
}

}  // namespace
}  // namespace foldback
