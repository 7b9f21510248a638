// Contrastive training of the static embedder (foldback/train.h): pair
// mining per source, determinism, bad input, snapshots and versions, and
// that training learns what the mined pairs teach. Corpora are generated.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>
#include <set>

#include "foldback/index.h"
#include "foldback/train.h"

namespace foldback {
namespace {

Document Doc(std::string id, std::string text, DocKind kind = DocKind::kDocument,
             std::string title = "") {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.kind = kind;
  d.title = std::move(title);
  return d;
}

struct Topic {
  const char* heading;
  std::vector<const char*> words;
};

const std::vector<Topic>& Topics() {
  static const std::vector<Topic> t = {
      {"Termination",
       {"terminate", "notice", "expiry", "breach", "cure", "days", "written", "end"}},
      {"Indemnification",
       {"indemnify", "defend", "hold", "harmless", "losses", "claims", "damages", "third"}},
      {"Confidentiality",
       {"confidential", "disclose", "secret", "proprietary", "recipient", "protect", "information",
        "nondisclosure"}},
      {"Governing Law",
       {"governed", "laws", "state", "courts", "jurisdiction", "venue", "construed", "exclusive"}},
      {"Payment", {"invoice", "fees", "pay", "amount", "currency", "due", "interest", "late"}},
      {"Insurance",
       {"insurance", "policy", "coverage", "insurer", "liability", "premium", "certificate",
        "maintain"}},
      {"Assignment",
       {"assign", "transfer", "successor", "consent", "delegate", "merger", "acquirer",
        "novation"}},
      {"Warranties",
       {"warrants", "represents", "merchantability", "fitness", "defect", "workmanlike", "conform",
        "remedy"}},
  };
  return t;
}

// A contract of numbered sections, each a heading line and two sentences
// drawn from its topic's words and common filler.
std::string Contract(std::mt19937_64* rng) {
  static const char* kFiller[] = {"the",   "party", "shall", "agreement",
                                  "under", "this",  "any",   "such"};
  std::vector<size_t> order(Topics().size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[(*rng)() % i]);
  std::string text = "SERVICES AGREEMENT\n\n";
  for (size_t s = 0; s < 5; ++s) {
    const Topic& t = Topics()[order[s]];
    text += std::to_string(s + 1) + ". " + t.heading + "\n\n";
    for (int sentence = 0; sentence < 2; ++sentence) {
      std::string sent;
      for (int w = 0; w < 12; ++w) {
        const char* word =
            (*rng)() % 3 ? t.words[(*rng)() % t.words.size()] : kFiller[(*rng)() % 8];
        sent += (w ? " " : "") + std::string(word);
      }
      sent[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(sent[0])));
      text += sent + ". ";
    }
    text += "\n\n";
  }
  return text;
}

std::unique_ptr<Index> GeneratedIndex(size_t docs, uint64_t seed = 1, bool build = true) {
  auto idx = Index::Create();
  EXPECT_TRUE(idx.ok());
  std::mt19937_64 rng(seed);
  for (size_t d = 0; d < docs; ++d) {
    EXPECT_TRUE((*idx)->Add(Doc("c" + std::to_string(d), Contract(&rng))).ok());
  }
  if (build) {
    EXPECT_TRUE((*idx)->BuildDense().ok());
  }
  return std::move(idx.value());
}

EmbedderTrainOptions Fast(uint64_t seed = 7) {
  EmbedderTrainOptions o;
  o.seed = seed;
  o.epochs = 3;
  o.batch_size = 16;
  return o;
}

std::string Snap(const Index& index) {
  auto s = index.Snapshot();
  EXPECT_TRUE(s.ok());
  return s.ok() ? *s : "";
}

Status TrainAndInstall(Index* index, const EmbedderTrainOptions& o) {
  auto t = EmbedderTrainer::Start(*index, o);
  if (!t.ok()) return t.status();
  while (!(*t)->done()) {
    auto p = (*t)->Step();
    if (!p.ok()) return p.status();
  }
  return (*t)->Install(index);
}

std::vector<std::string> DenseTop(const Index& index, const std::string& q, size_t k = 5) {
  SearchOptions o;
  o.mode = SearchMode::kDense;
  o.top_k = k;
  auto hits = index.Search(q, o);
  EXPECT_TRUE(hits.ok());
  std::vector<std::string> out;
  if (hits.ok()) {
    for (const auto& h : *hits) out.push_back(h.chunk_id);
  }
  return out;
}

// Dense scores of a few fixed queries: differ when the models differ.
std::vector<float> DenseVectorsOf(const Index& index) {
  std::vector<float> out;
  for (const char* q : {"terminate notice breach", "indemnify losses", "governed laws state"}) {
    SearchOptions o;
    o.mode = SearchMode::kDense;
    o.top_k = 5;
    auto hits = index.Search(q, o);
    EXPECT_TRUE(hits.ok());
    if (hits.ok()) {
      for (const auto& h : *hits) out.push_back(static_cast<float>(h.score));
    }
  }
  return out;
}

// What a lawyer asking about termination is shown: the passages labelled.
Result<std::vector<SearchHit>> ShownToALawyer(const Index& index, size_t top_k) {
  SearchOptions so;
  so.top_k = top_k;
  so.mode = SearchMode::kBm25;
  return index.Search("terminate notice breach agreement", so);
}

std::map<std::string, std::vector<TrainingPair>> BySource(const std::vector<TrainingPair>& pairs) {
  std::map<std::string, std::vector<TrainingPair>> out;
  for (const auto& p : pairs) out[PairSourceName(p.source)].push_back(p);
  return out;
}

TEST(TrainSources, ParsesNamesAndRejectsUnknownOnes) {
  auto all = ParsePairSources("structure");
  ASSERT_TRUE(all.ok());
  for (int s = 0; s < kStructureSourceCount; ++s) EXPECT_TRUE(all->enabled[s]);
  EXPECT_FALSE(all->Has(PairSource::kGenerated));
  EXPECT_TRUE(ParsePairSources("all")->Has(PairSource::kGenerated));
  EXPECT_TRUE(ParsePairSources("structure,llm")->Has(PairSource::kGenerated));
  auto two = ParsePairSources("heading, xref");
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE(two->Has(PairSource::kHeading));
  EXPECT_TRUE(two->Has(PairSource::kCrossReference));
  EXPECT_FALSE(two->Has(PairSource::kInverseCloze));
  auto bad = ParsePairSources("heading,feelings");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("feelings"), std::string::npos);
  EXPECT_EQ(ParsePairSources(" , ").status().code(), Status::Code::kInvalidArgument);
}

