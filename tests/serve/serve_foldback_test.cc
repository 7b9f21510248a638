// `foldback serve` applies what lawyers taught it, as the CLI and the C API
// do: feedback POSTed by a user changes that user's next search (no
// restart), never the search of a user whose wall excludes the feedback's
// matter; rerank=learned gives the ranking of `foldback search --rerank
// learned`; fold-backs are built once per wall and index generation, then
// kept current record by record, equal to a rebuild from the log
// (foldback_model_builds_total, foldback_model_updates_total); learned
// rerankers are retrained in the background after feedback.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "foldback/feedback.h"
#include "host/hash.h"
#include "rerank_topics.h"
#include "serve_process.h"

namespace foldback::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Token(const std::string& user) { return "tok-" + user + "-fold-0123456789"; }

// alice sees and writes alpha; bob sees beta only; carol sees both.
std::string UsersToml() {
  std::string out;
  auto user = [&](const std::string& name, const std::string& matters, const std::string& write) {
    out += "[[user]]\nname = \"" + name + "\"\ntoken_sha256 = \"" + host::Sha256Hex(Token(name)) +
           "\"\nmatters = [" + matters + "]\nwrite = [" + write + "]\n\n";
  };
  user("alice", "\"alpha\"", "\"alpha\"");
  user("bob", "\"beta\"", "");
  user("carol", "\"alpha\", \"beta\"", "");
  return out;
}

// The CLI's stdout (stderr dropped); `code` its exit status.
std::string RunCli(const std::string& args, int* code) {
  std::string cmd = std::string(FOLDBACK_CLI) + " " + args + " 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  if (!p) {
    *code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *code = ::pclose(p);
  return out;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }  // no quote inside

const std::vector<RerankTopic> kTopics(RerankTopics().begin(), RerankTopics().begin() + 6);

bool IsClause(const json& hit) {
  return hit["doc_id"].get<std::string>().find("_clause") != std::string::npos;
}

class ServeFoldBackTest : public ::testing::Test {
 protected:
  // Two matters of the same topics (a heading BM25 prefers and the clause
  // a lawyer wants), three variants of each: labels have something to move.
  static void SetUpTestSuite() {
    base_ = fs::temp_directory_path() / ("foldback-serve-fold-" + std::to_string(getpid()));
    fs::remove_all(base_);
    const std::string preambles[] = {"As agreed between the parties, ",
                                     "Save as stated otherwise herein, ",
                                     "Notwithstanding clause one above, "};
    const std::string closings[] = {" Signed in London by both directors in March.",
                                    " Executed at Geneva during the April board meeting.",
                                    " Accepted through an exchange of letters that summer."};
    for (const std::string matter : {"alpha", "beta"}) {
      fs::path folder = base_ / ("topics-" + matter);
      fs::create_directories(folder);
      for (int n = 0; n < 3; ++n) {
        for (size_t t = 0; t < kTopics.size(); ++t) {
          std::string name = matter + std::to_string(n) + "_t" + std::to_string(t);
          std::ofstream(folder / (name + "_head.txt")) << kTopics[t].heading << "\n";
          std::ofstream(folder / (name + "_clause.txt"))
              << preambles[n] << kTopics[t].clause << closings[n] << "\n";
        }
      }
      int code;
      RunCli("ingest --index " + (base_ / "idx").string() + " --matter " + matter + " " +
                 folder.string() + " >/dev/null",
             &code);
      ASSERT_EQ(code, 0);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(base_); }

  void SetUp() override {
    dir_ = base_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(base_ / "idx", dir_ / "idx", fs::copy_options::recursive);
    std::ofstream(dir_ / "users.toml") << UsersToml();
    ASSERT_TRUE(server_.Start({"--index", (dir_ / "idx").string(), "--users",
                               (dir_ / "users.toml").string(), "--rate-limit", "0"},
                              dir_.string()))
        << server_.output();
  }
  void TearDown() override {
    server_.Kill();
    fs::remove_all(dir_);
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_.port());
    c.set_read_timeout(30, 0);
    return c;
  }
  static httplib::Headers Auth(const std::string& user) {
    return {{"Authorization", "Bearer " + Token(user)}};
  }
  static std::string Q(const std::string& s) { return httplib::detail::encode_query_param(s); }

