// foldback/wire.h: the one wire protocol of every host — URLs per provider,
// request bodies, reply parsing, the HTTP status mapping, the retry matrix,
// Retry-After in all its forms, jitter, and the NeedResult of a response.
#include "foldback/wire.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "foldback/redact.h"

namespace foldback::wire {
namespace {

using nlohmann::json;

Endpoint Ep(Provider p, std::string url, std::string model = "m") {
  Endpoint e;
  e.provider = p;
  e.url = std::move(url);
  e.model = std::move(model);
  return e;
}

std::string Url(const Endpoint& e, Route r = Route::kChat) {
  auto u = ResolveUrl(e, r);
  EXPECT_TRUE(u.ok()) << e.url << ": " << u.status().ToString();
  return u.ok() ? *u : "";
}

RequestContext Chat() {
  RequestContext c;
  c.endpoint = Ep(Provider::kOpenAI, "https://api.example/v1", "gpt-x");
  c.url = "https://api.example/v1/chat/completions";
  c.has_key = true;
  c.key_source = "$KEY";
  c.now_unix_ms = 1700000000000.0;  // Tue, 14 Nov 2023 22:13:20 GMT
  return c;
}

HttpResponse Reply(long status, std::string_view body, std::vector<Header> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  r.headers = std::move(headers);
  return r;
}

constexpr std::string_view kOkChat =
    R"({"model":"gpt-x-2024","choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]})";

// ------------------------------------------------------------------ URLs

TEST(Wire, UrlsPerProvider) {
  EXPECT_EQ(Url(Ep(Provider::kOpenAI, "https://api.openai.com/v1")), "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(Url(Ep(Provider::kOpenAI, "https://api.openai.com/v1/"), Route::kEmbeddings),
            "https://api.openai.com/v1/embeddings");
  // Ollama and vLLM: a bare host gets /v1, ports survive.
  EXPECT_EQ(Url(Ep(Provider::kOllama, "http://localhost:11434")), "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(Url(Ep(Provider::kOllama, "http://localhost:11434/v1")), "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(Url(Ep(Provider::kVllm, "http://gpu-box:8000/"), Route::kEmbeddings), "http://gpu-box:8000/v1/embeddings");
  EXPECT_EQ(Url(Ep(Provider::kVllm, "http://[::1]:8000")), "http://[::1]:8000/v1/chat/completions");
  // A full route is kept; the other route is derived from it.
  EXPECT_EQ(Url(Ep(Provider::kOpenAI, "http://proxy/llm/v1/chat/completions"), Route::kEmbeddings),
            "http://proxy/llm/v1/embeddings");
  // Scheme and host are lower-cased, the fragment dropped, a query kept.
  EXPECT_EQ(Url(Ep(Provider::kOpenAI, "HTTPS://GW.Example/v1?tenant=law#frag")),
            "https://gw.example/v1/chat/completions?tenant=law");
  EXPECT_EQ(Url(Ep(Provider::kTei, "http://tei:8080"), Route::kEmbeddings), "http://tei:8080/v1/embeddings");
}

TEST(Wire, AzureUrlForms) {
  EXPECT_EQ(Url(Ep(Provider::kAzure, "https://firm.openai.azure.com", "gpt4o-prod")),
            "https://firm.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(Url(Ep(Provider::kAzure, "https://firm.openai.azure.com/openai/", "d1")),
            "https://firm.openai.azure.com/openai/deployments/d1/chat/completions?api-version=2024-10-21");
  Endpoint e = Ep(Provider::kAzure,
                  "https://firm.openai.azure.com/openai/deployments/emb-3/embeddings?api-version=2024-06-01", "");
  EXPECT_EQ(Url(e, Route::kEmbeddings),
            "https://firm.openai.azure.com/openai/deployments/emb-3/embeddings?api-version=2024-06-01");
  e.api_version = "2025-01-01-preview";  // the option wins over the URL
  EXPECT_EQ(Url(e), "https://firm.openai.azure.com/openai/deployments/emb-3/chat/completions"
                    "?api-version=2025-01-01-preview");
  EXPECT_FALSE(ResolveUrl(Ep(Provider::kAzure, "https://firm.openai.azure.com", ""), Route::kChat).ok());
  EXPECT_FALSE(ResolveUrl(Ep(Provider::kAzure, "https://firm.openai.azure.com", "a/b?c"), Route::kChat).ok());
  EXPECT_FALSE(ResolveUrl(Ep(Provider::kAzure, "https://firm.openai.azure.com/v1", "d"), Route::kChat).ok());
  Endpoint bad_version = Ep(Provider::kAzure, "https://firm.openai.azure.com", "d");
  bad_version.api_version = "2024&x=1";
  EXPECT_FALSE(ResolveUrl(bad_version, Route::kChat).ok());
  EXPECT_EQ(GuessProvider("https://firm.openai.azure.com/openai/deployments/d"), Provider::kAzure);
  EXPECT_EQ(GuessProvider("https://FIRM.OpenAI.Azure.com:443"), Provider::kAzure);
  EXPECT_EQ(GuessProvider("https://api.openai.com/v1"), Provider::kOpenAI);
  EXPECT_EQ(GuessProvider("https://openai.azure.com.evil.example"), Provider::kOpenAI);
  EXPECT_EQ(GuessProvider("not a url"), Provider::kOpenAI);
}

TEST(Wire, BadUrlsAreRefusedWithoutRepeatingSecrets) {
  for (const char* url : {"", "not a url", "ftp://host/v1", "file:///etc/passwd", "http://", "http://:80/v1",
                          "https://host:99999/v1", "https://host:8o/v1", "http://[::1/v1", "//host/v1",
                          "http://host/v 1", "http://ho\tst/v1"}) {
    auto r = ResolveUrl(Ep(Provider::kOpenAI, url), Route::kChat);
    EXPECT_FALSE(r.ok()) << url;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << url;
  }
  for (const char* url : {"https://me:sk-canary-secret@api.example/v1", "https://sk-canary-secret@api.example/v1"}) {
    auto r = ResolveUrl(Ep(Provider::kOpenAI, url), Route::kChat);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message().find("sk-canary-secret"), std::string::npos);
    EXPECT_NE(r.status().message().find("credentials"), std::string::npos);
  }
  auto tei = ResolveUrl(Ep(Provider::kTei, "http://tei:8080"), Route::kChat);
  ASSERT_FALSE(tei.ok());
  EXPECT_NE(tei.status().message().find("embeddings only"), std::string::npos);
}

