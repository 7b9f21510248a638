// The libcurl driver against a real OpenAI-compatible server on loopback:
// the fault matrix (every status, Retry-After forms, stalls, truncation,
// invalid JSON, endpoint down), deadlines, parallelism, embeddings, and the
// API key staying where it belongs.
//
// Timing checks are lower bounds (a wait can only take longer) and loose
// upper bounds; precise timing lives in tests/bench/llm_bench.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "llm/llm_client.h"
#include "llm_test_server.h"

namespace foldback::llm {
namespace {

using nlohmann::json;
using testing::LlmTestServer;
using testing::RecordedRequest;
using testing::ScriptedReply;
using Fault = ScriptedReply::Fault;

const char kCanary[] = "sk-canary-Zq81vN3xK0pL5tR7wY2mB9cD4fG6hJ";
const char kKeyVar[] = "FOLDBACK_LLM_TEST_KEY";

double Ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

Need ChatNeed(uint64_t id, const std::string& question = "Can the lessee terminate early?",
              double timeout_ms = 0) {
  Need n;
  n.id = id;
  n.kind = Need::Kind::kLlm;
  n.hop = 1;
  n.purpose = "rewrite";
  n.llm.messages = {{"system", "Write one search query."}, {"user", question}};
  n.timeout_ms = timeout_ms;
  return n;
}

Need EmbedNeed(uint64_t id, std::vector<std::string> texts) {
  Need n;
  n.id = id;
  n.kind = Need::Kind::kEmbed;
  n.purpose = "embed-query";
  n.embed.texts = std::move(texts);
  return n;
}

ScriptedReply StatusReply(int status, int times = 1) {
  ScriptedReply r;
  r.status = status;
  r.times = times;
  return r;
}

ScriptedReply Content(std::string content, int times = 1) {
  ScriptedReply r;
  r.content = std::move(content);
  r.times = times;
  return r;
}

class LlmClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = LlmTestServer::Start();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ::setenv(kKeyVar, kCanary, 1);
  }
  void TearDown() override {
    if (server_) server_->Stop();
    ::unsetenv(kKeyVar);
  }

  // Fast backoff so retry tests take milliseconds; the SDK's own timing has
  // its own tests below.
  LlmClientOptions Options(Provider provider = Provider::kOpenAI) {
    LlmClientOptions o;
    o.chat.provider = provider;
    o.chat.url = server_->base_url();
    o.chat.model = "test-model";
    auto key = ApiKey::FromEnv(kKeyVar);
    EXPECT_TRUE(key.ok());
    o.chat.key = *key;
    o.embed = o.chat;
    o.embed.model = "test-embed";
    o.retry.initial_delay_ms = 20;
    o.retry.max_delay_ms = 80;
    o.jitter_seed = 7;
    return o;
  }