  // GET /v1/search as `user`: the body (status 200 asserted by the caller
  // through `status`).
  std::string Search(const std::string& user, const std::string& query, int* status) {
    auto c = Client();
    auto r = c.Get("/v1/search?top_k=10&q=" + query, Auth(user));
    *status = r ? r->status : -1;
    return r ? r->body : std::string();
  }

  // foldback_model_builds_total{kind=KIND} (or another counter of kinds).
  long Builds(const std::string& kind, const std::string& counter = "foldback_model_builds_total") {
    auto c = Client();
    auto r = c.Get("/metrics");
    if (!r) return -1;
    std::smatch m;
    std::regex re(counter + "\\{kind=\"" + kind + "\"\\} ([0-9]+)");
    return std::regex_search(r->body, m, re) ? std::stol(m[1]) : -1;
  }
  long Updates(const std::string& kind) { return Builds(kind, "foldback_model_updates_total"); }
  // Waits (10 s at most) until Builds(kind) reaches `n`.
  bool WaitForBuilds(const std::string& kind, long n) {
    for (int i = 0; i < 1000 && Builds(kind) < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Builds(kind) >= n;
  }

  // One question asked by `user` in `matter` (no LLM: rewrite none) and
  // labelled: the passages `relevant` says yes to are relevant, the others
  // not. The ask's results.
  json AskAndLabel(const std::string& user, const std::string& question, const std::string& matter,
                   const std::function<bool(size_t rank, const json& hit)>& relevant) {
    auto c = Client();
    auto asked = c.Post("/v1/ask", Auth(user),
                        json({{"question", question},
                              {"hops", 1},
                              {"depth", 10},
                              {"top_k", 10},
                              {"rewrite", "none"},
                              {"matter", matter}})
                            .dump(),
                        "application/json");
    EXPECT_TRUE(asked && asked->status == 200) << (asked ? asked->body : "no answer");
    if (!asked || asked->status != 200) return json();
    json a = json::parse(asked->body);
    json yes = json::array(), no = json::array();
    for (size_t i = 0; i < a["results"].size(); ++i) {
      const json& h = a["results"][i];
      (relevant(i, h) ? yes : no).push_back(h["chunk_id"]);
    }
    json fb = {{"trace_id", a["trace_id"]},
               {"rating", "up"},
               {"relevant", yes},
               {"irrelevant", no},
               {"consent", true}};
    auto rated = c.Post("/v1/feedback", Auth(user), fb.dump(), "application/json");
    EXPECT_TRUE(rated && rated->status == 200) << (rated ? rated->body : "no answer");
    return a;
  }

  // Alice asks every topic's question but the last in alpha and labels its
  // clauses relevant, the rest not: enough for a learned reranker.
  void LabelTheClauses() {
    for (size_t t = 0; t + 1 < kTopics.size(); ++t) {
      json a = AskAndLabel("alice", kTopics[t].question, "alpha", [&](size_t, const json& h) {
        return h["doc_id"].get<std::string>().find("_t" + std::to_string(t) + "_clause") !=
               std::string::npos;
      });
      ASSERT_FALSE(a.is_null());
    }
  }
  // Whether alice's rerank=learned search of the last topic applied a model
  // (null when the search failed).
  json LearnedApplied() {
    auto c = Client();
    auto r =
        c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(kTopics.back().question), Auth("alice"));
    return r && r->status == 200 ? json::parse(r->body)["rerank"]["applied"] : json();
  }

  static fs::path base_;
  fs::path dir_;
  ServeProcess server_;
};

fs::path ServeFoldBackTest::base_;

int RankOf(const json& results, const std::string& chunk_id) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i]["chunk_id"] == chunk_id) return static_cast<int>(i);
  }
  return 1000;  // below the list
}