TEST(TrainSources, FeedbackIsNamedAloneAndHasItsOwnEpochs) {
  EXPECT_FALSE(ParsePairSources("structure")->Has(PairSource::kFeedback));
  EXPECT_TRUE(ParsePairSources("all")->Has(PairSource::kFeedback));
  EXPECT_TRUE(NamesPairSource("heading, feedback", PairSource::kFeedback));
  EXPECT_FALSE(NamesPairSource("all", PairSource::kFeedback));
  EXPECT_FALSE(NamesPairSource("feedbacks", PairSource::kFeedback));
  EXPECT_EQ(DefaultEpochs(*ParsePairSources("feedback")), kFeedbackOnlyEpochs);
  EXPECT_EQ(DefaultEpochs(*ParsePairSources("structure,feedback")), EmbedderTrainOptions().epochs);
  EXPECT_EQ(DefaultEpochs(*ParsePairSources("all")), EmbedderTrainOptions().epochs);
}

// Lawyers' labels as training pairs: each relevant passage under the
// question and the preferred rewrite, a labelled negative beside it; only
// records with consent, not privileged, of shareable matters; a passage
// gone from the index gives nothing. The trainer keeps the labelled
// negative instead of mining one.
TEST(TrainSources, LabelsBecomePairsWithTheirNegatives) {
  auto index = GeneratedIndex(12);
  auto hits = ShownToALawyer(*index, 4);
  ASSERT_TRUE(hits.ok());
  ASSERT_GE(hits->size(), 3u);
  auto record = [&](const std::string& id, const std::string& matter) {
    FeedbackRecord r;
    r.record_id = id;
    r.question = "who may terminate on notice";
    r.preferred_rewrite = "termination notice period";
    r.matter = matter;
    r.consent_to_train = true;
    uint32_t rank = 0;
    for (const auto& h : *hits) {
      ShownResult s;
      s.chunk_id = h.chunk_id;
      s.rank = ++rank;
      s.text_hash = FeedbackTextHash(h.text);
      r.results.push_back(s);
    }
    r.labels = {{(*hits)[0].chunk_id, PassageLabel::kRelevant},
                {(*hits)[1].chunk_id, PassageLabel::kRelevant},
                {(*hits)[2].chunk_id, PassageLabel::kNotRelevant}};
    return r;
  };
  std::vector<FeedbackRecord> records = {record("r1", ""), record("r2", "m-secret"),
                                         record("r3", ""), record("r4", ""), record("r5", "")};
  records[2].consent_to_train = false;
  records[3].privileged = true;
  records[4].labels = {{"c9#0-gone", PassageLabel::kRelevant}};
  ExportOptions eo;
  eo.unlabelled_negatives = false;
  eo.allowed_matters = std::set<std::string>();  // nothing shared: matterless records only
  ExportReport rep;
  auto pairs = FeedbackTrainingPairs(*index, records, eo, &rep);
  EXPECT_EQ(rep.records, 5u);
  EXPECT_EQ(rep.walled, 1u);
  EXPECT_EQ(rep.no_consent, 1u);
  EXPECT_EQ(rep.privileged, 1u);
  EXPECT_EQ(rep.unusable, 1u);  // its passage is gone
  ASSERT_EQ(pairs.size(), 4u);  // 2 relevant x (question, rewrite)
  for (const auto& p : pairs) {
    EXPECT_EQ(p.source, PairSource::kFeedback);
    EXPECT_TRUE(p.positive_chunk == (*hits)[0].chunk_id || p.positive_chunk == (*hits)[1].chunk_id);
    EXPECT_EQ(p.negative_chunk, (*hits)[2].chunk_id);
    EXPECT_EQ(p.negative, (*hits)[2].text);
  }
  EXPECT_EQ(pairs[0].anchor, "who may terminate on notice");
  EXPECT_EQ(pairs[1].anchor, "termination notice period");
  // Shared, the walled record counts too.
  eo.allowed_matters = std::set<std::string>{"m-secret"};
  EXPECT_EQ(FeedbackTrainingPairs(*index, records, eo).size(), 8u);

  // UseFeedbackPairs: the same, or a clear refusal.
  EmbedderTrainOptions o = Fast();
  o.sources = *ParsePairSources("feedback");
  ASSERT_TRUE(UseFeedbackPairs(*index, records, {}, &o).ok());
  EXPECT_EQ(o.feedback_pairs.size(), 4u);
  EmbedderTrainOptions none = Fast();
  Status refused = UseFeedbackPairs(*index, {records[1]}, {}, &none);
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(refused.message().find("1 touching a matter not marked shareable"), std::string::npos)
      << refused.message();
  EXPECT_TRUE(none.feedback_pairs.empty());

  // The trainer keeps the lawyer's negative.
  auto t = EmbedderTrainer::Start(*index, o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ((*t)->pairs().size(), 4u);
  for (const auto& p : (*t)->pairs()) EXPECT_EQ(p.negative, (*hits)[2].text);
  EXPECT_EQ((*t)->PairsPerSource()[static_cast<int>(PairSource::kFeedback)], 4u);
  const double before = (*t)->MeanLoss();
  while (!(*t)->done()) ASSERT_TRUE((*t)->Step().ok());
  EXPECT_LT((*t)->MeanLoss(), before);
}

// The model remembers the matters whose labels trained it (through the
// snapshot, and through a warm start); forgetting one drops every model that
// learned from it.
TEST(TrainSources, AForgottenMattersLabelsLeaveTheEmbedder) {
  auto index = GeneratedIndex(12);
  auto hits = ShownToALawyer(*index, 3);
  ASSERT_TRUE(hits.ok() && hits->size() >= 2u);
  FeedbackRecord r;
  r.record_id = "r1";
  r.question = "who may terminate on notice";
  r.preferred_rewrite = "termination notice period";  // two pairs: the trainer needs two
  r.matter = "m-a";
  r.consent_to_train = true;
  r.labels = {{(*hits)[0].chunk_id, PassageLabel::kRelevant},
              {(*hits)[1].chunk_id, PassageLabel::kNotRelevant}};
  EmbedderTrainOptions o = Fast();
  o.sources = *ParsePairSources("feedback");
  ASSERT_TRUE(UseFeedbackPairs(*index, {r}, {"m-a"}, &o).ok());
  EXPECT_EQ(o.feedback_matters, std::set<std::string>{"m-a"});
  ASSERT_TRUE(TrainAndInstall(index.get(), o).ok());
  EXPECT_EQ(DescribeEmbedder(*index).feedback_matters, std::vector<std::string>{"m-a"});
  // Through the snapshot.
  auto back = Index::FromSnapshot(Snap(*index));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(DescribeEmbedder(**back).feedback_matters, std::vector<std::string>{"m-a"});
  const std::string corpus_model = Snap(**back);

  std::string action;
  ASSERT_TRUE(ForgetMatterInEmbedder(back->get(), "m-b", &action).ok());
  EXPECT_EQ(action, "");
  EXPECT_EQ(Snap(**back), corpus_model);  // untouched
  // The previous model (the corpus one) did not learn from m-a: restored.
  ASSERT_TRUE(ForgetMatterInEmbedder(back->get(), "m-a", &action).ok());
  EXPECT_NE(action.find("version 1 restored, version 2 dropped"), std::string::npos) << action;
  EmbedderInfo info = DescribeEmbedder(**back);
  EXPECT_EQ(info.version, 1u);
  EXPECT_EQ(info.training, "ppmi-svd");
  EXPECT_FALSE(info.has_previous);

  // A structure model continued from the trained one inherits its matter:
  // both are dropped, the corpus model retrained.
  EmbedderTrainOptions more = Fast();
  more.sources = *ParsePairSources("structure");
  more.warm_start = true;
  ASSERT_TRUE(TrainAndInstall(index.get(), more).ok());
  info = DescribeEmbedder(*index);
  EXPECT_EQ(info.feedback_matters, std::vector<std::string>{"m-a"});
  EXPECT_EQ(info.previous_feedback_matters, std::vector<std::string>{"m-a"});
  ASSERT_TRUE(ForgetMatterInEmbedder(index.get(), "m-a", &action).ok());
  EXPECT_NE(action.find("corpus model retrained as version 4"), std::string::npos) << action;
  info = DescribeEmbedder(*index);
  EXPECT_TRUE(info.feedback_matters.empty());
  EXPECT_EQ(info.training, "ppmi-svd");
  EXPECT_FALSE(info.has_previous);
  EXPECT_FALSE(RestorePreviousEmbedder(index.get()).ok());
}

TEST(TrainSources, ParsesWeightsAndRejectsBadOnes) {
  auto w = ParseSourceWeights("cloze=0.3, heading = 2");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_FLOAT_EQ(w->Of(PairSource::kInverseCloze), 0.3f);
  EXPECT_FLOAT_EQ(w->Of(PairSource::kHeading), 2.0f);
  EXPECT_FLOAT_EQ(w->Of(PairSource::kCaption), 1.0f);  // unnamed: 1
  auto all = ParseSourceWeights("structure=0.5,cloze=0");
  ASSERT_TRUE(all.ok());
  EXPECT_FLOAT_EQ(all->Of(PairSource::kCrossReference), 0.5f);
  EXPECT_FLOAT_EQ(all->Of(PairSource::kInverseCloze), 0.0f);  // later names win
  EXPECT_FLOAT_EQ(all->Of(PairSource::kGenerated), 1.0f);
  ASSERT_TRUE(ParseSourceWeights("").ok());
  for (const char* bad : {"cloze", "cloze=", "cloze=-1", "cloze=101", "cloze=nan", "cloze=0.3x",
                          "cloze=abc", "feelings=1", "=1"}) {
    auto r = ParseSourceWeights(bad);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseSourceWeights("feelings=1").status().message().find("feelings"),
            std::string::npos);
}

TEST(TrainSources, EachSourceFindsItsPairs) {
  auto idx = Index::Create();
  ASSERT_TRUE(idx.ok());
  Index& ix = **idx;
  ASSERT_TRUE(
      ix.Add(Doc("nda",
                 "MUTUAL NONDISCLOSURE AGREEMENT\n\n"
                 "1. Definitions\n\n"
                 "\"Confidential Information\" means all business, technical and financial "
                 "information disclosed by one party to the other.\n\n"
                 "2. Obligations\n\n"
                 "The Recipient shall protect Confidential Information as defined in Section 1 "
                 "with reasonable care. The Recipient shall not copy it. The Recipient shall "
                 "limit access to its employees who need to know.\n\n"
                 "3. Term. This Agreement remains in force for three years from the effective "
                 "date unless terminated earlier by either party.\n"))
          .ok());
  Document mail =
      Doc("m1",
          "Yes, we can deliver the signed amendment by Friday morning at the latest.\n\n"
          "On Mon, Jan 6, 2020, Ann wrote:\n> Can you send the signed amendment before the "
          "closing on Friday?\n",
          DocKind::kEmail, "Re: Signed amendment for the closing");
  ASSERT_TRUE(ix.Add(mail).ok());
  auto all = ParsePairSources("structure");
  ASSERT_TRUE(all.ok());
  auto by = BySource(MinePairs(ix, *all));

  auto has = [&](const std::string& source, const std::string& anchor_part,
                 const std::string& positive_part) {
    for (const auto& p : by[source]) {
      if (p.anchor.find(anchor_part) != std::string::npos &&
          p.positive.find(positive_part) != std::string::npos) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has("heading", "Obligations", "protect Confidential Information"));
  EXPECT_TRUE(has("caption", "Term", "remains in force for three years"));
  EXPECT_TRUE(has("definition", "Confidential Information", "means all business"));
  EXPECT_TRUE(has("cloze", "The Recipient shall", "The Recipient shall"));
  EXPECT_TRUE(has("xref", "as defined in Section 1", "means all business"));
  EXPECT_TRUE(has("subject", "Signed amendment for the closing", "deliver the signed amendment"));
  EXPECT_FALSE(has("subject", "Re:", ""));
  EXPECT_TRUE(has("reply", "send the signed amendment", "deliver the signed amendment"));
  // A cloze anchor is taken out of its positive.
  for (const auto& p : by["cloze"])
    EXPECT_EQ(p.positive.find(p.anchor), std::string::npos) << p.anchor;

  // Switching a source off removes its pairs and only those.
  auto some = ParsePairSources("heading,subject");
  ASSERT_TRUE(some.ok());
  auto only = BySource(MinePairs(ix, *some));
  EXPECT_EQ(only.size(), 2u);
  EXPECT_EQ(only["heading"].size(), by["heading"].size());
  EXPECT_EQ(only["subject"].size(), by["subject"].size());
}

TEST(TrainSources, PassagesSharingATitleAreReadAsOneDocument) {
  // BEIR-style: a contract split into one passage per document.
  auto idx = Index::Create();
  ASSERT_TRUE(idx.ok());
  const char* spans[] = {
      "4.2 Return of Materials.",
      "Upon request the Recipient shall return or destroy all documents received.",
      "Nothing in this clause obliges the Recipient to erase automatic backups."};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        (*idx)->Add(Doc("nda:" + std::to_string(i), spans[i], DocKind::kDocument, "nda.txt")).ok());
  }
  auto heading = ParsePairSources("heading,cloze");
  auto by = BySource(MinePairs(**idx, *heading));
  ASSERT_FALSE(by["heading"].empty());
  EXPECT_EQ(by["heading"][0].anchor, "Return of Materials");
  EXPECT_NE(by["heading"][0].positive.find("return or destroy"), std::string::npos);
  ASSERT_FALSE(by["cloze"].empty());  // a one-sentence passage -> its neighbours
}

