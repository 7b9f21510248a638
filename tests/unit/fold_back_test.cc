// FoldBack: demos, Rocchio relevance feedback, the query adapter, and
// ethical walls over all three.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "foldback/feedback.h"
#include "foldback/index.h"

namespace foldback {
namespace {

// Clauses in two wordings per topic: feedback must bridge them.
const std::vector<std::vector<std::string>> kTopics = {
    {"The recipient shall not reverse engineer the products or samples",
     "No party may decompile or disassemble any software, prototypes or firmware"},
    {"Either party may terminate this agreement for convenience on written notice",
     "This contract can be ended by either side without cause after thirty days"},
    {"This agreement is governed by the laws of the State of New York",
     "The courts of Delaware have exclusive jurisdiction over any dispute"},
    {"The supplier shall indemnify the customer against third party claims",
     "Vendor will hold harmless and defend the purchaser from losses and damages"},
    {"Invoices are payable within thirty days of receipt",
     "Fees fall due monthly in arrears by wire transfer"},
    {"Confidential information excludes information that is publicly available",
     "Obligations of secrecy do not cover knowledge already in the public domain"},
};
const std::vector<std::string> kFiller = {"hereunder",  "herein",    "such",       "said",
                                          "respective", "foregoing", "applicable", "relevant"};

// doc ids "<matter>-<topic>-<wording>-<n>".
std::unique_ptr<Index> Corpus(bool dense, int per = 6) {
  IndexOptions o;
  if (dense) {
    o.dense.embedder = EmbedderKind::kStatic;
    o.dense.dimension = 24;
  } else {
    o.dense.embedder = EmbedderKind::kNone;
  }
  auto idx = Index::Create(o);
  EXPECT_TRUE(idx.ok());
  std::mt19937 rng(7);
  for (const std::string matter : {"m1", "m2"}) {
    for (size_t t = 0; t < kTopics.size(); ++t) {
      for (int w = 0; w < 2; ++w) {
        for (int n = 0; n < per; ++n) {
          Document d;
          d.id =
              matter + "-" + std::to_string(t) + "-" + std::to_string(w) + "-" + std::to_string(n);
          d.matter = matter;
          d.text = kTopics[t][w] + " " + kFiller[rng() % kFiller.size()] + " " +
                   kFiller[rng() % kFiller.size()] + ".";
          EXPECT_TRUE((*idx)->Add(d).ok());
        }
      }
    }
  }
  if (dense) {
    EXPECT_TRUE((*idx)->BuildDense().ok());
  }
  return std::move(idx.value());
}

std::string ChunkOf(const Index& idx, const std::string& doc) {
  auto chunks = idx.ChunksOf(doc);
  EXPECT_EQ(chunks.size(), 1u) << doc;
  return chunks.empty() ? "" : chunks[0]->id;
}

// A lawyer in `matter` asked `question`, was shown `shown` (doc ids) and
// labelled `relevant` / `irrelevant` among them.
FeedbackRecord Labelled(const Index& idx, const std::string& id, const std::string& matter,
                        const std::string& question, const std::vector<std::string>& shown,
                        const std::set<std::string>& relevant,
                        const std::set<std::string>& irrelevant) {
  FeedbackRecord r;
  r.record_id = id;
  r.trace_id = "trace-" + id;
  r.matter = matter;
  r.question = question;
  r.hop_queries = {question};
  uint32_t rank = 0;
  for (const auto& doc : shown) {
    ShownResult s;
    s.chunk_id = ChunkOf(idx, doc);
    s.doc_id = doc;
    s.rank = ++rank;
    s.text_hash = FeedbackTextHash(idx.FindChunk(s.chunk_id)->text);
    s.matter = idx.FindDocument(doc)->matter;
    r.results.push_back(s);
    if (relevant.count(doc)) r.labels.push_back({s.chunk_id, PassageLabel::kRelevant});
    if (irrelevant.count(doc)) r.labels.push_back({s.chunk_id, PassageLabel::kNotRelevant});
  }
  r.rating = Rating::Up();
  r.consent_to_train = true;
  return r;
}

// Feedback from matter m1: "reverse engineering" questions whose relevant
// passages are in the other wording.
std::vector<FeedbackRecord> ReverseEngineeringFeedback(const Index& idx, const std::string& matter,
                                                       int n = 4) {
  std::vector<FeedbackRecord> out;
  for (int i = 0; i < n; ++i) {
    std::string a = matter + "-0-0-" + std::to_string(i);
    std::string b = matter + "-0-1-" + std::to_string(i);
    std::string noise = matter + "-1-0-" + std::to_string(i);
    out.push_back(Labelled(idx, matter + "-rec-" + std::to_string(i), matter,
                           "May the recipient reverse engineer the products?", {a, noise, b},
                           {a, b}, {noise}));
  }
  return out;
}

SearchOptions Bm25(size_t k = 12) {
  SearchOptions o;
  o.mode = SearchMode::kBm25;
  o.top_k = k;
  // The corpus repeats passages across documents on purpose and these tests
  // count documents: no near-duplicate collapse.
  o.collapse_jaccard = 0;
  return o;
}

size_t CountTopic(const std::vector<SearchHit>& hits, const std::string& prefix) {
  size_t n = 0;
  for (const auto& h : hits) n += h.doc_id.rfind(prefix, 0) == 0;
  return n;
}

std::vector<std::string> DocIds(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const auto& h : hits) out.push_back(h.doc_id);
  return out;
}

TEST(FoldBack, RocchioBridgesWordingsOnTheLexicalSide) {
  auto idx = Corpus(false);
  auto records = ReverseEngineeringFeedback(*idx, "m1");
  FoldBackOptions o;
  o.adapter = false;
  auto fb = FoldBack::Build(*idx, records, o);
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  EXPECT_EQ((*fb)->stats().relevance, 4u);
  const std::string q = "Can the recipient reverse engineer it?";
  SearchOptions so = Bm25();
  so.filters.push_back({"matter", Filter::Op::kEq, "m2"});  // the unseen matter's documents
  auto before = idx->Search(q, so);
  auto after = (*fb)->Search(*idx, q, so);
  ASSERT_TRUE(before.ok() && after.ok());
  // The other wording ("decompile or disassemble") was barely reachable
  // before; feedback brings all of it up.
  size_t other_before = CountTopic(*before, "m2-0-1-");
  size_t other_after = CountTopic(*after, "m2-0-1-");
  EXPECT_EQ(other_after, 6u) << ::testing::PrintToString(DocIds(*after));
  EXPECT_LT(other_before, other_after);
  EXPECT_EQ(CountTopic(*after, "m2-0-"), 12u);  // both wordings fill the top 12
  auto exp = (*fb)->Expand(*idx, q, so);
  ASSERT_TRUE(exp.ok());
  EXPECT_EQ(exp->neighbours.size(), 4u);
  bool has_decompile = false;
  for (const auto& t : exp->terms) has_decompile |= t.term == "decompil";
  EXPECT_TRUE(has_decompile);
}

// The second form (hits into a kept vector) gives what the first gives, for
// a search feedback moves, one it does not, a walled one, one with nothing
// found and one with top_k 0, one vector throughout.
TEST(FoldBack, ReusedHitsEqualAFreshSearch) {
  auto idx = Corpus(true);
  auto fb = FoldBack::Build(*idx, ReverseEngineeringFeedback(*idx, "m1"), FoldBackOptions());
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  SearchOptions hybrid = Bm25();
  hybrid.mode = SearchMode::kHybrid;
  SearchOptions walled = Bm25(5);
  walled.allowed_matters = std::set<std::string>{"m2"};
  const std::vector<std::pair<std::string, SearchOptions>> cases = {
      {"Can the recipient reverse engineer it?", Bm25()},   // moved by Rocchio
      {"Can the recipient reverse engineer it?", hybrid},   // both sides moved
      {"Invoices payable thirty days", Bm25(3)},            // no neighbour: plain
      {"Can the recipient reverse engineer it?", walled},   // behind a wall
      {"zebra", Bm25()},                                    // nothing found
      {"Can the recipient reverse engineer it?", Bm25(0)},  // nothing asked
  };
  std::vector<SearchHit> reused;
  for (const auto& [q, so] : cases) {
    SCOPED_TRACE(q + " top " + std::to_string(so.top_k));
    auto fresh = (*fb)->Search(*idx, q, so);
    ASSERT_TRUE(fresh.ok());
    ASSERT_TRUE((*fb)->Search(*idx, q, so, &reused).ok());
    ASSERT_EQ(reused.size(), fresh->size());
    for (size_t i = 0; i < reused.size(); ++i) {
      EXPECT_EQ(reused[i].chunk_id, (*fresh)[i].chunk_id);
      EXPECT_EQ(reused[i].score, (*fresh)[i].score);
      EXPECT_EQ(reused[i].text, (*fresh)[i].text);
      EXPECT_EQ(reused[i].matter, (*fresh)[i].matter);
    }
  }
  auto other = Corpus(false);
  EXPECT_EQ((*fb)->Search(*other, "recipient", Bm25(), &reused).code(),
            Status::Code::kFailedPrecondition);
}

// Rocchio moves the query as the index weighs it: a word said twice weighs
// QueryWordWeight(k3, 2) = 4/3 (k3 = 1, the default), not 2.
TEST(FoldBack, RocchioStartsFromTheIndexsQueryWeights) {
  auto idx = Corpus(false);
  FoldBackOptions o;
  o.adapter = false;
  auto fb = FoldBack::Build(*idx, ReverseEngineeringFeedback(*idx, "m1"), o);
  ASSERT_TRUE(fb.ok()) << fb.status().ToString();
  SearchOptions so = Bm25();
  auto once = (*fb)->Expand(*idx, "May the recipient reverse engineer the products?", so);
  auto twice = (*fb)->Expand(*idx, "May the recipient reverse reverse engineer the products?", so);
  ASSERT_TRUE(once.ok() && twice.ok());
  ASSERT_EQ(once->neighbours.size(), 4u);
  ASSERT_EQ(twice->neighbours, once->neighbours);
  auto weight = [](const ExpandedQuery& e, const std::string& prefix) {
    for (const auto& t : e.terms) {
      if (t.term.rfind(prefix, 0) == 0) return t.weight;
    }
    return -1.0;
  };
  // The neighbours' part of a term's weight is the same for both queries;
  // what differs is alpha x (the term's query weight) / |query|.
  const double d_once = weight(*once, "revers") - weight(*once, "recipi");
  const double d_twice = weight(*twice, "revers") - weight(*twice, "recipi");
  ASSERT_GT(weight(*once, "recipi"), 0);
  // Query terms of the plain question: may, recipi, revers, engin, product
  // (each once) — |q| = sqrt(4 + w^2) with the repeated word at w.
  const double w = 4.0 / 3.0;
  EXPECT_NEAR(d_twice - d_once, o.alpha * (w - 1) / std::sqrt(4 + w * w), 1e-9);
}

TEST(FoldBack, NothingSwitchedOnOrNoNeighbourMeansPlainSearch) {
  auto idx = Corpus(true);
  auto records = ReverseEngineeringFeedback(*idx, "m1");
  FoldBackOptions off;
  off.demos = off.rocchio = off.adapter = false;
  auto fb = FoldBack::Build(*idx, records, off);
  ASSERT_TRUE(fb.ok());
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    SearchOptions so;
    so.mode = mode;
    auto a = idx->Search("reverse engineer the products", so);
    auto b = (*fb)->Search(*idx, "reverse engineer the products", so);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(DocIds(*a), DocIds(*b));
  }
  EXPECT_TRUE((*fb)->DemosFor("reverse engineer", 3, std::nullopt).empty());
  // Rocchio on, but a question unlike any past one.
  FoldBackOptions on;
  on.adapter = false;
  auto fb2 = FoldBack::Build(*idx, records, on);
  auto a = idx->Search("governing law of the contract", Bm25());
  auto b = (*fb2)->Search(*idx, "governing law of the contract", Bm25());
  EXPECT_EQ(DocIds(*a), DocIds(*b));
}

