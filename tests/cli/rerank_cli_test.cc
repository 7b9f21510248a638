// `--rerank none|learned|llm` on `search`, `ask` and `eval`, run as a user
// runs them: a reranker learned from the lawyers' labels in the index's
// feedback log reorders results of questions nobody labelled, behind the
// user's walls.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "foldback/feedback.h"
#include "foldback/train.h"
#include "host/feedback_log.h"
#include "rerank_topics.h"

namespace {

using json = nlohmann::json;
using foldback::testing::CliRun;
CliRun Cli(const std::string& args) { return foldback::testing::RunCli(args); }
CliRun CliSplit(const std::string& args) {
  return foldback::testing::RunCli(args, foldback::testing::Stderr::kSeparate);
}

const std::vector<foldback::testing::RerankTopic>& kTopics = foldback::testing::RerankTopics();

const std::string kPreambles[] = {"As agreed between the parties, ", "Save as stated otherwise herein, ",
                                  "Notwithstanding clause one above, "};
const std::string kClosings[] = {
    " Signed in London by both directors on the first day of March.",
    " Executed at Geneva during the annual board meeting held each April.",
    " Accepted through an exchange of letters in the summer of the second year."};

std::string Q(const std::string& s) { return foldback::testing::ShellQuote(s); }

json SearchJson(const std::string& idx, const std::string& extra, const std::string& query) {
  CliRun r = CliSplit("search --index " + idx + " --json " + extra + " " + Q(query));
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  json j = json::parse(r.out, nullptr, false);
  EXPECT_TRUE(j.is_array()) << r.out;
  return j;
}

// An index of two matters (3 contracts each, every topic's heading and
// clause as separate files) whose feedback log holds acme lawyers' labels
// on topics 0-4.
std::string MakeIndex(const std::string& name) {
  std::string dir = foldback::testing::FreshTempDir("rerankcli", name);
  std::string idx = dir + "/idx";
  for (const std::string matter : {"acme", "beta"}) {
    std::filesystem::create_directories(dir + "/" + matter);
    for (int n = 0; n < 3; ++n) {
      for (size_t t = 0; t < kTopics.size(); ++t) {
        std::string base =
            dir + "/" + matter + "/" + matter + std::to_string(n) + "_t" + std::to_string(t);
        foldback::testing::WriteFile(base + "_head.txt", kTopics[t].heading + "\n");
        // Each contract words its clause its own way, so that the copies
        // stay distinct passages (search folds near-duplicates into one).
        foldback::testing::WriteFile(base + "_clause.txt",
                                     kPreambles[n] + kTopics[t].clause + kClosings[n] + "\n");
      }
    }
    EXPECT_EQ(Cli("ingest --index " + idx + " --matter " + matter + " " + dir + "/" + matter).code,
              0);
  }
  std::vector<foldback::FeedbackRecord> records;
  for (size_t t = 0; t < 5; ++t) {
    json hits = SearchJson(idx, "--allowed-matters acme --top-k 10", kTopics[t].question);
    foldback::FeedbackRecord r;
    r.record_id = "rec-" + std::to_string(t);
    r.trace_id = "trace-" + std::to_string(t);
    r.matter = "acme";
    r.question = kTopics[t].question;
    r.hop_queries = {r.question};
    r.consent_to_train = true;
    uint32_t rank = 0;
    for (const auto& h : hits) {
      foldback::ShownResult s;
      s.chunk_id = h["chunk_id"];
      s.doc_id = h["doc_id"];
      s.rank = ++rank;
      s.score = h["score"];
      s.matter = h["matter"];
      s.text_hash = foldback::FeedbackTextHash(h["text"].get<std::string>());
      r.results.push_back(s);
      bool relevant = s.doc_id.find("_t" + std::to_string(t) + "_clause") != std::string::npos;
      r.labels.push_back({s.chunk_id, relevant ? foldback::PassageLabel::kRelevant
                                               : foldback::PassageLabel::kNotRelevant});
    }
    records.push_back(r);
  }
  auto log = foldback::host::FeedbackLogFile::Open(idx);
  EXPECT_TRUE(log.ok());
  EXPECT_TRUE((*log)->AppendBatch(records).ok());
  return idx;
}

bool IsClause(const json& hit) {
  return hit["doc_id"].get<std::string>().find("_clause") != std::string::npos;
}

TEST(RerankCli, LearnedRerankerReordersNewQuestionsInsideTheWalls) {
  std::string idx = MakeIndex("learned");
  // Topics 5 and 6 were never labelled.
  for (size_t t = 5; t < kTopics.size(); ++t) {
    json plain = SearchJson(idx, "--allowed-matters acme --top-k 5", kTopics[t].question);
    ASSERT_FALSE(plain.empty());
    EXPECT_FALSE(IsClause(plain[0])) << "the first stage should prefer the heading";
    json reranked =
        SearchJson(idx, "--allowed-matters acme --top-k 5 --rerank learned", kTopics[t].question);
    ASSERT_EQ(reranked.size(), plain.size());
    EXPECT_TRUE(IsClause(reranked[0])) << reranked.dump(1);
    for (const auto& h : reranked) EXPECT_EQ(h["matter"], "acme");
  }
  // A user walled to beta: acme's model never applies, the order is the
  // first stage's, and stderr says why.
  CliRun r = CliSplit("search --index " + idx +
                      " --json --allowed-matters beta --top-k 5 "
                      "--rerank learned " +
                      Q(kTopics[5].question));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("rerank: not applied"), std::string::npos) << r.err;
  json walled = json::parse(r.out);
  json plain_beta = SearchJson(idx, "--allowed-matters beta --top-k 5", kTopics[5].question);
  ASSERT_EQ(walled.size(), plain_beta.size());
  for (size_t i = 0; i < walled.size(); ++i) {
    EXPECT_EQ(walled[i]["chunk_id"], plain_beta[i]["chunk_id"]);
    EXPECT_EQ(walled[i]["matter"], "beta");
  }
  // Text output works too.
  r = Cli("search --index " + idx + " --allowed-matters acme --rerank learned --rerank-depth 20 " +
          Q(kTopics[6].question));
  EXPECT_EQ(r.code, 0) << r.out;
  // ask (offline, no answer) reorders its passages the same way.
  r = CliSplit("ask --index " + idx +
               " --rewrite none --hops 1 --json --allowed-matters acme "
               "--rerank learned " +
               Q(kTopics[6].question));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json asked = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(asked.contains("results")) << r.out;
  ASSERT_FALSE(asked["results"].empty()) << r.out;
  EXPECT_TRUE(IsClause(asked["results"][0])) << r.out;
  // Forgetting the matter removes what its labels taught at once.
  r = Cli("feedback --index " + idx + " --forget-matter acme");
  ASSERT_EQ(r.code, 0) << r.out;
  r = CliSplit("search --index " + idx +
               " --json --allowed-matters acme --top-k 5 "
               "--rerank learned " +
               Q(kTopics[5].question));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("rerank: not applied"), std::string::npos) << r.err;
  json forgotten = json::parse(r.out);
  ASSERT_FALSE(forgotten.empty());
  EXPECT_FALSE(IsClause(forgotten[0])) << forgotten.dump(1);
}

