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
#include <functional>
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

// A scripted reply to requests whose path holds `path`, every field the
// test does not set at the server's default (designated initializers
// would leave -Wmissing-field-initializers warnings).
ScriptedReply Reply(const std::string& path, const std::function<void(ScriptedReply&)>& set) {
  ScriptedReply r;
  r.path = path;
  set(r);
  return r;
}
// Every chat request from now on answered with `content`.
ScriptedReply Chat(const std::string& content) {
  return Reply("/chat/completions", [&](ScriptedReply& r) {
    r.times = -1;
    r.content = content;
  });
}

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
  server_->Script(Chat(kPrivileged));
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
  server_->Script(Reply("/chat/completions", [&](ScriptedReply& r) {
    r.times = -1;
    r.body = reply.dump();
  }));
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
  server_->Script(Chat(kPrivileged));
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
        if (a["key"] == "foldback.job_id") {
          EXPECT_EQ(a["value"]["stringValue"], job);
        }
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
  server_->Script(Chat(kPrivileged));
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
  server_->Script(
      Chat("[[ ## reasoning ## ]]\nCounsel gives advice.\n\n[[ ## privileged ## "
           "]]\nyes [1]\n\n[[ ## completed ## ]]"));
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
  server_->Script(Reply("/chat/completions", [](ScriptedReply& r) {
    r.match = "Counsel advises";
    r.times = 3;
    r.status = 503;
  }));
  server_->Script(Reply("/chat/completions", [](ScriptedReply& r) {
    r.match = "Team lunch";
    r.times = -1;
    r.status = 401;
  }));
  server_->Script(Chat(kPrivileged));
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
  server_->Script(Reply("/chat/completions", [](ScriptedReply& r) { r.content = kPrivileged; }));
  server_->Script(Reply("/chat/completions", [](ScriptedReply& r) {
    r.content = kPrivileged;
    r.delay_ms = 2500;
  }));
  server_->Script(Chat(kPrivileged));
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
  server_->Script(Chat(kPrivileged));
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
  EXPECT_NE(r.err.find("map, embed, synthesize or finetune"), std::string::npos) << r.err;
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
  server_->Script(Reply("/chat/completions", [](ScriptedReply& r) {
    r.times = -1;
    r.content = kPrivileged;
    r.delay_ms = 300;
  }));
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

// ---------------------------------------------------------------- finetune