// ------------------------------------------------------------------ requests

TEST(Wire, RequestHeadersAndAuthPerProvider) {
  auto headers = RequestHeaders();
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].name, "Content-Type");
  EXPECT_EQ(headers[0].value, "application/json");
  for (const Header& h : headers) EXPECT_EQ(h.name.find("uth"), std::string::npos) << "no key header here";
  EXPECT_STREQ(AuthHeaderName(Provider::kOpenAI), "Authorization");
  EXPECT_STREQ(AuthValuePrefix(Provider::kOpenAI), "Bearer ");
  EXPECT_STREQ(AuthHeaderName(Provider::kAzure), "api-key");
  EXPECT_STREQ(AuthValuePrefix(Provider::kAzure), "");
}

TEST(Wire, ChatBodiesPerProvider) {
  LlmRequest req;
  req.messages = {{"system", "s"}, {"user", "u"}};
  req.max_tokens = 77;
  req.json_schema = R"({"type":"object"})";
  req.json_schema_name = "query writer!";
  json openai = json::parse(*BuildChatBody(Ep(Provider::kOpenAI, "x", "gpt"), req));
  EXPECT_EQ(openai["model"], "gpt");
  EXPECT_EQ(openai["max_completion_tokens"], 77);
  EXPECT_EQ(openai["response_format"]["json_schema"]["name"], "query_writer_");
  json azure = json::parse(*BuildChatBody(Ep(Provider::kAzure, "x", "dep"), req));
  EXPECT_FALSE(azure.contains("model"));
  json ollama = json::parse(*BuildChatBody(Ep(Provider::kOllama, "x", "llama"), req));
  EXPECT_EQ(ollama["max_tokens"], 77);
  EXPECT_FALSE(ollama.contains("max_completion_tokens"));
  Endpoint plain = Ep(Provider::kVllm, "x");
  plain.structured_output = false;
  EXPECT_FALSE(json::parse(*BuildChatBody(plain, req)).contains("response_format"));
  req.json_schema = "[1]";
  EXPECT_TRUE(BuildChatBody(Ep(Provider::kOpenAI, "x"), req).status().IsInvalidArgument());
  json tei = json::parse(BuildEmbeddingsBody(Ep(Provider::kTei, "x", ""), {"a", "b"}));
  EXPECT_FALSE(tei.contains("encoding_format"));
  EXPECT_EQ(json::parse(BuildEmbeddingsBody(Ep(Provider::kOpenAI, "x"), {"a"}))["encoding_format"], "float");
}