// The scope a question is asked in goes from `ask --filter` to its saved
// trace and, through `foldback feedback`, into the record in the log: the
// reranker trained on it ranks that record's list in the same scope
// (TrainSearchReranker).
TEST(RerankCli, AScopedQuestionKeepsItsFilterInTheRecord) {
  std::string idx = MakeIndex("scoped");
  json top = SearchJson(idx, "--allowed-matters acme --top-k 1", kTopics[5].question);
  ASSERT_EQ(top.size(), 1u);
  const std::string doc = top[0]["doc_id"];
  CliRun r = CliSplit("ask --index " + idx +
                      " --rewrite none --hops 1 --json --allowed-matters acme --filter " +
                      Q("id=" + doc) + " " + Q(kTopics[5].question));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json asked = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(asked.contains("results") && !asked["results"].empty()) << r.out;
  for (const auto& h : asked["results"]) EXPECT_EQ(h["doc_id"], doc);
  const std::string trace_id = asked["trace_id"];
  json trace = json::parse(
      foldback::testing::ReadFile(std::filesystem::path(idx) / "traces" / (trace_id + ".json")));
  EXPECT_EQ(trace["filters"], json::array({{{"field", "id"}, {"op", "="}, {"value", doc}}}));
  const std::string chunk = asked["results"][0]["chunk_id"];
  r = Cli("feedback --index " + idx + " --trace " + trace_id + " --relevant " + Q(chunk) +
          " --allowed-matters acme --consent");
  ASSERT_EQ(r.code, 0) << r.out;
  auto contents = foldback::host::ReadFeedbackLogFile(idx);
  ASSERT_TRUE(contents.ok());
  foldback::FeedbackState state = foldback::ApplyFeedbackLog(*contents);
  ASSERT_EQ(state.records.size(), 6u);
  const foldback::FeedbackRecord& rec = state.records.back();
  ASSERT_EQ(rec.filters.size(), 1u);
  EXPECT_EQ(rec.filters[0].field, "id");
  EXPECT_EQ(rec.filters[0].op, foldback::Filter::Op::kEq);
  EXPECT_EQ(rec.filters[0].value, doc);
  r = CliSplit("feedback --index " + idx + " --list --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json listed = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(listed.is_array() && listed.size() == 6u) << r.out;
  EXPECT_EQ(listed.back()["filters"], trace["filters"]);
  EXPECT_EQ(listed.front()["filters"], json::array());  // written without a scope
  // The unscoped records (written without filters) and the scoped one train
  // together.
  json reranked = SearchJson(idx, "--allowed-matters acme --top-k 5 --rerank learned --feedback",
                             kTopics[6].question);
  ASSERT_FALSE(reranked.empty());
  EXPECT_TRUE(IsClause(reranked[0])) << reranked.dump(1);
}

TEST(RerankCli, BadRerankFlagsAreClearErrors) {
  std::string idx = MakeIndex("bad");
  CliRun r = Cli("search --index " + idx + " --rerank llm x");  // no endpoint
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--rerank llm needs --endpoint"), std::string::npos) << r.out;
  r = Cli("search --index " + idx + " --rerank magic x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--rerank must be none, learned or llm"), std::string::npos) << r.out;
  r = Cli("search --index " + idx + " --rerank learned --rerank-depth 0 x");
  EXPECT_NE(r.code, 0);
  r = Cli("ask --index " + idx + " --rewrite none --rerank llm x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--rerank llm needs --endpoint"), std::string::npos) << r.out;
}