// Alice labels her search's last passage relevant and its first not
// relevant: her very next search (no restart) ranks them accordingly. Bob,
// whose wall excludes alpha, gets byte-identical answers before and after;
// `feedback=false` is the index alone. The record is folded into the kept
// fold-backs: no wall builds again for it (a wall seen for the first time
// builds once), and an index write builds again.
TEST_F(ServeFoldBackTest, FeedbackIsUsedAtOnceInsideTheWall) {
  const std::string question = kTopics[1].question;
  int status;
  const std::string alice_before = Search("alice", Q(question), &status);
  ASSERT_EQ(status, 200) << alice_before;
  const std::string bob_before = Search("bob", Q(question), &status);
  ASSERT_EQ(status, 200) << bob_before;
  json before = json::parse(alice_before)["results"];
  ASSERT_GE(before.size(), 6u);

  // The same question through ask (a trace to label), then the labels.
  json asked = AskAndLabel("alice", question, "alpha", [&](size_t rank, const json&) {
    return rank == 5;  // a passage ranked sixth is what alice wanted
  });
  ASSERT_FALSE(asked.is_null());
  const std::string wanted = asked["results"][5]["chunk_id"];
  const std::string unwanted = asked["results"][0]["chunk_id"];
  const int wanted_before = RankOf(before, wanted), unwanted_before = RankOf(before, unwanted);
  ASSERT_LT(unwanted_before, wanted_before);

  const long folds = Builds("fold_back");
  EXPECT_EQ(Updates("fold_back"), 1);  // the record, folded into the kept fold-backs
  const std::string alice_after = Search("alice", Q(question), &status);
  ASSERT_EQ(status, 200) << alice_after;
  json after = json::parse(alice_after)["results"];
  EXPECT_LT(RankOf(after, wanted), wanted_before) << alice_after;
  EXPECT_GT(RankOf(after, unwanted), unwanted_before) << alice_after;
  for (const auto& h : after) EXPECT_EQ(h["matter"], "alpha");
  // Not built again for alice's wall: the record was folded in.
  EXPECT_EQ(Builds("fold_back"), folds);
  EXPECT_EQ(Search("alice", Q(question), &status), alice_after);
  EXPECT_EQ(Builds("fold_back"), folds);

  // Bob: nothing of alpha's feedback reaches him, and his wall, which
  // cannot see it, keeps its fold-back (no build).
  EXPECT_EQ(Search("bob", Q(question), &status), bob_before);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(Builds("fold_back"), folds);
  // Fold-back off: the index alone, as before the feedback.
  EXPECT_EQ(Search("alice", Q(question) + "&feedback=false", &status), alice_before);
  EXPECT_EQ(status, 200);
  // Carol sees alpha too: the feedback applies to her search as well.
  json carol = json::parse(Search("carol", Q(question), &status))["results"];
  json carol_off =
      json::parse(Search("carol", Q(question) + "&feedback=false", &status))["results"];
  EXPECT_NE(carol.dump(), carol_off.dump());
  EXPECT_EQ(Builds("fold_back"), folds + 1);  // carol's wall, seen for the first time

  // The ask folds back too (its passages come from the same searches).
  auto c = Client();
  json ask_body = {{"question", question}, {"hops", 1}, {"top_k", 10}, {"rewrite", "none"}};
  auto on = c.Post("/v1/ask", Auth("alice"), ask_body.dump(), "application/json");
  ask_body["feedback"] = false;
  auto off = c.Post("/v1/ask", Auth("alice"), ask_body.dump(), "application/json");
  ASSERT_TRUE(on && off);
  ASSERT_EQ(on->status, 200) << on->body;
  ASSERT_EQ(off->status, 200) << off->body;
  EXPECT_LT(RankOf(json::parse(on->body)["results"], wanted),
            RankOf(json::parse(off->body)["results"], wanted))
      << on->body;

  // An index write is a new generation: the fold-back is built again.
  const long before_write = Builds("fold_back");
  auto added =
      c.Post("/v1/documents", Auth("alice"),
             json({{"matter", "alpha"}, {"id", "alpha-new"}, {"text", "A new note."}}).dump(),
             "application/json");
  ASSERT_EQ(added->status, 201) << added->body;
  // (the new document changes the collection's statistics, so the scores)
  json rebuilt = json::parse(Search("alice", Q(question), &status))["results"];
  ASSERT_EQ(status, 200);
  EXPECT_LT(RankOf(rebuilt, wanted), wanted_before);
  EXPECT_EQ(Builds("fold_back"), before_write + 1);

  // Bad values are refused, not taken for a default.
  EXPECT_EQ(c.Get("/v1/search?feedback=no&q=x", Auth("alice"))->status, 400);
  EXPECT_EQ(
      c.Post("/v1/ask", Auth("alice"), R"({"question":"x","feedback":"no"})", "application/json")
          ->status,
      400);
}