// Fine-tuning jobs on both stores: the export made at submit and shown,
// nothing handed over before approval, the OpenAI fine-tuning API of the
// test server (upload, create, poll queued -> running -> succeeded), a
// worker killed mid-poll resumed without a second upload, a failed remote
// job, retryable failures, the walls, the key, and a command trainer.
class JobsFinetuneCli : public JobsCli {
 protected:
  // Restarts the test server with fine-tuning options (a new port).
  void Restart(foldback::testing::LlmTestServerOptions opts) {
    server_->Stop();
    auto s = foldback::testing::LlmTestServer::Start(std::move(opts));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  // A question asked behind `matter`'s wall, answered, and corrected (the
  // correction is an SFT row), with or without consent to train.
  void Feedback(const std::string& matter, const std::string& question, bool consent) {
    server_->Script(Reply("/chat/completions", [&](ScriptedReply& r) {
      r.content = "[[ ## query ## ]]\n" + question + "\n\n[[ ## completed ## ]]";
    }));
    server_->Script(Reply("/chat/completions", [](ScriptedReply& r) {
      r.content = "[[ ## answer ## ]]\nYes [1].\n\n[[ ## completed ## ]]";
    }));
    CliRun r = Cli("ask --index " + Index() + " " + Endpoint() +
                   " --hops 1 --answer --json --allowed-matters " + matter + " " + Shell(question));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    std::string trace = Json(r)["trace_id"];
    r = Cli("feedback --index " + Index() + " --trace " + trace + " --correction " +
            Shell("Corrected for " + matter + ": yes, as the passage says [1].") +
            (consent ? " --consent" : ""));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }
  size_t Requests(const std::string& method, const std::string& path_end) {
    size_t n = 0;
    for (const auto& r : server_->requests()) {
      n += r.method == method && r.path.size() >= path_end.size() &&
           r.path.compare(r.path.size() - path_end.size(), path_end.size(), path_end) == 0;
    }
    return n;
  }
  // Requests to the fine-tuning routes (files, fine_tuning).
  size_t FinetuneRequests() {
    size_t n = 0;
    for (const auto& r : server_->requests()) {
      n += r.path.find("/files") != std::string::npos ||
           r.path.find("/fine_tuning") != std::string::npos;
    }
    return n;
  }
  std::string SubmitFinetune(const std::string& extra, CliRun* run = nullptr) {
    CliRun r = Cli("jobs submit " + Store() + " --index " + Index() + " --kind finetune " + extra);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    if (run) *run = r;
    return Trimmed(r.out);
  }
};

TEST_P(JobsFinetuneCli, ApprovedExportIsTrainedPolledAndActivated) {
  foldback::testing::LlmTestServerOptions opts;
  opts.finetune_queued_polls = 2;
  opts.finetune_running_polls = 2;
  Restart(opts);
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  Feedback("acme", "What does invoice 4411 cover?", true);
  Feedback("acme", "When is the team lunch?", false);  // no consent: never exported
  CliRun sub;
  std::string job = SubmitFinetune(Endpoint() + " --format sft --allowed-matters acme --poll-ms 50",
                                   &sub);
  ASSERT_FALSE(job.empty());
  // What will leave is shown before anyone approves it.
  EXPECT_NE(sub.err.find("waits for approval"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("records: 2 feedback records"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("matters: acme (2)"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("1 without consent to train"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("OpenAI fine-tuning API at " + server_->base_url()), std::string::npos)
      << sub.err;
  json st = Status(job);
  EXPECT_EQ(st["state"], "pending_approval") << st.dump();

  // Not approved: a worker hands nothing over.
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_EQ(FinetuneRequests(), 0u);
  EXPECT_EQ(Status(job)["done"], 0);

  CliRun ok = Cli("jobs approve " + Store() + " " + job);
  ASSERT_EQ(ok.code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("records: 2 feedback records"), std::string::npos) << ok.out;
  EXPECT_EQ(Status(job)["state"], "active");

  w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  st = Status(job);
  EXPECT_EQ(st["done"], 1) << st.dump();
  EXPECT_EQ(Requests("POST", "/files"), 1u);
  EXPECT_EQ(Requests("POST", "/fine_tuning/jobs"), 1u);
  EXPECT_EQ(st["finetune"]["stage"], "succeeded") << st.dump();
  EXPECT_GE(st["finetune"]["polls"].get<int>(), 5) << st.dump();  // queued x2, running x2, done
  // The uploaded file is the approved export: two rows, acme's.
  auto files = server_->finetune_files();
  ASSERT_EQ(files.size(), 1u);
  std::vector<json> rows = Lines(files.begin()->second);
  EXPECT_EQ(rows.size(), 2u);
  for (const json& row : rows) EXPECT_TRUE(row.contains("messages")) << row.dump();
  EXPECT_EQ(files.begin()->second.find("team lunch"), std::string::npos);
  // The job was created on it, supervised, on the base model.
  json created;
  for (const auto& r : server_->requests()) {
    if (r.method == "POST" && r.path.find("/fine_tuning/jobs") != std::string::npos)
      created = json::parse(r.body);
  }
  EXPECT_EQ(created["model"], "test-model");
  EXPECT_EQ(created["training_file"], files.begin()->first);
  EXPECT_EQ(created["method"]["type"], "supervised");
  auto lines = Results(job);
  ASSERT_EQ(lines.size(), 1u);
  const std::string model = lines[0]["fine_tuned_model"];
  EXPECT_EQ(model.rfind("ft:test-model:foldback-test::ftjob-test-", 0), 0u) << model;
  EXPECT_EQ(lines[0]["records"], 2);

  // Activated: ask with no flags runs on the fine-tuned model.
  CliRun act = Cli("jobs activate " + Store() + " " + job);
  ASSERT_EQ(act.code, 0) << act.out << act.err;
  std::string toml = foldback::testing::ReadFile(fs::path(Index()) / "foldback.toml");
  EXPECT_NE(toml.find("model = \"" + model + "\""), std::string::npos) << toml;
  EXPECT_EQ(toml.find(kCanary), std::string::npos);
  server_->ClearRequests();
  CliRun ask = Cli("ask --index " + Index() + " --hops 1 --json 'termination for convenience'");
  ASSERT_EQ(ask.code, 0) << ask.out << ask.err;
  bool used = false;
  for (const auto& r : server_->requests()) {
    if (r.path.find("/chat/completions") == std::string::npos) continue;
    used = used || json::parse(r.body)["model"] == model;
  }
  EXPECT_TRUE(used) << "ask did not send the fine-tuned model";
  // foldback.toml now names the endpoint, which reaches every `jobs submit`:
  // a command trainer still submits (the endpoint unused).
  CliRun cmd = Cli("jobs submit " + Store() + " --index " + Index() +
                   " --kind finetune --format sft --command " + Shell("true {file} {out}"));
  EXPECT_EQ(cmd.code, 0) << cmd.err;
  EXPECT_EQ((w.out + w.err + sub.out + sub.err + ok.out).find(kCanary), std::string::npos);
  ExpectNoKey();
}

TEST_P(JobsFinetuneCli, ApprovalIsRequiredAndCannotBeGivenTwiceOrAfterCancel) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  std::string job = SubmitFinetune(Endpoint() + " --format sft --poll-ms 50");
  CliRun r = Cli("jobs cancel " + Store() + " " + job);
  ASSERT_EQ(r.code, 0) << r.err;
  r = Cli("jobs approve " + Store() + " " + job);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("is cancelled: nothing to approve"), std::string::npos) << r.err;
  ASSERT_EQ(Cli("jobs work " + Store() + " --until-idle").code, 0);
  EXPECT_EQ(FinetuneRequests(), 0u);

  CliRun js;
  SubmitFinetune(Endpoint() + " --format sft --poll-ms 50 --json", &js);
  json sub = Json(js);
  std::string second = sub["job_id"];
  EXPECT_EQ(sub["state"], "pending_approval");
  EXPECT_EQ(sub["records"], 1);
  EXPECT_EQ(sub["matters"]["acme"], 1) << sub.dump();
  EXPECT_EQ(sub["sha256"].get<std::string>().size(), 64u);
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + second).code, 0);
  r = Cli("jobs approve " + Store() + " " + second);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("is active: nothing to approve"), std::string::npos) << r.err;
  // Nothing consented: nothing to approve at all.
  r = Cli("jobs submit " + Store() + " --index " + Index() + " --kind finetune " + Endpoint() +
          " --format sft --allowed-matters beta");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("nothing to train on"), std::string::npos) << r.err;
  // The API takes sft and openai-preference; triplets go to a command.
  r = Cli("jobs submit " + Store() + " --index " + Index() + " --kind finetune " + Endpoint() +
          " --format triplets");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--command"), std::string::npos) << r.err;
  // Neither an endpoint nor a command.
  r = Cli("jobs submit " + Store() + " --index " + Index() + " --kind finetune --format sft");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--endpoint URL"), std::string::npos) << r.err;
}