  std::unique_ptr<LlmClient> Client(LlmClientOptions o) {
    auto c = LlmClient::Create(std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  NeedResult Perform(LlmClient& client, const Need& need) { return client.PerformAll({need})[0]; }

  // The canary key never appears in a result, and in the recorded requests
  // only as the value of the one authentication header.
  void ExpectKeyOnlyInAuthHeader(const NeedResult& r) {
    EXPECT_EQ(r.status.message().find(kCanary), std::string::npos) << r.status.message();
    EXPECT_EQ(r.text.find(kCanary), std::string::npos);
    EXPECT_EQ(r.status.message().find("Zq81vN3xK0pL"), std::string::npos);
    for (const RecordedRequest& req : server_->requests()) {
      EXPECT_EQ(req.body.find(kCanary), std::string::npos);
      EXPECT_EQ(req.path.find(kCanary), std::string::npos);
      EXPECT_EQ(req.query.find(kCanary), std::string::npos);
      for (const auto& [name, value] : req.headers) {
        if (name == "authorization") {
          EXPECT_EQ(value, std::string("Bearer ") + kCanary);
        } else if (name == "api-key") {
          EXPECT_EQ(value, kCanary);
        } else {
          EXPECT_EQ(value.find(kCanary), std::string::npos) << name;
        }
      }
    }
  }

  std::unique_ptr<LlmTestServer> server_;
};

// ------------------------------------------------------------------ success

TEST_F(LlmClientTest, ChatCompletionRoundTrip) {
  server_->Script(Content("[[ ## query ## ]]\nearly termination lessee notice"));
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.text, "[[ ## query ## ]]\nearly termination lessee notice");
  EXPECT_EQ(r.model, "foldback-test-model");
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_GT(r.elapsed_ms, 0);

  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/v1/chat/completions");
  EXPECT_EQ(reqs[0].Header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].Header("authorization"), std::string("Bearer ") + kCanary);
  json body = json::parse(reqs[0].body);
  EXPECT_EQ(body["model"], "test-model");
  EXPECT_EQ(body["messages"][1]["content"], "Can the lessee terminate early?");
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_F(LlmClientTest, AzureSendsApiKeyHeaderAndDeploymentUrl) {
  LlmClientOptions o = Options(Provider::kAzure);
  o.chat.url = "http://127.0.0.1:" + std::to_string(server_->port());
  o.chat.model = "gpt4o-prod";
  o.embed.url.clear();
  auto client = Client(o);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->chat_url(), "http://127.0.0.1:" + std::to_string(server_->port()) +
                                    "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].path, "/openai/deployments/gpt4o-prod/chat/completions");
  EXPECT_EQ(reqs[0].query, "api-version=2024-10-21");
  EXPECT_EQ(reqs[0].Header("api-key"), kCanary);
  EXPECT_EQ(reqs[0].Header("authorization"), "");
  EXPECT_FALSE(json::parse(reqs[0].body).contains("model"));
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_F(LlmClientTest, SendsTheJsonSchemaAsResponseFormat) {
  auto client = Client(Options(Provider::kVllm));
  Need n = ChatNeed(1);
  n.llm.json_schema = R"({"type":"object","properties":{"query":{"type":"string"}}})";
  n.llm.json_schema_name = "GenerateSearchQuery";
  ASSERT_TRUE(Perform(*client, n).status.ok());
  json body = json::parse(server_->requests().at(0).body);
  EXPECT_EQ(body["response_format"]["type"], "json_schema");
  EXPECT_EQ(body["response_format"]["json_schema"]["name"], "GenerateSearchQuery");
  EXPECT_EQ(body["max_tokens"], 512);
}

TEST_F(LlmClientTest, AServerThatWantsAKeyGetsIt) {
  server_->Stop();
  testing::LlmTestServerOptions so;
  so.expected_key = kCanary;
  server_ = LlmTestServer::Start(so).value();
  auto with_key = Client(Options());
  EXPECT_TRUE(Perform(*with_key, ChatNeed(1)).status.ok());
  LlmClientOptions o = Options();
  o.chat.key = ApiKey();
  auto without = Client(o);
  NeedResult r = Perform(*without, ChatNeed(2));
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("no API key was configured"), std::string::npos) << r.status.message();
}

// ------------------------------------------------------------------ statuses

class RetryableStatus : public LlmClientTest, public ::testing::WithParamInterface<int> {};

TEST_P(RetryableStatus, RetriedTwiceThenReported) {
  int status = GetParam();
  server_->Script(StatusReply(status, -1));
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(server_->request_count(), 3u);
  EXPECT_EQ(r.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status.message().find("endpoint returned " + std::to_string(status)), std::string::npos)
      << r.status.message();
  EXPECT_NE(r.status.message().find("(3 attempts)"), std::string::npos) << r.status.message();
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_P(RetryableStatus, RecoversWhenTheNextAttemptWorks) {
  server_->Script(StatusReply(GetParam(), 1));
  server_->Script(Content("second time lucky"));
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.text, "second time lucky");
  EXPECT_EQ(r.attempts, 2u);
  EXPECT_EQ(server_->request_count(), 2u);
}

INSTANTIATE_TEST_SUITE_P(Statuses, RetryableStatus, ::testing::Values(408, 409, 429, 500, 502, 503, 504));

struct NonRetryable {
  int status;
  Status::Code code;
  const char* says;
};

class NonRetryableStatus : public LlmClientTest, public ::testing::WithParamInterface<NonRetryable> {};

TEST_P(NonRetryableStatus, NeverRetried) {
  const NonRetryable& c = GetParam();
  // The server echoes the key, as some do in their error messages.
  ScriptedReply reply = StatusReply(c.status, -1);
  reply.body = json{{"error", {{"message", std::string("Incorrect API key provided: ") + kCanary}}}}.dump();
  server_->Script(reply);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(server_->request_count(), 1u);
  EXPECT_EQ(r.status.code(), c.code);
  EXPECT_NE(r.status.message().find(c.says), std::string::npos) << r.status.message();
  ExpectKeyOnlyInAuthHeader(r);
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, NonRetryableStatus,
    ::testing::Values(
        NonRetryable{400, Status::Code::kInvalidArgument, "endpoint returned 400 Bad Request"},
        NonRetryable{401, Status::Code::kPermissionDenied,
                     "endpoint returned 401 Unauthorized: check the API key in $FOLDBACK_LLM_TEST_KEY"},
        NonRetryable{403, Status::Code::kPermissionDenied, "403 Forbidden: the API key in $FOLDBACK_LLM_TEST_KEY"},
        NonRetryable{404, Status::Code::kNotFound, "404 Not Found: check the endpoint URL"},
        NonRetryable{422, Status::Code::kInvalidArgument, "endpoint returned 422 Unprocessable Entity"}));

TEST_F(LlmClientTest, XShouldRetryHeaderOverrides) {
  ScriptedReply no = StatusReply(503, -1);
  no.headers = {{"x-should-retry", "false"}};
  server_->Script(no);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  EXPECT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);

