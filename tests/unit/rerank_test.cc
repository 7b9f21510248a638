// The reranker stage and the learned reranker: features, training
// determinism, the gate, transfer to new questions, ethical walls, consent,
// forgetting a matter, versions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/rerank.h"

namespace foldback {
namespace {

// Each topic has a clause (the answer, a full sentence) and a heading that
// repeats the question's words (short, upper case): BM25 prefers the
// heading, a lawyer marks the clause. Headings beating clauses is a pattern
// no single question determines, so it carries to new topics.
struct Topic {
  std::string question;
  std::string heading;
  std::string clause;
};
const std::vector<Topic> kTopics = {
    {"reverse engineering of samples", "REVERSE ENGINEERING OF SAMPLES",
     "The recipient shall not reverse engineer, decompile or analyse any samples, prototypes or "
     "software that embody the discloser's information, except as the law expressly permits."},
    {"termination for convenience", "TERMINATION FOR CONVENIENCE",
     "Either party may end this agreement for convenience by giving the other party thirty days "
     "written notice, and the termination takes effect at the end of that notice period."},
    {"governing law and jurisdiction", "GOVERNING LAW AND JURISDICTION",
     "This agreement and any dispute arising from it are governed by the laws of the State of New "
     "York, and its courts have exclusive jurisdiction over every such dispute."},
    {"indemnification of third party claims", "INDEMNIFICATION OF THIRD PARTY CLAIMS",
     "The supplier shall defend, indemnify and hold harmless the customer against all losses "
     "arising from claims brought by any third party concerning the delivered products."},
    {"payment of invoices", "PAYMENT OF INVOICES",
     "The customer shall pay each invoice in full within thirty days of receipt, by wire transfer "
     "to the account the supplier designates, without any set-off or deduction."},
    {"return of confidential information", "RETURN OF CONFIDENTIAL INFORMATION",
     "On request, the recipient shall promptly return or destroy all confidential information and "
     "every copy of it, and certify in writing that it has done so within ten days."},
    {"assignment of the agreement", "ASSIGNMENT OF THE AGREEMENT",
     "Neither party may assign or transfer this agreement or any of its rights without the prior "
     "written consent of the other party, which shall not be unreasonably withheld."},
    {"limitation of liability", "LIMITATION OF LIABILITY",
     "Neither party is liable for indirect or consequential damages, and each party's total "
     "liability under this agreement is limited to the fees paid in the preceding year."},
};

std::string DocId(const std::string& matter, size_t t, const std::string& part, int n) {
  return matter + "-" + std::to_string(t) + "-" + part + "-" + std::to_string(n);
}

// `per` contracts per matter, each with every topic's heading and clause as
// separate documents (one chunk each), plus unrelated boilerplate.
std::unique_ptr<Index> Corpus(const std::vector<std::string>& matters, int per = 4) {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kStatic;
  o.dense.dimension = 16;
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  for (const auto& matter : matters) {
    for (int n = 0; n < per; ++n) {
      for (size_t t = 0; t < kTopics.size(); ++t) {
        Document h;
        h.id = DocId(matter, t, "head", n);
        h.matter = matter;
        h.metadata["contract"] = {matter + std::to_string(n)};
        h.text = kTopics[t].heading;
        EXPECT_TRUE((*idx)->Add(h).ok());
        Document c = h;
        c.id = DocId(matter, t, "clause", n);
        c.text = kTopics[t].clause;
        EXPECT_TRUE((*idx)->Add(c).ok());
      }
      Document b;
      b.id = matter + "-boiler-" + std::to_string(n);
      b.matter = matter;
      b.metadata["contract"] = {matter + std::to_string(n)};
      b.text = "This page is intentionally left blank. Signatures follow on the next page.";
      EXPECT_TRUE((*idx)->Add(b).ok());
    }
  }
  EXPECT_TRUE((*idx)->BuildDense().ok());
  return std::move(idx.value());
}

SearchOptions InContract(const std::string& contract, size_t k = 10) {
  SearchOptions o;
  o.top_k = k;
  o.filters.push_back({"contract", Filter::Op::kEq, contract});
  return o;
}

// A lawyer asks topic t's question on contract n of `matter`, sees the top
// results and labels the clause relevant and the heading not relevant
// (`label_heading` false: the heading stays unlabelled).
FeedbackRecord Labelled(const Index& idx, const std::string& id, const std::string& matter,
                        size_t t, int n, bool label_heading = true) {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "trace-" + id;
  r.matter = matter;
  r.question = kTopics[t].question;
  r.hop_queries = {r.question};
  auto hits = idx.Search(r.question, InContract(matter + std::to_string(n), 5));
  EXPECT_TRUE(hits.ok());
  uint32_t rank = 0;
  for (const SearchHit& h : *hits) {
    ShownResult s;
    s.chunk_id = h.chunk_id;
    s.doc_id = h.doc_id;
    s.rank = ++rank;
    s.score = h.score;
    s.text_hash = FeedbackTextHash(h.text);
    s.matter = h.matter;
    r.results.push_back(s);
    if (h.doc_id == DocId(matter, t, "clause", n)) {
      r.labels.push_back({h.chunk_id, PassageLabel::kRelevant});
    } else if (label_heading || h.doc_id != DocId(matter, t, "head", n)) {
      r.labels.push_back({h.chunk_id, PassageLabel::kNotRelevant});
    }
  }
  r.rating = Rating::Up();
  r.consent_to_train = true;
  return r;
}

// Feedback on topics [0, topics) over contracts [0, per) of `matter`.
std::vector<FeedbackRecord> Feedback(const Index& idx, const std::string& matter, size_t topics,
                                     int per = 4) {
  std::vector<FeedbackRecord> out;
  for (size_t t = 0; t < topics; ++t) {
    for (int n = 0; n < per; ++n) {
      out.push_back(Labelled(idx, matter + "-r-" + std::to_string(t) + "-" + std::to_string(n),
                             matter, t, n));
    }
  }
  return out;
}

// The rank (1-based) of `doc` in hits, 0 when absent.
size_t RankOf(const std::vector<SearchHit>& hits, const std::string& doc) {
  for (size_t i = 0; i < hits.size(); ++i) {
    if (hits[i].doc_id == doc) return i + 1;
  }
  return 0;
}

LearnedRerankerOptions SmallGate() {
  LearnedRerankerOptions o;
  o.min_labels = 20;
  o.min_relevant = 5;
  return o;
}

TEST(RerankKind, NamesRoundTrip) {
  for (RerankerKind k : {RerankerKind::kNone, RerankerKind::kLearned, RerankerKind::kLlm}) {
    RerankerKind back;
    ASSERT_TRUE(ParseRerankerKind(RerankerKindName(k), &back));
    EXPECT_EQ(back, k);
  }
  RerankerKind k;
  EXPECT_FALSE(ParseRerankerKind("cross-encoder", &k));
}

TEST(RerankFeatures, DescribePassagesNotQuestions) {
  auto idx = Corpus({"m1"}, 1);
  auto trained = LearnedReranker::Train(*idx, {}, SmallGate());
  ASSERT_TRUE(trained.ok());
  ASSERT_EQ(RerankFeatureNames().size(), 38u);
  ASSERT_EQ(RerankGenericFeatureCount(), 25u);
  auto hits = idx->Search("termination for convenience", InContract("m10", 20));
  ASSERT_TRUE(hits.ok());
  auto rows = (*trained)->Features(*idx, "termination for convenience", *hits, InContract("m10"));
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), hits->size());
  auto feature = [&](const std::string& doc, const std::string& name) {
    size_t k = std::find(RerankFeatureNames().begin(), RerankFeatureNames().end(), name) -
               RerankFeatureNames().begin();
    EXPECT_LT(k, RerankFeatureNames().size()) << name;
    for (size_t i = 0; i < hits->size(); ++i) {
      if ((*hits)[i].doc_id == doc) return (*rows)[i].values[k];
    }
    ADD_FAILURE() << doc << " not among the candidates";
    return -1.0;
  };
  const std::string head = DocId("m1", 1, "head", 0), clause = DocId("m1", 1, "clause", 0);
  EXPECT_DOUBLE_EQ(feature(head, "coverage"), 1.0);  // both terms
  EXPECT_DOUBLE_EQ(feature(head, "coverage_idf"), 1.0);
  EXPECT_DOUBLE_EQ(feature(head, "proximity"), 1.0);    // adjacent
  EXPECT_DOUBLE_EQ(feature(head, "upper_ratio"), 1.0);  // a heading
  EXPECT_DOUBLE_EQ(feature(head, "short"), 1.0);
  EXPECT_DOUBLE_EQ(feature(clause, "short"), 0.0);
  EXPECT_LT(feature(clause, "upper_ratio"), 0.1);
  EXPECT_GT(feature(clause, "length_log"), feature(head, "length_log"));
  // The clause says "convenience" and, seven words later, "termination".
  EXPECT_DOUBLE_EQ(feature(clause, "coverage"), 1.0);
  EXPECT_GT(feature(clause, "proximity"), 0.0);
  EXPECT_LT(feature(clause, "proximity"), 0.5);
  EXPECT_DOUBLE_EQ(feature(head, "bm25_rel"), 1.0);  // the best BM25 of the list
  EXPECT_LT(feature(clause, "bm25_rel"), 1.0);
  EXPECT_DOUBLE_EQ(feature(head, "first_rank_log"), 1.0);  // rank 1: log2(2)
  EXPECT_DOUBLE_EQ(feature(head, "bm25_rank_log"), 1.0);   // the best BM25: rank 1
  EXPECT_GT(feature(clause, "bm25_rank_log"), 1.0);
  EXPECT_DOUBLE_EQ(feature(head, "coverage_rare"), 1.0);  // every rarer term found
  EXPECT_DOUBLE_EQ(feature(head, "prior_pos"), 0.0);      // no labels, no prior
  EXPECT_DOUBLE_EQ(feature(head, "body_role"), 1.0);
  EXPECT_DOUBLE_EQ(feature(head, "mem_pos_dense"), 0.0);  // no memory asked for
  EXPECT_DOUBLE_EQ(feature(head, "same_knn"), 0.0);
  // Metadata agreement: the query names the contract field's value.
  auto named = (*trained)->Features(*idx, "m10 termination", *hits, InContract("m10"));
  ASSERT_TRUE(named.ok());
  size_t k = std::find(RerankFeatureNames().begin(), RerankFeatureNames().end(), "metadata_match") -
             RerankFeatureNames().begin();
  EXPECT_DOUBLE_EQ((*named)[0].values[k], 1.0);
  EXPECT_DOUBLE_EQ((*rows)[0].values[k], 0.0);
}