// eval: --rerank learned needs labels; with --feedback-queries the method
// "rerank" is reported beside the others, with today's keys kept.
TEST(RerankCli, EvalReportsTheReranker) {
  std::string dir = foldback::testing::FreshTempDir("rerankcli", "eval");
  std::string corpus, train, test, qrels = "query-id\tcorpus-id\tscore\n";
  for (int d = 0; d < 8; ++d) {
    std::string doc = "nda" + std::to_string(d);
    for (size_t t = 0; t < kTopics.size(); ++t) {
      std::string base = doc + ":" + std::to_string(t);
      corpus +=
          json({{"_id", base + "h"}, {"text", kTopics[t].heading}, {"doc_id", doc}}).dump() + "\n";
      corpus +=
          json({{"_id", base + "c"}, {"text", kTopics[t].clause}, {"doc_id", doc}}).dump() + "\n";
      std::string qid = doc + ":q" + std::to_string(t);
      std::string line =
          json({{"_id", qid}, {"text", kTopics[t].question}, {"doc_id", doc}}).dump() + "\n";
      // Feedback on topics 0-4 of NDAs 0-3; evaluation of topics 5-6 of NDAs 4-7.
      if (d < 4 && t < 5) train += line;
      if (d >= 4 && t >= 5) test += line;
      qrels += qid + "\t" + base + "c\t1\n";
    }
    // A definition (structure the trainer mines pairs from; no query's).
    corpus += json({{"_id", doc + ":def"},
                    {"text",
                     "\"Confidential Information\" means every document, drawing and sample "
                     "that either party discloses to the other under this agreement."},
                    {"doc_id", doc}})
                  .dump() +
              "\n";
  }
  foldback::testing::WriteFile(dir + "/corpus.jsonl", corpus);
  foldback::testing::WriteFile(dir + "/train.jsonl", train);
  foldback::testing::WriteFile(dir + "/test.jsonl", test);
  foldback::testing::WriteFile(dir + "/qrels.tsv", qrels);
  std::string common = "eval --corpus " + dir + "/corpus.jsonl --queries " + dir +
                       "/test.jsonl --qrels " + dir + "/qrels.tsv --scope-field doc_id ";
  CliRun r = Cli(common + "--rerank learned");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("needs labels"), std::string::npos) << r.out;
  r = Cli(common + "--rerank llm --feedback-queries " + dir + "/train.jsonl");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("measured without --feedback-queries"), std::string::npos) << r.out;
  r = CliSplit(common + "--feedback-queries " + dir +
               "/train.jsonl --feedback-methods rocchio --rerank learned --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  for (const char* k : {"baseline", "with_feedback", "methods", "ndcg@10_relative_gain"}) {
    ASSERT_TRUE(j.contains(k)) << k;
  }
  ASSERT_TRUE(j["methods"].contains("rerank")) << r.out;
  ASSERT_TRUE(j["methods"].contains("rocchio"));
  const json& rr = j["methods"]["rerank"];
  EXPECT_TRUE(rr.contains("ndcg@10"));
  EXPECT_TRUE(rr.contains("ndcg@10_relative_gain"));
  ASSERT_EQ(rr["models"].size(), 1u) << rr.dump(1);
  EXPECT_TRUE(rr["models"][0]["gate_open"].get<bool>()) << rr.dump(1);
  // New questions: the heading no longer beats the clause.
  EXPECT_GT(rr["ndcg@10"].get<double>(), j["baseline"]["ndcg@10"].get<double>() + 0.05) << r.out;
  // An imperfect lawyer: some shown passages unlabelled, never negatives.
  r = CliSplit(common + "--feedback-queries " + dir +
               "/train.jsonl --feedback-methods rerank --feedback-depth 5 "
               "--feedback-label-rate 0.5 --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  j = json::parse(r.out);
  EXPECT_GT(j["labels"]["unlabelled_shown"].get<int>(), 0);
  // Records left with no label at all are skipped whole: at most as many.
  EXPECT_GT(j["methods"]["rerank"]["train"]["unlabelled_shown_not_negatives"].get<int>(), 0);
  EXPECT_LE(j["methods"]["rerank"]["train"]["unlabelled_shown_not_negatives"].get<int>(),
            j["labels"]["unlabelled_shown"].get<int>());
  r = Cli(common + "--feedback-queries " + dir + "/train.jsonl --feedback-label-rate 0");
  EXPECT_NE(r.code, 0);
  // Method finetune: the embedder trained on the labels, alone and under "all".
  r = CliSplit(common + "--feedback-queries " + dir +
               "/train.jsonl --feedback-methods rocchio,finetune --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  j = json::parse(r.out);
  ASSERT_TRUE(j["methods"].contains("finetune")) << r.out;
  const json& ft = j["methods"]["finetune"];
  EXPECT_EQ(ft["epochs"], foldback::kFeedbackOnlyEpochs);
  EXPECT_EQ(ft["records_used"], 20);  // topics 0-4 of NDAs 0-3, each labelling its clause
  EXPECT_GT(ft["pairs"].get<int>(), 0);
  EXPECT_LT(ft["loss_after"].get<double>(), ft["loss_before"].get<double>());
  EXPECT_TRUE(ft.contains("ndcg@10_relative_gain"));
  EXPECT_EQ(ft["sources"], "feedback");
  // The labels with the corpus' structure, in one training: more pairs.
  r = CliSplit(common + "--feedback-queries " + dir +
               "/train.jsonl --feedback-methods finetune --finetune-sources all "
               "--finetune-epochs 2 --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const json both = json::parse(r.out)["methods"]["finetune"];
  EXPECT_EQ(both["sources"], "all");
  EXPECT_EQ(both["epochs"], 2);
  EXPECT_GT(both["pairs"].get<int>(), ft["pairs"].get<int>()) << both.dump();
  r = Cli(common + "--feedback-queries " + dir +
          "/train.jsonl --feedback-methods finetune --finetune-sources structure");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--finetune-sources must include feedback"), std::string::npos) << r.out;
  r = Cli(common + "--feedback-queries " + dir + "/train.jsonl --feedback-methods finetune,magic");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("unknown method 'magic' (demos, rocchio, adapter, rerank, finetune)"),
            std::string::npos)
      << r.out;
}

}  // namespace

