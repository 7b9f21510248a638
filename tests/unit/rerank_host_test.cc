// TrainSearchReranker (foldback/rerank.h): the learned reranker every host
// searches with, trained within the lists it will reorder — each record's
// question held out, in the scope the question was asked in (its stored
// filters), behind the asker's walls — and nothing else than
// LearnedReranker::Train over HeldOutLists built that way by hand.
#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/rerank.h"

namespace foldback {
namespace {

struct Topic {
  std::string question, heading, clause;
};
const std::vector<Topic> kTopics = {
    {"termination for convenience", "TERMINATION FOR CONVENIENCE",
     "Either party may end this agreement for convenience by giving the other party thirty days "
     "written notice."},
    {"governing law and jurisdiction", "GOVERNING LAW AND JURISDICTION",
     "This agreement is governed by the laws of the State of New York, whose courts have "
     "exclusive jurisdiction."},
    {"payment of invoices", "PAYMENT OF INVOICES",
     "The customer shall pay each invoice in full within thirty days of receipt, by wire "
     "transfer."},
    {"return of confidential information", "RETURN OF CONFIDENTIAL INFORMATION",
     "On request, the recipient shall promptly return or destroy all confidential information "
     "and every copy of it."},
    {"limitation of liability", "LIMITATION OF LIABILITY",
     "Neither party is liable for indirect damages, and total liability is limited to the fees "
     "paid in the preceding year."},
};

std::string DocId(const std::string& matter, size_t t, const std::string& part, int n) {
  return matter + "-" + std::to_string(t) + "-" + part + "-" + std::to_string(n);
}

// Three contracts per matter, each topic's heading and clause as documents;
// `dense`: with the static embedder (hybrid search), else BM25 only (the
// embedder's training is most of a small test's time under the sanitizers).
std::unique_ptr<Index> Corpus(const std::vector<std::string>& matters, bool dense = false) {
  IndexOptions o;
  o.dense.embedder = dense ? EmbedderKind::kStatic : EmbedderKind::kNone;
  o.dense.dimension = 16;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  for (const auto& matter : matters) {
    for (int n = 0; n < 3; ++n) {
      for (size_t t = 0; t < kTopics.size(); ++t) {
        for (const char* part : {"head", "clause"}) {
          Document d;
          d.id = DocId(matter, t, part, n);
          d.matter = matter;
          d.metadata["contract"] = {matter + std::to_string(n)};
          d.text = std::string(part) == "head" ? kTopics[t].heading : kTopics[t].clause;
          EXPECT_TRUE((*idx)->Add(d).ok());
        }
      }
    }
  }
  if (dense) EXPECT_TRUE((*idx)->BuildDense().ok());
  return std::move(idx.value());
}

Filter InContract(const std::string& contract) { return {"contract", Filter::Op::kEq, contract}; }

// Topic t asked on contract n of `matter` (the record keeps that filter);
// the lawyer labels the clause relevant and the heading not relevant.
FeedbackRecord Labelled(const Index& idx, const std::string& matter, size_t t, int n) {
  FeedbackRecord r;
  r.record_id = matter + "-r-" + std::to_string(t) + "-" + std::to_string(n);
  r.trace_id = "trace-" + r.record_id;
  r.matter = matter;
  r.question = kTopics[t].question;
  r.filters = {InContract(matter + std::to_string(n))};
  SearchOptions so;
  so.top_k = 5;
  so.filters = r.filters;
  auto hits = idx.Search(r.question, so);
  EXPECT_TRUE(hits.ok());
  uint32_t rank = 0;
  for (const SearchHit& h : *hits) {
    r.results.push_back(
        {h.chunk_id, h.doc_id, ++rank, h.score, FeedbackTextHash(h.text), h.matter});
    r.labels.push_back({h.chunk_id, h.doc_id == DocId(matter, t, "clause", n)
                                        ? PassageLabel::kRelevant
                                        : PassageLabel::kNotRelevant});
  }
  r.consent_to_train = true;
  return r;
}

std::vector<FeedbackRecord> Feedback(const Index& idx, const std::string& matter) {
  std::vector<FeedbackRecord> out;
  for (size_t t = 0; t < kTopics.size(); ++t) {
    for (int n = 0; n < 3; ++n) out.push_back(Labelled(idx, matter, t, n));
  }
  return out;
}

SearchRerankTraining Training(size_t depth = 12) {
  SearchRerankTraining t;
  t.depth = depth;
  t.reranker.min_labels = 20;
  t.reranker.min_relevant = 5;
  return t;
}

std::vector<std::string> Chunks(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const SearchHit& h : hits) out.push_back(h.chunk_id);
  return out;
}

TEST(SearchReranker, ListsAreRankedInTheScopeTheQuestionWasAskedIn) {
  auto idx = Corpus({"a", "b"}, /*dense=*/true);
  std::vector<FeedbackRecord> records = Feedback(*idx, "a");
  FeedbackRecord unscoped = records[1];  // a-r-0-1, asked over its matter
  unscoped.record_id = "a-unscoped";
  unscoped.filters.clear();
  FeedbackRecord gone_field = records[2];  // a field this index no longer has
  gone_field.record_id = "a-gone-field";
  gone_field.filters = {{"custodian_x", Filter::Op::kEq, "x"}};
  records.push_back(unscoped);
  records.push_back(gone_field);
  // The contracts' texts are the same: no near-duplicate collapse, so that
  // a list over the matter shows passages of each.
  SearchRerankTraining t = Training();
  t.search.collapse_jaccard = 0;
  auto lists = SearchRerankLists(*idx, records, std::nullopt, t);
  ASSERT_TRUE(lists.ok()) << lists.status().ToString();
  ASSERT_EQ(lists->size(), records.size());
  // A stored filter: the record's contract only, as the lawyer searched it.
  SearchOptions scoped;
  scoped.collapse_jaccard = 0;
  scoped.top_k = 12;
  scoped.filters = {InContract("a0")};
  scoped.allowed_matters = std::set<std::string>{"a"};
  auto want = idx->Search(kTopics[0].question, scoped);
  ASSERT_TRUE(want.ok());
  EXPECT_EQ(Chunks(lists->at("a-r-0-0")), Chunks(*want));
  EXPECT_EQ(lists->at("a-r-0-0").size(), 2 * kTopics.size());  // one contract's 10 passages
  // No filters, or one that no longer applies: the record's matter alone.
  SearchOptions own;
  own.collapse_jaccard = 0;
  own.top_k = 12;
  own.allowed_matters = std::set<std::string>{"a"};
  auto wide = idx->Search(kTopics[0].question, own);
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(Chunks(lists->at("a-unscoped")), Chunks(*wide));
  EXPECT_EQ(Chunks(lists->at("a-gone-field")), Chunks(*wide));
  EXPECT_NE(Chunks(lists->at("a-unscoped")), Chunks(lists->at("a-r-0-1")));
  std::set<std::string> contracts;
  for (const SearchHit& h : lists->at("a-unscoped")) {
    EXPECT_EQ(h.matter, "a");  // never another matter's passage
    contracts.insert(h.doc_id.substr(h.doc_id.size() - 1));
  }
  EXPECT_GT(contracts.size(), 1u);
}

TEST(SearchReranker, WallsKeepOtherMattersOutOfListsAndModels) {
  auto idx = Corpus({"a", "b"});
  std::vector<FeedbackRecord> records = Feedback(*idx, "a");
  for (const FeedbackRecord& r : Feedback(*idx, "b")) records.push_back(r);
  const std::optional<std::set<std::string>> walls = std::set<std::string>{"a"};
  SearchRerankTraining t = Training();
  t.fold_back = true;  // the lists' fold-back learns from a's records only
  t.fold_back_options.adapter = false;
  t.fold_back_options.min_similarity = 0;
  t.fold_back_options.rocchio_gate = false;
  auto lists = SearchRerankLists(*idx, records, walls, t);
  ASSERT_TRUE(lists.ok()) << lists.status().ToString();
  EXPECT_EQ(lists->size(), records.size() / 2);  // b's records get none
  for (const auto& [id, list] : *lists) {
    EXPECT_EQ(id.substr(0, 2), "a-");
    for (const SearchHit& h : list) EXPECT_EQ(h.matter, "a") << id;
  }
  RerankTrainStats stats;
  auto trained = TrainSearchReranker(*idx, records, walls, t, &stats);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  EXPECT_EQ(stats.walled, records.size() / 2);
  for (const RerankerModelInfo& m : (*trained)->Models()) EXPECT_EQ(m.scope_key, "a");
  // The training wall of the options narrows it further, never widens it.
  t.reranker.allowed_matters = std::set<std::string>{"b"};
  auto none = TrainSearchReranker(*idx, records, walls, t, &stats);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(stats.walled, records.size());
  EXPECT_TRUE((*none)->Models().empty());
}

TEST(SearchReranker, IsTrainWithinHeldOutListsBuiltByHand) {
  auto idx = Corpus({"a"});
  std::vector<FeedbackRecord> records = Feedback(*idx, "a");
  records[4].filters.clear();  // one record asked over the whole matter
  for (bool fold_back : {false, true}) {
    SearchRerankTraining t = Training();
    t.fold_back = fold_back;
    t.fold_back_options.adapter = false;
    t.fold_back_options.min_similarity = 0;
    t.fold_back_options.rocchio_gate = false;
    t.search.mode = SearchMode::kBm25;
    FoldBackOptions fb = t.fold_back_options;
    if (!fold_back) fb.rocchio = false;
    auto by_hand = HeldOutLists(*idx, records, fb, t.depth,
                                [&](const FeedbackRecord& r) -> std::optional<SearchOptions> {
                                  SearchOptions so;
                                  so.mode = SearchMode::kBm25;
                                  so.filters = r.filters;
                                  return so;
                                });
    ASSERT_TRUE(by_hand.ok());
    auto lists = SearchRerankLists(*idx, records, std::nullopt, t);
    ASSERT_TRUE(lists.ok());
    ASSERT_EQ(lists->size(), by_hand->size());
    for (const auto& [id, list] : *by_hand) EXPECT_EQ(Chunks(lists->at(id)), Chunks(list)) << id;
    RerankTrainStats a_stats, b_stats;
    auto expected = LearnedReranker::Train(*idx, records, t.reranker, &a_stats, &*by_hand);
    auto got = TrainSearchReranker(*idx, records, std::nullopt, t, &b_stats);
    ASSERT_TRUE(expected.ok() && got.ok());
    EXPECT_EQ(a_stats.used, b_stats.used);
    auto a = (*expected)->Serialize(), b = (*got)->Serialize();
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << "fold_back " << fold_back;
    ASSERT_EQ((*got)->Models().size(), 1u);
    // Not the model of the shown lists: the lists changed what it learned.
    auto shown = LearnedReranker::Train(*idx, records, t.reranker);
    ASSERT_TRUE(shown.ok());
    EXPECT_NE((*shown)->Models()[0].fingerprint, (*got)->Models()[0].fingerprint);
  }
  SearchRerankTraining bad = Training(0);
  EXPECT_TRUE(TrainSearchReranker(*idx, records, std::nullopt, bad).status().IsInvalidArgument());
}

}  // namespace
}  // namespace foldback