TEST(FoldBack, DenseRocchioAndAdapterMoveTheQueryVector) {
  auto idx = Corpus(true);
  std::vector<FeedbackRecord> records;
  for (const std::string m : {"m1", "m2"}) {
    auto r = ReverseEngineeringFeedback(*idx, m, 6);
    records.insert(records.end(), r.begin(), r.end());
  }
  FoldBackOptions o;
  o.rocchio = false;
  auto fb = FoldBack::Build(*idx, records, o);
  ASSERT_TRUE(fb.ok());
  const FoldBackStats& st = (*fb)->stats();
  ASSERT_TRUE(st.adapter_trained) << st.adapter_note;
  EXPECT_GT(st.triplets, 0u);
  EXPECT_LT(st.adapter_loss_after, st.adapter_loss_before);
  SearchOptions so;
  so.mode = SearchMode::kDense;
  so.top_k = 12;
  const std::string q = "May the recipient reverse engineer the products?";
  auto before = idx->Search(q, so);
  auto after = (*fb)->Search(*idx, q, so);
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_GE(CountTopic(*after, "m1-0-") + CountTopic(*after, "m2-0-"),
            CountTopic(*before, "m1-0-") + CountTopic(*before, "m2-0-"));
  auto exp = (*fb)->Expand(*idx, q, so);
  EXPECT_TRUE(exp->adapter_applied);
  EXPECT_TRUE(exp->neighbours.empty());  // Rocchio is off

  // Stored in the snapshot and reused by a later Build on the reloaded index.
  ASSERT_TRUE((*fb)->SaveAdapter(idx.get()).ok());
  auto snap = idx->Snapshot();
  ASSERT_TRUE(snap.ok());
  auto reloaded = Index::FromSnapshot(*snap);
  ASSERT_TRUE(reloaded.ok());
  auto fb2 = FoldBack::Build(**reloaded, records, o);
  ASSERT_TRUE(fb2.ok());
  EXPECT_TRUE((*fb2)->stats().adapter_loaded);
  EXPECT_FALSE((*fb2)->stats().adapter_trained);
  auto again = (*fb2)->Search(**reloaded, q, so);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(DocIds(*after), DocIds(*again));
  // The adapter speaks where it learned: an unfamiliar question is not moved.
  auto far = (*fb)->Expand(*idx, "governing law and jurisdiction", so);
  EXPECT_FALSE(far->adapter_applied);
  EXPECT_EQ(far->adapter_gate, 0);
  EXPECT_DOUBLE_EQ(exp->adapter_gate, 1);
  auto plain = idx->Search("governing law and jurisdiction", so);
  EXPECT_EQ(DocIds(*plain), DocIds(*(*fb)->Search(*idx, "governing law and jurisdiction", so)));
  // Too few labels: no adapter at all.
  FoldBackOptions strict = o;
  strict.adapter_min_pairs = 1000;
  auto none = FoldBack::Build(*idx, records, strict);
  EXPECT_FALSE((*none)->stats().adapter_trained);
  EXPECT_NE((*none)->stats().adapter_note.find("1000"), std::string::npos);
  // Different records: the stored adapter does not fit, a new one is trained.
  records.pop_back();
  auto fb3 = FoldBack::Build(**reloaded, records, o);
  EXPECT_FALSE((*fb3)->stats().adapter_loaded);
  EXPECT_TRUE((*fb3)->stats().adapter_trained);
}