TEST_P(JobsFinetuneCli, AWalledMattersFeedbackIsNeverUploaded) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  Feedback("beta", "What is the zebra pineapple strategy?", true);
  CliRun sub;
  std::string job = SubmitFinetune(
      Endpoint() + " --format sft --allowed-matters acme --poll-ms 20", &sub);
  EXPECT_NE(sub.err.find("1 behind the walls"), std::string::npos) << sub.err;
  EXPECT_NE(sub.err.find("matters: acme (1)\n"), std::string::npos) << sub.err;
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.err;
  auto files = server_->finetune_files();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files.begin()->second.find("zebra"), std::string::npos) << files.begin()->second;
  EXPECT_EQ(files.begin()->second.find("beta"), std::string::npos) << files.begin()->second;
  EXPECT_NE(files.begin()->second.find("merger"), std::string::npos);
  for (const auto& r : server_->requests()) {  // (the beta question itself was asked before)
    if (r.path.find("/files") == std::string::npos && r.path.find("/fine_tuning") == std::string::npos)
      continue;
    EXPECT_EQ(r.body.find("zebra"), std::string::npos) << r.path;
  }
}

TEST_P(JobsFinetuneCli, AWorkerKilledMidPollResumesWithoutASecondUpload) {
  foldback::testing::LlmTestServerOptions opts;
  opts.finetune_queued_polls = 30;  // ~1.5 s of polls at 50 ms
  opts.finetune_running_polls = 2;
  Restart(opts);
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  std::string job = SubmitFinetune(Endpoint() + " --format sft --poll-ms 50 --lease-ms 1000");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  pid_t pid = StartWorker("jobs work " + Store() + " --until-idle", dir_ / "killed.out");
  // Killed once the remote job has been polled a few times.
  size_t polls = 0;
  for (int i = 0; i < 400 && polls < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    polls = Requests("GET", "/fine_tuning/jobs/ftjob-test-2");
  }
  ASSERT_GE(polls, 4u) << foldback::testing::ReadFile(dir_ / "killed.out");
  kill(pid, SIGKILL);
  Wait(pid);
  json st = Status(job);
  EXPECT_EQ(st["leased"], 1) << st.dump();
  EXPECT_EQ(st["finetune"]["remote_job_id"], "ftjob-test-2") << st.dump();
  // Another worker takes over once the lease ends, and polls on.
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  st = Status(job);
  EXPECT_EQ(st["done"], 1) << st.dump();
  EXPECT_EQ(st["attempts"], 2) << st.dump();
  EXPECT_EQ(Requests("POST", "/files"), 1u) << "uploaded twice";
  EXPECT_EQ(Requests("POST", "/fine_tuning/jobs"), 1u) << "created twice";
  EXPECT_EQ(server_->finetune_files().size(), 1u);
  EXPECT_EQ(server_->finetune_jobs().size(), 1u);
  EXPECT_EQ(Results(job)[0]["remote_job_id"], "ftjob-test-2");
}