  server_->ClearScript();
  server_->ClearRequests();
  ScriptedReply yes = StatusReply(400, 1);
  yes.headers = {{"x-should-retry", "true"}};
  server_->Script(yes);
  r = Perform(*client, ChatNeed(2));
  EXPECT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.attempts, 2u);
}

TEST_F(LlmClientTest, RedirectsAreNotFollowed) {
  ScriptedReply moved = StatusReply(307, -1);
  moved.headers = {{"Location", "http://elsewhere.example/v1/chat/completions"}};
  server_->Script(moved);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(server_->request_count(), 1u);
  EXPECT_NE(r.status.message().find("elsewhere.example"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("does not follow redirects"), std::string::npos);
}

// ------------------------------------------------------------------ Retry-After

// Gap between the first two requests the server saw.
double Gap(const LlmTestServer& s) {
  auto reqs = s.requests();
  EXPECT_GE(reqs.size(), 2u);
  return reqs.size() < 2 ? 0 : reqs[1].arrival_ms - reqs[0].arrival_ms;
}

TEST_F(LlmClientTest, RetryAfterSeconds) {
  ScriptedReply limited = StatusReply(429);
  limited.headers = {{"Retry-After", "1"}};
  server_->Script(limited);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.attempts, 2u);
  EXPECT_GE(Gap(*server_), 950);   // honoured, not the 20 ms backoff
  EXPECT_LT(Gap(*server_), 5000);  // loose
}

TEST_F(LlmClientTest, RetryAfterMilliseconds) {
  ScriptedReply limited = StatusReply(429);
  limited.headers = {{"retry-after-ms", "300"}, {"Retry-After", "30"}};  // -ms wins
  server_->Script(limited);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_GE(Gap(*server_), 290);
  EXPECT_LT(Gap(*server_), 5000);
}

