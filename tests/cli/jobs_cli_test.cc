// `foldback jobs`, run as a user runs it, against the loopback test server:
// map jobs from instructions and from a DSPy program, walls, retries,
// failures, cancel, a worker stopped by SIGTERM and resumed, embed jobs and
// the HNSW built from their vectors, bad input — and the API key never in
// the store, the results or the output. Every case runs on both stores:
// SQLite (a file) and PostgreSQL (a server of the test's own,
// tests/support/pg_test_server.h); then PostgreSQL's own cases: two worker
// processes on one job, bad connection strings, the password never shown.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "cli_test_util.h"
#include "endpoint_cli_fixture.h"
#include "foldback/index.h"
#include "host/index_dir.h"
#include "llm_test_server.h"
#include "pg_test_server.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::CliRun;
using foldback::testing::ScriptedReply;
using nlohmann::json;

const char kCanary[] = "sk-jobs-canary-4Kd8Zq1Vb6Nm3Xc9Lp2Wr7";
const char kKeyVar[] = "FOLDBACK_JOBS_TEST_KEY";

CliRun Cli(const std::string& args) {
  return foldback::testing::RunCli(args, foldback::testing::Stderr::kSeparate);
}
std::string Shell(const std::string& s) { return foldback::testing::ShellQuote(s); }

std::vector<json> Lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    out.push_back(j);
  }
  return out;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