TEST(Train, LowersTheLossAndRanksMinedPositivesHigher) {
  auto idx = GeneratedIndex(60);
  auto t = EmbedderTrainer::Start(*idx, Fast());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_GT((*t)->pairs().size(), 100u);
  auto per = (*t)->PairsPerSource();
  EXPECT_GT(per[static_cast<int>(PairSource::kHeading)], 0u);
  size_t negatives = 0;
  for (const auto& p : (*t)->pairs()) negatives += !p.negative.empty();
  EXPECT_GT(negatives, (*t)->pairs().size() / 2);

  // Heading queries: how often is the best dense passage one of the heading's section?
  auto heading_accuracy = [&](const Index& ix) {
    size_t right = 0;
    for (const Topic& topic : Topics()) {
      SearchOptions o;
      o.mode = SearchMode::kDense;
      o.top_k = 10;
      auto hits = ix.Search(topic.heading, o);
      EXPECT_TRUE(hits.ok());
      for (const auto& h : *hits) right += h.section.find(topic.heading) != std::string::npos;
    }
    return static_cast<double>(right) / (10.0 * Topics().size());
  };
  double acc_before = heading_accuracy(*idx);
  double before = (*t)->MeanLoss();
  double first_epoch = 0;
  while (!(*t)->done()) {
    auto p = (*t)->Step();
    ASSERT_TRUE(p.ok());
    EXPECT_TRUE(std::isfinite(p->loss));
    if (p->step == p->steps / p->epochs) first_epoch = p->epoch_loss;
  }
  double after = (*t)->MeanLoss();
  EXPECT_LT(after, before) << "before " << before << " after " << after;
  EXPECT_LT((*t)->progress().epoch_loss, first_epoch);
  ASSERT_TRUE((*t)->Install(idx.get()).ok());
  double acc_after = heading_accuracy(*idx);
  EXPECT_GE(acc_after, std::min(acc_before, 0.95)) << "before " << acc_before;
  // Installing twice is refused; stepping after the end too.
  EXPECT_EQ((*t)->Install(idx.get()).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ((*t)->Step().status().code(), Status::Code::kFailedPrecondition);
}

TEST(Train, SameSeedSameBytes) {
  auto a = GeneratedIndex(40);
  auto b = GeneratedIndex(40);
  ASSERT_EQ(Snap(*a), Snap(*b));
  ASSERT_TRUE(TrainAndInstall(a.get(), Fast(3)).ok());
  ASSERT_TRUE(TrainAndInstall(b.get(), Fast(3)).ok());
  EXPECT_EQ(Snap(*a), Snap(*b));
  auto c = GeneratedIndex(40);
  ASSERT_TRUE(TrainAndInstall(c.get(), Fast(4)).ok());
  EXPECT_NE(Snap(*a), Snap(*c));
}

TEST(Train, InterpolationMixesTheStartingAndTheTrainedModel) {
  const std::vector<std::string> queries = {"Termination", "indemnify losses claims",
                                            "confidential information recipient", "Payment"};
  // 0: the starting (PPMI) model's vectors, installed as a new version.
  auto a = GeneratedIndex(30);
  std::vector<std::vector<std::string>> start;
  for (const auto& q : queries) start.push_back(DenseTop(*a, q));
  EmbedderTrainOptions o = Fast(3);
  o.interpolation = 0;
  ASSERT_TRUE(TrainAndInstall(a.get(), o).ok());
  for (size_t i = 0; i < queries.size(); ++i) EXPECT_EQ(DenseTop(*a, queries[i]), start[i]);
  EXPECT_EQ(DescribeEmbedder(*a).version, 2u);
  EXPECT_NE(DescribeEmbedder(*a).training.find("interpolation=0"), std::string::npos);
  // Halfway: deterministic, and neither end.
  auto b = GeneratedIndex(30);
  auto c = GeneratedIndex(30);
  o.interpolation = 0.5f;
  ASSERT_TRUE(TrainAndInstall(b.get(), o).ok());
  ASSERT_TRUE(TrainAndInstall(c.get(), o).ok());
  EXPECT_EQ(Snap(*b), Snap(*c));
  auto d = GeneratedIndex(30);
  o.interpolation = 1;
  ASSERT_TRUE(TrainAndInstall(d.get(), o).ok());
  EXPECT_NE(DenseVectorsOf(*b), DenseVectorsOf(*d));
  EXPECT_NE(DenseVectorsOf(*b), DenseVectorsOf(*a));
}

TEST(Train, ASoupAveragesModelsDeterministically) {
  auto a = GeneratedIndex(30);
  auto b = GeneratedIndex(30);
  EmbedderTrainOptions o = Fast(5);
  o.soup = 3;
  o.interpolation = 0.8f;
  auto t = EmbedderTrainer::Start(*a, o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  double before = (*t)->MeanLoss();
  uint64_t steps = 0;
  while (!(*t)->done()) {
    auto p = (*t)->Step();
    ASSERT_TRUE(p.ok());
    ++steps;
  }
  EXPECT_EQ(steps, (*t)->progress().steps);
  EXPECT_EQ((*t)->progress().epochs, o.epochs * 3);
  EXPECT_LT((*t)->MeanLoss(), before);  // the mean of three trained models still learned
  ASSERT_TRUE((*t)->Install(a.get()).ok());
  EXPECT_NE(DescribeEmbedder(*a).training.find("soup=3"), std::string::npos);
  ASSERT_TRUE(TrainAndInstall(b.get(), o).ok());
  EXPECT_EQ(Snap(*a), Snap(*b));
  auto c = GeneratedIndex(30);
  o.soup = 1;
  ASSERT_TRUE(TrainAndInstall(c.get(), o).ok());
  EXPECT_NE(DenseVectorsOf(*a), DenseVectorsOf(*c));
}

TEST(Train, SourceWeightsChangeTheModelDeterministically) {
  // Weight 1 everywhere is the default model, bit for bit.
  auto a = GeneratedIndex(30);
  auto b = GeneratedIndex(30);
  EmbedderTrainOptions o = Fast(5);
  ASSERT_TRUE(TrainAndInstall(a.get(), o).ok());
  o.source_weights = *ParseSourceWeights("structure=1");
  ASSERT_TRUE(TrainAndInstall(b.get(), o).ok());
  EXPECT_EQ(Snap(*a), Snap(*b));
  // Cloze down-weighted: another model, the same for the same seed, and
  // the weights are written into the model's training line.
  auto c = GeneratedIndex(30);
  auto d = GeneratedIndex(30);
  o.source_weights = *ParseSourceWeights("cloze=0.25");
  ASSERT_TRUE(TrainAndInstall(c.get(), o).ok());
  ASSERT_TRUE(TrainAndInstall(d.get(), o).ok());
  EXPECT_EQ(Snap(*c), Snap(*d));
  EXPECT_NE(DenseVectorsOf(*a), DenseVectorsOf(*c));
  EXPECT_NE(DescribeEmbedder(*c).training.find("weights=cloze=0.25"), std::string::npos)
      << DescribeEmbedder(*c).training;
}

TEST(Train, BadInputGetsAClearErrorAndChangesNothing) {
  // Empty corpus: no embedder to train.
  auto empty = Index::Create();
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE((*empty)->BuildDense().ok());
  auto t = EmbedderTrainer::Start(**empty, Fast());
  EXPECT_EQ(t.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("no embedder"), std::string::npos);

  // One document: either too small for an embedder, or too few pairs; either
  // way a clear error and the index as it was.
  auto one = GeneratedIndex(1, 5, /*build=*/false);
  Status dense = one->BuildDense();
  std::string before = Snap(*one);
  t = EmbedderTrainer::Start(*one, Fast());
  if (dense.ok()) {
    if (t.ok()) {
      EXPECT_TRUE(TrainAndInstall(one.get(), Fast()).ok());
    } else {
      EXPECT_EQ(t.status().code(), Status::Code::kFailedPrecondition);
    }
  } else {
    EXPECT_EQ(t.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_EQ(Snap(*one), before);
  }

  // No pairs from the chosen sources (contracts have no mail subjects).
  auto idx = GeneratedIndex(20);
  before = Snap(*idx);
  EmbedderTrainOptions o = Fast();
  o.sources = *ParsePairSources("subject,reply");
  t = EmbedderTrainer::Start(*idx, o);
  EXPECT_EQ(t.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("0 training pair"), std::string::npos)
      << t.status().ToString();
  EXPECT_EQ(Snap(*idx), before);

  // Bad options.
  o = Fast();
  o.epochs = 0;
  EXPECT_EQ(EmbedderTrainer::Start(*idx, o).status().code(), Status::Code::kInvalidArgument);
  o = Fast();
  o.temperature = 0;
  EXPECT_EQ(EmbedderTrainer::Start(*idx, o).status().code(), Status::Code::kInvalidArgument);
  o = Fast();
  o.batch_size = 1;
  EXPECT_EQ(EmbedderTrainer::Start(*idx, o).status().code(), Status::Code::kInvalidArgument);
  for (uint32_t bad : {0u, 17u}) {
    o = Fast();
    o.soup = bad;
    auto r = EmbedderTrainer::Start(*idx, o);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("soup"), std::string::npos) << r.status().ToString();
  }
  for (float bad : {-0.1f, 1.5f, std::numeric_limits<float>::quiet_NaN()}) {
    o = Fast();
    o.interpolation = bad;
    auto r = EmbedderTrainer::Start(*idx, o);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("interpolation"), std::string::npos)
        << r.status().ToString();
  }

  for (float bad : {-1.0f, 101.0f, std::numeric_limits<float>::quiet_NaN()}) {
    o = Fast();
    o.source_weights.weight[static_cast<int>(PairSource::kHeading)] = bad;
    auto r = EmbedderTrainer::Start(*idx, o);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("weight"), std::string::npos) << r.status().ToString();
  }
  // Every enabled source weighing 0 would learn nothing.
  o = Fast();
  o.sources = *ParsePairSources("heading,cloze");
  o.source_weights = *ParseSourceWeights("heading=0,cloze=0");
  auto zero = EmbedderTrainer::Start(*idx, o);
  EXPECT_EQ(zero.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("weight 0"), std::string::npos)
      << zero.status().ToString();
  EXPECT_EQ(Snap(*idx), before);

  // An index without the static embedder.
  IndexOptions lex;
  lex.dense.embedder = EmbedderKind::kNone;
  auto bm25 = Index::Create(lex);
  ASSERT_TRUE(bm25.ok());
  std::mt19937_64 rng(1);
  ASSERT_TRUE((*bm25)->Add(Doc("a", Contract(&rng))).ok());
  EXPECT_EQ(EmbedderTrainer::Start(**bm25, Fast()).status().code(),
            Status::Code::kFailedPrecondition);

  // Nothing to restore on a fresh index.
  EXPECT_EQ(RestorePreviousEmbedder(idx.get()).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(Snap(*idx), before);
}

TEST(Train, SnapshotKeepsTheModelAndThePreviousVersion) {
  auto idx = GeneratedIndex(40);
  EmbedderInfo v1 = DescribeEmbedder(*idx);
  EXPECT_TRUE(v1.present);
  EXPECT_EQ(v1.version, 1u);
  EXPECT_EQ(v1.training, "ppmi-svd");
  EXPECT_FALSE(v1.has_previous);
  auto ranked_v1 = DenseTop(*idx, "written notice to terminate");
  std::string snap_v1 = Snap(*idx);

  ASSERT_TRUE(TrainAndInstall(idx.get(), Fast()).ok());
  EmbedderInfo v2 = DescribeEmbedder(*idx);
  EXPECT_EQ(v2.version, 2u);
  EXPECT_EQ(v2.training.rfind("contrastive sources=heading,caption", 0), 0u) << v2.training;
  EXPECT_TRUE(v2.has_previous);
  EXPECT_EQ(v2.previous_version, 1u);
  auto ranked_v2 = DenseTop(*idx, "written notice to terminate");
  EXPECT_EQ(idx->Stats().pending_vectors, 0u);
  EXPECT_EQ(idx->Stats().vectors, idx->Stats().chunks);

  // Round trip: the same model, the same results, the same bytes again.
  std::string snap_v2 = Snap(*idx);
  auto loaded = Index::FromSnapshot(snap_v2);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EmbedderInfo l2 = DescribeEmbedder(**loaded);
  EXPECT_EQ(l2.version, 2u);
  EXPECT_EQ(l2.training, v2.training);
  EXPECT_EQ(l2.previous_version, 1u);
  EXPECT_EQ(DenseTop(**loaded, "written notice to terminate"), ranked_v2);
  EXPECT_EQ(Snap(**loaded), snap_v2);

  // Restore: version 1 is back, with its results; restoring again returns to 2.
  ASSERT_TRUE(RestorePreviousEmbedder(loaded->get()).ok());
  EmbedderInfo r = DescribeEmbedder(**loaded);
  EXPECT_EQ(r.version, 1u);
  EXPECT_EQ(r.previous_version, 2u);
  EXPECT_EQ(DenseTop(**loaded, "written notice to terminate"), ranked_v1);
  ASSERT_TRUE(RestorePreviousEmbedder(loaded->get()).ok());
  EXPECT_EQ(DescribeEmbedder(**loaded).version, 2u);
  EXPECT_EQ(DenseTop(**loaded, "written notice to terminate"), ranked_v2);

  // Training again from a trained index starts from the corpus model (kept
  // as the previous one) unless warm-started.
  EmbedderTrainOptions o = Fast(9);
  ASSERT_TRUE(TrainAndInstall(loaded->get(), o).ok());
  EmbedderInfo v3 = DescribeEmbedder(**loaded);
  EXPECT_EQ(v3.version, 3u);
  EXPECT_NE(v3.training.find("from=v1"), std::string::npos) << v3.training;
  // Now the previous model is the trained v2: only a warm start can train.
  EXPECT_EQ(EmbedderTrainer::Start(**loaded, o).status().code(), Status::Code::kFailedPrecondition);
  (void)snap_v1;
}

TEST(Train, DocumentsAddedLaterAreEmbeddedAndAWarmStartLearnsFromThem) {
  auto idx = GeneratedIndex(40);
  ASSERT_TRUE(TrainAndInstall(idx.get(), Fast()).ok());
  std::mt19937_64 rng(99);
  for (int d = 0; d < 10; ++d)
    ASSERT_TRUE(idx->Add(Doc("new" + std::to_string(d), Contract(&rng))).ok());
  EXPECT_GT(idx->Stats().pending_vectors, 0u);
  ASSERT_TRUE(idx->BuildDense().ok());  // what ingest does: the trained model embeds them
  EXPECT_EQ(idx->Stats().pending_vectors, 0u);
  EXPECT_EQ(DescribeEmbedder(*idx).version, 2u);

  EmbedderTrainOptions o = Fast(11);
  o.warm_start = true;
  o.epochs = 1;
  auto t = EmbedderTrainer::Start(*idx, o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  bool mined_new = false;
  for (const auto& p : (*t)->pairs()) mined_new |= p.positive_chunk.rfind("new", 0) == 0;
  EXPECT_TRUE(mined_new);
  while (!(*t)->done()) ASSERT_TRUE((*t)->Step().ok());
  ASSERT_TRUE((*t)->Install(idx.get()).ok());
  EmbedderInfo v3 = DescribeEmbedder(*idx);
  EXPECT_EQ(v3.version, 3u);
  EXPECT_NE(v3.training.find("from=v2"), std::string::npos) << v3.training;
  EXPECT_EQ(idx->Stats().vectors, idx->Stats().chunks);
}

TEST(Train, ARetrainOfTheCorpusModelKeepsTheTrainedOneRestorable) {
  auto idx = GeneratedIndex(40);
  ASSERT_TRUE(TrainAndInstall(idx.get(), Fast()).ok());
  ASSERT_TRUE(idx->BuildDense(/*retrain=*/true).ok());
  EmbedderInfo info = DescribeEmbedder(*idx);
  EXPECT_EQ(info.version, 3u);
  EXPECT_EQ(info.training, "ppmi-svd");
  EXPECT_EQ(info.previous_version, 2u);
  ASSERT_TRUE(RestorePreviousEmbedder(idx.get()).ok());
  EXPECT_EQ(DescribeEmbedder(*idx).version, 2u);
}

}  // namespace
}  // namespace foldback