// SIGTERM while polling: the fine-tune is given back at once (its attempt
// refunded, its progress kept), and the next worker polls on.
TEST_P(JobsFinetuneCli, SigtermGivesTheFinetuneBackWithItsProgress) {
  foldback::testing::LlmTestServerOptions opts;
  opts.finetune_queued_polls = 40;
  Restart(opts);
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  std::string job = SubmitFinetune(Endpoint() + " --format sft --poll-ms 50");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  pid_t pid = StartWorker("jobs work " + Store() + " --until-idle", dir_ / "stopped.out");
  size_t polls = 0;
  for (int i = 0; i < 400 && polls < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    polls = Requests("GET", "/fine_tuning/jobs/ftjob-test-2");
  }
  ASSERT_GE(polls, 2u) << foldback::testing::ReadFile(dir_ / "stopped.out");
  kill(pid, SIGTERM);
  EXPECT_EQ(Wait(pid), 130) << foldback::testing::ReadFile(dir_ / "stopped.out");
  json st = Status(job);
  EXPECT_EQ(st["leased"], 0) << st.dump();  // given back: no lease to wait for
  EXPECT_EQ(st["attempts"], 0) << st.dump();
  EXPECT_EQ(st["finetune"]["remote_job_id"], "ftjob-test-2") << st.dump();
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_EQ(Status(job)["done"], 1);
  EXPECT_EQ(Requests("POST", "/files"), 1u);
  EXPECT_EQ(Requests("POST", "/fine_tuning/jobs"), 1u);
}

TEST_P(JobsFinetuneCli, RetryableFailuresAreRetriedAndNeverDuplicate) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  // The upload fails once (503): it may have arrived, so the worker looks
  // for it before uploading again; the create is rate limited twice.
  server_->Script(Reply("/files", [](ScriptedReply& r) { r.status = 503; }));
  server_->Script(Reply("/fine_tuning/jobs", [](ScriptedReply& r) {
    r.times = 2;
    r.status = 429;
    r.headers = {{"Retry-After", "0.05"}};
  }));
  std::string job = SubmitFinetune(Endpoint() + " --format sft --poll-ms 20");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 1) << st.dump();
  EXPECT_EQ(server_->finetune_files().size(), 1u);
  EXPECT_EQ(server_->finetune_jobs().size(), 1u);
  EXPECT_GE(Requests("GET", "/files"), 1u);  // looked for before uploading again
  EXPECT_EQ(st["finetune"]["uploads"], 2) << st.dump();
}