TEST(LearnedReranker, TransfersToNewQuestions) {
  auto idx = Corpus({"m1"});
  // Feedback on topics 0-4; topics 5-7 are never asked.
  auto records = Feedback(*idx, "m1", 5);
  RerankTrainStats stats;
  auto trained = LearnedReranker::Train(*idx, records, SmallGate(), &stats);
  ASSERT_TRUE(trained.ok());
  EXPECT_EQ(stats.used, records.size());
  auto models = (*trained)->Models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0].scope_key, "m1");
  EXPECT_TRUE(models[0].gate_open) << models[0].note;
  EXPECT_EQ(models[0].questions, 5u);
  EXPECT_GT(models[0].validation_gain, 0);
  EXPECT_LT(models[0].loss_after, models[0].loss_before);
  size_t improved = 0;
  for (size_t t = 5; t < kTopics.size(); ++t) {
    for (int n = 0; n < 4; ++n) {
      SearchOptions o = InContract("m1" + std::to_string(n));
      const std::string clause = DocId("m1", t, "clause", n);
      auto before = idx->Search(kTopics[t].question, o);
      RerankReport report;
      auto after = SearchAndRerank(*idx, nullptr, kTopics[t].question, o, trained->get(),
                                   RerankOptions(), &report);
      ASSERT_TRUE(before.ok() && after.ok());
      EXPECT_TRUE(report.applied) << report.note;
      EXPECT_EQ(after->size(), before->size());
      ASSERT_GT(RankOf(*after, clause), 0u);
      EXPECT_LE(RankOf(*after, clause), RankOf(*before, clause));
      improved += RankOf(*after, clause) < RankOf(*before, clause);
      EXPECT_EQ(RankOf(*after, clause), 1u) << kTopics[t].question;
    }
  }
  EXPECT_GT(improved, 0u);  // the first stage put headings first somewhere
}