TEST(FoldBack, WallsKeepOtherMattersFeedbackOut) {
  auto idx = Corpus(true);
  // Feedback from both matters, plus one record of m2 that shows an m1 passage.
  auto records = ReverseEngineeringFeedback(*idx, "m1", 5);
  auto m2 = ReverseEngineeringFeedback(*idx, "m2", 3);
  records.insert(records.end(), m2.begin(), m2.end());
  FeedbackRecord cross =
      Labelled(*idx, "cross", "m2", "Can the recipient reverse engineer samples?",
               {"m2-0-0-4", "m1-0-1-5"}, {"m1-0-1-5"}, {});
  records.push_back(cross);
  for (auto& r : records) {
    r.preferred_rewrite = "reverse engineer OR decompile (" + r.matter + ")";
  }
  FoldBackOptions few;
  few.adapter_min_pairs = 1;  // few labels here; the default wants 20
  auto all = FoldBack::Build(*idx, records, few);
  ASSERT_TRUE(all.ok());
  // What a user walled into m2 may learn from: m2's own records, without
  // the one that shows an m1 passage.
  std::vector<FeedbackRecord> m2_only(m2.begin(), m2.end());
  FoldBackOptions scoped = few;
  scoped.allowed_matters = std::set<std::string>{"m2"};
  auto only = FoldBack::Build(*idx, m2_only, few);
  auto built_scoped = FoldBack::Build(*idx, records, scoped);
  ASSERT_TRUE(only.ok() && built_scoped.ok());
  EXPECT_EQ((*built_scoped)->stats().used, 3u);

  const std::set<std::string> wall = {"m2"};
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    for (const std::string q : {"May the recipient reverse engineer the products?",
                                "reverse engineer samples", "decompile software"}) {
      SearchOptions so;
      so.mode = mode;
      so.top_k = 10;
      so.allowed_matters = wall;
      auto a = (*all)->Search(*idx, q, so);
      auto b = (*only)->Search(*idx, q, so);
      auto c = (*built_scoped)->Search(*idx, q, so);
      ASSERT_TRUE(a.ok() && b.ok() && c.ok());
      // The adapter learned from m1 too, so it stays off for this user;
      // Rocchio uses only m2's records.
      auto ea = (*all)->Expand(*idx, q, so);
      EXPECT_FALSE(ea->adapter_applied);
      for (const auto& n : ea->neighbours) EXPECT_EQ(n.rfind("m2-rec-", 0), 0u) << n;
      for (const auto& h : *a) EXPECT_EQ(h.matter, "m2");
      // Same lexical feedback as if m1's records did not exist.
      auto eb = (*only)->Expand(*idx, q, so);
      ASSERT_EQ(ea->terms.size(), eb->terms.size());
      for (size_t i = 0; i < ea->terms.size(); ++i) EXPECT_EQ(ea->terms[i].term, eb->terms[i].term);
      if (mode == SearchMode::kBm25) {
        EXPECT_EQ(DocIds(*a), DocIds(*b)) << q;
        EXPECT_EQ(DocIds(*a), DocIds(*c)) << q;
      }
    }
  }
  // Demos: never a record the user is walled off from.
  for (const auto& d : (*all)->DemosFor("reverse engineer the products", 20, wall)) {
    EXPECT_NE(d.query.find("(m2)"), std::string::npos) << d.query;
    EXPECT_NE(d.record_id, "cross");
  }
  EXPECT_EQ((*all)->DemosFor("reverse engineer the products", 20, wall).size(), 1u);
  // A user who may see both gets all three distinct demos (m1's, m2's,
  // and the record showing passages of both).
  std::set<std::string> both = {"m1", "m2"};
  EXPECT_EQ((*all)->DemosFor("reverse engineer the products", 20, both).size(), 3u);
  SearchOptions so;
  so.mode = SearchMode::kDense;
  so.allowed_matters = both;
  EXPECT_TRUE((*all)->Expand(*idx, "reverse engineer", so)->adapter_applied);
}