TEST_F(LlmClientTest, RetryAfterHttpDate) {
  char date[64];
  std::time_t when = std::time(nullptr) + 2;
  std::tm tm;
  gmtime_r(&when, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  ScriptedReply limited = StatusReply(503);
  limited.headers = {{"Retry-After", date}};
  server_->Script(limited);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_GE(Gap(*server_), 900);  // the date has one-second resolution: 1 to 2 s
  EXPECT_LT(Gap(*server_), 5000);
}

TEST_F(LlmClientTest, RetryAfterBeyondSixtySecondsIsNotWaitedFor) {
  ScriptedReply limited = StatusReply(429, -1);
  limited.headers = {{"Retry-After", "120"}};
  server_->Script(limited);
  auto client = Client(Options());
  auto t0 = std::chrono::steady_clock::now();
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_LT(Ms(t0), 2000);
  EXPECT_NE(r.status.message().find("asked to wait 120 s"), std::string::npos) << r.status.message();
}

TEST_F(LlmClientTest, RetryAfterBeyondTheDeadlineGivesUpAtOnce) {
  ScriptedReply limited = StatusReply(429, -1);
  limited.headers = {{"Retry-After", "5"}};
  server_->Script(limited);
  auto client = Client(Options());
  auto t0 = std::chrono::steady_clock::now();
  NeedResult r = Perform(*client, ChatNeed(1, "q", /*timeout_ms=*/1500));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_LT(Ms(t0), 1500);
  EXPECT_NE(r.status.message().find("would pass this request's 1500 ms time limit"), std::string::npos)
      << r.status.message();
}

TEST_F(LlmClientTest, BackoffFollowsTheSdkSchedule) {
  server_->Script(StatusReply(500, -1));
  LlmClientOptions o = Options();
  o.retry = RetryPolicy();  // the SDK's 0.5 s, 1 s
  auto client = Client(o);
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  double first = reqs[1].arrival_ms - reqs[0].arrival_ms;
  double second = reqs[2].arrival_ms - reqs[1].arrival_ms;
  EXPECT_GE(first, 370);  // 500 ms x (0.75, 1]
  EXPECT_GE(second, 740);  // 1000 ms x (0.75, 1]
  EXPECT_LT(first + second, 6000);
}

// ------------------------------------------------------------------ broken transfers

TEST_F(LlmClientTest, StallAfterHeadersEndsAtTheDeadline) {
  ScriptedReply hang;
  hang.fault = Fault::kHangAfterHeaders;
  hang.times = -1;
  server_->Script(hang);
  auto client = Client(Options());
  auto t0 = std::chrono::steady_clock::now();
  NeedResult r = Perform(*client, ChatNeed(1, "q", /*timeout_ms=*/800));
  double took = Ms(t0);
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.status.code(), Status::Code::kDeadlineExceeded);
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(server_->request_count(), 1u);
  EXPECT_GE(took, 780);
  EXPECT_LT(took, 800 + 1500);  // loose
  EXPECT_NE(r.status.message().find("800 ms time limit"), std::string::npos) << r.status.message();
  EXPECT_NE(r.status.message().find("stalled"), std::string::npos) << r.status.message();
}

TEST_F(LlmClientTest, AStalledAttemptIsRetriedWithinTheBudget) {
  ScriptedReply hang;
  hang.fault = Fault::kHangAfterHeaders;
  server_->Script(hang);
  server_->Script(Content("after the stall"));
  LlmClientOptions o = Options();
  o.attempt_timeout_ms = 300;
  auto client = Client(o);
  NeedResult r = Perform(*client, ChatNeed(1, "q", /*timeout_ms=*/5000));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.text, "after the stall");
  EXPECT_EQ(r.attempts, 2u);
}

TEST_F(LlmClientTest, TruncatedBodyIsAConnectionErrorAndRetried) {
  ScriptedReply cut;
  cut.fault = Fault::kTruncate;
  cut.content = "this reply will be cut in half";
  cut.times = -1;
  server_->Script(cut);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(server_->request_count(), 3u);
  EXPECT_EQ(r.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status.message().find("closed in the middle of the reply"), std::string::npos)
      << r.status.message();

  server_->ClearScript();
  cut.times = 1;
  server_->Script(cut);
  r = Perform(*client, ChatNeed(2));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.attempts, 2u);
}

TEST_F(LlmClientTest, ConnectionClosedMidChunkedBody) {
  ScriptedReply cut;
  cut.fault = Fault::kCloseMidBody;
  cut.content = "a chunked reply that never ends properly";
  cut.times = -1;
  server_->Script(cut);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(server_->request_count(), 3u);
  EXPECT_NE(r.status.message().find("closed in the middle of the reply"), std::string::npos)
      << r.status.message();
}

TEST_F(LlmClientTest, InvalidJsonIsReportedNotRetried) {
  ScriptedReply html;
  html.fault = Fault::kInvalidJson;
  html.times = -1;
  server_->Script(html);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.status.code(), Status::Code::kIOError);
  EXPECT_NE(r.status.message().find("not valid JSON"), std::string::npos) << r.status.message();
}

TEST_F(LlmClientTest, CompleteReplyWithTruncatedJson) {
  ScriptedReply cut;
  cut.body = R"({"choices":[{"message":{"role":"assistant","content":"half a rep)";
  server_->Script(cut);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_NE(r.status.message().find("truncated"), std::string::npos) << r.status.message();
}

TEST_F(LlmClientTest, WrongShapeIsReported) {
  ScriptedReply odd;
  odd.body = R"({"result":"not a chat completion"})";
  server_->Script(odd);
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("no choices"), std::string::npos) << r.status.message();
  EXPECT_TRUE(r.text.empty());
}

