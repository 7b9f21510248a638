// `foldback serve` driven over loopback HTTP as the firm's clients drive it:
// authentication and revocation, the walls of every route (a randomized
// property test), bad input, the event stream of an ask, the OpenAPI
// document against the real responses, feedback durability across kill -9,
// draining on SIGTERM, TLS.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "host/hash.h"
#include "llm_test_server.h"
#include "rerank_topics.h"
#include "serve_process.h"
#include "test_budget.h"

namespace foldback::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Three matters; every document shares the common vocabulary and carries
// its matter's marker word, so any query can reach any matter's documents
// unless the wall stops it.
const std::vector<std::string> kMatters = {"alpha", "beta", "gamma"};
const std::vector<std::string> kCommon = {"termination", "notice",   "confidential", "agreement",
                                          "party",       "breach",   "payment",      "license",
                                          "warranty",    "governing"};

std::string Marker(const std::string& matter) { return matter + "marker"; }
// In every document of the matter and never in a query: what an export
// line (whose questions are the users' own words) must not carry.
std::string Secret(const std::string& matter) { return matter + "secret"; }

struct UserSpec {
  std::string name;
  std::vector<std::string> matters, write;
  double rate_limit = 0;
};

const std::vector<UserSpec> kUsers = {
    {"alice", {"alpha"}, {"alpha"}},
    {"bob", {"beta"}, {}},
    {"carol", {"alpha", "gamma"}, {"gamma"}},
    {"dave", {"*"}, {"*"}},
    {"slow", {"alpha"}, {}, 2},
};

std::string Token(const std::string& user) { return "tok-" + user + "-0123456789"; }

std::string UsersToml(const std::vector<UserSpec>& users) {
  std::string out = "# test users\n[server]\nignored = true\n\n";
  for (const auto& u : users) {
    out += "[[user]]\nname = \"" + u.name + "\"\ntoken_sha256 = \"" +
           host::Sha256Hex(Token(u.name)) + "\"\nmatters = [";
    for (size_t i = 0; i < u.matters.size(); ++i) out += (i ? ", \"" : "\"") + u.matters[i] + "\"";
    out += "]\nwrite = [";
    for (size_t i = 0; i < u.write.size(); ++i) out += (i ? ", \"" : "\"") + u.write[i] + "\"";
    out += "]\n";
    if (u.rate_limit > 0) out += "rate_limit = " + std::to_string(u.rate_limit) + "\n";
    out += "\n";
  }
  return out;
}

int RunCliCmd(const std::string& args) {
  std::string cmd = std::string(FOLDBACK_CLI) + " " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    base_ = fs::temp_directory_path() / ("foldback-serve-base-" + std::to_string(getpid()));
    fs::remove_all(base_);
    std::mt19937 rng(7);
    for (const auto& m : kMatters) {
      fs::create_directories(base_ / "docs" / m);
      for (int d = 0; d < 6; ++d) {
        std::string text = "Clause " + std::to_string(d) + " of the " + m + " matter.\n\n";
        for (int s = 0; s < 4; ++s) {
          text += "The " + Marker(m) + " " + Secret(m);
          for (int w = 0; w < 6; ++w) text += " " + kCommon[rng() % kCommon.size()];
          text += " " + m + "only" + std::to_string(d) + ".\n";
        }
        std::ofstream(base_ / "docs" / m / (m + "-" + std::to_string(d) + ".txt")) << text;
      }
      ASSERT_EQ(RunCliCmd("ingest --index " + (base_ / "idx").string() + " --matter " + m + " " +
                          (base_ / "docs" / m).string()),
                0);
    }
  }
  static void TearDownTestSuite() { fs::remove_all(base_); }

  void SetUp() override {
    dir_ = base_ / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    fs::copy(base_ / "idx", dir_ / "idx", fs::copy_options::recursive);
    users_path_ = (dir_ / "users.toml").string();
    std::ofstream(users_path_) << UsersToml(kUsers);
  }
  void TearDown() override {
    server_.Kill();
    if (llm_) llm_->Stop();
    ::unsetenv("SERVE_TEST_KEY");
    ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    fs::remove_all(dir_);
  }

  // Starts the server on the test's index; `extra` flags appended.
  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--index",   (dir_ / "idx").string(), "--users",
                                     users_path_, "--rate-limit",          "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server_.Start(args, dir_.string())) << server_.output();
  }
  // The loopback LLM server (echo replies) and the flags pointing at it.
  std::vector<std::string> StartLlm(double delay_ms = 0) {
    LlmTestServerOptions o;
    o.echo = true;
    o.default_delay_ms = delay_ms;
    o.expected_key = "sk-serve-test-key";
    auto s = LlmTestServer::Start(o);
    EXPECT_TRUE(s.ok());
    llm_ = std::move(*s);
    ::setenv("SERVE_TEST_KEY", "sk-serve-test-key", 1);
    return {"--endpoint", llm_->base_url(), "--model",
            "test-model", "--api-key-env",  "SERVE_TEST_KEY"};
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_.port());
    c.set_read_timeout(30, 0);
    return c;
  }
  static httplib::Headers Auth(const std::string& user) {
    return {{"Authorization", "Bearer " + Token(user)}};
  }
  static json Body(const httplib::Result& r) {
    if (!r) return json();
    return json::parse(r->body, nullptr, false);
  }

  static fs::path base_;
  fs::path dir_;
  std::string users_path_;
  ServeProcess server_;
  std::unique_ptr<LlmTestServer> llm_;
};

fs::path ServeTest::base_;

std::set<std::string> Wall(const std::string& user) {
  for (const auto& u : kUsers) {
    if (u.name == user) return std::set<std::string>(u.matters.begin(), u.matters.end());
  }
  return {};
}

bool Allowed(const std::set<std::string>& wall, const std::string& matter) {
  return wall.count("*") || wall.count(matter);
}

std::string Q(const std::string& s) { return httplib::detail::encode_query_param(s); }

// ------------------------------------------------------------------- auth