// ------------------------------------------------------------------ replies

TEST(Wire, TruncatedAndInvalidBodies) {
  std::string full(kOkChat);
  for (size_t cut : {size_t{1}, size_t{10}, full.size() / 2, full.size() - 1}) {
    auto r = ParseChatCompletion(full.substr(0, cut));
    ASSERT_FALSE(r.ok()) << cut;
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
  }
  auto garbage = ParseChatCompletion("{\"choices\": nope}");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("not valid JSON"), std::string::npos) << garbage.status().message();
  EXPECT_NE(ParseChatCompletion("").status().message().find("empty"), std::string::npos);
  EXPECT_NE(ParseChatCompletion("<html>502</html>").status().message().find("not valid JSON"), std::string::npos);
  EXPECT_FALSE(ParseChatCompletion("[]").ok());
  EXPECT_FALSE(ParseChatCompletion(R"({"choices":[]})").ok());
  EXPECT_FALSE(ParseChatCompletion(R"({"choices":[{"message":{"content":7}}]})").ok());
  auto refused = ParseChatCompletion(R"({"choices":[{"message":{"content":null,"refusal":"no\u0007way"}}]})");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("refused: no way"), std::string::npos);
  auto parts = ParseChatCompletion(
      R"({"choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"image"},{"type":"text","text":"b"}]}}]})");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->content, "ab");
  auto e = ParseEmbeddings(R"({"data":[{"index":1,"embedding":[1,2]},{"index":0,"embedding":[3,4]}]})", 2);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->vectors[0], (std::vector<float>{3, 4}));
  EXPECT_FALSE(ParseEmbeddings(R"({"data":[{"embedding":[1,2]}]})", 2).ok());
  EXPECT_FALSE(ParseEmbeddings(R"({"data":[{"embedding":"AAAA"}]})", 1).ok());
  EXPECT_FALSE(ParseEmbeddings(R"({"data":[{"embedding":[1,2]},{"embedding":[1]}]})", 2).ok());
  EXPECT_NE(ParseEmbeddings(R"({"data":[{"embedding":[1,)", 1).status().message().find("truncated"),
            std::string::npos);
}

// ------------------------------------------------------------------ status mapping

TEST(Wire, EveryStatusMapsOnce) {
  using C = Status::Code;
  for (long s = 100; s < 600; ++s) {
    C code = CodeForHttpStatus(s);
    bool retry = ShouldRetryStatus(s, "");
    if (s >= 200 && s < 300) {
      EXPECT_EQ(code, C::kOk) << s;
    } else if (s == 401 || s == 403) {
      EXPECT_EQ(code, C::kPermissionDenied) << s;
    } else if (s == 404) {
      EXPECT_EQ(code, C::kNotFound) << s;
    } else if (s == 408 || s == 409 || s == 429 || s >= 500) {
      EXPECT_EQ(code, C::kUnavailable) << s;
    } else {
      EXPECT_EQ(code, C::kInvalidArgument) << s;
    }
    EXPECT_EQ(retry, s == 408 || s == 409 || s == 429 || s >= 500) << s;
  }
  EXPECT_EQ(CodeForHttpStatus(0), Status::Code::kInvalidArgument);
  EXPECT_EQ(CodeForHttpStatus(700), Status::Code::kInvalidArgument);
  EXPECT_FALSE(ShouldRetryStatus(503, "false"));
  EXPECT_FALSE(ShouldRetryStatus(503, " False "));
  EXPECT_TRUE(ShouldRetryStatus(400, "true"));
  EXPECT_TRUE(ShouldRetryStatus(503, "maybe"));
  EXPECT_EQ(HttpStatusText(429), "429 Too Many Requests");
  EXPECT_EQ(HttpStatusText(599), "599");
}