// The label prior: a candidate's similarity to passages labelled for other,
// dissimilar questions in other documents — never across a wall, and only
// when label_prior is on.
TEST(LearnedReranker, LabelPriorFromOtherQuestions) {
  auto idx = Corpus({"m1"});
  auto records = Feedback(*idx, "m1", 5);
  const std::string q = kTopics[6].question;  // never asked
  SearchOptions o = InContract("m12", 20);
  o.filters.clear();
  o.filters.push_back({"contract", Filter::Op::kEq, "m13"});
  auto hits = idx->Search(q, o);
  ASSERT_TRUE(hits.ok() && !hits->empty());
  auto value = [&](const LearnedReranker& r, const SearchOptions& so, const std::string& doc,
                   const std::string& name) {
    size_t k = std::find(RerankFeatureNames().begin(), RerankFeatureNames().end(), name) -
               RerankFeatureNames().begin();
    auto rows = r.Features(*idx, q, *hits, so);
    EXPECT_TRUE(rows.ok());
    for (size_t i = 0; i < hits->size(); ++i) {
      if ((*hits)[i].doc_id == doc) return (*rows)[i].values[k];
    }
    ADD_FAILURE() << doc << " not among the candidates";
    return -1.0;
  };
  const std::string head = DocId("m1", 6, "head", 3), clause = DocId("m1", 6, "clause", 3);
  auto with = LearnedReranker::Train(*idx, records, SmallGate());
  ASSERT_TRUE(with.ok());
  ASSERT_TRUE((*with)->Models().at(0).gate_open) << (*with)->Models().at(0).note;
  // Headings were labelled not relevant, clauses relevant, for topics 0-4:
  // topic 6's heading looks like those headings, its clause like the clauses.
  double head_neg = value(**with, o, head, "prior_neg");
  double head_pos = value(**with, o, head, "prior_pos");
  double clause_pos = value(**with, o, clause, "prior_pos");
  EXPECT_GT(head_neg, 0.0);
  EXPECT_GT(clause_pos, 0.0);
  EXPECT_GT(head_neg - head_pos, value(**with, o, clause, "prior_neg") - clause_pos);
  // Behind a wall that excludes m1, nothing of m1's labels is used.
  SearchOptions walled = o;
  walled.allowed_matters = std::set<std::string>{"m2"};
  auto none = (*with)->Features(*idx, q, *hits, walled);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());  // m1's candidates are walled off too
  // Off: zero.
  LearnedRerankerOptions off = SmallGate();
  off.label_prior = false;
  auto without = LearnedReranker::Train(*idx, records, off);
  ASSERT_TRUE(without.ok());
  EXPECT_DOUBLE_EQ(value(**without, o, head, "prior_neg"), 0.0);
  EXPECT_DOUBLE_EQ(value(**without, o, clause, "prior_pos"), 0.0);
}