TEST_P(JobsFinetuneCli, AFailedRemoteJobIsReportedClearly) {
  foldback::testing::LlmTestServerOptions opts;
  opts.finetune_fail_message = "The training file has 1 example(s), but must have at least 10";
  Restart(opts);
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  std::string job = SubmitFinetune(Endpoint() + " --format sft --poll-ms 20 --activate");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_NE(w.out.find("1 failed"), std::string::npos) << w.out;
  EXPECT_NE(w.err.find("must have at least 10"), std::string::npos) << w.err;
  json st = Status(job);
  EXPECT_EQ(st["failed"], 1) << st.dump();
  const std::string error = st["finetune"]["error"];
  EXPECT_NE(error.find("fine-tuning job ftjob-test-2 failed"), std::string::npos) << error;
  EXPECT_NE(error.find("invalid_training_file"), std::string::npos) << error;
  auto lines = Results(job, "--include-failed");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0]["error"].get<std::string>().find("must have at least 10"), std::string::npos);
  // Nothing to activate; foldback.toml untouched.
  CliRun act = Cli("jobs activate " + Store() + " " + job);
  EXPECT_NE(act.code, 0);
  EXPECT_NE(act.err.find("no trained model yet"), std::string::npos) << act.err;
  EXPECT_FALSE(fs::exists(fs::path(Index()) / "foldback.toml"));
  // A key the service refuses: a clear failure, no retry, never the key.
  ::setenv(kKeyVar, "sk-wrong-key-Zz9", 1);
  foldback::testing::LlmTestServerOptions strict;
  strict.expected_key = kCanary;
  Restart(strict);
  std::string second = SubmitFinetune(Endpoint() + " --format sft --poll-ms 20");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + second).code, 0);
  w = Cli("jobs work " + Store() + " --until-idle");
  st = Status(second);
  EXPECT_EQ(st["failed"], 1) << st.dump();
  EXPECT_NE(st["finetune"]["error"].get<std::string>().find("401"), std::string::npos) << st.dump();
  EXPECT_EQ(Requests("POST", "/files"), 1u);
}

TEST_P(JobsFinetuneCli, ACommandTrainsOnTheFileAndItsModelPathIsRecorded) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  // The "trainer" (TRL's DPO format, which the API does not take) counts
  // the rows into {out}.
  std::string job = SubmitFinetune(
      "--format dpo --command " +
      Shell("sh -c 'mkdir -p \"$2\" && wc -l < \"$1\" > \"$2/rows\" && echo trained' sh {file} "
            "{out}"));
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  EXPECT_EQ(Status(job)["done"], 0);  // waits for approval like any fine-tune
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  auto lines = Results(job);
  ASSERT_EQ(lines.size(), 1u);
  const std::string model = lines[0]["model_path"];
  EXPECT_TRUE(fs::exists(fs::path(model) / "rows")) << lines[0].dump();
  EXPECT_NE(lines[0]["output_tail"].get<std::string>().find("trained"), std::string::npos);
  EXPECT_EQ(FinetuneRequests(), 0u);  // nothing left the machine
  // A trainer that fails: its status and last words.
  std::string bad = SubmitFinetune("--format sft --command " +
                                   Shell("sh -c 'echo CUDA out of memory >&2; exit 3'"));
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + bad).code, 0);
  w = Cli("jobs work " + Store() + " --until-idle");
  json st = Status(bad);
  EXPECT_EQ(st["failed"], 1) << st.dump();
  const std::string error = st["finetune"]["error"];
  EXPECT_NE(error.find("exited with status 3"), std::string::npos) << error;
  EXPECT_NE(error.find("CUDA out of memory"), std::string::npos) << error;
}