// `foldback train --sources feedback`: the lawyers' labels train the index's
// embedder — which serves every search whatever the asker's walls — so only
// records of matters an administrator marks shareable are used.
TEST(RerankCli, LabelsTrainTheEmbedderOnlyFromShareableMatters) {
  std::string idx = MakeIndex("trainfb");
  CliRun r = CliSplit("train --index " + idx + " --sources feedback --json");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("5 touching a matter not marked shareable"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Failed precondition: the feedback source has no pairs"), std::string::npos)
      << r.err;
  r = CliSplit("train --index " + idx + " --sources feedback --shareable-matters beta --json");
  EXPECT_NE(r.code, 0) << r.out;  // acme's records stay out

  // A dry run shows the pairs the labels would give.
  r = CliSplit("train --index " + idx +
               " --sources feedback --shareable-matters acme --dry-run --show-pairs 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json dry = json::parse(r.out, nullptr, false);
  EXPECT_GT(dry["pairs"]["feedback"].get<size_t>(), 0u) << r.out;
  ASSERT_EQ(dry["sample"].size(), 1u) << r.out;
  EXPECT_EQ(dry["sample"][0]["source"], "feedback");

  r = CliSplit("train --index " + idx + " --sources feedback --shareable-matters acme --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  json report = json::parse(r.out, nullptr, false);
  EXPECT_EQ(report["pairs"]["feedback"], dry["pairs"]["feedback"]);
  ASSERT_TRUE(report.is_object()) << r.out;
  EXPECT_EQ(report["feedback"]["records"], 5);
  EXPECT_EQ(report["feedback"]["used"], 5);
  EXPECT_EQ(report["feedback"]["walled"], 0);
  EXPECT_GT(report["pairs"]["feedback"].get<size_t>(), 0u) << r.out;
  EXPECT_EQ(report["pairs"]["feedback"], report["pairs_total"]);  // feedback only
  // Every pair has a hard negative: a passage the lawyer labelled not relevant.
  EXPECT_EQ(report["hard_negatives"], report["pairs_total"]);
  EXPECT_LT(report["loss_after"].get<double>(), report["loss_before"].get<double>());
  EXPECT_EQ(report["version"], 2);
  EXPECT_NE(report["training"].get<std::string>().find("sources=feedback"), std::string::npos);
  EXPECT_EQ(report["epochs"], foldback::kFeedbackOnlyEpochs);  // labels alone: a few pairs

  // Beside the structure sources, the same way.
  r = CliSplit("train --index " + idx +
               " --sources structure,feedback --shareable-matters acme --incremental --json");
  ASSERT_EQ(r.code, 0) << r.err;
  report = json::parse(r.out, nullptr, false);
  EXPECT_EQ(report["epochs"], foldback::EmbedderTrainOptions().epochs);
  EXPECT_GT(report["pairs"]["feedback"].get<size_t>(), 0u);
  EXPECT_GT(report["pairs_total"].get<size_t>(), report["pairs"]["feedback"].get<size_t>());
  EXPECT_EQ(report["version"], 3);

  r = CliSplit("info --index " + idx);
  EXPECT_NE(r.out.find("learned from     labels of matters acme"), std::string::npos) << r.out;
  // Forgetting a matter whose labels trained the embedder drops what learned
  // from them: versions 3 and 2 both did (3 continued from 2), so the corpus
  // model is retrained and nothing trained on acme's labels is restorable.
  r = CliSplit("feedback --index " + idx + " --forget-matter beta --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["embedder"], "") << r.out;  // beta taught it nothing
  // The snapshot as it stands before the forget: put back below to play a
  // crash between the tombstone and the snapshot's save.
  std::filesystem::copy_file(idx + "/index.fbsnap", idx + "/before-forget.fbsnap");
  r = CliSplit("feedback --index " + idx + " --forget-matter acme --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json forgot = json::parse(r.out);
  EXPECT_EQ(forgot["forgotten"], 5);
  EXPECT_NE(forgot["embedder"].get<std::string>().find("corpus model retrained as version 4"),
            std::string::npos)
      << r.out;
  r = CliSplit("train --index " + idx + " --restore --json");
  EXPECT_NE(r.code, 0);  // no previous model left to bring acme's labels back
  r = CliSplit("info --index " + idx);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("ppmi-svd"), std::string::npos) << r.out;

  // The log holds acme's tombstone but the snapshot is the one from before
  // it (the process died before the save): the next forget of any matter
  // drops what the log says was forgotten (ForgetMattersInEmbedder).
  std::filesystem::rename(idx + "/before-forget.fbsnap", idx + "/index.fbsnap");
  r = CliSplit("info --index " + idx);
  ASSERT_NE(r.out.find("labels of matters acme"), std::string::npos) << r.out;
  r = CliSplit("feedback --index " + idx + " --forget-matter gamma --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(json::parse(r.out)["embedder"].get<std::string>().find("matter acme: embedder version"),
            std::string::npos)
      << r.out;
  r = CliSplit("info --index " + idx);
  EXPECT_EQ(r.out.find("labels of matters"), std::string::npos) << r.out;
}