// The memory's second group: labels of the same question asked before on
// other contracts (similarity >= same_question_similarity), with a kNN vote
// of the nearest labelled passages; a merely similar question gets the
// first group only.
TEST(LearnedReranker, SameQuestionMemoryGroup) {
  auto idx = Corpus({"m1"}, 5);
  auto records = Feedback(*idx, "m1", 5);  // contracts 0-3; contract 4 never labelled
  // For topic 1 the lawyers want the heading, not the clause: a need the
  // generic part (clauses first) cannot learn, so the memory is kept.
  for (auto& r : records) {
    if (r.question != kTopics[1].question) continue;
    for (auto& l : r.labels) {
      l.label =
          l.label == PassageLabel::kRelevant ? PassageLabel::kNotRelevant : PassageLabel::kRelevant;
    }
  }
  SearchOptions o = InContract("m14", 20);
  auto value = [&](const LearnedReranker& r, const std::string& q, const std::string& doc,
                   const std::string& name) {
    size_t k = std::find(RerankFeatureNames().begin(), RerankFeatureNames().end(), name) -
               RerankFeatureNames().begin();
    EXPECT_LT(k, RerankFeatureNames().size()) << name;
    auto hits = idx->Search(q, o);
    EXPECT_TRUE(hits.ok());
    auto rows = r.Features(*idx, q, *hits, o);
    EXPECT_TRUE(rows.ok());
    for (size_t i = 0; i < hits->size(); ++i) {
      if ((*hits)[i].doc_id == doc) return (*rows)[i].values[k];
    }
    ADD_FAILURE() << doc << " not among the candidates";
    return -99.0;
  };
  LearnedRerankerOptions lo = SmallGate();
  lo.validate = false;  // the features are tested here, not the gate
  auto trained = LearnedReranker::Train(*idx, records, lo);
  ASSERT_TRUE(trained.ok());
  ASSERT_TRUE((*trained)->Models().at(0).gate_open) << (*trained)->Models().at(0).note;
  const std::string head = DocId("m1", 1, "head", 4), clause = DocId("m1", 1, "clause", 4);
  const std::string same = kTopics[1].question;
  ASSERT_TRUE((*trained)->Models().at(0).memory);
  // The same question, asked on contracts 0-3: the heading is near the
  // headings labelled relevant, the clause near the clauses labelled not.
  EXPECT_GT(value(**trained, same, head, "same_pos_dense"), 0.9);
  // kNN vote: the heading's nearest labelled passages lean relevant more
  // than the clause's do (tiny 16-d embeddings: other shown passages are
  // among the nearest too).
  EXPECT_GT(value(**trained, same, head, "same_knn"), 0.0);
  EXPECT_GT(value(**trained, same, head, "same_knn"), value(**trained, same, clause, "same_knn"));
  EXPECT_DOUBLE_EQ(value(**trained, same, head, "same_exact"), 0.0);  // not labelled itself
  EXPECT_GT(value(**trained, same, head, "mem_pos_dense"), 0.9);      // the first group too
  // A similar question (not the same): the first group only.
  const std::string similar = "termination of the agreement for convenience";
  EXPECT_GT(value(**trained, similar, head, "mem_pos_dense"), 0.0);
  EXPECT_DOUBLE_EQ(value(**trained, similar, head, "same_pos_dense"), 0.0);
  EXPECT_DOUBLE_EQ(value(**trained, similar, head, "same_knn"), 0.0);
  // Above 1: no second group.
  LearnedRerankerOptions one = lo;
  one.same_question_similarity = 1.5;
  auto single = LearnedReranker::Train(*idx, records, one);
  ASSERT_TRUE(single.ok());
  ASSERT_TRUE((*single)->Models().at(0).memory);
  EXPECT_DOUBLE_EQ(value(**single, same, head, "same_pos_dense"), 0.0);
  EXPECT_DOUBLE_EQ(value(**single, same, head, "same_knn"), 0.0);
  EXPECT_GT(value(**single, same, head, "mem_pos_dense"), 0.9);
  // Behind a wall that excludes m1, m1's labels say nothing (and its
  // candidates are not scored at all).
  SearchOptions walled = o;
  walled.allowed_matters = std::set<std::string>{"m2"};
  auto hits = idx->Search(same, o);
  ASSERT_TRUE(hits.ok());
  auto none = (*trained)->Features(*idx, same, *hits, walled);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // A negative threshold is refused.
  LearnedRerankerOptions bad = SmallGate();
  bad.same_question_similarity = -0.1;
  EXPECT_EQ(LearnedReranker::Train(*idx, records, bad).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(LearnedReranker, TrainingIsDeterministic) {
  auto idx = Corpus({"m1"});
  auto records = Feedback(*idx, "m1", 5);
  auto a = LearnedReranker::Train(*idx, records, SmallGate());
  auto b = LearnedReranker::Train(*idx, records, SmallGate());
  ASSERT_TRUE(a.ok() && b.ok());
  auto sa = (*a)->Serialize(), sb = (*b)->Serialize();
  ASSERT_TRUE(sa.ok() && sb.ok());
  EXPECT_EQ(*sa, *sb);
  EXPECT_EQ((*a)->Models()[0].weights, (*b)->Models()[0].weights);
  // Record order does not matter either.
  std::vector<FeedbackRecord> reversed(records.rbegin(), records.rend());
  auto c = LearnedReranker::Train(*idx, reversed, SmallGate());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->Models()[0].weights, (*a)->Models()[0].weights);
  // Through the index snapshot, the same model and the same ranking.
  ASSERT_TRUE((*a)->SaveTo(idx.get()).ok());
  auto snap = idx->Snapshot();
  ASSERT_TRUE(snap.ok());
  auto loaded_idx = Index::FromSnapshot(*snap);
  ASSERT_TRUE(loaded_idx.ok());
  auto loaded = LearnedReranker::LoadFrom(**loaded_idx, SmallGate());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->Models()[0].weights, (*a)->Models()[0].weights);
  SearchOptions o = InContract("m12");
  auto r1 = SearchAndRerank(*idx, nullptr, kTopics[6].question, o, a->get(), RerankOptions());
  auto r2 = SearchAndRerank(**loaded_idx, nullptr, kTopics[6].question, o, loaded->get(),
                            RerankOptions());
  ASSERT_TRUE(r1.ok() && r2.ok());
  ASSERT_EQ(r1->size(), r2->size());
  for (size_t i = 0; i < r1->size(); ++i) EXPECT_EQ((*r1)[i].chunk_id, (*r2)[i].chunk_id);
  // The reranker reads the passages whatever the options say of hits' text.
  o.hit_text = false;
  auto r3 = SearchAndRerank(*idx, nullptr, kTopics[6].question, o, a->get(), RerankOptions());
  ASSERT_TRUE(r3.ok());
  ASSERT_EQ(r3->size(), r1->size());
  for (size_t i = 0; i < r1->size(); ++i) {
    EXPECT_EQ((*r3)[i].chunk_id, (*r1)[i].chunk_id);
    EXPECT_EQ((*r3)[i].text, (*r1)[i].text);
    EXPECT_FALSE((*r3)[i].text.empty());
  }
}

TEST(LearnedReranker, GateKeepsFewLabelsOut) {
  auto idx = Corpus({"m1"});
  // Two records: far below the gate.
  std::vector<FeedbackRecord> few = {Labelled(*idx, "a", "m1", 0, 0),
                                     Labelled(*idx, "b", "m1", 1, 0)};
  auto trained = LearnedReranker::Train(*idx, few);
  ASSERT_TRUE(trained.ok());
  ASSERT_EQ((*trained)->Models().size(), 1u);
  EXPECT_FALSE((*trained)->Models()[0].gate_open);
  EXPECT_NE((*trained)->Models()[0].note.find("labelled passages"), std::string::npos);
  EXPECT_TRUE((*trained)->Applicable(std::nullopt).empty());
  SearchOptions o = InContract("m12");
  auto before = idx->Search(kTopics[6].question, o);
  RerankReport report;
  auto after = SearchAndRerank(*idx, nullptr, kTopics[6].question, o, trained->get(),
                               RerankOptions(), &report);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_FALSE(report.applied);
  EXPECT_FALSE(report.note.empty());
  ASSERT_EQ(before->size(), after->size());
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ((*before)[i].chunk_id, (*after)[i].chunk_id);
  }
  // One question, many labels: still closed (it would learn that question).
  std::vector<FeedbackRecord> one;
  for (int n = 0; n < 4; ++n) {
    for (int rep = 0; rep < 4; ++rep) {
      one.push_back(Labelled(*idx, "q" + std::to_string(n) + std::to_string(rep), "m1", 0, n));
    }
  }
  LearnedRerankerOptions lo = SmallGate();
  lo.min_relevant = 1;
  auto single = LearnedReranker::Train(*idx, one, lo);
  ASSERT_TRUE(single.ok());
  EXPECT_FALSE((*single)->Models()[0].gate_open);
  EXPECT_NE((*single)->Models()[0].note.find("distinct questions"), std::string::npos);
  // No labels at all: nothing to learn, nothing applied, no error.
  auto none = LearnedReranker::Train(*idx, {});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)->Models().empty());
}