class JobsCli : public foldback::testing::EndpointCliTest,
                public ::testing::WithParamInterface<std::string> {
 protected:
  JobsCli() : EndpointCliTest("jobs", kKeyVar, kCanary) {}
  void SetUp() override {
    if (GetParam() == "postgresql") {
      auto pg = foldback::testing::PgTestServer::Start();
      ASSERT_TRUE(pg.ok()) << pg.status().ToString();
      pg_ = std::move(*pg);
    }
    Prepare({{"acme",
              {{"advice.txt",
                "Privileged and confidential. Counsel advises that the merger "
                "agreement may be terminated for convenience on 30 days notice."},
               {"lunch.txt", "Team lunch is moved to Friday at noon in the cafeteria."},
               {"invoice.txt", "Invoice 4411 for consulting services rendered in March."}}},
             {"beta", {{"secret.txt", "Beta walled memo: zebra pineapple strategy."}}}});
    store_ = (dir_ / "jobs.sqlite").string();
  }
  void TearDown() override {
    EndpointCliTest::TearDown();
    pg_.reset();
  }
  std::string StoreUrl() const { return pg_ ? pg_->url() : "sqlite:" + store_; }
  std::string Store() const { return "--store " + Shell(StoreUrl()); }
  std::string Submit(const std::string& extra) {
    CliRun r =
        Cli("jobs submit " + Store() + " --index " + Index() + " " + Endpoint() + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Trimmed(r.out);
  }
  json Status(const std::string& job) {
    CliRun r = Cli("jobs status " + Store() + " " + job + " --json");
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Json(r);
  }
  std::vector<json> Results(const std::string& job, const std::string& extra = "") {
    fs::path out = dir_ / "results.jsonl";
    CliRun r =
        Cli("jobs results " + Store() + " " + job + " --out " + Shell(out.string()) + " " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return Lines(foldback::testing::ReadFile(out));
  }
  // No byte of the key anywhere the job wrote (the PostgreSQL server's
  // files too: tables, WAL, log).
  void ExpectNoKey() {
    std::vector<fs::path> roots{dir_};
    if (pg_) roots.push_back(pg_->dir());
    for (const fs::path& root : roots) {
      for (const auto& e : fs::recursive_directory_iterator(root)) {
        if (!e.is_regular_file() || e.path().filename().string().rfind(".s.PGSQL", 0) == 0)
          continue;
        EXPECT_EQ(foldback::testing::ReadFile(e.path()).find(kCanary), std::string::npos)
            << e.path();
      }
    }
  }
  size_t ChatRequests() {
    size_t n = 0;
    for (const auto& r : server_->requests())
      n += r.path.find("/chat/completions") != std::string::npos;
    return n;
  }
  std::string store_;
  std::unique_ptr<foldback::testing::PgTestServer> pg_;
};

const char kPrivileged[] =
    "[[ ## answer ## ]]\nYes: legal advice from counsel [1].\n\n[[ ## completed ## ]]";

TEST_P(JobsCli, MapOverAMatterRecordsOneCitedResultPerDocument) {
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  std::string job = Submit("--kind map --matter acme --instructions " +
                           Shell("Is this mail privileged? Why? Cite passages as [n]."));
  ASSERT_EQ(job.size(), 36u) << job;
  json st = Status(job);
  EXPECT_EQ(st["total"], 3);
  EXPECT_EQ(st["pending"], 3);

  CliRun w = Cli("jobs work " + Store() + " --concurrency 4 --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_NE(w.out.find("3 done"), std::string::npos) << w.out;
  st = Status(job);
  EXPECT_EQ(st["done"], 3);
  EXPECT_EQ(st["attempts"], 3);
  EXPECT_EQ(st["finished"], true);
  EXPECT_EQ(ChatRequests(), 3u);

  auto lines = Results(job);
  ASSERT_EQ(lines.size(), 3u);
  std::set<std::string> docs;
  for (const json& l : lines) {
    docs.insert(l["doc_id"].get<std::string>());
    EXPECT_EQ(l["output"], "Yes: legal advice from counsel [1].");
    ASSERT_EQ(l["citations"].size(), 1u) << l.dump();
    EXPECT_EQ(l["citations"][0]["chunk_id"].get<std::string>().rfind(
                  l["doc_id"].get<std::string>() + "#", 0),
              0u);
    EXPECT_EQ(l["model"], "foldback-test-model");
    EXPECT_EQ(l["program_hash"].get<std::string>().size(), 16u);
    EXPECT_FALSE(l["foldback_version"].get<std::string>().empty());
    EXPECT_EQ(l["job_id"], job);
  }
  EXPECT_EQ(docs, (std::set<std::string>{"advice", "lunch", "invoice"}));
  // The walled matter never left; the key only in its header.
  for (const auto& r : server_->requests()) {
    EXPECT_EQ(r.body.find("zebra"), std::string::npos);
    EXPECT_EQ(r.body.find(kCanary), std::string::npos);
    EXPECT_EQ(r.Header("authorization"), std::string("Bearer ") + kCanary);
  }
  EXPECT_EQ(w.out.find(kCanary), std::string::npos);
  EXPECT_EQ(w.err.find(kCanary), std::string::npos);
  ExpectNoKey();

  // Working again does nothing: every result is recorded once.
  CliRun again = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_EQ(ChatRequests(), 3u);
}

// The job's token counter adds what the endpoint reported (usage), not an
// estimate from the bytes sent.
TEST_P(JobsCli, TokensAreTheEndpointsUsage) {
  json reply = {{"model", "m"},
                {"choices", json::array({{{"index", 0},
                                          {"message", {{"role", "assistant"}, {"content", kPrivileged}}},
                                          {"finish_reason", "stop"}}})},
                {"usage", {{"prompt_tokens", 1000}, {"completion_tokens", 11}, {"total_tokens", 1011}}}};
  server_->Script({.path = "/chat/completions", .times = -1, .body = reply.dump()});
  std::string job = Submit("--kind map --matter acme --instructions " + Shell("Privileged? Cite as [n]."));
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 3);
  EXPECT_EQ(st["tokens"], 3 * 1011) << st.dump();
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, every request of a job is a trace
// of its own: "map item" over "chat <model>", no document text.
TEST_P(JobsCli, EachItemIsATraceForTheCollector) {
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  std::string job = Submit("--kind map --matter acme --instructions " + Shell("Privileged? Cite as [n]."));
  std::string collector = server_->base_url().substr(0, server_->base_url().rfind("/v1"));
  ::setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.c_str(), 1);
  CliRun w = Cli("--log-format json jobs work " + Store() + " --until-idle");
  ::unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  std::set<std::string> items, traces;
  size_t chats = 0;
  for (const auto& r : server_->requests()) {
    if (r.path != "/v1/traces") continue;
    EXPECT_EQ(r.body.find("merger"), std::string::npos) << "document text in a span";
    json body = json::parse(r.body);
    for (const json& span : body["resourceSpans"][0]["scopeSpans"][0]["spans"]) {
      if (span["name"] == "chat foldback-test-model" || span["name"] == "chat test-model") ++chats;
      if (span["name"] != "map item") continue;
      traces.insert(span["traceId"].get<std::string>());
      for (const json& a : span["attributes"]) {
        if (a["key"] == "foldback.item_id") items.insert(a["value"]["stringValue"].get<std::string>());
        if (a["key"] == "foldback.job_id") EXPECT_EQ(a["value"]["stringValue"], job);
      }
    }
  }
  EXPECT_EQ(items, (std::set<std::string>{"advice", "lunch", "invoice"}));
  EXPECT_EQ(traces.size(), 3u);
  EXPECT_EQ(chats, 3u);
  // --log-format json: a line per request, carrying the trace id of its spans.
  std::set<std::string> logged;
  for (const json& line : Lines(w.err)) {
    if (line.value("msg", "") != "request done") continue;
    EXPECT_EQ(line["job_id"], job);
    logged.insert(line["trace_id"].get<std::string>());
  }
  EXPECT_EQ(logged, traces) << w.err;
}

TEST_P(JobsCli, WallsAndRedactionHoldForJobs) {
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  CliRun denied = Cli("jobs submit " + Store() + " --index " + Index() + " " + Endpoint() +
                      " --kind map --matter beta --allowed-matters acme --instructions x");
  EXPECT_NE(denied.code, 0);
  EXPECT_NE(denied.err.find("outside the allowed matters"), std::string::npos) << denied.err;
  std::string job = Submit("--kind map --allowed-matters acme --instructions " +
                           Shell("Privileged?") + " --redact " + Shell("\\b4411\\b"));
  EXPECT_EQ(Status(job)["total"], 3);
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  bool saw_invoice = false;
  for (const auto& r : server_->requests()) {
    EXPECT_EQ(r.body.find("zebra"), std::string::npos);
    EXPECT_EQ(r.body.find("4411"), std::string::npos) << "redaction pattern not applied";
    saw_invoice = saw_invoice || r.body.find("Invoice") != std::string::npos;
  }
  EXPECT_TRUE(saw_invoice);
}

TEST_P(JobsCli, ProgramPredictorFromADspySave) {
  fs::path program = dir_ / "screen.json";
  foldback::testing::WriteFile(program, R"({
    "screen.predict": {"demos": [], "lm": {"model": "gpt-4o", "api_key": "sk-never-read"},
      "signature": {"instructions": "Decide whether the document is privileged.",
        "fields": [{"prefix": "Document:", "description": "${document}"},
                   {"prefix": "Reasoning:", "description": "${reasoning}"},
                   {"prefix": "Privileged:", "description": "${privileged}"}]}},
    "metadata": {"dependency_versions": {"dspy": "2.6.5"}}})");
  server_->Script({.path = "/chat/completions",
                   .times = -1,
                   .content = "[[ ## reasoning ## ]]\nCounsel gives advice.\n\n[[ ## privileged ## "
                              "]]\nyes [1]\n\n[[ ## completed ## ]]"});
  std::string job =
      Submit("--kind map --matter acme --filter id=advice --program " + Shell(program.string()));
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  auto lines = Results(job);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["doc_id"], "advice");
  EXPECT_EQ(lines[0]["output"], "yes [1]");
  EXPECT_EQ(lines[0]["fields"]["reasoning"], "Counsel gives advice.");
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_NE(reqs[0].body.find("Decide whether the document is privileged."), std::string::npos);
  EXPECT_NE(reqs[0].body.find("[[ ## privileged ## ]]"), std::string::npos);
  EXPECT_EQ(reqs[0].body.find("sk-never-read"), std::string::npos);
}