TEST_F(ServeTest, TokensAuthenticateAndSighupRevokes) {
  StartServer();
  auto c = Client();
  auto none = c.Get("/v1/search?q=termination");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(Body(none)["error"]["code"], "unauthorized");
  EXPECT_EQ(none->get_header_value("WWW-Authenticate"), "Bearer");
  auto wrong = c.Get("/v1/search?q=termination", {{"Authorization", "Bearer tok-mallory"}});
  EXPECT_EQ(wrong->status, 401);
  // The hash itself is not a token.
  auto hash = c.Get("/v1/search?q=termination",
                    {{"Authorization", "Bearer " + host::Sha256Hex(Token("alice"))}});
  EXPECT_EQ(hash->status, 401);
  auto basic = c.Get("/v1/search?q=termination", {{"Authorization", "Basic " + Token("alice")}});
  EXPECT_EQ(basic->status, 401);
  EXPECT_EQ(c.Get("/v1/search?q=termination", Auth("alice"))->status, 200);
  EXPECT_EQ(c.Get("/v1/search?q=termination", Auth("bob"))->status, 200);

  // Revoke bob, reload with SIGHUP.
  std::vector<UserSpec> fewer;
  for (const auto& u : kUsers) {
    if (u.name != "bob") fewer.push_back(u);
  }
  std::ofstream(users_path_) << UsersToml(fewer);
  server_.Signal(SIGHUP);
  int status = 0;
  for (int i = 0; i < 100 && status != 401; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = c.Get("/v1/search?q=termination", Auth("bob"))->status;
  }
  EXPECT_EQ(status, 401);
  EXPECT_EQ(c.Get("/v1/search?q=termination", Auth("alice"))->status, 200);

  // A broken users file keeps the old users (and says so).
  std::ofstream(users_path_) << "[[user]]\nname = \"x\"\n";
  server_.Signal(SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(c.Get("/v1/search?q=termination", Auth("alice"))->status, 200);
  EXPECT_NE(server_.output().find("reload failed"), std::string::npos) << server_.output();

  // The audit log names users and routes, never a token or the query.
  std::string audit = ReadWhole(dir_ / "idx" / "audit.log");
  EXPECT_NE(audit.find("\"user\":\"alice\""), std::string::npos);
  EXPECT_EQ(audit.find("tok-"), std::string::npos);
  EXPECT_EQ(audit.find("termination"), std::string::npos);
  for (const auto& u : kUsers)
    EXPECT_EQ(audit.find(host::Sha256Hex(Token(u.name))), std::string::npos);
}

TEST_F(ServeTest, RateLimitPerUser) {
  StartServer();
  auto c = Client();
  int limited = 0, ok = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    auto r = c.Get("/v1/search?q=notice", Auth("slow"));
    if (r->status == 429) {
      ++limited;
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
      EXPECT_EQ(Body(r)["error"]["code"], "rate_limited");
    } else if (r->status == 200) {
      ++ok;
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // 2 requests/s, a burst of 4: however slow the machine, no more than
  // that got through, and at least the burst did.
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 4 + static_cast<int>(2 * seconds) + 1) << seconds << " s";
  if (seconds < 5) {
    EXPECT_GE(limited, 1);
  }
  EXPECT_EQ(c.Get("/v1/search?q=notice", Auth("alice"))->status, 200);  // others unaffected
}

TEST_F(ServeTest, RefusesBadUsersFilesAndPlainHttpOffLoopback) {
  std::ofstream(users_path_)
      << "[[user]]\nname = \"a\"\ntoken_sha256 = \"abc\"\nmatters = [\"x\"]\n";
  EXPECT_FALSE(
      server_.Start({"--index", (dir_ / "idx").string(), "--users", users_path_}, dir_.string()));
  EXPECT_NE(server_.output().find("64 hex digits"), std::string::npos) << server_.output();
  std::ofstream(users_path_) << "[[user]]\nname = \"a\"\ntoken_sha256 = \"" + std::string(64, 'a') +
                                    "\"\nmaters = [\"x\"]\nmatters = [\"y\"]\n";
  EXPECT_FALSE(
      server_.Start({"--index", (dir_ / "idx").string(), "--users", users_path_}, dir_.string()));
  EXPECT_NE(server_.output().find("unknown key 'maters'"), std::string::npos) << server_.output();
  std::ofstream(users_path_) << UsersToml(kUsers);
  EXPECT_FALSE(server_.Start(
      {"--index", (dir_ / "idx").string(), "--users", users_path_, "--listen", "0.0.0.0:0"},
      dir_.string()));
  EXPECT_NE(server_.output().find("refusing plain HTTP"), std::string::npos) << server_.output();
}

// ------------------------------------------------------------------ walls

// Random users, queries, modes and routes: no response ever carries a
// passage or an export line of a matter outside the token's wall.
TEST_F(ServeTest, WallsHoldOverRandomRequests) {
  StartServer(StartLlm());
  auto c = Client();
  std::mt19937 rng(20261205);
  std::vector<std::string> users = {"alice", "bob", "carol", "dave"};
  std::vector<std::string> words = kCommon;
  for (const auto& m : kMatters) {
    words.push_back(Marker(m));
    words.push_back(m + "only1");
  }
  std::vector<std::string> modes = {"bm25", "hybrid", "dense"};
  size_t requests = 0, hits_seen = 0;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>>
      traces;  // user -> (trace, chunk)
  for (int i = 0; i < 300; ++i) {
    std::string user = users[rng() % users.size()];
    std::set<std::string> wall = Wall(user);
    std::string q;
    for (int w = 0, n = 1 + rng() % 4; w < n; ++w)
      q += (w ? " " : "") + words[rng() % words.size()];
    if (i % 10 == 0) {
      // An ask (the LLM rewrites, or RM3 offline).
      json body = {{"question", q},
                   {"hops", 1 + rng() % 2},
                   {"top_k", 1 + rng() % 8},
                   {"rewrite", i % 20 == 0 ? "llm" : "rm3"},
                   {"mode", modes[rng() % 2]}};
      auto r = c.Post("/v1/ask", Auth(user), body.dump(), "application/json");
      ++requests;
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      json j = Body(r);
      for (const auto& h : j["results"]) {
        std::string doc = h["doc_id"];
        std::string matter = doc.substr(0, doc.find('-'));
        EXPECT_TRUE(Allowed(wall, matter)) << user << " got " << doc;
        ++hits_seen;
        traces[user].push_back({j["trace_id"], h["chunk_id"]});
      }
      for (const auto& hop : j["hops"]) {
        for (const auto& h : hop["results"]) {
          std::string doc = h["doc_id"];
          EXPECT_TRUE(Allowed(wall, doc.substr(0, doc.find('-')))) << user << " hop got " << doc;
        }
      }
      continue;
    }
    std::string target = "/v1/search?q=" + Q(q) + "&top_k=" + std::to_string(1 + rng() % 20) +
                         "&mode=" + modes[rng() % modes.size()];
    auto r = c.Get(target, Auth(user));
    ++requests;
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    json page = Body(r);  // (a temporary's member would dangle in the loop)
    ASSERT_TRUE(page["results"].is_array()) << r->body;
    for (const auto& h : page["results"]) {
      EXPECT_TRUE(Allowed(wall, h["matter"])) << user << " got " << h.dump();
      std::string text = h["text"];
      for (const auto& m : kMatters) {
        if (!Allowed(wall, m)) {
          EXPECT_EQ(text.find(Marker(m)), std::string::npos) << user << ": " << text;
        }
      }
      ++hits_seen;
    }
  }
  EXPECT_GT(hits_seen, 50u);

  // Feedback with consent from every user on their own traces, then
  // exports: a user's export never holds another matter's text.
  for (const auto& [user, list] : traces) {
    for (size_t k = 0; k < list.size() && k < 4; ++k) {
      json fb = {{"trace_id", list[k].first},
                 {"rating", "up"},
                 {"relevant", {list[k].second}},
                 {"consent", true},
                 {"preferred_rewrite", "termination notice"}};
      auto r = c.Post("/v1/feedback", Auth(user), fb.dump(), "application/json");
      ASSERT_EQ(r->status, 200) << r->body;
    }
  }
  // Labels across the wall are refused: bob labels alice's passage.
  if (!traces["alice"].empty()) {
    json fb = {{"trace_id", traces["alice"][0].first},
               {"rating", "up"},
               {"relevant", {traces["alice"][0].second}},
               {"consent", true}};
    auto r = c.Post("/v1/feedback", Auth("bob"), fb.dump(), "application/json");
    EXPECT_EQ(r->status, 403) << r->body;
  }
  size_t lines = 0;
  for (const std::string& user : users) {
    std::set<std::string> wall = Wall(user);
    for (const char* format : {"sft", "triplets", "dpo", "demos"}) {
      auto r = c.Get(std::string("/v1/export?format=") + format, Auth(user));
      ++requests;
      ASSERT_EQ(r->status, 200) << r->body;
      for (const auto& m : kMatters) {
        if (!Allowed(wall, m)) {
          EXPECT_EQ(r->body.find(Secret(m)), std::string::npos) << user << " " << format;
        }
      }
      lines += std::count(r->body.begin(), r->body.end(), '\n');
    }
  }
  EXPECT_GT(lines, 0u);
  EXPECT_GT(requests, 300u);
}

// A score is not influenced by documents behind the wall: alice's bm25
// scores on the shared index equal those on an index of her matter alone.
TEST_F(ServeTest, ScoresDoNotDependOnOtherMatters) {
  ASSERT_EQ(RunCliCmd("ingest --index " + (dir_ / "alone").string() + " --matter alpha " +
                      (base_ / "docs" / "alpha").string()),
            0);
  StartServer();
  ServeProcess alone;
  ASSERT_TRUE(
      alone.Start({"--index", (dir_ / "alone").string(), "--users", users_path_}, dir_.string()));
  auto c = Client();
  httplib::Client c2("127.0.0.1", alone.port());
  for (const std::string q :
       {"termination notice", "alphamarker breach", "warranty governing party"}) {
    auto a = Body(c.Get("/v1/search?mode=bm25&top_k=5&q=" + Q(q), Auth("alice")));
    auto b = Body(c2.Get("/v1/search?mode=bm25&top_k=5&q=" + Q(q), Auth("alice")));
    ASSERT_EQ(a["results"].size(), b["results"].size()) << q;
    for (size_t i = 0; i < a["results"].size(); ++i) {
      EXPECT_EQ(a["results"][i]["chunk_id"], b["results"][i]["chunk_id"]) << q;
      EXPECT_NEAR(a["results"][i]["score"].get<double>(), b["results"][i]["score"].get<double>(),
                  1e-4)
          << q;
    }
  }
}

// -------------------------------------------------------------- documents

TEST_F(ServeTest, DocumentsWriteOnlyToWritableMatters) {
  StartServer();
  auto c = Client();
  json doc = {
      {"matter", "gamma"}, {"id", "gamma-new"}, {"text", "The zebracrossing clause of gamma."}};
  EXPECT_EQ(c.Post("/v1/documents", Auth("alice"), doc.dump(), "application/json")->status, 403);
  auto ok = c.Post("/v1/documents", Auth("carol"), doc.dump(), "application/json");
  ASSERT_EQ(ok->status, 201) << ok->body;
  EXPECT_EQ(Body(ok)["documents"][0]["id"], "gamma-new");
  auto found = Body(c.Get("/v1/search?q=zebracrossing", Auth("carol")));
  ASSERT_EQ(found["results"].size(), 1u);
  EXPECT_EQ(Body(c.Get("/v1/search?q=zebracrossing", Auth("alice")))["results"].size(), 0u);
  // Replacing a document of a matter one may not write is refused.
  json steal = {{"matter", "gamma"}, {"id", "alpha-1"}, {"text", "overwritten"}};
  EXPECT_EQ(c.Post("/v1/documents", Auth("carol"), steal.dump(), "application/json")->status, 403);
  // A file's bytes, read by the extractor of its type.
  auto file = c.Post("/v1/documents?matter=gamma&filename=memo.md&id=gamma-memo", Auth("carol"),
                     "# Memo\n\nThe okapicrossing memo.\n", "application/octet-stream");
  ASSERT_EQ(file->status, 201) << file->body;
  EXPECT_EQ(Body(c.Get("/v1/search?q=okapicrossing", Auth("carol")))["results"].size(), 1u);
  // A BEIR line.
  json beir = {{"matter", "gamma"},
               {"beir", R"({"_id":"gamma-beir","title":"T","text":"lynxcrossing"})"}};
  EXPECT_EQ(c.Post("/v1/documents", Auth("carol"), beir.dump(), "application/json")->status, 201);
  // Delete: behind the wall a document does not exist; visible but not
  // writable is forbidden.
  EXPECT_EQ(c.Delete("/v1/documents/beta-1", Auth("carol"))->status, 404);
  EXPECT_EQ(c.Delete("/v1/documents/alpha-1", Auth("carol"))->status, 403);
  EXPECT_EQ(c.Delete("/v1/documents/gamma-new", Auth("carol"))->status, 200);
  EXPECT_EQ(Body(c.Get("/v1/search?q=zebracrossing", Auth("carol")))["results"].size(), 0u);
  // A mail's attachments are documents of their own: deleting the message
  // deletes them too, in the same write.
  const std::string eml =
      "From: a@example.com\r\nTo: b@example.com\r\nSubject: Escrow\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
      "--BB\r\nContent-Type: text/plain\r\n\r\nThe quokkamessage body.\r\n"
      "--BB\r\nContent-Type: text/plain; name=\"terms.txt\"\r\n"
      "Content-Disposition: attachment; filename=\"terms.txt\"\r\n\r\n"
      "The quokkaattachment terms.\r\n--BB--\r\n";
  auto mail = c.Post("/v1/documents?matter=gamma&filename=escrow.eml&id=gamma-mail", Auth("carol"),
                     eml, "application/octet-stream");
  ASSERT_EQ(mail->status, 201) << mail->body;
  ASSERT_EQ(Body(mail)["documents"].size(), 2u) << mail->body;
  std::string att = Body(mail)["documents"][1]["id"];
  EXPECT_EQ(att.rfind("gamma-mail/att-", 0), 0u) << att;
  EXPECT_EQ(Body(c.Get("/v1/search?q=quokkaattachment", Auth("carol")))["results"].size(), 1u);
  auto gone = c.Delete("/v1/documents/gamma-mail", Auth("carol"));
  ASSERT_EQ(gone->status, 200) << gone->body;
  EXPECT_EQ(Body(gone)["attachments"], json::array({att}));
  EXPECT_EQ(Body(c.Get("/v1/search?q=quokkaattachment", Auth("carol")))["results"].size(), 0u);
  EXPECT_EQ(Body(c.Get("/v1/search?q=quokkamessage", Auth("carol")))["results"].size(), 0u);
  EXPECT_EQ(c.Delete("/v1/documents/" + att, Auth("carol"))->status, 404);
  // The change is saved: a restart sees it.
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(), 0);
  StartServer();
  auto c3 = Client();
  EXPECT_EQ(Body(c3.Get("/v1/search?q=okapicrossing", Auth("carol")))["results"].size(), 1u);
  EXPECT_EQ(Body(c3.Get("/v1/search?q=zebracrossing", Auth("carol")))["results"].size(), 0u);
  EXPECT_EQ(Body(c3.Get("/v1/search?q=quokkaattachment", Auth("carol")))["results"].size(), 0u);
}