// rerank=learned: the ranking `foldback search --rerank learned` gives on
// the same index and log (with and without fold-back), trained once until
// the log changes for that wall; then retrained in the background (the
// requests meanwhile get the previous model) into what the CLI trains from
// the whole log.
TEST_F(ServeFoldBackTest, LearnedRerankMatchesTheCliAndIsTrainedOnce) {
  ASSERT_NO_FATAL_FAILURE(LabelTheClauses());
  const std::string q = kTopics.back().question;
  auto c = Client();
  const long trained = Builds("learned_reranker");
  auto first = c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(q), Auth("alice"));
  ASSERT_EQ(first->status, 200) << first->body;
  json learned = json::parse(first->body);
  EXPECT_EQ(learned["rerank"]["applied"], true) << first->body;
  EXPECT_TRUE(IsClause(learned["results"][0])) << first->body;
  EXPECT_EQ(Builds("learned_reranker"), trained + 1);
  // The second request (another query too) uses the same model.
  auto second = c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(q), Auth("alice"));
  ASSERT_EQ(second->status, 200);
  EXPECT_EQ(second->body, first->body);
  EXPECT_EQ(
      c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(kTopics[0].question), Auth("alice"))->status,
      200);
  EXPECT_EQ(Builds("learned_reranker"), trained + 1);
  // Another wall is another model.
  ASSERT_EQ(c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(q), Auth("bob"))->status, 200);
  EXPECT_EQ(Builds("learned_reranker"), trained + 2);

  // The CLI on the same index and log, with alice's wall.
  auto cli = [&](const std::string& flags) {
    int code;
    std::string out = RunCli("search --index " + (dir_ / "idx").string() +
                                 " --allowed-matters alpha --top-k 5 --rerank learned --json " +
                                 flags + " " + Quoted(q),
                             &code);
    EXPECT_EQ(code, 0) << out;
    return json::parse(out, nullptr, false);
  };
  auto same = [](const json& cli_hits, const json& serve_hits) {
    ASSERT_TRUE(cli_hits.is_array());
    ASSERT_EQ(cli_hits.size(), serve_hits.size());
    for (size_t i = 0; i < cli_hits.size(); ++i) {
      EXPECT_EQ(cli_hits[i]["chunk_id"], serve_hits[i]["chunk_id"]) << i;
      EXPECT_NEAR(cli_hits[i]["score"].get<double>(), serve_hits[i]["score"].get<double>(), 1e-6);
    }
  };
  same(cli("--feedback"), learned["results"]);
  // Fold-back off: another first stage, another model — trained within the
  // plain search's lists, as the CLI without --feedback trains it.
  auto off = c.Get("/v1/search?top_k=5&rerank=learned&feedback=false&q=" + Q(q), Auth("alice"));
  ASSERT_EQ(off->status, 200);
  same(cli(""), json::parse(off->body)["results"]);
  EXPECT_EQ(Builds("learned_reranker"), trained + 3);

  // New feedback: alice's model is retrained in the background (no request
  // waits for it), and so is her wall's query adapter, which this record
  // gives enough labels to train (the first stage of a hybrid search uses
  // it); then the ranking is what the CLI trains from the whole log.
  const long adapters = Updates("adapter");
  AskAndLabel("alice", q, "alpha", [&](size_t, const json& h) { return IsClause(h); });
  ASSERT_TRUE(WaitForBuilds("learned_reranker", trained + 5));  // with and without fold-back
  for (int i = 0; i < 1000 && Updates("adapter") == adapters; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(Updates("adapter"), adapters + 1);
  auto retrained = c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(q), Auth("alice"));
  ASSERT_EQ(retrained->status, 200);
  same(cli("--feedback"), json::parse(retrained->body)["results"]);
  EXPECT_EQ(Builds("learned_reranker"), trained + 5);
  // Bob's wall cannot see it: his model stays.
  ASSERT_EQ(c.Get("/v1/search?top_k=5&rerank=learned&q=" + Q(q), Auth("bob"))->status, 200);
  EXPECT_EQ(Builds("learned_reranker"), trained + 5);
}