TEST_P(JobsCli, RetryableFailuresComeBackAndOthersFailOnce) {
  // "advice": three 503s (the HTTP client's three attempts), then fine on
  // the item's second lease. "lunch": 401, failed for good at once.
  server_->Script(
      {.path = "/chat/completions", .match = "Counsel advises", .times = 3, .status = 503});
  server_->Script({.path = "/chat/completions", .match = "Team lunch", .times = -1, .status = 401});
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  std::string job = Submit("--kind map --matter acme --instructions x --max-attempts 3");
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 2);
  EXPECT_EQ(st["failed"], 1);
  EXPECT_EQ(st["attempts"], 4);  // advice 2, lunch 1, invoice 1
  auto lines = Results(job, "--include-failed");
  ASSERT_EQ(lines.size(), 3u);
  bool failed_seen = false;
  for (const json& l : lines) {
    if (!l.contains("error")) continue;
    failed_seen = true;
    EXPECT_EQ(l["doc_id"], "lunch");
    EXPECT_NE(l["error"].get<std::string>().find("401"), std::string::npos) << l.dump();
  }
  EXPECT_TRUE(failed_seen);
  ExpectNoKey();
}

TEST_P(JobsCli, CancelStopsLeasing) {
  std::string job = Submit("--kind map --instructions x");
  CliRun c = Cli("jobs cancel " + Store() + " " + job);
  ASSERT_EQ(c.code, 0) << c.err;
  EXPECT_NE(c.out.find("cancelled"), std::string::npos) << c.out;
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  EXPECT_EQ(server_->request_count(), 0u);
  EXPECT_EQ(Status(job)["state"], "cancelled");
}