TEST(LearnedReranker, ConsentPrivilegeAndUnlabelledPassages) {
  auto idx = Corpus({"m1"});
  auto records = Feedback(*idx, "m1", 5);
  records[0].consent_to_train = false;
  records[1].privileged = true;
  // A lawyer who left the heading unlabelled: it is not a negative.
  records[2] = Labelled(*idx, records[2].record_id, "m1", 0, 2, /*label_heading=*/false);
  RerankTrainStats stats;
  auto trained = LearnedReranker::Train(*idx, records, SmallGate(), &stats);
  ASSERT_TRUE(trained.ok());
  EXPECT_EQ(stats.no_consent, 1u);
  EXPECT_EQ(stats.privileged, 1u);
  EXPECT_EQ(stats.used, records.size() - 2);
  EXPECT_EQ(stats.unlabelled_shown, 1u);
  size_t labels = 0;
  for (size_t i = 2; i < records.size(); ++i) labels += records[i].labels.size();
  const auto m = (*trained)->Models()[0];
  EXPECT_EQ(m.relevant + m.not_relevant, labels);
  EXPECT_EQ(m.records, records.size() - 2);
}

TEST(LearnedReranker, WallSafety) {
  auto idx = Corpus({"a", "b"});
  auto records = Feedback(*idx, "b", 5);
  // Trained on matter b: never applies to a user walled to a.
  auto trained = LearnedReranker::Train(*idx, records, SmallGate());
  ASSERT_TRUE(trained.ok());
  ASSERT_EQ((*trained)->Models().size(), 1u);
  EXPECT_EQ((*trained)->Models()[0].scope_key, "b");
  EXPECT_TRUE((*trained)->Models()[0].gate_open);
  EXPECT_TRUE((*trained)->Applicable(std::set<std::string>{"a"}).empty());
  EXPECT_EQ((*trained)->Applicable(std::set<std::string>{"a", "b"}).size(), 1u);
  SearchOptions walled = InContract("a2");
  walled.allowed_matters = std::set<std::string>{"a"};
  auto before = idx->Search(kTopics[6].question, walled);
  RerankReport report;
  auto after = SearchAndRerank(*idx, nullptr, kTopics[6].question, walled, trained->get(),
                               RerankOptions(), &report);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_FALSE(report.applied);
  ASSERT_EQ(before->size(), after->size());
  for (size_t i = 0; i < before->size(); ++i) {
    EXPECT_EQ((*before)[i].chunk_id, (*after)[i].chunk_id);
  }
  // A walled-off passage handed to the reranker is dropped, never scored.
  SearchOptions both = InContract("b2");
  auto b_hits = idx->Search(kTopics[6].question, both);
  ASSERT_TRUE(b_hits.ok() && !b_hits->empty());
  std::vector<SearchHit> mixed = *before;
  mixed.push_back((*b_hits)[0]);
  auto rows = (*trained)->Features(*idx, kTopics[6].question, mixed, walled);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), before->size());
  auto out = (*trained)->Rerank(*idx, kTopics[6].question, mixed, walled, &report);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(report.walled, 1u);
  for (const auto& h : *out) EXPECT_EQ(h.matter, "a");
  // Labels from behind the training wall are refused.
  LearnedRerankerOptions wall_a = SmallGate();
  wall_a.allowed_matters = std::set<std::string>{"a"};
  RerankTrainStats stats;
  auto refused = LearnedReranker::Train(*idx, records, wall_a, &stats);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(stats.walled, records.size());
  EXPECT_EQ(stats.used, 0u);
  EXPECT_TRUE((*refused)->Models().empty());
  // A record of matter a showing a passage of b is b's too.
  FeedbackRecord cross = Feedback(*idx, "a", 1, 1)[0];
  ShownResult s;
  s.chunk_id = (*b_hits)[0].chunk_id;
  s.doc_id = (*b_hits)[0].doc_id;
  s.rank = 9;
  s.matter = "b";
  cross.results.push_back(s);
  auto cross_trained = LearnedReranker::Train(*idx, {cross}, wall_a, &stats);
  ASSERT_TRUE(cross_trained.ok());
  EXPECT_EQ(stats.walled, 1u);
  // Marked shareable, b's weights apply to a's users; b's memory does not.
  LearnedRerankerOptions share = SmallGate();
  share.shareable_matters = {"b"};
  auto shared = LearnedReranker::Train(*idx, records, share);
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ((*shared)->Applicable(std::set<std::string>{"a"}).size(), 1u);
  auto shared_hits = SearchAndRerank(*idx, nullptr, kTopics[0].question, walled, shared->get(),
                                     RerankOptions(), &report);
  ASSERT_TRUE(shared_hits.ok());
  EXPECT_TRUE(report.applied);
  EXPECT_FALSE(report.memory_used);
  for (const auto& h : *shared_hits) EXPECT_EQ(h.matter, "a");
  // Inside b's walls, the same question asked on b's contracts uses memory.
  SearchOptions in_b = InContract("b1");
  in_b.allowed_matters = std::set<std::string>{"b"};
  auto memory_hits = SearchAndRerank(*idx, nullptr, kTopics[0].question, in_b, shared->get(),
                                     RerankOptions(), &report);
  ASSERT_TRUE(memory_hits.ok());
  EXPECT_TRUE(report.applied);
  EXPECT_EQ(report.memory_used, (*shared)->Models()[0].memory);
}