TEST_F(LlmClientTest, OversizedReplyIsRefused) {
  server_->Script(Content(std::string(10000, 'x')));
  LlmClientOptions o = Options();
  o.max_reply_bytes = 1000;
  auto client = Client(o);
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.status.code(), Status::Code::kOutOfRange);
}

TEST_F(LlmClientTest, EndpointDownIsRetriedThenReported) {
  int port = server_->port();
  server_->Stop();  // nothing listens there any more: connection refused
  LlmClientOptions o = Options();
  o.chat.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  auto client = Client(o);
  auto t0 = std::chrono::steady_clock::now();
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_FALSE(r.status.ok());
  EXPECT_EQ(r.attempts, 3u);
  EXPECT_EQ(r.status.code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status.message().find("could not reach http://127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << r.status.message();
  EXPECT_LT(Ms(t0), 3000);
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_F(LlmClientTest, EndpointDownMeetsTheDeadlineWithSdkBackoff) {
  int port = server_->port();
  server_->Stop();
  LlmClientOptions o = Options();
  o.retry = RetryPolicy();
  o.chat.url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  auto client = Client(o);
  auto t0 = std::chrono::steady_clock::now();
  NeedResult r = Perform(*client, ChatNeed(1, "q", /*timeout_ms=*/700));
  ASSERT_FALSE(r.status.ok());
  EXPECT_LT(Ms(t0), 700 + 500);
  EXPECT_EQ(r.attempts, 2u);  // 375-500 ms, then the 750-1000 ms wait would pass 700 ms
  EXPECT_NE(r.status.message().find("700 ms time limit"), std::string::npos) << r.status.message();
}

TEST_F(LlmClientTest, KeyEchoedInContentIsRedacted) {
  server_->Script(Content(std::string("query: ") + kCanary));
  auto client = Client(Options());
  NeedResult r = Perform(*client, ChatNeed(1));
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.text, "query: [REDACTED]");
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_F(LlmClientTest, OutboundRedactionBeforeTextLeaves) {
  LlmClientOptions o = Options();
  o.redact_patterns = {R"(\b\d{3}-\d{2}-\d{4}\b)", "Project Nightingale"};
  auto client = Client(o);
  std::string doc = std::string("Employee SSN 078-05-1120, codename Project Nightingale, key ") + kCanary;
  ASSERT_TRUE(Perform(*client, ChatNeed(1, doc)).status.ok());
  ASSERT_TRUE(Perform(*client, EmbedNeed(2, {doc, "plain text"})).status.ok());
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 2u);
  for (const auto& req : reqs) {
    EXPECT_EQ(req.body.find("078-05-1120"), std::string::npos);
    EXPECT_EQ(req.body.find("Nightingale"), std::string::npos);
    EXPECT_NE(req.body.find("Employee SSN [REDACTED], codename [REDACTED], key [REDACTED]"), std::string::npos)
        << req.body;
  }
  ExpectKeyOnlyInAuthHeader(NeedResult());

  o.redact_patterns = {"(unclosed"};
  auto bad = LlmClient::Create(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("(unclosed"), std::string::npos);
}

// ------------------------------------------------------------------ concurrency

TEST_F(LlmClientTest, ParallelNeedsOverlap) {
  ScriptedReply slow = Content("slow", -1);
  slow.delay_ms = 300;
  server_->Script(slow);
  auto client = Client(Options());
  std::vector<Need> needs;
  for (uint64_t i = 1; i <= 8; ++i) needs.push_back(ChatNeed(i, "variant " + std::to_string(i)));
  auto t0 = std::chrono::steady_clock::now();
  auto results = client->PerformAll(needs);
  double took = Ms(t0);
  for (const auto& r : results) {
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.text, "slow");
  }
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 8u);
  double first = reqs.front().arrival_ms, last = reqs.back().arrival_ms;
  EXPECT_LT(last - first, 250);  // all 8 were in flight before the first answer
  EXPECT_LT(took, 8 * 300 / 2);  // loose: serial would take 2400 ms
}