TEST_P(JobsCli, SigtermGivesItemsBackAndAResumedWorkerFinishesOnce) {
  // Four documents, one request in flight: the first answered at once, the
  // second held for 2.5 s, so SIGTERM comes while it is in flight however
  // slow the machine is to start the status command; the rest at once.
  server_->Script({.path = "/chat/completions", .times = 1, .content = kPrivileged});
  server_->Script(
      {.path = "/chat/completions", .times = 1, .content = kPrivileged, .delay_ms = 2500});
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  std::string job = Submit("--kind map --instructions x");  // 4 documents (both matters)
  std::string cmd =
      std::string(FOLDBACK_CLI) + " jobs work " + Store() + " --concurrency 1 >/dev/null 2>&1";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Once the first result is recorded (the machine may be slow to start it).
  for (int i = 0; i < 200 && Status(job)["done"].get<int>() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  json st = Status(job);
  EXPECT_EQ(st["leased"], 0) << st.dump();  // finished or given back
  EXPECT_GE(st["done"].get<int>(), 1);
  EXPECT_LT(st["done"].get<int>(), 4);
  size_t before = ChatRequests();
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  st = Status(job);
  EXPECT_EQ(st["done"], 4);
  EXPECT_EQ(ChatRequests(), 4u) << "a finished item was sent again (" << before
                                << " before resuming)";
  EXPECT_EQ(Results(job).size(), 4u);
}

TEST_P(JobsCli, EmbedJobVectorsBecomeTheIndexHnsw) {
  std::string job = Submit("--kind embed --allowed-matters acme,beta --embed-batch 2 --json");
  json sub = json::parse(job, nullptr, false);
  ASSERT_FALSE(sub.is_discarded()) << job;
  std::string id = sub["job_id"];
  int total = sub["items"];
  EXPECT_GE(total, 4);
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  EXPECT_EQ(Status(id)["done"], total);
  size_t embed_requests = 0;
  for (const auto& r : server_->requests())
    embed_requests += r.path.find("/embeddings") != std::string::npos;
  EXPECT_EQ(embed_requests, static_cast<size_t>((total + 1) / 2));
  auto lines = Results(id);
  ASSERT_EQ(lines.size(), static_cast<size_t>(total));
  EXPECT_EQ(lines[0]["dim"], 64);
  EXPECT_EQ(lines[0]["vector"].size(), 64u);
  CliRun v = Cli("jobs vectors " + Store() + " --index " + Index() + " " + id);
  ASSERT_EQ(v.code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("HNSW built"), std::string::npos) << v.out;
  auto index = foldback::host::OpenIndex(Index(), false);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_EQ((*index)->options().dense.embedder, foldback::EmbedderKind::kExternal);
  EXPECT_EQ((*index)->options().dense.dimension, 64u);
  EXPECT_EQ((*index)->Stats().vectors, static_cast<uint64_t>(total));
  EXPECT_EQ((*index)->Stats().pending_vectors, 0u);
  EXPECT_EQ((*index)->Stats().documents, 4u);
  ExpectNoKey();
}

TEST_P(JobsCli, SharedRequestBudgetStopsTheJob) {
  server_->Script({.path = "/chat/completions", .times = -1, .content = kPrivileged});
  std::string job = Submit("--kind map --matter acme --instructions x --max-requests 2");
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_NE(w.err.find("request budget of 2 used up"), std::string::npos) << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 2);
  EXPECT_EQ(st["pending"], 1);
  EXPECT_EQ(st["requests"], 2);
  // A second worker draws from the same budget: nothing more is sent.
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  EXPECT_EQ(ChatRequests(), 2u);
}