TEST(FoldBack, DemosAreNearestWellRatedTraces) {
  auto idx = Corpus(false);
  std::vector<FeedbackRecord> records;
  auto add = [&](const std::string& id, const std::string& q, const std::string& rewrite,
                 Rating rating, const std::string& hop = "") {
    FeedbackRecord r;
    r.record_id = id;
    r.trace_id = "t-" + id;
    r.question = q;
    r.preferred_rewrite = rewrite;
    r.rating = rating;
    if (!hop.empty()) r.hop_queries = {hop};
    r.answer = "answer " + id;
    records.push_back(r);
  };
  add("1", "Can the supplier terminate for convenience?", "", Rating::Up(),
      "termination for convenience notice");
  add("2", "Which law governs the agreement?", "governing law jurisdiction", Rating::Down());
  add("3", "Can the supplier terminate early?", "", Rating::Down(), "early termination");
  add("4", "Can the supplier terminate for convenience?", "", Rating::Stars(3), "x");
  add("5", "Can a party terminate for convenience?", "", Rating::Stars(5), "terminate convenience");
  add("6", "Can the supplier terminate for convenience?", "", Rating::Up(),
      "Can the supplier terminate for convenience?");  // no rewrite: nothing to teach
  auto fb = FoldBack::Build(*idx, records);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ((*fb)->stats().demos, 3u);  // 1, 2 (a preferred rewrite), 5
  auto demos = (*fb)->DemosFor("May the supplier terminate this for convenience?", 2, std::nullopt);
  ASSERT_EQ(demos.size(), 2u);
  EXPECT_EQ(demos[0].record_id, "1");
  EXPECT_EQ(demos[0].query, "termination for convenience notice");
  EXPECT_EQ(demos[0].answer, "answer 1");
  EXPECT_EQ(demos[1].record_id, "5");
  EXPECT_GE(demos[0].similarity, demos[1].similarity);
  auto law = (*fb)->DemosFor("governing law?", 5, std::nullopt);
  ASSERT_FALSE(law.empty());
  EXPECT_EQ(law[0].record_id, "2");
  EXPECT_EQ(law[0].query, "governing law jurisdiction");
  EXPECT_EQ(law[0].answer, "");  // rated down: its answer is no example
}