TEST(Wire, StatusFromCodeIsTheOneTable) {
  for (int i = 0; i <= static_cast<int>(Status::kLastCode); ++i) {
    auto code = static_cast<Status::Code>(i);
    Status s = Status::FromCode(code, "why");
    EXPECT_EQ(s.code(), code);
    EXPECT_EQ(s.message(), i == 0 ? "" : "why");
    Status::Code back;
    ASSERT_TRUE(Status::CodeFromName(Status::CodeName(code), &back));
    EXPECT_EQ(back, code);
  }
  Status::Code c;
  EXPECT_FALSE(Status::CodeFromName("Teapot", &c));
}

TEST(Wire, ResponsesReadAsEveryHostReadsThem) {
  RequestContext c = Chat();
  Attempt ok = ReadResponse(c, Reply(200, kOkChat));
  ASSERT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.text, "hello");
  EXPECT_EQ(ok.model, "gpt-x-2024");

  Attempt cut = ReadResponse(c, Reply(200, kOkChat.substr(0, 20)));
  EXPECT_EQ(cut.status.code(), Status::Code::kIOError);
  EXPECT_FALSE(cut.retryable);

  Attempt unauthorized = ReadResponse(c, Reply(401, R"({"error":{"message":"bad key sk-abc"}})"));
  EXPECT_TRUE(unauthorized.status.code() == Status::Code::kPermissionDenied);
  EXPECT_NE(unauthorized.status.message().find("check the API key in $KEY"), std::string::npos);
  EXPECT_EQ(unauthorized.status.message().find("sk-abc"), std::string::npos) << "a 401's text may quote the key";
  c.has_key = false;
  c.key_hint = "--api-key-env VAR";
  EXPECT_NE(ReadResponse(c, Reply(401, "")).status.message().find("no API key was configured"), std::string::npos);

  Attempt missing = ReadResponse(Chat(), Reply(404, R"({"error":"model 'gpt-x' not found"})"));
  EXPECT_EQ(missing.status.code(), Status::Code::kNotFound);
  EXPECT_NE(missing.status.message().find("https://api.example/v1/chat/completions"), std::string::npos);
  EXPECT_NE(missing.status.message().find("model 'gpt-x' not found"), std::string::npos);
  EXPECT_FALSE(missing.retryable);

  Attempt conflict = ReadResponse(Chat(), Reply(409, "busy"));
  EXPECT_EQ(conflict.status.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(conflict.retryable);

  Attempt limited = ReadResponse(Chat(), Reply(429, R"({"error":{"message":"slow down"}})",
                                               {{"Retry-After", "3"}, {"X-Should-Retry", "true"}}));
  EXPECT_TRUE(limited.retryable);
  EXPECT_DOUBLE_EQ(limited.retry_after_ms, 3000);
  EXPECT_NE(limited.status.message().find("(rate limited): slow down"), std::string::npos);

  Attempt vetoed = ReadResponse(Chat(), Reply(503, "", {{"x-should-retry", "false"}, {"retry-after", "1"}}));
  EXPECT_FALSE(vetoed.retryable);
  EXPECT_EQ(vetoed.status.code(), Status::Code::kUnavailable);

  Attempt redirect = ReadResponse(Chat(), Reply(302, "", {{"Location", "https://elsewhere/v1"}}));
  EXPECT_EQ(redirect.status.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(redirect.status.message().find("redirected (302 Found) to https://elsewhere/v1"), std::string::npos);
  EXPECT_NE(ReadResponse(Chat(), Reply(0, "")).status.message().find("redirected"), std::string::npos);

  RequestContext embed = Chat();
  embed.kind = Need::Kind::kEmbed;
  embed.expected_vectors = 1;
  Attempt vectors = ReadResponse(embed, Reply(200, R"({"model":"e","data":[{"embedding":[0.5,1]}]})"));
  ASSERT_TRUE(vectors.status.ok());
  EXPECT_EQ(vectors.vectors, (std::vector<std::vector<float>>{{0.5f, 1.0f}}));
}

TEST(Wire, NeedResultFromResponse) {
  NeedResult ok = NeedResultFromResponse(Chat(), Reply(200, kOkChat));
  EXPECT_TRUE(ok.status.ok());
  EXPECT_EQ(ok.text, "hello");
  NeedResult bad = NeedResultFromResponse(Chat(), Reply(400, R"({"error":{"message":"max_tokens too large"}})"));
  EXPECT_EQ(bad.status.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(bad.text.empty());
  EXPECT_NE(bad.status.message().find("400 Bad Request: max_tokens too large"), std::string::npos);
}

// ------------------------------------------------------------------ retries

TEST(Wire, BackoffAsThePythonSdk) {
  RetryPolicy p;  // 500 ms, 8 s, 60 s
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 0, -1, 0.0), 500);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 0, -1, 1.0), 375);  // jitter: x (1 - 0.25 u)
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 1, -1, 0.0), 1000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 2, -1, 0.0), 2000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 10, -1, 0.0), 8000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 5000, -1, 0.0), 8000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 0, 2500, 0.7), 2500);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 0, 60000, 0.7), 60000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 1, 0, 0.0), 1000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 1, -3000, 0.0), 1000);
  EXPECT_DOUBLE_EQ(RetryDelayMs(p, 1, 61000, 0.0), 1000);
}