TEST_P(JobsCli, BadInputIsRefusedClearly) {
  std::string base = "jobs submit " + Store() + " --index " + Index() + " " + Endpoint();
  CliRun r = Cli(base + " --kind map");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--instructions"), std::string::npos) << r.err;
  r = Cli(base + " --kind sort --instructions x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("map, embed or synthesize"), std::string::npos) << r.err;
  r = Cli("jobs submit " + Store() + " --index " + Index() + " --endpoint " + server_->base_url() +
          " --model m --api-key-env FOLDBACK_JOBS_UNSET_VAR --kind map --instructions x");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("FOLDBACK_JOBS_UNSET_VAR"), std::string::npos) << r.err;
  r = Cli(base + " --kind map --instructions x --filter nosuch=1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("unknown filter field"), std::string::npos) << r.err;
  r = Cli(base + " --kind map --program " + Shell((dir_ / "missing.json").string()));
  EXPECT_NE(r.code, 0);
  r = Cli("jobs status --store mysql://h/db");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("sqlite:PATH or postgresql://"), std::string::npos) << r.err;
  r = Cli("jobs status " + Store() + " 0190aaaa-0000-7000-8000-000000000000");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("no job"), std::string::npos) << r.err;
  EXPECT_EQ(server_->request_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Stores, JobsCli, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// ---------------------------------------------------------------- PostgreSQL only

class JobsCliPg : public JobsCli {};

pid_t StartWorker(const std::string& args, const fs::path& out) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd =
        std::string("exec ") + FOLDBACK_CLI + " " + args + " >" + Shell(out.string()) + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Two worker processes on one job through the server: every document done
// once, one request each, both workers did some of it.
TEST_P(JobsCliPg, TwoWorkerProcessesShareOneJob) {
  // 12 more documents, each 300 ms at the endpoint, 2 in flight per worker.
  fs::create_directories(dir_ / "more");
  for (int i = 0; i < 12; ++i) {
    foldback::testing::WriteFile(
        dir_ / "more" / ("note" + std::to_string(i) + ".txt"),
        "Note " + std::to_string(i) + " about clause " + std::to_string(i) + " of the lease.");
  }
  CliRun ingest =
      Cli("ingest --index " + Index() + " --matter acme " + Shell((dir_ / "more").string()));
  ASSERT_EQ(ingest.code, 0) << ingest.err;
  server_->Script(
      {.path = "/chat/completions", .times = -1, .content = kPrivileged, .delay_ms = 300});
  std::string job = Submit("--kind map --matter acme --instructions x");
  ASSERT_EQ(Status(job)["total"], 15);
  pid_t a = StartWorker("jobs work " + Store() + " --concurrency 2 --until-idle", dir_ / "a.out");
  pid_t b = StartWorker("jobs work " + Store() + " --concurrency 2 --until-idle", dir_ / "b.out");
  int ca = Wait(a), cb = Wait(b);
  std::string out_a = foldback::testing::ReadFile(dir_ / "a.out");
  std::string out_b = foldback::testing::ReadFile(dir_ / "b.out");
  ASSERT_EQ(ca, 0) << out_a;
  ASSERT_EQ(cb, 0) << out_b;
  json st = Status(job);
  EXPECT_EQ(st["done"], 15) << st.dump();
  EXPECT_EQ(st["attempts"], 15) << st.dump();
  EXPECT_EQ(ChatRequests(), 15u);
  auto lines = Results(job);
  std::set<std::string> docs;
  for (const json& l : lines) docs.insert(l["doc_id"].get<std::string>());
  EXPECT_EQ(lines.size(), 15u);
  EXPECT_EQ(docs.size(), 15u);
  // Both took part (each finishes ~7 of 15; one alone would need 2.3 s,
  // so the second has long started before the first could finish).
  EXPECT_EQ(out_a.find("worker: 0 done"), std::string::npos) << out_a;
  EXPECT_EQ(out_b.find("worker: 0 done"), std::string::npos) << out_b;
}

// A connection string that cannot work: a clear error, at once, without
// the password; the password from PGPASSWORD works.
TEST_P(JobsCliPg, BadConnectionStringsAndPasswords) {
  const std::string secret = "hunter2-Xq7Lm9Vb";
  ASSERT_TRUE(pg_->SetPassword("paralegal", secret).ok());
  std::string host = "host=" + pg_->dir() + "&port=" + std::to_string(pg_->port());
  CliRun r = Cli("jobs status --store " +
                 Shell("postgresql://paralegal:" + secret + "x@/postgres?" + host));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("password authentication failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("postgresql://paralegal:***@"), std::string::npos) << r.err;
  EXPECT_EQ((r.out + r.err).find(secret), std::string::npos) << r.err;
  r = Cli("jobs status --store " +
          Shell("postgresql://paralegal:" + secret + "@/postgres?host=/nonexistent-foldback"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
  EXPECT_EQ((r.out + r.err).find(secret), std::string::npos) << r.err;
  ::setenv("PGPASSWORD", secret.c_str(), 1);
  r = Cli("jobs status --store " + Shell("postgresql://paralegal@/postgres?" + host));
  ::unsetenv("PGPASSWORD");
  EXPECT_EQ(r.code, 0) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Stores, JobsCliPg, ::testing::Values("postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