TEST(LearnedReranker, ForgetMatterAndVersions) {
  auto idx = Corpus({"a", "b"});
  auto a_records = Feedback(*idx, "a", 5);
  auto b_records = Feedback(*idx, "b", 4);
  std::vector<FeedbackRecord> all = a_records;
  all.insert(all.end(), b_records.begin(), b_records.end());
  auto trained = LearnedReranker::Train(*idx, all, SmallGate());
  ASSERT_TRUE(trained.ok());
  LearnedReranker& r = **trained;
  ASSERT_EQ(r.Models().size(), 2u);
  ASSERT_EQ(r.History("b").size(), 1u);
  const std::vector<double> v1 = r.History("b")[0].weights;
  // More labels for b: version 2, version 1 kept; a unchanged.
  auto more = Feedback(*idx, "b", 6);
  std::vector<FeedbackRecord> all2 = a_records;
  all2.insert(all2.end(), more.begin(), more.end());
  RerankTrainStats stats;
  ASSERT_TRUE(r.Update(*idx, all2, &stats).ok());
  EXPECT_EQ(stats.trained, 1u);
  EXPECT_EQ(stats.unchanged, 1u);
  auto history = r.History("b");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].version, 1u);
  EXPECT_EQ(history[1].version, 2u);
  EXPECT_TRUE(history[1].current);
  EXPECT_NE(history[1].weights, v1);
  // Restore the previous version.
  ASSERT_TRUE(r.Restore("b", 1).ok());
  for (const auto& m : r.Models()) {
    if (m.scope_key == "b") {
      EXPECT_EQ(m.version, 1u);
      EXPECT_EQ(m.weights, v1);
    }
  }
  EXPECT_EQ(r.Restore("b", 7).code(), Status::Code::kNotFound);
  EXPECT_EQ(r.Restore("zz", 1).code(), Status::Code::kNotFound);
  // The restored choice survives bytes.
  auto bytes = r.Serialize();
  ASSERT_TRUE(bytes.ok());
  auto back = LearnedReranker::Deserialize(*bytes, SmallGate());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->History("b").size(), 2u);
  for (const auto& m : (*back)->Models()) {
    if (m.scope_key == "b") {
      EXPECT_EQ(m.version, 1u);
    }
  }
  // Forgetting b removes every version; a stays.
  EXPECT_EQ(r.ForgetMatter("b"), 1u);
  ASSERT_EQ(r.Models().size(), 1u);
  EXPECT_EQ(r.Models()[0].scope_key, "a");
  EXPECT_TRUE(r.History("b").empty());
  EXPECT_EQ(r.Restore("b", 1).code(), Status::Code::kNotFound);
  // Retraining from a log whose b records were tombstoned drops b too.
  auto again = LearnedReranker::Train(*idx, all, SmallGate());
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Update(*idx, a_records, &stats).ok());
  EXPECT_EQ(stats.dropped, 1u);
  EXPECT_TRUE((*again)->History("b").empty());
}

// A model stored as bytes: weights on upper_ratio (10) and length_log (1),
// with or without the feature ranges it was fitted on.
std::string TwoFeatureModel(bool with_ranges) {
  std::string v =
      "{\"version\":1,\"scope\":[\"m\"],\"gate_open\":true,\"note\":\"\",\"records\":9,"
      "\"relevant\":9,\"not_relevant\":9,\"partly\":0,\"pairs\":9,\"questions\":3,"
      "\"validation_gain\":0.1,\"loss_before\":1,\"loss_after\":0.5,\"memory\":false,"
      "\"fingerprint\":\"1\",\"weights\":[10,1],\"memory_entries\":[]";
  if (with_ranges) v += ",\"feature_min\":[0,0],\"feature_max\":[0.1,10]";
  return "{\"format\":\"foldback.rerank.learned\",\"version\":1,"
         "\"features\":[\"upper_ratio\",\"length_log\"],"
         "\"scopes\":[{\"key\":\"m\",\"current\":1,\"versions\":[" +
         v + "}]}]}";
}

TEST(LearnedReranker, ScoresClipFeaturesToTheRangeTheyWereFittedOn) {
  auto idx = Corpus({"m"}, 1);
  SearchOptions so = InContract("m0", 10);
  RerankOptions ro;
  ro.depth = 10;
  const std::string q = kTopics[1].question;
  // Fitted where capitals were at most 10 % of letters: a heading (all
  // capitals) weighs as if it had 10 %, and the longer clause wins.
  auto clipped = LearnedReranker::Deserialize(TwoFeatureModel(true));
  ASSERT_TRUE(clipped.ok()) << clipped.status().ToString();
  auto hits = SearchAndRerank(*idx, nullptr, q, so, clipped->get(), ro);
  ASSERT_TRUE(hits.ok());
  EXPECT_LT(RankOf(*hits, DocId("m", 1, "clause", 0)), RankOf(*hits, DocId("m", 1, "head", 0)));
  ASSERT_EQ((*clipped)->Models().at(0).feature_max.size(), RerankFeatureNames().size());
  // The ranges survive bytes.
  auto bytes = (*clipped)->Serialize();
  ASSERT_TRUE(bytes.ok());
  auto back = LearnedReranker::Deserialize(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->Models().at(0).feature_min, (*clipped)->Models().at(0).feature_min);
  EXPECT_EQ((*back)->Models().at(0).feature_max, (*clipped)->Models().at(0).feature_max);
  // A model stored before ranges were kept scores as it did: unclipped, the
  // heading's capitals win.
  auto old = LearnedReranker::Deserialize(TwoFeatureModel(false));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_TRUE((*old)->Models().at(0).feature_min.empty());
  auto old_hits = SearchAndRerank(*idx, nullptr, q, so, old->get(), ro);
  ASSERT_TRUE(old_hits.ok());
  EXPECT_LT(RankOf(*old_hits, DocId("m", 1, "head", 0)),
            RankOf(*old_hits, DocId("m", 1, "clause", 0)));
  // A range that is not one is refused.
  std::string bad = TwoFeatureModel(true);
  bad.replace(bad.find("[0.1,10]"), 8, "[0.1,-1]");
  EXPECT_EQ(LearnedReranker::Deserialize(bad).status().code(), Status::Code::kCorruption);
  // Training keeps each feature's range over the labelled passages.
  auto a = Corpus({"a"});
  auto trained = LearnedReranker::Train(*a, Feedback(*a, "a", 5), SmallGate());
  ASSERT_TRUE(trained.ok());
  const RerankerModelInfo m = (*trained)->Models().at(0);
  ASSERT_EQ(m.feature_min.size(), RerankFeatureNames().size());
  for (size_t k = 0; k < m.feature_min.size(); ++k) EXPECT_LE(m.feature_min[k], m.feature_max[k]);
}