// Azure OpenAI: the resource's /openai routes with api-version and the
// api-key header; the model is recorded, and activation says to deploy it.
TEST_P(JobsFinetuneCli, AzureOpenAiIsTrainedAndItsModelNeedsADeployment) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  std::string resource = "http://127.0.0.1:" + std::to_string(server_->port());
  std::string job = SubmitFinetune("--format openai-preference --provider azure --endpoint " +
                                   resource + " --model gpt-4o-mini --api-key-env " + kKeyVar +
                                   " --poll-ms 20 --activate");
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  EXPECT_NE(w.err.find("through a deployment"), std::string::npos) << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 1) << st.dump();
  EXPECT_FALSE(fs::exists(fs::path(Index()) / "foldback.toml"));
  size_t azure = 0;
  for (const auto& r : server_->requests()) {
    if (r.path.rfind("/openai/", 0) != 0) continue;
    ++azure;
    EXPECT_EQ(r.query.find("api-version="), 0u) << r.path << "?" << r.query;
    EXPECT_EQ(r.Header("api-key"), kCanary) << r.path;
    EXPECT_EQ(r.Header("authorization"), "") << r.path;
  }
  EXPECT_GE(azure, 3u);  // upload, create, polls
  json created;
  for (const auto& r : server_->requests()) {
    if (r.method == "POST" && r.path == "/openai/fine_tuning/jobs") created = json::parse(r.body);
  }
  EXPECT_EQ(created["method"]["type"], "dpo");
  CliRun act = Cli("jobs activate " + Store() + " " + job);
  EXPECT_NE(act.code, 0);
  EXPECT_NE(act.err.find("deploy ft:gpt-4o-mini"), std::string::npos) << act.err;
}

// A worker killed while its training command runs: the command dies with
// it (no stray trainer beside the next one), and the next worker runs it
// again, into a fresh output path.
TEST_P(JobsFinetuneCli, AKilledWorkersCommandDiesAndTheNextWorkerRunsItAgain) {
  Feedback("acme", "Can the merger agreement be terminated for convenience?", true);
  const fs::path marker = dir_ / "first-run", pidfile = dir_ / "trainer.pid";
  // First run: note the pid and hang; later runs: make the model.
  std::string cmd = "sh -c 'if [ -e \"$3\" ]; then mkdir -p \"$2\"; else touch \"$3\"; echo $$ > "
                    "\"$4\"; exec sleep 60; fi' sh {file} {out} " +
                    marker.string() + " " + pidfile.string();
  std::string job = SubmitFinetune("--format sft --lease-ms 1000 --command " + Shell(cmd));
  ASSERT_EQ(Cli("jobs approve " + Store() + " " + job).code, 0);
  pid_t worker = StartWorker("jobs work " + Store() + " --until-idle", dir_ / "killed.out");
  for (int i = 0; i < 400 && foldback::testing::ReadFile(pidfile).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::string text = foldback::testing::ReadFile(pidfile);
  ASSERT_FALSE(text.empty()) << foldback::testing::ReadFile(dir_ / "killed.out");
  pid_t trainer = static_cast<pid_t>(std::stol(text));
  kill(worker, SIGKILL);
  Wait(worker);
  // The trainer is gone (or a zombie waiting for init) within a moment.
  auto alive = [&] {
    std::string stat = foldback::testing::ReadFile("/proc/" + std::to_string(trainer) + "/stat");
    size_t close = stat.rfind(')');
    return !stat.empty() && close != std::string::npos && stat.size() > close + 2 &&
           stat[close + 2] != 'Z';
  };
  for (int i = 0; i < 100 && alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(alive()) << "the training command outlived its worker";
  CliRun w = Cli("jobs work " + Store() + " --until-idle");
  ASSERT_EQ(w.code, 0) << w.out << w.err;
  json st = Status(job);
  EXPECT_EQ(st["done"], 1) << st.dump();
  EXPECT_EQ(st["attempts"], 2) << st.dump();
  auto lines = Results(job);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(fs::path(lines[0]["model_path"].get<std::string>()).filename(), "model-2");
  EXPECT_EQ(lines[0]["run"], 2);
}

INSTANTIATE_TEST_SUITE_P(Stores, JobsFinetuneCli, ::testing::Values("sqlite", "postgresql"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