TEST(Wire, JitterIsSeededAndUniformEnough) {
  std::set<double> seen;
  double sum = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    double u = Jitter(seed, 0);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    EXPECT_EQ(u, Jitter(seed, 0)) << "same seed, same jitter, on every host";
    seen.insert(u);
    sum += u;
  }
  EXPECT_EQ(seen.size(), 2000u);
  EXPECT_NEAR(sum / 2000, 0.5, 0.05);
  EXPECT_NE(Jitter(7, 0), Jitter(7, 1));
}

TEST(Wire, RetryAfterForms) {
  double now = 1700000000000.0;  // Tue, 14 Nov 2023 22:13:20 GMT
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("1500", "", now), 1500);
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "2", now), 2000);
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", " 0.5 ", now), 500);
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("250", "9", now), 250);  // -ms wins
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("junk", "3", now), 3000);
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "Tue, 14 Nov 2023 22:13:27 GMT", now), 7000);      // IMF-fixdate
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "Tue, 14 Nov 2023 22:13:10 GMT", now), -10000);    // in the past
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "Tuesday, 14-Nov-23 22:13:30 GMT", now), 10000);   // RFC 850
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "Tue Nov 14 22:13:25 2023", now), 5000);           // asctime
  EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", "Wed, 01 Mar 2028 00:00:00 GMT", 0), 1835481600000.0);  // leap year
  for (const char* bad : {"", "soon", "1e3", "Tue, 14 Foo 2023 22:13:27 GMT", "Tue, 32 Nov 2023 22:13:27 GMT",
                          "Tue, 14 Nov 2023 25:13:27 GMT", "Tue, 14 Nov 2023", "14 Nov 2023 22:13 GMT",
                          "Tue, 14 Nov 2023 22:13:27 PST"}) {
    EXPECT_DOUBLE_EQ(ParseRetryAfterMs("", bad, now), -1) << bad;
  }
}