size_t FeatureIndex(const std::string& name) {
  return std::find(RerankFeatureNames().begin(), RerankFeatureNames().end(), name) -
         RerankFeatureNames().begin();
}

// The model starts from the first stage's order (first_stage_prior): under
// an L2 that leaves the labels no say, it ranks as the search did, the one
// weight it keeps on the first stage's rank. Without the prior the same L2
// leaves near-zero weights whose small differences still reorder the list.
// (Like every feature, the rank is clipped to the range it had over the
// labelled passages — the shown top 5 — so the order kept is the top 4's:
// from rank 5 on the prior is flat.)
TEST(LearnedReranker, FittedOnTopOfTheFirstStagesOrder) {
  auto idx = Corpus({"m1"});
  auto records = Feedback(*idx, "m1", 5);
  LearnedRerankerOptions stiff = SmallGate();
  stiff.l2 = 1e6;
  stiff.validate = false;
  EXPECT_EQ(stiff.first_stage_prior, 0.5);
  LearnedRerankerOptions loose = stiff;
  loose.first_stage_prior = 0;
  auto with = LearnedReranker::Train(*idx, records, stiff);
  auto without = LearnedReranker::Train(*idx, records, loose);
  ASSERT_TRUE(with.ok() && without.ok());
  const RerankerModelInfo m = (*with)->Models().at(0);
  ASSERT_TRUE(m.gate_open) << m.note;
  const size_t rank = FeatureIndex("first_rank_log");
  EXPECT_LT(m.weights[rank], 0);
  EXPECT_GT((*without)->Models().at(0).weights[rank], m.weights[rank]);
  size_t moved = 0;
  for (size_t t = 5; t < kTopics.size(); ++t) {
    for (int n = 0; n < 4; ++n) {
      SearchOptions o = InContract("m1" + std::to_string(n));
      auto before = idx->Search(kTopics[t].question, o);
      auto kept =
          SearchAndRerank(*idx, nullptr, kTopics[t].question, o, with->get(), RerankOptions());
      auto free =
          SearchAndRerank(*idx, nullptr, kTopics[t].question, o, without->get(), RerankOptions());
      ASSERT_TRUE(before.ok() && kept.ok() && free.ok());
      ASSERT_EQ(kept->size(), before->size());
      ASSERT_GE(before->size(), 4u);
      for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ((*kept)[i].chunk_id, (*before)[i].chunk_id) << kTopics[t].question;
        moved += (*free)[i].chunk_id != (*before)[i].chunk_id;
      }
    }
  }
  EXPECT_GT(moved, 0u);  // without the prior, tiny weights still reorder
  LearnedRerankerOptions bad = SmallGate();
  bad.first_stage_prior = -1;
  EXPECT_EQ(LearnedReranker::Train(*idx, records, bad).status().code(),
            Status::Code::kInvalidArgument);
  bad.first_stage_prior = std::nan("");
  EXPECT_EQ(LearnedReranker::Train(*idx, records, bad).status().code(),
            Status::Code::kInvalidArgument);
}