TEST(FoldBack, StaleLabelsAreSkipped) {
  auto idx = Corpus(false);
  auto records = ReverseEngineeringFeedback(*idx, "m1", 2);
  records[0].labels.push_back({"no-such-chunk#0-00000000", PassageLabel::kRelevant});
  records[1].results[0].text_hash = "0000000000000000";  // the passage changed since
  auto fb = FoldBack::Build(*idx, records);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ((*fb)->stats().stale_labels, 2u);
  EXPECT_EQ((*fb)->stats().relevance, 2u);
}

TEST(FoldBack, RefusesAnotherIndexAndBadOptions) {
  auto idx = Corpus(false);
  auto other = Corpus(false);
  auto fb = FoldBack::Build(*idx, ReverseEngineeringFeedback(*idx, "m1"));
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ((*fb)->Search(*other, "x", Bm25()).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*fb)->SaveAdapter(other.get()).code(), Status::Code::kFailedPrecondition);
  FoldBackOptions bad;
  bad.min_similarity = 2;
  EXPECT_TRUE(FoldBack::Build(*idx, {}, bad).status().IsInvalidArgument());
  bad = FoldBackOptions();
  bad.beta = std::nan("");
  EXPECT_TRUE(FoldBack::Build(*idx, {}, bad).status().IsInvalidArgument());
  SearchOptions so = Bm25();
  so.filters.push_back({"nope", Filter::Op::kEq, "x"});
  EXPECT_TRUE((*fb)->Search(*idx, "reverse engineer", so).status().IsInvalidArgument());
}