// The retry matrix: every status class, the policy's limits, the server's
// wishes and the need's time.
TEST(Wire, RetryMatrix) {
  RetryPolicy p;
  const double budget = 30000;
  auto decide = [&](long status, std::vector<Header> headers, uint32_t attempts, double now = 0) {
    Attempt a = ReadResponse(Chat(), Reply(status, "{}", std::move(headers)));
    return DecideRetry(p, attempts, a, now, budget, budget, 42);
  };
  for (long s : {408L, 409L, 429L, 500L, 502L, 503L, 504L, 529L}) {
    RetryDecision d = decide(s, {}, 1);
    EXPECT_TRUE(d.retry) << s;
    EXPECT_DOUBLE_EQ(d.delay_ms, RetryDelayMs(p, 0, -1, Jitter(42, 0))) << s;
    EXPECT_TRUE(decide(s, {}, 2).retry) << s;
    EXPECT_FALSE(decide(s, {}, 3).retry) << s << ": two retries at most";
    EXPECT_TRUE(decide(s, {}, 3).note.empty());
  }
  for (long s : {301L, 400L, 401L, 403L, 404L, 405L, 413L, 422L}) {
    EXPECT_FALSE(decide(s, {}, 1).retry) << s;
  }
  EXPECT_TRUE(decide(400, {{"x-should-retry", "true"}}, 1).retry);
  EXPECT_FALSE(decide(503, {{"x-should-retry", "false"}}, 1).retry);
  // The server's wait is taken as it is, in either header.
  EXPECT_DOUBLE_EQ(decide(429, {{"retry-after-ms", "1234"}}, 1).delay_ms, 1234);
  EXPECT_DOUBLE_EQ(decide(429, {{"Retry-After", "2"}}, 1).delay_ms, 2000);
  EXPECT_DOUBLE_EQ(decide(429, {{"Retry-After", "Tue, 14 Nov 2023 22:13:24 GMT"}}, 1).delay_ms, 4000);
  // Beyond 60 s: not retried, and said so.
  RetryDecision far = decide(429, {{"Retry-After", "120"}}, 1);
  EXPECT_FALSE(far.retry);
  EXPECT_NE(far.note.find("asked to wait 120 s, more than the 60 s foldback waits"), std::string::npos) << far.note;
  // A wait past the need's time: not retried, and said so.
  RetryDecision late = decide(503, {{"Retry-After", "5"}}, 1, budget - 1000);
  EXPECT_FALSE(late.retry);
  EXPECT_NE(late.note.find("would pass this request's 30 s time limit"), std::string::npos) << late.note;
  // Transport failures.
  auto transport = [&](TransportFailure f) {
    return DecideRetry(p, 1, TransportAttempt(f, "http://h/v1", "Connection refused", 2000), 0, budget, budget, 1);
  };
  EXPECT_TRUE(transport(TransportFailure::kUnreachable).retry);
  EXPECT_TRUE(transport(TransportFailure::kCutOff).retry);
  EXPECT_TRUE(transport(TransportFailure::kAttemptTimeout).retry);
  EXPECT_FALSE(transport(TransportFailure::kHopeless).retry);
  EXPECT_FALSE(transport(TransportFailure::kTooLarge).retry);
  EXPECT_EQ(TransportAttempt(TransportFailure::kTooLarge, "u", "", 1024).status.code(), Status::Code::kOutOfRange);
  EXPECT_EQ(TransportAttempt(TransportFailure::kAttemptTimeout, "u", "", 2000).status.message(),
            "no complete reply from u within 2000 ms (one attempt's limit)");
  // OK attempts are never retried.
  EXPECT_FALSE(DecideRetry(p, 1, Attempt(), 0, budget, budget, 1).retry);
}

TEST(Wire, FinalStatusCountsAttemptsAndSaysWhy) {
  Attempt a = ReadResponse(Chat(), Reply(503, R"({"error":{"message":"overloaded"}})"));
  RetryDecision none;
  Status one = FinalStatus(a, 1, none);
  EXPECT_EQ(one.code(), Status::Code::kUnavailable);
  EXPECT_EQ(one.message(), "endpoint returned 503 Service Unavailable: overloaded");
  RetryDecision why;
  why.note = "; not retried: because";
  EXPECT_EQ(FinalStatus(a, 3, why).message(),
            "endpoint returned 503 Service Unavailable: overloaded (3 attempts); not retried: because");
  AfterFailure f = AfterFailedAttempt(RetryPolicy(), 3, a, 0, 1000, 1000, 1);
  EXPECT_FALSE(f.retry);
  EXPECT_EQ(f.status.message(), "endpoint returned 503 Service Unavailable: overloaded (3 attempts)");
  AfterFailure again = AfterFailedAttempt(RetryPolicy(), 1, a, 0, 100000, 100000, 1);
  EXPECT_TRUE(again.retry);
  EXPECT_GT(again.delay_ms, 375 - 1e-9);
  EXPECT_LE(again.delay_ms, 500);
  EXPECT_EQ(NeedTimedOut("http://h/v1", 1500, 200).message(),
            "no complete reply from http://h/v1 within this request's 1500 ms time limit (the endpoint sent "
            "200 OK headers, then stalled)");
}

TEST(Wire, RedactionPatternsCompileOrSayWhich) {
  auto r = CompileRedactionPatterns({R"(\b\d{3}-\d{2}-\d{4}\b)", "(?i)secret"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Redact("ssn 123-45-6789, SECRET plan"), "ssn [REDACTED], [REDACTED] plan");
  auto bad = CompileRedactionPatterns({"ok", "(a+)\\1"});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_NE(bad.status().message().find("\"(a+)\\1\""), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace foldback::wire