// Training within the lists the reranker will reorder (HeldOutLists,
// RerankTrainingLists): the labelled passages' ranks are read in the list
// given; a list's passage of another matter is ignored; fold-back's lists
// hold the record's own question out.
TEST(LearnedReranker, TrainsWithinTheListsItReorders) {
  auto idx = Corpus({"a", "b"});
  auto records = Feedback(*idx, "a", 5);  // ids a-r-TOPIC-CONTRACT
  auto options_for = [](const FeedbackRecord& r) -> std::optional<SearchOptions> {
    return InContract("a" + r.record_id.substr(r.record_id.size() - 1), 20);
  };
  FoldBackOptions plain;
  plain.demos = plain.rocchio = plain.adapter = false;
  auto lists = HeldOutLists(*idx, records, plain, 20, options_for);
  ASSERT_TRUE(lists.ok()) << lists.status().ToString();
  ASSERT_EQ(lists->size(), records.size());
  for (const FeedbackRecord& r : records) {
    auto hits = idx->Search(r.question, *options_for(r));
    ASSERT_TRUE(hits.ok());
    const auto& list = lists->at(r.record_id);
    ASSERT_EQ(list.size(), hits->size());
    for (size_t i = 0; i < list.size(); ++i) EXPECT_EQ(list[i].chunk_id, (*hits)[i].chunk_id);
  }
  // Reversed, the lists put the labelled passages (the shown top 5) last.
  RerankTrainingLists reversed = *lists;
  for (auto& [id, list] : reversed) std::reverse(list.begin(), list.end());
  auto shown = LearnedReranker::Train(*idx, records, SmallGate());
  RerankTrainStats stats;
  auto within = LearnedReranker::Train(*idx, records, SmallGate(), &stats, &reversed);
  ASSERT_TRUE(shown.ok() && within.ok());
  EXPECT_EQ(stats.used, records.size());
  const size_t rank = FeatureIndex("first_rank_log");
  const RerankerModelInfo a = (*shown)->Models().at(0), b = (*within)->Models().at(0);
  const size_t n = lists->begin()->second.size();  // every contract's passages: 17
  ASSERT_GT(n, 9u);
  EXPECT_LE(a.feature_max[rank], std::log2(6.0) + 1e-12);      // ranks 1-5 as shown
  EXPECT_GE(b.feature_min[rank], std::log2(n - 3.0) - 1e-12);  // ranks n-4 .. n
  EXPECT_NE(a.fingerprint, b.fingerprint);                     // other data: a new version
  // A passage of matter b in a record's list neither widens the scope nor
  // trips a training wall of a.
  SearchOptions in_b = InContract("b0", 1);
  auto b_hit = idx->Search(kTopics[0].question, in_b);
  ASSERT_TRUE(b_hit.ok() && b_hit->size() == 1u);
  RerankTrainingLists mixed = *lists;
  auto& first = mixed.at(records[0].record_id);
  first.insert(first.begin(), (*b_hit)[0]);
  LearnedRerankerOptions wall_a = SmallGate();
  wall_a.allowed_matters = std::set<std::string>{"a"};
  auto walled = LearnedReranker::Train(*idx, records, wall_a, &stats, &mixed);
  ASSERT_TRUE(walled.ok());
  EXPECT_EQ(stats.walled, 0u);
  ASSERT_EQ((*walled)->Models().size(), 1u);
  EXPECT_EQ((*walled)->Models()[0].scope_key, "a");
  // Fold-back's lists: each question's records ranked by a fold-back built
  // from the other questions' records only.
  FoldBackOptions rocchio = plain;
  rocchio.rocchio = true;
  rocchio.min_similarity = 0;
  rocchio.rocchio_gate = false;
  auto held = HeldOutLists(*idx, records, rocchio, 20, options_for);
  ASSERT_TRUE(held.ok());
  std::vector<FeedbackRecord> others;
  for (const auto& r : records) {
    if (r.question != kTopics[0].question) others.push_back(r);
  }
  auto fb = FoldBack::Build(*idx, others, rocchio);
  ASSERT_TRUE(fb.ok());
  auto expected = (*fb)->Search(*idx, kTopics[0].question, InContract("a2", 20));
  ASSERT_TRUE(expected.ok());
  const auto& got = held->at("a-r-0-2");
  ASSERT_EQ(got.size(), expected->size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].chunk_id, (*expected)[i].chunk_id);
    EXPECT_DOUBLE_EQ(got[i].score, (*expected)[i].score);
  }
  // No options for a record: no list; a bad depth is refused.
  auto none = HeldOutLists(*idx, records, plain, 20,
                           [](const FeedbackRecord&) { return std::optional<SearchOptions>(); });
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(HeldOutLists(*idx, records, plain, 0, options_for).status().code(),
            Status::Code::kInvalidArgument);
}

// A model stored by an older build (another fingerprint: rerank-v4's, say)
// still loads, and Update retrains it as a new version; one stored by this
// build is left as it is.
TEST(LearnedReranker, OlderStoredModelsLoadAndRetrain) {
  auto idx = Corpus({"m1"});
  auto records = Feedback(*idx, "m1", 5);
  auto trained = LearnedReranker::Train(*idx, records, SmallGate());
  ASSERT_TRUE(trained.ok());
  auto bytes = (*trained)->Serialize();
  ASSERT_TRUE(bytes.ok());
  const std::string fp =
      "\"fingerprint\":\"" + std::to_string((*trained)->Models()[0].fingerprint) + "\"";
  ASSERT_NE(bytes->find(fp), std::string::npos);
  std::string old = *bytes;
  old.replace(old.find(fp), fp.size(), "\"fingerprint\":\"1\"");
  RerankTrainStats stats;
  auto same = LearnedReranker::Deserialize(*bytes, SmallGate());
  ASSERT_TRUE(same.ok());
  ASSERT_TRUE((*same)->Update(*idx, records, &stats).ok());
  EXPECT_EQ(stats.unchanged, 1u);
  auto loaded = LearnedReranker::Deserialize(old, SmallGate());
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE((*loaded)->Update(*idx, records, &stats).ok());
  EXPECT_EQ(stats.trained, 1u);
  auto history = (*loaded)->History("m1");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_TRUE(history[1].current);
  EXPECT_EQ(history[1].weights, (*trained)->Models()[0].weights);
}

TEST(LearnedReranker, BadBytesAndOptions) {
  EXPECT_EQ(LearnedReranker::Deserialize("not json").status().code(), Status::Code::kCorruption);
  EXPECT_EQ(LearnedReranker::Deserialize("{\"format\":\"other\"}").status().code(),
            Status::Code::kCorruption);
  EXPECT_EQ(LearnedReranker::Deserialize("{\"format\":\"foldback.rerank.learned\",\"version\":99}")
                .status()
                .code(),
            Status::Code::kNotSupported);
  EXPECT_EQ(LearnedReranker::Deserialize(
                "{\"format\":\"foldback.rerank.learned\",\"version\":1,\"features\":[],"
                "\"scopes\":[{\"key\":\"x\"}]}")
                .status()
                .code(),
            Status::Code::kCorruption);
  auto idx = Corpus({"m1"}, 1);
  EXPECT_EQ(LearnedReranker::LoadFrom(*idx).status().code(), Status::Code::kNotFound);
  LearnedRerankerOptions bad;
  bad.l2 = -1;
  EXPECT_EQ(LearnedReranker::Train(*idx, {}, bad).status().code(), Status::Code::kInvalidArgument);
  RerankOptions deep;
  deep.depth = 20000;
  auto trained = LearnedReranker::Train(*idx, {});
  ASSERT_TRUE(trained.ok());
  EXPECT_EQ(
      SearchAndRerank(*idx, nullptr, "x", SearchOptions(), trained->get(), deep).status().code(),
      Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace foldback