// Records folded into the server's kept fold-backs one by one give what a
// fold-back built from the whole log gives (`foldback search --feedback`,
// which builds from the log file): after each record, for every user's
// wall, the same hits and scores; no wall's fold-back is built again.
TEST_F(ServeFoldBackTest, FoldedInFeedbackEqualsARebuild) {
  const std::vector<std::pair<std::string, std::string>> walls = {
      {"alice", "alpha"}, {"bob", "beta"}, {"carol", "alpha,beta"}};
  int status;
  for (const auto& [user, wall] : walls) {
    Search(user, Q(kTopics[0].question), &status);
    ASSERT_EQ(status, 200);
  }
  const long builds = Builds("fold_back");
  struct Step {
    std::string user, matter;
    size_t topic;
    std::string mode;
  };
  const std::vector<Step> steps = {{"alice", "alpha", 0, "bm25"},
                                   {"bob", "beta", 1, "hybrid"},
                                   {"carol", "alpha", 1, "bm25"},
                                   {"carol", "beta", 0, "hybrid"}};
  for (const Step& step : steps) {
    const std::string q = kTopics[step.topic].question;
    ASSERT_FALSE(AskAndLabel(step.user, q, step.matter, [&](size_t rank, const json& h) {
                   return IsClause(h) && rank % 2 == 0;
                 }).is_null());
    for (const auto& [user, wall] : walls) {
      const std::string what = step.user + " labelled; " + user + " searches " + step.mode;
      json served = json::parse(Search(user, Q(q) + "&mode=" + step.mode, &status));
      ASSERT_EQ(status, 200) << what;
      int code;
      std::string out =
          RunCli("search --index " + (dir_ / "idx").string() + " --allowed-matters " + wall +
                     " --top-k 10 --mode " + step.mode + " --json --feedback " + Quoted(q),
                 &code);
      ASSERT_EQ(code, 0) << out;
      json rebuilt = json::parse(out);
      const json& hits = served["results"];
      ASSERT_EQ(hits.size(), rebuilt.size()) << what;
      for (size_t i = 0; i < hits.size(); ++i) {
        EXPECT_EQ(hits[i]["chunk_id"], rebuilt[i]["chunk_id"]) << what << " #" << i;
        EXPECT_NEAR(hits[i]["score"].get<double>(), rebuilt[i]["score"].get<double>(), 1e-6)
            << what << " #" << i;
      }
    }
  }
  EXPECT_EQ(Builds("fold_back"), builds);
  EXPECT_EQ(Updates("fold_back"), static_cast<long>(steps.size()));

  // A retried write (a client-chosen record id sent twice) is acknowledged
  // with the stored record and changes nothing: the server's in-memory view
  // of the log has the first one at once.
  auto c = Client();
  auto asked = c.Post("/v1/ask", Auth("alice"),
                      json({{"question", kTopics[2].question},
                            {"hops", 1},
                            {"top_k", 5},
                            {"rewrite", "none"},
                            {"matter", "alpha"}})
                          .dump(),
                      "application/json");
  ASSERT_TRUE(asked && asked->status == 200);
  json a = json::parse(asked->body);
  json fb = {{"trace_id", a["trace_id"]},
             {"record_id", "0193a1b2-0000-7000-8000-00000000f01d"},
             {"rating", "up"},
             {"relevant", {a["results"][0]["chunk_id"]}}};
  auto one = c.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json");
  auto two = c.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json");
  ASSERT_TRUE(one && two);
  ASSERT_EQ(one->status, 200) << one->body;
  ASSERT_EQ(two->status, 200) << two->body;
  EXPECT_EQ(json::parse(one->body)["record_id"], json::parse(two->body)["record_id"]);
  EXPECT_EQ(Updates("fold_back"), static_cast<long>(steps.size()) + 1);
  int code;
  json listed =
      json::parse(RunCli("feedback --index " + (dir_ / "idx").string() + " --list --json", &code));
  EXPECT_EQ(listed.size(), steps.size() + 1);
}