TEST_F(LlmClientTest, MaxInFlightQueuesWithoutSpinning) {
  ScriptedReply slow = Content("slow", -1);
  slow.delay_ms = 200;
  server_->Script(slow);
  LlmClientOptions o = Options();
  o.max_in_flight = 2;
  auto client = Client(o);
  std::vector<Need> needs;
  for (uint64_t i = 1; i <= 6; ++i) needs.push_back(ChatNeed(i));
  std::clock_t cpu0 = std::clock();
  auto t0 = std::chrono::steady_clock::now();
  auto results = client->PerformAll(needs);
  double wall = Ms(t0);
  double cpu = 1000.0 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  for (const auto& r : results) ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 6u);
  EXPECT_GE(reqs[2].arrival_ms - reqs[0].arrival_ms, 190);  // the third waited for a slot
  EXPECT_GE(reqs[4].arrival_ms - reqs[2].arrival_ms, 190);
  EXPECT_GE(wall, 590);
  EXPECT_LT(cpu, wall / 2) << "the wait should sleep, not spin";
}

TEST_F(LlmClientTest, WaitReturnsNeedsAsTheyFinish) {
  ScriptedReply slow = Content("slow");
  slow.match = "slow one";
  slow.delay_ms = 400;
  server_->Script(slow);
  server_->Script(Content("fast"));
  auto client = Client(Options());
  ASSERT_TRUE(client->Start(ChatNeed(1, "slow one")).ok());
  ASSERT_TRUE(client->Start(ChatNeed(2, "fast one")).ok());
  EXPECT_TRUE(client->Start(ChatNeed(2, "again")).IsInvalidArgument());
  EXPECT_EQ(client->pending(), 2u);
  auto first = client->Wait();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].need_id, 2u);
  EXPECT_EQ(first[0].result.text, "fast");
  auto second = client->Wait();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].need_id, 1u);
  EXPECT_EQ(second[0].result.text, "slow");
  EXPECT_EQ(client->pending(), 0u);
  EXPECT_TRUE(client->Wait(10).empty());
}

TEST_F(LlmClientTest, CancelStopsANeed) {
  ScriptedReply hang;
  hang.fault = Fault::kHangAfterHeaders;
  server_->Script(hang);
  auto client = Client(Options());
  ASSERT_TRUE(client->Start(ChatNeed(1)).ok());
  EXPECT_TRUE(client->Wait(100).empty());
  client->Cancel(1);
  EXPECT_EQ(client->pending(), 0u);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(client->Wait().empty());
  EXPECT_LT(Ms(t0), 100);
}

TEST_F(LlmClientTest, NeedsWithoutAnEndpointFailAtOnce) {
  LlmClientOptions o;
  auto client = Client(o);
  auto results = client->PerformAll({ChatNeed(1), EmbedNeed(2, {"x"})});
  EXPECT_TRUE(results[0].status.IsNotSupported());
  EXPECT_TRUE(results[1].status.IsNotSupported());
  EXPECT_EQ(results[0].attempts, 0u);
  EXPECT_EQ(server_->request_count(), 0u);

  auto bad = Client(Options());
  Need n = ChatNeed(3);
  n.llm.json_schema = "{oops";
  NeedResult r = Perform(*bad, n);
  EXPECT_TRUE(r.status.IsInvalidArgument());
  EXPECT_EQ(server_->request_count(), 0u);
}

TEST_F(LlmClientTest, BadEndpointUrlIsRefusedAtCreate) {
  LlmClientOptions o = Options();
  o.chat.url = std::string("https://user:") + kCanary + "@api.example/v1";
  auto c = LlmClient::Create(o);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().find(kCanary), std::string::npos);
  EXPECT_NE(c.status().message().find("chat endpoint"), std::string::npos);
}

// ------------------------------------------------------------------ embeddings

TEST_F(LlmClientTest, RemoteEmbeddingsInBatches) {
  LlmClientOptions o = Options();
  o.embed.embed_batch = 2;
  auto client = Client(o);
  std::vector<std::string> texts = {"termination for convenience", "governing law Delaware",
                                    "notice period thirty days", "indemnification", "force majeure"};
  NeedResult r = Perform(*client, EmbedNeed(1, texts));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  ASSERT_EQ(r.vectors.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(r.vectors[i], testing::HashEmbedding(texts[i], 64)) << i;
  }
  EXPECT_EQ(r.model, "test-embed");
  EXPECT_EQ(r.attempts, 3u);  // 2 + 2 + 1 texts
  auto reqs = server_->requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& req : reqs) {
    EXPECT_EQ(req.path, "/v1/embeddings");
    json body = json::parse(req.body);
    EXPECT_EQ(body["model"], "test-embed");
    EXPECT_EQ(body["encoding_format"], "float");
    EXPECT_LE(body["input"].size(), 2u);
  }
  ExpectKeyOnlyInAuthHeader(r);
}