// While documents are added, concurrent searches see the index before or
// after each ingest, never an error or half of one.
TEST_F(ServeTest, SearchesDuringIngestSeeWholeStates) {
  StartServer({"--threads", "2"});
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::thread reader([&] {
    httplib::Client c("127.0.0.1", server_.port());
    while (!stop) {
      auto r = c.Get("/v1/search?mode=bm25&top_k=50&q=batchword", Auth("dave"));
      if (!r || r->status != 200) {
        ++bad;
        continue;
      }
      ++searches;
      // Each ingest adds two documents in one request: never one of them alone.
      std::map<std::string, int> per_batch;
      json page = Body(r);
      for (const auto& h : page["results"]) {
        std::string id = h["doc_id"];
        per_batch[id.substr(0, id.rfind('-'))]++;
      }
      for (const auto& [batch, n] : per_batch) {
        if (n != 2) ++bad;
      }
    }
  });
  auto c = Client();
  for (int i = 0; i < 8; ++i) {
    // Distinct words per document, so no two collapse as near-duplicates.
    auto words = [&](const std::string& tag) {
      std::string t = "batchword";
      for (int w = 0; w < 6; ++w) t += " w" + tag + std::to_string(i) + "x" + std::to_string(w);
      return t;
    };
    std::string line1 =
        json({{"_id", "b" + std::to_string(i) + "-x"}, {"text", words("p")}}).dump();
    std::string line2 =
        json({{"_id", "b" + std::to_string(i) + "-y"}, {"text", words("q")}}).dump();
    // Two documents in one request: a text file of two BEIR lines.
    auto r = c.Post("/v1/documents?matter=gamma&filename=batch.jsonl", Auth("dave"),
                    line1 + "\n" + line2 + "\n", "application/octet-stream");
    ASSERT_EQ(r->status, 201) << r->body;
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(searches.load(), 0);
}

// --watch FOLDER --matter M: the server follows a folder as `foldback
// watch` does, each file's change applied through the single writer:
// searches see a file's documents all or none (each file yields two), the
// matter is the folder's, changes and deletions follow, the state survives
// a restart, and a second watcher on the index is refused.
TEST_F(ServeTest, WatchesAFolderThroughTheSingleWriter) {
  fs::path inbox = dir_ / "inbox";
  fs::create_directories(inbox);
  // A file appears whole: written under a hidden name (ignored), then renamed.
  auto put = [&](const std::string& name, const std::vector<std::string>& ids) {
    std::string text;
    for (const auto& id : ids) {
      std::string words = "folderword";
      for (int w = 0; w < 6; ++w) words += " f" + id + "x" + std::to_string(w);
      text += json({{"_id", id}, {"text", words}}).dump() + "\n";
    }
    std::ofstream(inbox / ("." + name)) << text;
    fs::rename(inbox / ("." + name), inbox / name);
  };
  put("batch0.jsonl", {"w0-a", "w0-b"});
  StartServer({"--threads", "2", "--watch", inbox.string(), "--matter", "gamma",
               "--watch-interval", "1"});
  std::string last_error;
  auto search = [&](const std::string& user) {
    httplib::Client c("127.0.0.1", server_.port());
    auto r = c.Get("/v1/search?mode=bm25&top_k=100&q=folderword", Auth(user));
    std::set<std::string> ids;
    if (!r || r->status != 200) {
      last_error = r ? r->body : httplib::to_string(r.error());
      return std::optional<std::set<std::string>>();
    }
    json page = Body(r);  // (a range-for over a temporary's member would dangle)
    for (const auto& h : page["results"]) {
      EXPECT_EQ(h["matter"], "gamma");
      ids.insert(h["doc_id"].get<std::string>());
    }
    return std::optional<std::set<std::string>>(ids);
  };
  auto wait_for = [&](const std::set<std::string>& want) {
    std::set<std::string> got;
    for (int i = 0; i < 300; ++i) {
      auto r = search("dave");
      if (r) got = *r;
      if (got == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "ids: " << json(got).dump() << " " << last_error << "\n" << server_.output();
    return false;
  };
  ASSERT_TRUE(wait_for({"w0-a", "w0-b"}));

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, searches{0};
  std::thread reader([&] {
    while (!stop) {
      auto ids = search("dave");
      if (!ids) {
        ++bad;
        continue;
      }
      ++searches;
      std::map<std::string, int> per_file;
      for (const auto& id : *ids) per_file[id.substr(0, id.find('-'))]++;
      for (const auto& [file, n] : per_file) {
        if (n != 2) ++bad;
      }
    }
  });
  for (int i = 1; i <= 5; ++i) {
    put("batch" + std::to_string(i) + ".jsonl",
        {"w" + std::to_string(i) + "-a", "w" + std::to_string(i) + "-b"});
  }
  EXPECT_TRUE(wait_for({"w0-a", "w0-b", "w1-a", "w1-b", "w2-a", "w2-b", "w3-a", "w3-b", "w4-a",
                        "w4-b", "w5-a", "w5-b"}));
  // A changed file replaces its documents; a deleted one takes them away.
  put("batch0.jsonl", {"w0-c", "w0-d"});
  fs::remove(inbox / "batch1.jsonl");
  EXPECT_TRUE(wait_for({"w0-c", "w0-d", "w2-a", "w2-b", "w3-a", "w3-b", "w4-a", "w4-b", "w5-a",
                        "w5-b"}));
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "a search saw half of a file's change";
  EXPECT_GT(searches.load(), 0);
  // The wall holds for watched documents: alice (alpha) sees none of gamma's.
  EXPECT_EQ(search("alice")->size(), 0u);
  // One watcher per index: `foldback watch` on it is refused while serve watches.
  EXPECT_NE(RunCliCmd("watch --once --index " + (dir_ / "idx").string() + " " + inbox.string()), 0);

  // Restarted: the state is the index's; nothing is added twice, nothing lost.
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(), 0) << server_.output();
  StartServer({"--watch", inbox.string(), "--matter", "gamma"});
  EXPECT_TRUE(wait_for({"w0-c", "w0-d", "w2-a", "w2-b", "w3-a", "w3-b", "w4-a", "w4-b", "w5-a",
                        "w5-b"}));
  for (int i = 0; i < 100 && server_.output().find("sync:") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(server_.output().find("sync: 0 added, 0 changed, 0 removed, 0 failed, 5 unchanged"),
            std::string::npos)
      << server_.output();
}

// One server per index: a second one on the same folder fails at once,
// saying why, and the first goes on serving.
TEST_F(ServeTest, ASecondServerOnTheIndexIsRefused) {
  StartServer();
  ServeProcess second;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(
      second.Start({"--index", (dir_ / "idx").string(), "--users", users_path_}, dir_.string()));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  EXPECT_NE(second.output().find("another `foldback serve` serves"), std::string::npos)
      << second.output();
  // Nor does a CLI command change the served index behind its back.
  std::string idx = (dir_ / "idx").string();
  auto cli = [&](const std::string& args) {
    std::string out = (dir_ / "cli.out").string();
    int rc = std::system((std::string(FOLDBACK_CLI) + " " + args + " >" + out + " 2>&1").c_str());
    return std::make_pair(rc, ReadWhole(out));
  };
  auto hits = Body(Client().Get("/v1/search?q=alphaonly1", Auth("alice")))["results"];
  ASSERT_FALSE(hits.empty());
  std::string doc = hits[0]["doc_id"];
  std::ofstream(dir_ / "late.txt") << "A late clause about notice.\n";
  for (const std::string& args :
       {"delete --index " + idx + " " + doc,
        "ingest --index " + idx + " --matter alpha " + (dir_ / "late.txt").string()}) {
    auto [rc, out] = cli(args);
    EXPECT_NE(rc, 0) << args;
    EXPECT_NE(out.find("a running `foldback serve` owns"), std::string::npos) << args << "\n"
                                                                              << out;
  }
  EXPECT_EQ(Body(Client().Get("/v1/search?q=alphaonly1", Auth("alice")))["results"].size(),
            hits.size());
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(), 0) << server_.output();
  // Stopped, the index is the CLI's again.
  EXPECT_EQ(RunCliCmd("ingest --index " + idx + " --matter alpha " + (dir_ / "late.txt").string()),
            0);
}

// serve --watch on an index too small to train the static embedder: a new
// file is indexed, searchable (by BM25: dense and hybrid fall back to it),
// with a warning — as `foldback watch` does — and a POST too.
TEST_F(ServeTest, WatchOnATinyIndexWarnsAndKeepsTheFile) {
  fs::path idx = dir_ / "idx", seed = dir_ / "seed", inbox = dir_ / "inbox";
  fs::remove_all(idx);
  fs::create_directories(seed);
  fs::create_directories(inbox);
  std::ofstream(seed / "one.txt") << "A single short note.\n";
  ASSERT_EQ(RunCliCmd("ingest --index " + idx.string() + " --matter gamma " + seed.string()), 0);
  std::ofstream(inbox / "new.txt") << "The wombatclause of a tiny matter.\n";
  StartServer({"--watch", inbox.string(), "--matter", "gamma", "--watch-interval", "1"});
  auto c = Client();
  size_t found = 0;
  for (int i = 0; i < 200 && found == 0; ++i) {
    found = Body(c.Get("/v1/search?q=wombatclause", Auth("carol")))["results"].size();
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(found, 1u) << server_.output();
  EXPECT_NE(server_.output().find("dense index not built"), std::string::npos) << server_.output();
  EXPECT_EQ(server_.output().find("watch stopped"), std::string::npos) << server_.output();
  json doc = {{"matter", "gamma"}, {"id", "gamma-post"}, {"text", "The numbatclause."}};
  auto posted = c.Post("/v1/documents", Auth("carol"), doc.dump(), "application/json");
  ASSERT_EQ(posted->status, 201) << posted->body;
  EXPECT_EQ(Body(c.Get("/v1/search?q=numbatclause", Auth("carol")))["results"].size(), 1u);
}

TEST_F(ServeTest, WatchNeedsAFolder) {
  ServeProcess p;
  EXPECT_FALSE(p.Start({"--index", (dir_ / "idx").string(), "--users", users_path_, "--watch",
                        (dir_ / "missing").string()},
                       dir_.string()));
  EXPECT_NE(p.output().find("not a folder"), std::string::npos) << p.output();
  ServeProcess q;
  EXPECT_FALSE(q.Start({"--index", (dir_ / "idx").string(), "--users", users_path_, "--matter",
                        "gamma"},
                       dir_.string()));
  EXPECT_NE(q.output().find("--matter names the matter of --watch"), std::string::npos)
      << q.output();
}

// -------------------------------------------------------------- bad input

TEST_F(ServeTest, BadInputGetsClearErrors) {
  StartServer({"--max-body", "100000", "--request-timeout", "3"});
  auto c = Client();
  auto is_error = [](const httplib::Result& r, int status, const std::string& code) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_EQ(j["error"]["code"], code) << r->body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  };
  is_error(c.Post("/v1/ask", Auth("alice"), "{\"question\": ", "application/json"), 400,
           "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"), "[1,2]", "application/json"), 400, "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"), R"({"question": 3})", "application/json"), 400,
           "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"), R"({"question": "x", "hops": 99})", "application/json"),
           400, "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"), R"({"question": "x", "matter": "beta"})",
                  "application/json"),
           403, "forbidden");
  is_error(c.Post("/v1/feedback", Auth("alice"), R"({"trace_id": "../../etc/passwd"})",
                  "application/json"),
           400, "invalid_argument");
  is_error(
      c.Post("/v1/feedback", Auth("alice"), R"({"trace_id": "nosuchtrace"})", "application/json"),
      404, "not_found");
  is_error(c.Get("/v1/search?q=x&top_k=0", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/search?q=x&top_k=abc", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/search?q=x&mode=psychic", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/search?q=x&syntax=psychic", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/search?q=" + Q("\"unclosed phrase") + "&syntax=connectors", Auth("alice")),
           400, "invalid_argument");
  EXPECT_EQ(c.Get("/v1/search?q=" + Q("\"unclosed phrase") + "&syntax=auto", Auth("alice"))->status,
            200);
  is_error(c.Get("/v1/search?q=x&rerank=psychic", Auth("alice")), 400, "invalid_argument");
  // No LLM endpoint on this server: rerank=llm says so.
  auto no_llm = c.Get("/v1/search?q=x&rerank=llm", Auth("alice"));
  is_error(no_llm, 400, "invalid_argument");
  EXPECT_NE(no_llm->body.find("endpoint"), std::string::npos);
  is_error(c.Post("/v1/ask", Auth("alice"), R"({"question": "x", "syntax": "psychic"})",
                  "application/json"),
           400, "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"), R"({"question": "x", "rerank": "psychic"})",
                  "application/json"),
           400, "invalid_argument");
  is_error(c.Post("/v1/ask", Auth("alice"),
                  R"({"question": "x", "rerank": "learned", "answer": true})", "application/json"),
           400, "invalid_argument");
  is_error(c.Get("/v1/search?q=x&filter=nosuchfield=1", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/search", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/export?format=csv", Auth("alice")), 400, "invalid_argument");
  is_error(c.Get("/v1/nope", Auth("alice")), 404, "not_found");
  is_error(c.Get("/nope"), 404, "not_found");
  is_error(c.Delete("/v1/search", Auth("alice")), 405, "method_not_allowed");
  is_error(c.Post("/v1/ask", Auth("alice"), std::string(200000, 'x'), "application/json"), 413,
           "body_too_large");

  // Path tricks, sent raw (a client library would normalize them).
  for (const std::string path :
       {"/v1/../v1/search?q=x", "/v1/%2e%2e/v1/search?q=x", "//v1/search?q=x", "/v1/./search?q=x",
        "/v1/search%00?q=x", "/v1/documents/..%2f..%2fetc"}) {
    std::string resp = RawExchange(
        server_.port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                            Token("dave") + "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(resp.rfind("HTTP/1.1 400", 0), 0u) << path << "\n" << resp;
    EXPECT_NE(resp.find("\"error\""), std::string::npos) << path;
  }
  std::string garbage = RawExchange(server_.port(), "NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;

  // Slowloris: a client trickling a request neither blocks others nor
  // keeps its connection past --request-timeout.
  int slow = ConnectLoopback(server_.port());
  ASSERT_GE(slow, 0);
  std::string partial = "GET /v1/search?q=x HTTP/1.1\r\nHost: x\r\n";
  ::send(slow, partial.data(), partial.size(), MSG_NOSIGNAL);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.Get("/v1/search?q=notice", Auth("alice"))->status, 200);
  // Not held up until the slow client's request timeout (3 s).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  char buf[64];
  ssize_t n = ::recv(slow, buf, sizeof buf, 0);  // closed by the server (SO_RCVTIMEO is 5 s)
  EXPECT_EQ(n, 0);
  ::close(slow);
  // The server still serves.
  EXPECT_EQ(c.Get("/healthz")->status, 200);
}