// The same hits with the same scores, bit for bit.
void ExpectSameHits(const Result<std::vector<SearchHit>>& a,
                    const Result<std::vector<SearchHit>>& b, const std::string& what) {
  ASSERT_EQ(a.ok(), b.ok()) << what;
  if (!a.ok()) return;
  ASSERT_EQ(a->size(), b->size()) << what;
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].chunk_id, (*b)[i].chunk_id) << what << " #" << i;
    EXPECT_EQ((*a)[i].score, (*b)[i].score) << what << " #" << i;
  }
}

// A stream of random records — similar and unrelated questions, both
// matters, records showing both, partly labels, retried ids — folded in one
// by one equals a fold-back built from the log so far after every record:
// the same hits and scores, expansions, neighbours, demos and gate, behind
// every wall and for fold-backs built behind one. The adapter lags until
// Train, then equals the rebuilt one too.
TEST(FoldBack, AddingRecordsEqualsRebuilding) {
  auto idx = Corpus(true, 3);
  const std::vector<std::string> questions = {
      "May the recipient reverse engineer the products?",
      "Can the recipient reverse engineer the samples?",
      "reverse engineer products or software",
      "Either party may terminate this agreement for convenience?",
      "terminate the agreement on written notice",
      "Which courts have jurisdiction and which law governs?",
      "Who must indemnify against third party claims?",
      "When are invoices payable?"};
  std::mt19937 rng(2026);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<FeedbackRecord> log;  // distinct ids: what ApplyFeedbackLog gives
  std::vector<FeedbackRecord> stream;
  for (int i = 0; i < 28; ++i) {
    if (i > 3 && pick(8) == 0) {  // a retried write
      stream.push_back(log[pick(log.size())]);
      continue;
    }
    const size_t q = pick(questions.size());
    const std::string matter = pick(2) ? "m1" : "m2";
    const std::string other = pick(5) == 0 ? (matter == "m1" ? "m2" : "m1") : matter;
    std::vector<std::string> shown;
    for (int k = 0; k < 4; ++k) {
      const std::string m = k == 3 ? other : matter;
      shown.push_back(m + "-" + std::to_string(pick(6)) + "-" + std::to_string(pick(2)) + "-" +
                      std::to_string(pick(3)));
    }
    std::sort(shown.begin(), shown.end());
    shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
    std::set<std::string> yes, no;
    for (const auto& d : shown) {
      switch (pick(3)) {
        case 0:
          yes.insert(d);
          break;
        case 1:
          no.insert(d);
          break;
        default:
          break;
      }
    }
    FeedbackRecord r =
        Labelled(*idx, "rec-" + std::to_string(i), matter, questions[q], shown, yes, no);
    if (pick(4) == 0 && !r.labels.empty()) r.labels[0].label = PassageLabel::kPartly;
    if (pick(3) == 0) r.rating = Rating::Down();
    if (pick(3) == 0) r.preferred_rewrite = "rewrite " + std::to_string(q);
    log.push_back(r);
    stream.push_back(r);
  }

  FoldBackOptions o;
  o.rocchio_gate_min_records = 2;  // the gate decides early in the stream
  o.adapter_min_pairs = 4;         // and the adapter trains
  o.min_similarity = 0.3;          // more neighbours, more gate re-measures
  FoldBackOptions walled = o;
  walled.allowed_matters = std::set<std::string>{"m2"};
  const std::vector<std::optional<std::set<std::string>>> walls = {
      std::nullopt, std::set<std::string>{"m1"}, std::set<std::string>{"m1", "m2"}};
  const std::vector<std::string> queries = {questions[0], questions[3], "reverse engineer",
                                            "governing law of the contract"};

  for (const FoldBackOptions& options : {o, walled}) {
    auto grown = FoldBack::Build(*idx, {}, options);
    ASSERT_TRUE(grown.ok());
    size_t held = 0, logged = 0;
    bool gate_closed = false, adapter_lagged = false;
    for (const FeedbackRecord& r : stream) {
      const bool retry =
          logged > 0 && std::any_of(log.begin(), log.begin() + static_cast<long>(logged),
                                    [&](const auto& l) { return l.record_id == r.record_id; });
      auto added = (*grown)->Add(*idx, r);
      ASSERT_TRUE(added.ok());
      if (retry) EXPECT_FALSE(*added);
      logged += !retry;
      held += *added;
      std::vector<FeedbackRecord> so_far(log.begin(), log.begin() + static_cast<long>(logged));
      auto rebuilt = FoldBack::Build(*idx, so_far, options);
      ASSERT_TRUE(rebuilt.ok());
      adapter_lagged |= (*grown)->training_pending();
      // BM25 never uses the adapter: equal before Train.
      for (const auto& wall : walls) {
        for (const std::string& q : queries) {
          SearchOptions so = Bm25(8);
          so.allowed_matters = wall;
          const std::string what = r.record_id + " / " + q;
          ExpectSameHits((*grown)->Search(*idx, q, so), (*rebuilt)->Search(*idx, q, so), what);
        }
      }
      ASSERT_TRUE((*grown)->Train().ok());
      EXPECT_FALSE((*grown)->training_pending());
      const FoldBackStats a = (*grown)->stats(), b = (*rebuilt)->stats();
      EXPECT_EQ(a.records, b.records);
      EXPECT_EQ(a.used, b.used);
      EXPECT_EQ(a.demos, b.demos);
      EXPECT_EQ(a.relevance, b.relevance);
      EXPECT_EQ(a.rocchio_gate_records, b.rocchio_gate_records);
      EXPECT_EQ(a.rocchio_gate_gain, b.rocchio_gate_gain);
      EXPECT_EQ(a.rocchio_cross_questions, b.rocchio_cross_questions);
      EXPECT_EQ(a.adapter_trained, b.adapter_trained);
      EXPECT_EQ(a.adapter_loss_after, b.adapter_loss_after);
      gate_closed |= !a.rocchio_cross_questions;
      for (const auto& wall : walls) {
        for (const std::string& q : queries) {
          for (SearchMode mode : {SearchMode::kHybrid, SearchMode::kDense}) {
            SearchOptions so = Bm25(8);
            so.mode = mode;
            so.allowed_matters = wall;
            const std::string what =
                r.record_id + " / " + q + " / mode " + std::to_string(static_cast<int>(mode));
            ExpectSameHits((*grown)->Search(*idx, q, so), (*rebuilt)->Search(*idx, q, so), what);
            auto ea = (*grown)->Expand(*idx, q, so), eb = (*rebuilt)->Expand(*idx, q, so);
            ASSERT_TRUE(ea.ok() && eb.ok());
            EXPECT_EQ(ea->neighbours, eb->neighbours) << what;
            EXPECT_EQ(ea->adapter_gate, eb->adapter_gate) << what;
            ASSERT_EQ(ea->terms.size(), eb->terms.size()) << what;
            for (size_t i = 0; i < ea->terms.size(); ++i) {
              EXPECT_EQ(ea->terms[i].term, eb->terms[i].term) << what;
              EXPECT_EQ(ea->terms[i].weight, eb->terms[i].weight) << what;
            }
          }
          auto da = (*grown)->DemosFor(q, 3, wall), db = (*rebuilt)->DemosFor(q, 3, wall);
          ASSERT_EQ(da.size(), db.size()) << q;
          for (size_t i = 0; i < da.size(); ++i) {
            EXPECT_EQ(da[i].record_id, db[i].record_id) << q;
            EXPECT_EQ(da[i].similarity, db[i].similarity) << q;
          }
        }
      }
      if (::testing::Test::HasFailure()) return;
    }
    // The stream exercised what it is meant to.
    EXPECT_GT(held, options.allowed_matters ? 5u : 10u);
    EXPECT_LT(held, logged + (options.allowed_matters ? 0u : 1u));
    EXPECT_TRUE(adapter_lagged);
    if (!options.allowed_matters) {
      EXPECT_TRUE((*grown)->stats().adapter_trained);
      EXPECT_GT((*grown)->stats().rocchio_gate_records, 5u);
    }
    (void)gate_closed;
  }
  // Adding to a fold-back of another index is refused.
  auto other = Corpus(false, 1);
  auto fb = FoldBack::Build(*idx, {});
  EXPECT_EQ((*fb)->Add(*other, log[0]).status().code(), Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace foldback