// POST /v1/feedback/forget: a forgotten matter's feedback stops applying at
// the next search of every wall that could see it (no restart); users who
// may not write to the matter cannot forget it, and a refused request
// changes nothing. One record: its author may forget it; behind a wall it
// does not exist.
// A lawyer changes their judgment (the add-ins' replace_earlier): the new
// record retires their earlier one of the question in the same write, and
// the very next search folds back the new judgment only — as a search
// after forgetting the old record and recording the new one would.
TEST_F(ServeFoldBackTest, ANewJudgmentReplacesTheEarlierOneAtOnce) {
  const std::string question = kTopics[1].question;
  int status;
  const std::string before = Search("alice", Q(question), &status);
  ASSERT_EQ(status, 200) << before;
  json asked =
      AskAndLabel("alice", question, "alpha", [](size_t rank, const json&) { return rank == 5; });
  ASSERT_FALSE(asked.is_null());
  const std::string taught = Search("alice", Q(question), &status);
  ASSERT_NE(taught, before);
  auto c = Client();
  // Bob may not see alpha: his replacing record is refused like any other.
  json change = {{"trace_id", asked["trace_id"]}, {"rating", "down"},
                 {"critique", "not what I meant"}, {"replace_earlier", true}};
  auto refused = c.Post("/v1/feedback", Auth("bob"), change.dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->status, 200) << refused->body;
  // Alice's new judgment: a rating only, no labels.
  auto replaced = c.Post("/v1/feedback", Auth("alice"), change.dump(), "application/json");
  ASSERT_TRUE(replaced && replaced->status == 200) << (replaced ? replaced->body : "");
  json rec = json::parse(replaced->body);
  ASSERT_EQ(rec["replaces"].size(), 1u) << replaced->body;
  // The labels are gone from the fold-back: the search is the index's again.
  EXPECT_EQ(Search("alice", Q(question), &status), before);
  EXPECT_EQ(status, 200);
  // The replaced record is gone for its author too: forgetting it is a 404.
  auto gone = c.Post("/v1/feedback/forget", Auth("alice"),
                     json({{"record_id", rec["replaces"][0]}}).dump(), "application/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404) << gone->body;
  // Replacing again retires the second record (the first is already gone).
  change["rating"] = "up";
  auto again = c.Post("/v1/feedback", Auth("alice"), change.dump(), "application/json");
  ASSERT_TRUE(again && again->status == 200) << (again ? again->body : "");
  EXPECT_EQ(json::parse(again->body)["replaces"], json::array({rec["record_id"]}));
}

// Changed judgments of one question sent at once (two panes, a double
// click): each replaces everything before it, whatever order the server
// takes them in — the earlier records are listed under the append lock,
// not when each request was checked. One judgment of alice's stays live.
TEST_F(ServeFoldBackTest, ChangedJudgmentsAtOnceLeaveOneLive) {
  json asked = AskAndLabel("alice", kTopics[1].question, "alpha",
                           [](size_t rank, const json&) { return rank == 5; });
  ASSERT_FALSE(asked.is_null());
  const std::string trace = asked["trace_id"];
  constexpr int kAtOnce = 8;
  std::vector<std::string> ids(kAtOnce);
  std::vector<std::thread> panes;
  for (int i = 0; i < kAtOnce; ++i) {
    panes.emplace_back([&, i] {
      auto c = Client();
      json change = {{"trace_id", trace},
                     {"rating", i % 2 ? "up" : "down"},
                     {"critique", "take " + std::to_string(i)},
                     {"replace_earlier", true}};
      auto r = c.Post("/v1/feedback", Auth("alice"), change.dump(), "application/json");
      if (r && r->status == 200) ids[i] = json::parse(r->body)["record_id"];
    });
  }
  for (auto& t : panes) t.join();
  for (const auto& id : ids) ASSERT_FALSE(id.empty());
  std::ifstream in(dir_ / "idx" / "feedback.log", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  foldback::FeedbackState state = foldback::ApplyFeedbackLog(foldback::ReadFeedbackLog(bytes));
  std::vector<std::string> live;
  for (const auto& r : state.records) {
    if (r.trace_id == trace) live.push_back(r.record_id);
  }
  ASSERT_EQ(live.size(), 1u);
  EXPECT_NE(std::find(ids.begin(), ids.end(), live[0]), ids.end());
  EXPECT_EQ(state.deleted, static_cast<uint64_t>(kAtOnce));  // the labelled record and 7 takes
}

TEST_F(ServeFoldBackTest, ForgettingAMatterUndoesItsFeedbackAtOnce) {
  const std::string question = kTopics[1].question;
  int status;
  const std::string alice_before = Search("alice", Q(question), &status);
  ASSERT_EQ(status, 200) << alice_before;
  const std::string carol_before = Search("carol", Q(question), &status);
  ASSERT_EQ(status, 200) << carol_before;
  json asked =
      AskAndLabel("alice", question, "alpha", [](size_t rank, const json&) { return rank == 5; });
  ASSERT_FALSE(asked.is_null());
  const std::string alice_taught = Search("alice", Q(question), &status);
  ASSERT_NE(alice_taught, alice_before);
  ASSERT_NE(Search("carol", Q(question), &status), carol_before);

  auto c = Client();
  auto forget = [&](const std::string& user, const std::string& body) {
    auto r = c.Post("/v1/feedback/forget", Auth(user), body, "application/json");
    return r ? r->status : -1;
  };
  // A second record on the trace (a rating), then a record of bob's in
  // beta: each forgotten by its author only; behind a wall it does not exist.
  auto rate = [&](const std::string& user, const json& trace_id) {
    auto fb =
        c.Post("/v1/feedback", Auth(user),
               json({{"trace_id", trace_id}, {"rating", "down"}, {"critique", "too long"}}).dump(),
               "application/json");
    EXPECT_TRUE(fb && fb->status == 200) << (fb ? fb->body : "");
    return fb && fb->status == 200
               ? json({{"record_id", json::parse(fb->body)["record_id"]}}).dump()
               : std::string();
  };
  const std::string alices = rate("alice", asked["trace_id"]);
  ASSERT_FALSE(alices.empty());
  json bobs_ask =
      AskAndLabel("bob", question, "beta", [](size_t rank, const json&) { return rank == 2; });
  ASSERT_FALSE(bobs_ask.is_null());
  const std::string bobs = rate("bob", bobs_ask["trace_id"]);
  ASSERT_FALSE(bobs.empty());
  EXPECT_EQ(forget("bob", alices), 404);    // behind bob's wall
  EXPECT_EQ(forget("carol", alices), 403);  // sees it; neither its author nor a writer of alpha
  EXPECT_EQ(forget("alice", bobs), 404);
  EXPECT_EQ(forget("carol", bobs), 403);
  EXPECT_EQ(forget("bob", bobs), 200);  // its author, who may not write to beta
  EXPECT_EQ(forget("bob", bobs), 404);  // already forgotten
  EXPECT_EQ(forget("alice", alices), 200);
  EXPECT_EQ(forget("alice", R"({"record_id":"no-such-record"})"), 404);
  // Built again from the log: the one record left, as before the rating.
  EXPECT_EQ(Search("alice", Q(question), &status), alice_taught);

  // A matter: only a user who may write to it.
  EXPECT_EQ(forget("bob", R"({"matter":"alpha"})"), 403);    // cannot see alpha
  EXPECT_EQ(forget("carol", R"({"matter":"alpha"})"), 403);  // sees, may not write
  EXPECT_EQ(forget("alice", R"({"matter":"alpha","record_id":"x"})"), 400);
  EXPECT_EQ(forget("alice", R"({})"), 400);
  EXPECT_EQ(forget("alice", R"({"matter":7})"), 400);
  EXPECT_EQ(forget("alice", "not json"), 400);
  EXPECT_EQ(c.Post("/v1/feedback/forget", R"({"matter":"alpha"})", "application/json")->status,
            401);
  EXPECT_EQ(Search("alice", Q(question), &status), alice_taught);  // nothing was forgotten

  auto r =
      c.Post("/v1/feedback/forget", Auth("alice"), R"({"matter":"alpha"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json out = json::parse(r->body);
  EXPECT_EQ(out["forgotten"], 1);  // the labelled record; the rating was forgotten already
  EXPECT_EQ(out["matter"], "alpha");
  EXPECT_EQ(out["embedder"], "");  // no model learned from it
  // The very next searches are the index alone again, for both walls that
  // saw alpha's feedback.
  EXPECT_EQ(Search("alice", Q(question), &status), alice_before);
  EXPECT_EQ(Search("carol", Q(question) + "&feedback=false", &status), carol_before);
  // Carol still sees bob's beta record (forgotten: his rating only).
  json carol = json::parse(Search("carol", Q(question), &status))["results"];
  json carol_off =
      json::parse(Search("carol", Q(question) + "&feedback=false", &status))["results"];
  EXPECT_NE(carol.dump(), carol_off.dump());
  // A forgotten matter stays forgotten: its feedback is refused.
  auto late =
      c.Post("/v1/feedback", Auth("alice"),
             json({{"trace_id", asked["trace_id"]}, {"rating", "up"}}).dump(), "application/json");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->status, 409) << late->body;
}

// A learned reranker trained on a matter's labels is dropped by the forget,
// not served as it was while a retraining runs (as after a new record).
TEST_F(ServeFoldBackTest, ForgettingAMatterDropsItsLearnedRerankerAtOnce) {
  ASSERT_NO_FATAL_FAILURE(LabelTheClauses());
  auto c = Client();
  ASSERT_EQ(LearnedApplied(), true);
  auto r =
      c.Post("/v1/feedback/forget", Auth("alice"), R"({"matter":"alpha"})", "application/json");
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "");
  EXPECT_EQ(json::parse(r->body)["forgotten"], kTopics.size() - 1);
  EXPECT_EQ(LearnedApplied(), false);
}

// An embedder trained on alpha's labels (`foldback train --sources
// feedback`) is dropped by the forget, in the published index at once; a
// server killed before its background snapshot finds the tombstone in the
// log at the next start and drops it then.
TEST_F(ServeFoldBackTest, ForgettingAMatterDropsTheEmbedderItTaught) {
  ASSERT_NO_FATAL_FAILURE(LabelTheClauses());
  server_.Signal(SIGTERM);
  ASSERT_EQ(server_.Wait(), 0) << server_.output();
  const std::string idx = (dir_ / "idx").string();
  int code;
  RunCli("train --index " + idx + " --sources feedback --shareable-matters alpha", &code);
  ASSERT_EQ(code, 0);
  std::string info = RunCli("info --index " + idx, &code);
  ASSERT_EQ(code, 0);
  ASSERT_NE(info.find("labels of matters alpha"), std::string::npos) << info;

  // No background snapshot in this server's life.
  const std::vector<std::string> args = {"--index",
                                         idx,
                                         "--users",
                                         (dir_ / "users.toml").string(),
                                         "--rate-limit",
                                         "0",
                                         "--snapshot-interval",
                                         "3600",
                                         "--snapshot-every",
                                         "1000"};
  ASSERT_TRUE(server_.Start(args, dir_.string())) << server_.output();
  const std::string question = kTopics[2].question;
  int status;
  const std::string trained = Search("bob", Q(question), &status);
  ASSERT_EQ(status, 200) << trained;
  auto c = Client();
  // Alice's learned reranker, trained on alpha's labels, applies.
  ASSERT_EQ(LearnedApplied(), true);
  auto r =
      c.Post("/v1/feedback/forget", Auth("alice"), R"({"matter":"alpha"})", "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const std::string embedder = json::parse(r->body)["embedder"];
  EXPECT_NE(embedder.find("restored"), std::string::npos) << embedder;
  // Not served stale while retrained: nothing of alpha is left to learn from.
  EXPECT_EQ(LearnedApplied(), false);
  // Bob never saw alpha's feedback, but the embedder serves every search:
  // his scores move back to the corpus model's.
  const std::string forgotten = Search("bob", Q(question), &status);
  ASSERT_EQ(status, 200);
  EXPECT_NE(forgotten, trained);
  // A write after it makes the second copy from the new index.
  auto added = c.Post("/v1/documents", Auth("alice"),
                      json({{"matter", "alpha"}, {"id", "alpha-note"}, {"text", "A note."}}).dump(),
                      "application/json");
  ASSERT_TRUE(added && added->status == 201) << (added ? added->body : "");
  auto removed = c.Delete("/v1/documents/alpha-note", Auth("alice"));
  ASSERT_TRUE(removed && removed->status == 200);
  const std::string after_writes = Search("bob", Q(question), &status);
  ASSERT_EQ(status, 200);

  server_.Kill();  // kill -9: the snapshot on disk still holds the trained model
  info = RunCli("info --index " + idx, &code);
  ASSERT_NE(info.find("labels of matters alpha"), std::string::npos) << info;
  ASSERT_TRUE(server_.Start(args, dir_.string())) << server_.output();
  // Repaired from the log at start: the writes replayed over the corpus model.
  EXPECT_EQ(Search("bob", Q(question), &status), after_writes);
  server_.Signal(SIGTERM);
  ASSERT_EQ(server_.Wait(), 0) << server_.output();
  info = RunCli("info --index " + idx, &code);
  ASSERT_EQ(code, 0);
  EXPECT_EQ(info.find("labels of matters"), std::string::npos) << info;
}

}  // namespace
}  // namespace foldback::testing