TEST_F(ServeTest, CorsOnlyForConfiguredOrigins) {
  StartServer({"--cors-origin", "https://plugins.example"});
  auto c = Client();
  auto ok = c.Get("/v1/search?q=x", {{"Origin", "https://plugins.example"},
                                     {"Authorization", "Bearer " + Token("alice")}});
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "https://plugins.example");
  auto other = c.Get("/v1/search?q=x", {{"Origin", "https://evil.example"},
                                        {"Authorization", "Bearer " + Token("alice")}});
  EXPECT_FALSE(other->has_header("Access-Control-Allow-Origin"));
  auto pre = c.Options("/v1/ask", {{"Origin", "https://plugins.example"}});
  EXPECT_EQ(pre->status, 204);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Authorization"),
            std::string::npos);
  EXPECT_EQ(c.Options("/v1/ask", {{"Origin", "https://evil.example"}})->status, 403);
}

// ---------------------------------------------------------- event streams

// Every ask's OpenTelemetry spans go to the collector OTEL_* names, from
// the server's exporter thread (the test LLM server records them), without
// the question's text.
TEST_F(ServeTest, AsksSendSpansToTheCollector) {
  std::vector<std::string> llm = StartLlm();
  std::string collector = llm_->base_url().substr(0, llm_->base_url().rfind("/v1"));
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.c_str(), 1);
  StartServer(llm);
  auto c = Client();
  auto r = c.Post("/v1/ask", Auth("carol"), json({{"question", "Quixotic termination notice"}, {"hops", 2}}).dump(),
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string trace_id = Body(r)["trace_id"];
  std::string body;
  for (int i = 0; i < 100 && body.empty(); ++i) {
    for (const auto& req : llm_->requests()) {
      if (req.path == "/v1/traces") body = req.body;
    }
    if (body.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(body.empty()) << "no spans reached the collector";
  EXPECT_NE(body.find("\"invoke_agent foldback\""), std::string::npos);
  EXPECT_NE(body.find(trace_id), std::string::npos);
  EXPECT_NE(body.find("\"chat test-model\""), std::string::npos);
  EXPECT_EQ(body.find("Quixotic"), std::string::npos);
  EXPECT_EQ(body.find("sk-serve-test-key"), std::string::npos);
}

// foldback.toml in the index folder holds the users ([[user]]) and the
// server's settings; --log-format json (here [log] format) writes a JSON
// line per question with the trace id of its spans.
TEST_F(ServeTest, FoldbackTomlHoldsUsersAndJsonLogsTraceAsks) {
  std::string users = UsersToml(kUsers);
  users = users.substr(users.find("[[user]]"));  // without the file's unknown [server] table
  std::ofstream(dir_ / "idx" / "foldback.toml")
      << "[serve]\nrate_limit = 0\n\n[log]\nformat = \"json\"\n\n" << users;
  ASSERT_TRUE(server_.Start({"--index", (dir_ / "idx").string()}, dir_.string()))
      << server_.output();
  auto c = Client();
  auto r = c.Post("/v1/ask", Auth("carol"),
                  json({{"question", "termination notice"}, {"hops", 2}}).dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::string trace_id = Body(r)["trace_id"];
  std::string otel;
  for (char ch : trace_id) {
    if (ch != '-') otel += ch;
  }
  EXPECT_EQ(c.Get("/v1/search?q=termination", Auth("mallory"))->status, 401);
  bool found = false;
  std::istringstream lines(server_.output());
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // the stdout banner
    json j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg")) << line;
    if (j["msg"] == "question answered") {
      found = true;
      EXPECT_EQ(j["trace_id"], otel) << line;
      EXPECT_EQ(j["foldback_trace_id"], trace_id) << line;
      EXPECT_EQ(j["user"], "carol") << line;
    }
    EXPECT_EQ(line.find("termination notice"), std::string::npos) << "no question in logs: " << line;
  }
  EXPECT_TRUE(found) << server_.output();
  // A typo in the file stops the server with the line.
  server_.Kill();
  std::ofstream(dir_ / "idx" / "foldback.toml") << "[serve]\nrate_limt = 0\n" << users;
  EXPECT_FALSE(server_.Start({"--index", (dir_ / "idx").string()}, dir_.string()));
  EXPECT_NE(server_.output().find("foldback.toml:2: unknown key 'serve.rate_limt'"),
            std::string::npos)
      << server_.output();
}

TEST_F(ServeTest, AskStreamsHopsThenTheResult) {
  StartServer(StartLlm());
  auto c = Client();
  std::string stream;
  httplib::Headers h = Auth("carol");
  h.emplace("Accept", "text/event-stream");
  std::vector<double> arrivals;
  auto t0 = std::chrono::steady_clock::now();
  auto r =
      c.Post("/v1/ask", h, json({{"question", "termination notice breach"}, {"hops", 3}}).dump(),
             "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  stream = r->body;
  (void)t0;
  // Parse the events.
  std::vector<std::pair<std::string, json>> events;
  size_t pos = 0;
  while ((pos = stream.find("event: ", pos)) != std::string::npos) {
    size_t eol = stream.find('\n', pos);
    std::string name = stream.substr(pos + 7, eol - pos - 7);
    size_t data = stream.find("data: ", eol);
    size_t end = stream.find("\n\n", data);
    events.push_back({name, json::parse(stream.substr(data + 6, end - data - 6))});
    pos = end;
  }
  ASSERT_GE(events.size(), 3u) << stream;
  EXPECT_EQ(events.back().first, "result");
  json result = events.back().second;
  // query, retrieved per hop, in hop order, each hop's query as the result's.
  std::vector<json> queries, retrieved;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    if (events[i].first == "query") queries.push_back(events[i].second);
    if (events[i].first == "retrieved") retrieved.push_back(events[i].second);
  }
  ASSERT_EQ(queries.size(), result["hops"].size()) << stream;
  ASSERT_EQ(retrieved.size(), result["hops"].size());
  for (size_t i = 0; i < queries.size(); ++i) {
    EXPECT_EQ(queries[i]["hop"], i + 1);
    EXPECT_EQ(retrieved[i]["hop"], i + 1);
    EXPECT_EQ(queries[i]["query"], result["hops"][i]["query"]);
    // The events' hits are the hops' hits, each with its document's title
    // (what a client's timeline shows while the question runs).
    json hits = retrieved[i]["results"];
    for (json& h : hits) {
      ASSERT_TRUE(h.contains("title")) << h;
      EXPECT_EQ(h["title"], h["doc_id"].get<std::string>() + ".txt");
      h.erase("title");
    }
    EXPECT_EQ(hits, result["hops"][i]["results"]);
  }
  // The result's passages carry their title, section and matter.
  for (const json& p : result["results"]) {
    EXPECT_EQ(p["title"], p["doc_id"].get<std::string>() + ".txt") << p;
    EXPECT_EQ(p["matter"], p["doc_id"].get<std::string>().substr(0, p["doc_id"].get<std::string>().find('-')));
    EXPECT_TRUE(p.contains("section"));
  }
  size_t qpos = stream.find("event: query"), rpos = stream.find("event: retrieved");
  EXPECT_LT(qpos, rpos);
  // The LLM got the key from the server's environment, never the client's token.
  ASSERT_FALSE(llm_->requests().empty());
  for (const auto& req : llm_->requests()) {
    EXPECT_EQ(req.Header("authorization"), "Bearer sk-serve-test-key");
    EXPECT_EQ(req.body.find(Token("carol")), std::string::npos);
  }
  std::string trace = result["trace_id"];
  json fb = {{"trace_id", trace}, {"rating", "down"}};
  EXPECT_EQ(c.Post("/v1/feedback", Auth("carol"), fb.dump(), "application/json")->status, 200);
  // The metrics count the requests and the LLM calls the asks made.
  std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("foldback_http_requests_total{route=\"/v1/ask\",status=\"200\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("foldback_http_requests_total{route=\"/v1/feedback\",status=\"200\"} 1\n"),
            std::string::npos);
  size_t llm = metrics.find("\nfoldback_llm_calls_total ");
  ASSERT_NE(llm, std::string::npos);
  EXPECT_EQ(std::stoul(metrics.substr(llm + 26)), llm_->requests().size()) << metrics;
  EXPECT_NE(metrics.find("foldback_http_request_duration_seconds_count{route=\"/v1/ask\"} 1"),
            std::string::npos);
}

// ------------------------------------------------------------- rerank

// The first six of the shared topics (tests/support/rerank_topics.h).
const std::vector<RerankTopic> kRerankTopics(RerankTopics().begin(), RerankTopics().begin() + 6);

bool IsClause(const json& hit) {
  return hit["doc_id"].get<std::string>().find("_clause") != std::string::npos;
}

// rerank=learned: alice (alpha) asks and labels five topics through the
// server; a sixth, never labelled, comes back with its clause first. Bob
// (beta) gets no model of alpha's labels: the first stage's order, and the
// note says why. The ask applies the same reranker.
TEST_F(ServeTest, LearnedRerankAppliesOnlyInsideTheWall) {
  const std::string preambles[] = {"As agreed between the parties, ",
                                   "Save as stated otherwise herein, ",
                                   "Notwithstanding clause one above, "};
  const std::string closings[] = {" Signed in London by both directors in March.",
                                  " Executed at Geneva during the April board meeting.",
                                  " Accepted through an exchange of letters that summer."};
  fs::path idx = dir_ / "idx";
  fs::remove_all(idx);
  for (const std::string matter : {"alpha", "beta"}) {
    fs::path folder = dir_ / ("topics-" + matter);
    fs::create_directories(folder);
    for (int n = 0; n < 3; ++n) {
      for (size_t t = 0; t < kRerankTopics.size(); ++t) {
        std::string base = matter + std::to_string(n) + "_t" + std::to_string(t);
        std::ofstream(folder / (base + "_head.txt")) << kRerankTopics[t].heading << "\n";
        std::ofstream(folder / (base + "_clause.txt"))
            << preambles[n] << kRerankTopics[t].clause << closings[n] << "\n";
      }
    }
    ASSERT_EQ(RunCliCmd("ingest --index " + idx.string() + " --matter " + matter + " " +
                        folder.string()),
              0);
  }
  StartServer();
  auto c = Client();
  for (size_t t = 0; t + 1 < kRerankTopics.size(); ++t) {
    auto asked = c.Post("/v1/ask", Auth("alice"),
                        json({{"question", kRerankTopics[t].question},
                              {"hops", 1},
                              {"depth", 10},
                              {"top_k", 10},
                              {"rewrite", "none"},
                              {"matter", "alpha"}})
                            .dump(),
                        "application/json");
    ASSERT_EQ(asked->status, 200) << asked->body;
    json a = Body(asked);
    json relevant = json::array(), irrelevant = json::array();
    for (const auto& h : a["results"]) {
      bool yes = h["doc_id"].get<std::string>().find("_t" + std::to_string(t) + "_clause") !=
                 std::string::npos;
      (yes ? relevant : irrelevant).push_back(h["chunk_id"]);
    }
    json fb = {{"trace_id", a["trace_id"]}, {"rating", "up"},         {"relevant", relevant},
               {"irrelevant", irrelevant},  {"consent", true}};
    auto rated = c.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json");
    ASSERT_EQ(rated->status, 200) << rated->body;
  }
  const std::string q = Q(kRerankTopics.back().question);
  json plain = Body(c.Get("/v1/search?top_k=5&q=" + q, Auth("alice")));
  ASSERT_FALSE(plain["results"].empty());
  EXPECT_FALSE(IsClause(plain["results"][0])) << "the first stage should prefer the heading";
  EXPECT_FALSE(plain.contains("rerank"));
  json learned = Body(c.Get("/v1/search?top_k=5&rerank=learned&q=" + q, Auth("alice")));
  EXPECT_EQ(learned["rerank"]["applied"], true) << learned.dump();
  ASSERT_EQ(learned["results"].size(), plain["results"].size());
  EXPECT_TRUE(IsClause(learned["results"][0])) << learned.dump(1);
  for (const auto& h : learned["results"]) EXPECT_EQ(h["matter"], "alpha");
  // Bob's wall holds none of the labels: no model applies to his search.
  json bob = Body(c.Get("/v1/search?top_k=5&rerank=learned&q=" + q, Auth("bob")));
  EXPECT_EQ(bob["rerank"]["applied"], false) << bob.dump();
  EXPECT_FALSE(bob["rerank"]["note"].get<std::string>().empty());
  ASSERT_FALSE(bob["results"].empty());
  EXPECT_FALSE(IsClause(bob["results"][0]));
  for (const auto& h : bob["results"]) EXPECT_EQ(h["matter"], "beta");
  // The ask's passages go through the same reranker.
  auto asked = c.Post("/v1/ask", Auth("alice"),
                      json({{"question", kRerankTopics.back().question},
                            {"hops", 1},
                            {"top_k", 5},
                            {"rewrite", "none"},
                            {"rerank", "learned"}})
                          .dump(),
                      "application/json");
  ASSERT_EQ(asked->status, 200) << asked->body;
  json a = Body(asked);
  EXPECT_EQ(a["rerank"]["applied"], true) << asked->body;
  ASSERT_FALSE(a["results"].empty());
  EXPECT_TRUE(IsClause(a["results"][0])) << asked->body;
}

// ------------------------------------------------------------ OpenAPI

// Every route answered, every status seen: the path, method and status are
// in /openapi.json, and every top-level field of the JSON body is in the
// response's schema (required ones present).
TEST_F(ServeTest, OpenApiDescribesTheRealResponses) {
  StartServer(StartLlm());
  auto c = Client();
  json spec = Body(c.Get("/openapi.json"));
  ASSERT_TRUE(spec.is_object());
  EXPECT_EQ(spec["openapi"], "3.1.0");
  auto resolve = [&](json s) {
    while (s.is_object() && s.contains("$ref")) {
      std::string ref = s["$ref"];  // "#/components/..."
      json cur = spec;
      size_t p = 2;
      while (p < ref.size()) {
        size_t q = ref.find('/', p);
        if (q == std::string::npos) q = ref.size();
        cur = cur[ref.substr(p, q - p)];
        p = q + 1;
      }
      s = cur;
    }
    return s;
  };
  std::set<std::string> checked;
  auto check = [&](const std::string& path, const std::string& method, const httplib::Result& r) {
    ASSERT_TRUE(r) << path;
    SCOPED_TRACE(method + " " + path + " -> " + std::to_string(r->status) + ": " +
                 r->body.substr(0, 300));
    ASSERT_TRUE(spec["paths"].contains(path));
    ASSERT_TRUE(spec["paths"][path].contains(method));
    json responses = spec["paths"][path][method]["responses"];
    std::string status = std::to_string(r->status);
    ASSERT_TRUE(responses.contains(status));
    json resp = resolve(responses[status]);
    std::string ctype = r->get_header_value("Content-Type");
    ctype = ctype.substr(0, ctype.find(';'));
    ASSERT_TRUE(resp["content"].contains(ctype)) << ctype;
    checked.insert(method + " " + path + " " + status);
    if (ctype != "application/json") return;
    json schema = resolve(resp["content"][ctype]["schema"]);
    json body = json::parse(r->body, nullptr, false);
    ASSERT_FALSE(body.is_discarded());
    if (!schema.contains("properties")) return;
    for (auto it = body.begin(); it != body.end(); ++it) {
      EXPECT_TRUE(schema["properties"].contains(it.key())) << "undocumented field " << it.key();
    }
    for (const auto& req : schema.value("required", json::array())) {
      EXPECT_TRUE(body.contains(req.get<std::string>())) << "missing required " << req;
    }
    // One level down for arrays of objects (results, documents).
    for (auto it = body.begin(); it != body.end(); ++it) {
      json ps = resolve(schema["properties"][it.key()]);
      if (!it->is_array() || !ps.contains("items")) continue;
      json item = resolve(ps["items"]);
      if (!item.contains("properties")) continue;
      for (const auto& el : *it) {
        for (auto f = el.begin(); f != el.end(); ++f) {
          EXPECT_TRUE(item["properties"].contains(f.key())) << it.key() << "[]." << f.key();
        }
      }
    }
  };
  check("/healthz", "get", c.Get("/healthz"));
  check("/metrics", "get", c.Get("/metrics"));
  check("/openapi.json", "get", c.Get("/openapi.json"));
  check("/v1/search", "get", c.Get("/v1/search?q=termination", Auth("alice")));
  check("/v1/search", "get", c.Get("/v1/search?q=termination"));
  check("/v1/search", "get", c.Get("/v1/search?top_k=0&q=x", Auth("alice")));
  check("/v1/search", "get",
        c.Get("/v1/search?syntax=connectors&q=" + Q("\"termination notice\""), Auth("alice")));
  check("/v1/search", "get", c.Get("/v1/search?rerank=learned&q=termination", Auth("alice")));
  check("/v1/search", "get", c.Get("/v1/search?feedback=false&q=termination", Auth("alice")));
  check("/v1/search", "get", c.Get("/v1/search?feedback=maybe&q=termination", Auth("alice")));
  // Every query parameter the server reads is documented (with its default
  // when it has one), and every field of an ask's body.
  std::set<std::string> documented;
  for (const auto& p : spec["paths"]["/v1/search"]["get"]["parameters"])
    documented.insert(resolve(p)["name"].get<std::string>());
  for (const char* name : {"q", "top_k", "mode", "syntax", "rerank", "filter", "feedback"}) {
    EXPECT_TRUE(documented.count(name)) << "undocumented search parameter " << name;
  }
  json ask_schema = resolve(
      spec["paths"]["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]["schema"]);
  for (const char* name :
       {"question", "hops", "depth", "top_k", "rewrite", "answer", "mode", "syntax", "rerank",
        "filters", "matter", "variants", "deadline_ms", "feedback"}) {
    EXPECT_TRUE(ask_schema["properties"].contains(name)) << "undocumented ask field " << name;
  }
  EXPECT_EQ(ask_schema["properties"]["feedback"]["default"], true);
  // The echo LLM orders passages by their words in common with the query;
  // it sees only passages of alice's wall.
  size_t llm_before = llm_->requests().size();
  auto llm_reranked = c.Get("/v1/search?rerank=llm&q=termination", Auth("alice"));
  check("/v1/search", "get", llm_reranked);
  EXPECT_EQ(Body(llm_reranked)["rerank"]["kind"], "llm") << llm_reranked->body;
  EXPECT_EQ(Body(llm_reranked)["rerank"]["applied"], true) << llm_reranked->body;
  auto sent_requests = llm_->requests();
  ASSERT_GT(sent_requests.size(), llm_before);
  for (size_t i = llm_before; i < sent_requests.size(); ++i) {
    const std::string& sent = sent_requests[i].body;
    EXPECT_NE(sent.find(Marker("alpha")), std::string::npos);
    EXPECT_EQ(sent.find(Marker("beta")), std::string::npos);
    EXPECT_EQ(sent.find(Marker("gamma")), std::string::npos);
  }
  check("/v1/ask", "post",
        c.Post("/v1/ask", Auth("alice"),
               json({{"question", "termination"},
                     {"rerank", "learned"},
                     {"syntax", "plain"},
                     {"feedback", false}})
                   .dump(),
               "application/json"));
  auto ask =
      c.Post("/v1/ask", Auth("alice"), json({{"question", "termination"}, {"answer", true}}).dump(),
             "application/json");
  check("/v1/ask", "post", ask);
  check("/v1/ask", "post", c.Post("/v1/ask", Auth("alice"), "{", "application/json"));
  check(
      "/v1/ask", "post",
      c.Post("/v1/ask", Auth("alice"), R"({"question":"x","matter":"beta"})", "application/json"));
  json a = Body(ask);
  json fb = {{"trace_id", a["trace_id"]},
             {"rating", "up"},
             {"relevant", {a["results"][0]["chunk_id"]}},
             {"consent", true}};
  check("/v1/feedback", "post",
        c.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json"));
  check("/v1/feedback", "post",
        c.Post("/v1/feedback", Auth("alice"), R"({"trace_id":"missing"})", "application/json"));
  check("/v1/export", "get", c.Get("/v1/export?format=sft", Auth("alice")));
  check("/v1/export", "get", c.Get("/v1/export?format=demos", Auth("alice")));
  check("/v1/export", "get", c.Get("/v1/export?format=x", Auth("alice")));
  auto forget = [&](const std::string& user, const json& body) {
    return c.Post("/v1/feedback/forget", Auth(user), body.dump(), "application/json");
  };
  check("/v1/feedback/forget", "post", forget("alice", {{"record_id", "no-such-record"}}));
  check("/v1/feedback/forget", "post", forget("alice", {{"matter", "beta"}}));
  check("/v1/feedback/forget", "post", forget("alice", json::object()));
  check("/v1/feedback/forget", "post", forget("alice", {{"matter", "alpha"}}));
  json doc = {{"matter", "alpha"}, {"id", "alpha-new"}, {"text", "new"}};
  check("/v1/documents", "post",
        c.Post("/v1/documents", Auth("alice"), doc.dump(), "application/json"));
  doc["matter"] = "beta";
  check("/v1/documents", "post",
        c.Post("/v1/documents", Auth("alice"), doc.dump(), "application/json"));
  check("/v1/documents/{id}", "delete", c.Delete("/v1/documents/alpha-new", Auth("alice")));
  check("/v1/documents/{id}", "delete", c.Delete("/v1/documents/alpha-new", Auth("alice")));
  EXPECT_GE(checked.size(), 21u);
  // Every path of the document was exercised.
  for (auto it = spec["paths"].begin(); it != spec["paths"].end(); ++it) {
    bool seen = false;
    for (const auto& s : checked) seen |= s.find(" " + it.key() + " ") != std::string::npos;
    EXPECT_TRUE(seen) << it.key();
  }
}

// ------------------------------------------------------------ durability

// Feedback acknowledged with 200 survives a kill -9 in the middle of a
// stream of writes.
// Writes are cheap and durable: each is in the fsync'ed write log before
// its 201/200, the snapshot is saved in the background. A kill -9 before
// any snapshot loses nothing acknowledged; a torn last record (a write never
// acknowledged) is dropped at start; a damaged record before it stops the
// start with a clear error; SIGTERM saves a snapshot and empties the log.
TEST_F(ServeTest, AcknowledgedWritesSurviveKill9) {
  fs::path snap = dir_ / "idx" / "index.fbsnap";
  fs::path wal = dir_ / "idx" / "serve-writes.log";
  std::string snapshot_before = ReadWhole(snap);
  ASSERT_FALSE(snapshot_before.empty());
  StartServer({"--snapshot-every", "1000", "--snapshot-interval", "3600"});
  auto c = Client();
  auto count = [&](httplib::Client& cl, const std::string& q) {
    return Body(cl.Get("/v1/search?mode=bm25&top_k=100&q=" + q, Auth("dave")))["results"].size();
  };
  ASSERT_EQ(count(c, "gammaonly0"), 1u);  // gamma-0.txt says it
  for (int i = 0; i < 6; ++i) {
    json doc = {{"matter", "gamma"},
                {"id", "kill-" + std::to_string(i)},
                {"title", "Kill " + std::to_string(i)},
                {"text", "killword durable" + std::to_string(i) + " survives the crash."}};
    auto r = c.Post("/v1/documents", Auth("dave"), doc.dump(), "application/json");
    ASSERT_EQ(r->status, 201) << r->body;
    // Visible at once to the next search (published before the answer).
    EXPECT_EQ(count(c, "killword"), static_cast<size_t>(i + 1));
  }
  ASSERT_EQ(c.Delete("/v1/documents/gamma-0", Auth("dave"))->status, 200);
  ASSERT_EQ(c.Delete("/v1/documents/kill-5", Auth("dave"))->status, 200);
  EXPECT_EQ(count(c, "gammaonly0"), 0u);
  // No snapshot was written for them: the writes are in the log only.
  EXPECT_EQ(ReadWhole(snap), snapshot_before);
  EXPECT_GT(fs::file_size(wal), 0u);

  server_.Kill();  // SIGKILL: no chance to save anything
  // A record torn by the crash (never acknowledged) is dropped at start.
  std::ofstream(wal, std::ios::app) << R"({"seq":99,"remove":["kill-0"],"ad)";
  StartServer({"--snapshot-every", "1000", "--snapshot-interval", "3600"});
  auto c2 = Client();
  EXPECT_EQ(count(c2, "killword"), 5u);
  EXPECT_EQ(count(c2, "durable0"), 1u);
  EXPECT_EQ(count(c2, "durable5"), 0u);
  EXPECT_EQ(count(c2, "gammaonly0"), 0u);

  // SIGTERM: a last snapshot, the log emptied; the next start needs no replay.
  server_.Signal(SIGTERM);
  EXPECT_EQ(server_.Wait(), 0);
  EXPECT_NE(ReadWhole(snap), snapshot_before);
  EXPECT_EQ(fs::file_size(wal), 0u);
  StartServer();
  auto c3 = Client();
  EXPECT_EQ(count(c3, "killword"), 5u);
  EXPECT_EQ(count(c3, "gammaonly0"), 0u);
  server_.Kill();

  // A damaged record that is not the last: the server refuses to start and says where.
  std::ofstream(wal) << "not a record\n"
                     << R"({"seq":1000,"remove":["kill-1"],"add":[]})" << "\n";
  ServeProcess p;
  EXPECT_FALSE(p.Start({"--index", (dir_ / "idx").string(), "--users", users_path_}, dir_.string()));
  EXPECT_NE(p.output().find("serve-writes.log: line 1 is not a write record"), std::string::npos)
      << p.output();
}

// The snapshot follows in the background after --snapshot-every writes.
TEST_F(ServeTest, SnapshotIsSavedInTheBackground) {
  fs::path snap = dir_ / "idx" / "index.fbsnap";
  std::string before = ReadWhole(snap);
  StartServer({"--snapshot-every", "2", "--snapshot-interval", "3600"});
  auto c = Client();
  for (int i = 0; i < 2; ++i) {
    json doc = {{"matter", "gamma"},
                {"id", "bg-" + std::to_string(i)},
                {"text", "backgroundword bgonly" + std::to_string(i)}};
    ASSERT_EQ(c.Post("/v1/documents", Auth("dave"), doc.dump(), "application/json")->status, 201);
  }
  bool saved = false;
  for (int i = 0; i < 200 && !saved; ++i) {
    saved = fs::exists(dir_ / "idx" / "serve-writes.saved") && ReadWhole(snap) != before &&
            fs::file_size(dir_ / "idx" / "serve-writes.log") == 0;
    if (!saved) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(saved);
  // The saved snapshot holds both writes on its own (no log to replay).
  server_.Kill();
  fs::remove(dir_ / "idx" / "serve-writes.log");
  StartServer();
  auto c2 = Client();
  EXPECT_EQ(Body(c2.Get("/v1/search?mode=bm25&q=backgroundword", Auth("dave")))["results"].size(),
            2u);
}

TEST_F(ServeTest, AcknowledgedFeedbackSurvivesKill9) {
  StartServer();
  auto c = Client();
  auto ask = Body(c.Post("/v1/ask", Auth("alice"),
                         json({{"question", "termination notice"}, {"rewrite", "rm3"}}).dump(),
                         "application/json"));
  std::string trace = ask["trace_id"];
  std::string chunk = ask["results"][0]["chunk_id"];
  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      httplib::Client w("127.0.0.1", server_.port());
      while (!stop) {
        json fb = {
            {"trace_id", trace}, {"rating", "up"}, {"relevant", {chunk}}, {"critique", "ok"}};
        auto r = w.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json");
        if (!r) break;  // the server is gone
        if (r->status == 200) {
          std::lock_guard<std::mutex> lock(mu);
          acked.push_back(Body(r)["record_id"]);
        }
      }
    });
  }
  for (int i = 0; i < 100; ++i) {  // until a few writes were acknowledged, however slow the machine
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> lock(mu);
    if (acked.size() >= 10 && i >= 6) break;
  }
  server_.Kill();  // SIGKILL, with writes in flight
  stop = true;
  for (auto& w : writers) w.join();
  ASSERT_GT(acked.size(), 5u);
  // Restart: every acknowledged record is there.
  StartServer();
  std::string list_cmd = std::string(FOLDBACK_CLI) + " feedback --index " +
                         (dir_ / "idx").string() + " --list --json > " +
                         (dir_ / "list.json").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(list_cmd.c_str()), 0);
  std::set<std::string> stored;
  for (const auto& r : json::parse(ReadWhole(dir_ / "list.json")))
    stored.insert(r["record_id"].get<std::string>());
  for (const auto& id : acked) EXPECT_TRUE(stored.count(id)) << id;
  // And the restarted server takes more.
  auto c2 = Client();
  json fb = {{"trace_id", trace}, {"rating", "down"}};
  EXPECT_EQ(c2.Post("/v1/feedback", Auth("alice"), fb.dump(), "application/json")->status, 200);
}

// SIGTERM lets an ask in flight finish, then the server exits 0.
TEST_F(ServeTest, SigtermDrainsInFlightRequests) {
  StartServer(StartLlm(/*delay_ms=*/700));
  std::thread asker([&] {
    auto c = Client();
    auto r = c.Post("/v1/ask", Auth("alice"),
                    json({{"question", "termination"}, {"hops", 1}}).dump(), "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(Body(r).contains("trace_id"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  server_.Signal(SIGTERM);
  asker.join();
  EXPECT_EQ(server_.Wait(), 0) << server_.output();
  EXPECT_NE(server_.output().find("draining"), std::string::npos);
}

// A crash is reported on stderr with the signal and a backtrace before the
// signal takes the process (the sanitizer builds keep their own reports).
TEST_F(ServeTest, FatalSignalIsReportedWithABacktrace) {
  if (kSanitized) GTEST_SKIP() << "the sanitizers report crashes themselves";
  StartServer();
  server_.Signal(SIGSEGV);
  EXPECT_EQ(server_.Wait(), -1);
  std::string out = server_.output();
  EXPECT_NE(out.find("serve: fatal signal 11; backtrace:"), std::string::npos) << out;
  EXPECT_NE(out.find("the server died by signal 11"), std::string::npos) << out;
}

// --------------------------------------------------------------- TLS

TEST_F(ServeTest, ServesTls) {
  std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
  std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + key +
      " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "no openssl command to make a certificate";
  StartServer({"--cert", cert, "--key", key});
  EXPECT_NE(server_.output().find("https://"), std::string::npos);
  httplib::SSLClient c("127.0.0.1", server_.port());
  c.set_ca_cert_path(cert.c_str());
  c.enable_server_certificate_verification(
      false);  // CN only, no SAN: the channel is what is tested
  auto r = c.Get("/v1/search?q=termination", Auth("alice"));
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(Body(r)["results"].is_array());
  // Plain HTTP to the TLS port gets nowhere.
  std::string plain = RawExchange(server_.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(plain.find("\"ok\""), std::string::npos);
}

}  // namespace
}  // namespace foldback::testing