TEST_F(LlmClientTest, EmbeddingFailuresAreClear) {
  auto client = Client(Options());
  ScriptedReply wrong;
  wrong.path = "/embeddings";
  wrong.body = R"({"data":[{"index":0,"embedding":[1,0]}]})";
  server_->Script(wrong);
  NeedResult r = Perform(*client, EmbedNeed(1, {"a", "b"}));
  ASSERT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("1 vectors for 2 texts"), std::string::npos) << r.status.message();
  EXPECT_TRUE(r.vectors.empty());

  server_->Script(StatusReply(503, 1));
  r = Perform(*client, EmbedNeed(2, {"a", "b"}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.attempts, 2u);

  r = Perform(*client, EmbedNeed(3, {}));
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.vectors.empty());
}

TEST_F(LlmClientTest, TeiStyleEmbeddings) {
  LlmClientOptions o = Options();
  o.embed.provider = Provider::kTei;
  o.embed.url = "http://127.0.0.1:" + std::to_string(server_->port());
  o.embed.model.clear();
  auto client = Client(o);
  NeedResult r = Perform(*client, EmbedNeed(1, {"force majeure"}));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.vectors[0], testing::HashEmbedding("force majeure", 64));
  json body = json::parse(server_->requests().at(0).body);
  EXPECT_FALSE(body.contains("model"));
  EXPECT_FALSE(body.contains("encoding_format"));
}

// ------------------------------------------------------------------ the test server itself

TEST(LlmTestServer, ScriptFilesParseAndBadOnesAreRefused) {
  auto s = testing::ParseServerScript(R"({"embedding_dim": 8, "default_content": "hi",
      "replies": [{"status": 429, "headers": {"Retry-After": "2"}, "times": 2},
                  {"match": "second hop", "content": "q2", "fault": "truncate"}]})");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->options.embedding_dim, 8u);
  ASSERT_EQ(s->replies.size(), 2u);
  EXPECT_EQ(s->replies[0].status, 429);
  EXPECT_EQ(s->replies[0].times, 2);
  EXPECT_EQ(s->replies[0].headers[0].second, "2");
  EXPECT_EQ(s->replies[1].fault, Fault::kTruncate);
  for (const char* bad : {"[]", "{\"replies\": 3}", "{\"replies\": [{\"status\": 1000}]}",
                          "{\"replies\": [{\"fault\": \"explode\"}]}", "{\"embedding_dim\": 0}",
                          "{\"replies\": [{\"headers\": {\"a\": 1}}]}", "{\"replies\": [{\"delay_ms\": -5}]}"}) {
    auto r = testing::ParseServerScript(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(LlmTestServer, EchoRepliesAsADspyProgramExpects) {
  std::string markers =
      "[[ ## context ## ]]\nNo passages.\n\n[[ ## question ## ]]\nCan we terminate early?\n\n"
      "Respond with the corresponding output fields, starting with the field `[[ ## reasoning ## ]]`, then "
      "`[[ ## query ## ]]`, and then ending with the marker for `[[ ## completed ## ]]`.";
  EXPECT_EQ(testing::EchoReply(markers),
            "[[ ## reasoning ## ]]\nThe echo server does not reason.\n\n"
            "[[ ## query ## ]]\nCan we terminate early?\n\n[[ ## completed ## ]]");
  std::string as_json =
      "[[ ## question ## ]]\nWho pays?\n\nRespond with a JSON object in the following order of fields: "
      "`answer`.";
  EXPECT_EQ(json::parse(testing::EchoReply(as_json))["answer"], "Echo: Who pays? [1]");
  EXPECT_EQ(testing::EchoReply("just a line\nand more"), "just a line");
}

TEST(LlmTestServer, HashEmbeddingsAreUnitVectorsAndStable) {
  auto a = testing::HashEmbedding("Termination for convenience", 32);
  auto b = testing::HashEmbedding("termination FOR convenience!", 32);
  EXPECT_EQ(a, b);
  double norm = 0;
  for (float x : a) norm += x * x;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  auto empty = testing::HashEmbedding("", 4);
  EXPECT_EQ(empty, (std::vector<float>{1, 0, 0, 0}));
}

}  // namespace
}  // namespace foldback::llm
