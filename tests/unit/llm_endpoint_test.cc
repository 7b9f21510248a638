// The native host's endpoint configuration over the core's wire protocol:
// URLs, bodies and replies as the native host sees them, the API key and its
// redaction — no network.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "llm/endpoint.h"
#include "llm/llm_client.h"

namespace foldback::llm {
namespace {

using nlohmann::json;

EndpointConfig Config(Provider p, std::string url, std::string model = "m") {
  EndpointConfig c;
  c.provider = p;
  c.url = std::move(url);
  c.model = std::move(model);
  return c;
}

std::string Url(const EndpointConfig& c, Route r) {
  auto u = ResolveUrl(c, r);
  EXPECT_TRUE(u.ok()) << u.status().ToString();
  return u.ok() ? *u : "";
}

TEST(LlmEndpoint, OpenAiCompatibleUrls) {
  EXPECT_EQ(Url(Config(Provider::kOpenAI, "https://api.openai.com/v1"), Route::kChat),
            "https://api.openai.com/v1/chat/completions");
  EXPECT_EQ(Url(Config(Provider::kOpenAI, "https://api.openai.com/v1/"), Route::kEmbeddings),
            "https://api.openai.com/v1/embeddings");
  // A bare host gets /v1 (Ollama, vLLM, LM Studio ...).
  EXPECT_EQ(Url(Config(Provider::kOllama, "http://localhost:11434"), Route::kChat),
            "http://localhost:11434/v1/chat/completions");
  EXPECT_EQ(Url(Config(Provider::kVllm, "http://gpu-box:8000/"), Route::kEmbeddings),
            "http://gpu-box:8000/v1/embeddings");
  // A full route is kept; the other route is derived from it.
  EXPECT_EQ(Url(Config(Provider::kOpenAI, "http://proxy/llm/v1/chat/completions"), Route::kChat),
            "http://proxy/llm/v1/chat/completions");
  EXPECT_EQ(Url(Config(Provider::kOpenAI, "http://proxy/llm/v1/chat/completions"), Route::kEmbeddings),
            "http://proxy/llm/v1/embeddings");
  EXPECT_EQ(Url(Config(Provider::kTei, "http://tei:8080"), Route::kEmbeddings),
            "http://tei:8080/v1/embeddings");
  // A query string (some gateways want one) survives.
  EXPECT_EQ(Url(Config(Provider::kOpenAI, "https://gw.example/v1?tenant=law"), Route::kChat),
            "https://gw.example/v1/chat/completions?tenant=law");
}

TEST(LlmEndpoint, AzureUrls) {
  EXPECT_EQ(Url(Config(Provider::kAzure, "https://firm.openai.azure.com", "gpt4o-prod"), Route::kChat),
            "https://firm.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions"
            "?api-version=2024-10-21");
  EndpointConfig c = Config(Provider::kAzure,
                            "https://firm.openai.azure.com/openai/deployments/emb-3/embeddings"
                            "?api-version=2024-06-01",
                            "");
  EXPECT_EQ(Url(c, Route::kEmbeddings),
            "https://firm.openai.azure.com/openai/deployments/emb-3/embeddings?api-version=2024-06-01");
  c.api_version = "2025-01-01-preview";  // the flag wins over the URL
  EXPECT_EQ(Url(c, Route::kChat),
            "https://firm.openai.azure.com/openai/deployments/emb-3/chat/completions"
            "?api-version=2025-01-01-preview");

  auto no_deployment = ResolveUrl(Config(Provider::kAzure, "https://firm.openai.azure.com", ""), Route::kChat);
  ASSERT_FALSE(no_deployment.ok());
  EXPECT_NE(no_deployment.status().message().find("deployment"), std::string::npos);
  auto bad_name = ResolveUrl(Config(Provider::kAzure, "https://firm.openai.azure.com", "a/b?c"), Route::kChat);
  ASSERT_FALSE(bad_name.ok());
  auto odd_path = ResolveUrl(Config(Provider::kAzure, "https://firm.openai.azure.com/v1", "d"), Route::kChat);
  ASSERT_FALSE(odd_path.ok());
}

TEST(LlmEndpoint, BadUrlsAreRefusedClearly) {
  for (const char* url : {"", "not a url", "ftp://host/v1", "file:///etc/passwd", "http://"}) {
    auto r = ResolveUrl(Config(Provider::kOpenAI, url), Route::kChat);
    EXPECT_FALSE(r.ok()) << url;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << url;
  }
  // Credentials in the URL: refused, and the message does not repeat them.
  auto r = ResolveUrl(Config(Provider::kOpenAI, "https://me:sk-canary-secret@api.example/v1"), Route::kChat);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("sk-canary-secret"), std::string::npos);
  EXPECT_NE(r.status().message().find("--api-key-env"), std::string::npos);
  auto tei = ResolveUrl(Config(Provider::kTei, "http://tei:8080"), Route::kChat);
  ASSERT_FALSE(tei.ok());
  EXPECT_NE(tei.status().message().find("embeddings only"), std::string::npos);
}

TEST(LlmEndpoint, ProviderNames) {
  for (Provider p : {Provider::kOpenAI, Provider::kAzure, Provider::kOllama, Provider::kVllm, Provider::kTei}) {
    Provider back;
    ASSERT_TRUE(ParseProvider(ProviderName(p), &back));
    EXPECT_EQ(back, p);
  }
  Provider p;
  EXPECT_FALSE(ParseProvider("anthropic", &p));
}

TEST(LlmEndpoint, AuthHeaderPerProvider) {
  EndpointConfig c = Config(Provider::kOpenAI, "https://api.openai.com/v1");
  EXPECT_EQ(AuthHeader(c), "");
  c.key = ApiKey::FromValue("sk-test", "$K");
  EXPECT_EQ(AuthHeader(c), "Authorization: Bearer sk-test");
  c.provider = Provider::kAzure;
  EXPECT_EQ(AuthHeader(c), "api-key: sk-test");
}

TEST(LlmEndpoint, ChatBodyPerProvider) {
  LlmRequest req;
  req.messages = {{"system", "You write search queries."}, {"user", "Question: notice period?"}};
  req.temperature = 0.25;
  req.max_tokens = 77;
  req.json_schema = R"({"type":"object","properties":{"query":{"type":"string"}},"required":["query"]})";
  req.json_schema_name = "search query!";

  auto body = BuildChatBody(Config(Provider::kOpenAI, "u", "gpt-4o-mini"), req);
  ASSERT_TRUE(body.ok());
  json j = json::parse(*body);
  EXPECT_EQ(j["model"], "gpt-4o-mini");
  ASSERT_EQ(j["messages"].size(), 2u);
  EXPECT_EQ(j["messages"][1]["role"], "user");
  EXPECT_EQ(j["messages"][1]["content"], "Question: notice period?");
  EXPECT_DOUBLE_EQ(j["temperature"].get<double>(), 0.25);
  EXPECT_EQ(j["max_completion_tokens"], 77);
  EXPECT_FALSE(j.contains("max_tokens"));
  EXPECT_EQ(j["stream"], false);
  EXPECT_EQ(j["response_format"]["type"], "json_schema");
  EXPECT_EQ(j["response_format"]["json_schema"]["name"], "search_query_");
  EXPECT_EQ(j["response_format"]["json_schema"]["schema"]["required"][0], "query");

  j = json::parse(*BuildChatBody(Config(Provider::kAzure, "u", "deployment"), req));
  EXPECT_FALSE(j.contains("model"));  // the deployment is in the URL
  EXPECT_EQ(j["max_completion_tokens"], 77);

  for (Provider p : {Provider::kOllama, Provider::kVllm}) {
    j = json::parse(*BuildChatBody(Config(p, "u", "llama3.1"), req));
    EXPECT_EQ(j["model"], "llama3.1");
    EXPECT_EQ(j["max_tokens"], 77);
    EXPECT_FALSE(j.contains("max_completion_tokens"));
    EXPECT_EQ(j["response_format"]["json_schema"]["schema"]["type"], "object");
  }

  EndpointConfig plain = Config(Provider::kOpenAI, "u");
  plain.structured_output = false;
  EXPECT_FALSE(json::parse(*BuildChatBody(plain, req)).contains("response_format"));
  req.json_schema.clear();
  EXPECT_FALSE(json::parse(*BuildChatBody(Config(Provider::kOpenAI, "u"), req)).contains("response_format"));
}

TEST(LlmEndpoint, ChatBodyRejectsBadSchemaAndSurvivesBadUtf8) {
  LlmRequest req;
  req.messages = {{"user", std::string("caf\xC3 \xFF bytes")}};
  auto body = BuildChatBody(Config(Provider::kOpenAI, "u"), req);
  ASSERT_TRUE(body.ok());
  EXPECT_TRUE(json::accept(*body));
  req.json_schema = "{not json";
  auto bad = BuildChatBody(Config(Provider::kOpenAI, "u"), req);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  req.json_schema = "[1,2]";
  EXPECT_FALSE(BuildChatBody(Config(Provider::kOpenAI, "u"), req).ok());
}

TEST(LlmEndpoint, EmbeddingsBody) {
  json j = json::parse(BuildEmbeddingsBody(Config(Provider::kOpenAI, "u", "text-embedding-3-small"), {"a", "b"}));
  EXPECT_EQ(j["input"], json::array({"a", "b"}));
  EXPECT_EQ(j["model"], "text-embedding-3-small");
  EXPECT_EQ(j["encoding_format"], "float");
  j = json::parse(BuildEmbeddingsBody(Config(Provider::kTei, "u", ""), {"a"}));
  EXPECT_FALSE(j.contains("model"));
  EXPECT_FALSE(j.contains("encoding_format"));
  j = json::parse(BuildEmbeddingsBody(Config(Provider::kAzure, "u", "dep"), {"a"}));
  EXPECT_FALSE(j.contains("model"));
}

TEST(LlmEndpoint, ParsesChatCompletions) {
  auto r = ParseChatCompletion(R"({"id":"x","object":"chat.completion","model":"gpt-4o-2024",
      "choices":[{"index":0,"message":{"role":"assistant","content":"notice period"},"finish_reason":"stop"}],
      "usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14}})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->content, "notice period");
  EXPECT_EQ(r->model, "gpt-4o-2024");
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->prompt_tokens, 12);
  EXPECT_EQ(r->completion_tokens, 2);

  // Content as parts (some servers), no usage.
  r = ParseChatCompletion(R"({"choices":[{"message":{"content":[{"type":"text","text":"a "},{"type":"text","text":"b"}]}}]})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content, "a b");
  EXPECT_EQ(r->prompt_tokens, -1);
}

TEST(LlmEndpoint, BadChatRepliesGiveClearErrors) {
  struct Case {
    const char* body;
    const char* says;
  } cases[] = {
      {"", "empty"},
      {"<html>Bad gateway</html>", "not valid JSON"},
      {R"({"choices":[{"message":{"content":"cut)", "truncated"},
      {"[1,2]", "not an object"},
      {R"({"error":{"message":"model overloaded","type":"server_error"}})", "model overloaded"},
      {R"({"object":"error","message":"vllm says no"})", "vllm says no"},
      {R"({"id":"x"})", "no choices"},
      {R"({"choices":[]})", "no choices"},
      {R"({"choices":[{"text":"legacy completion"}]})", "no choices[0].message"},
      {R"({"choices":[{"message":{"content":null,"refusal":"I cannot help"}}]})", "refused"},
      {R"({"choices":[{"message":{"content":42}}]})", "no text"},
      // Fields of unexpected types (found by fuzzing: json::value() throws).
      {R"({"object":{"prompt_tokens":4}})", "no choices"},
      {R"({"object":"error","message":7})", "no choices"},
      {R"({"choices":[{"message":{"content":[{"type":5,"text":"x"},{"type":"text","text":9}]}}]})", ""},
  };
  for (const Case& c : cases) {
    auto r = ParseChatCompletion(c.body);
    if (*c.says == '\0') {  // odd parts are skipped: an empty content
      ASSERT_TRUE(r.ok()) << c.body;
      EXPECT_EQ(r->content, "");
      continue;
    }
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), Status::Code::kIOError) << c.body;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.body << " -> " << r.status().message();
  }
}

TEST(LlmEndpoint, ParsesEmbeddingsInIndexOrder) {
  auto r = ParseEmbeddings(R"({"object":"list","model":"e5","data":[
      {"object":"embedding","index":1,"embedding":[0.0,1.0]},
      {"object":"embedding","index":0,"embedding":[1.0,0.5]}]})",
                           2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "e5");
  EXPECT_EQ(r->vectors[0], (std::vector<float>{1.0f, 0.5f}));
  EXPECT_EQ(r->vectors[1], (std::vector<float>{0.0f, 1.0f}));
  // No index fields: position order.
  r = ParseEmbeddings(R"({"data":[{"embedding":[1]},{"embedding":[2]}]})", 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->vectors[1][0], 2.0f);
}

TEST(LlmEndpoint, BadEmbeddingRepliesGiveClearErrors) {
  struct Case {
    const char* body;
    size_t expected;
    const char* says;
  } cases[] = {
      {R"({"data":[{"index":0,"embedding":[1,2]}]})", 2, "1 vectors for 2 texts"},
      {R"({"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]})", 2, "twice"},
      {R"({"data":[{"index":5,"embedding":[1]}]})", 1, "out of range"},
      {R"({"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1]}]})", 2, "different sizes"},
      {R"({"data":[{"index":0,"embedding":"AACAPw=="}]})", 1, "base64"},
      {R"({"data":[{"index":0,"embedding":[1,"x"]}]})", 1, "other than numbers"},
      {R"({"data":[{"index":0,"embedding":[]}]})", 1, "not a list of numbers"},
      {R"({"data":[{"index":0}]})", 1, "no embedding"},
      {R"({"object":"list"})", 1, "no data"},
      {R"({"error":"model not loaded"})", 1, "model not loaded"},
      {R"({"data":[{"index":0,"embedding":[1,2)", 1, "truncated"},
  };
  for (const Case& c : cases) {
    auto r = ParseEmbeddings(c.body, c.expected);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.body << " -> " << r.status().message();
  }
}

TEST(LlmEndpoint, ServerErrorMessages) {
  EXPECT_EQ(ServerErrorMessage(R"({"error":{"message":"Rate limit reached","type":"requests"}})"),
            "Rate limit reached");
  EXPECT_EQ(ServerErrorMessage(R"({"error":"model \"x\" not found"})"), "model \"x\" not found");
  EXPECT_EQ(ServerErrorMessage(R"({"object":"error","message":"bad","code":400})"), "bad");
  EXPECT_EQ(ServerErrorMessage(R"({"detail":"Not authenticated"})"), "Not authenticated");
  EXPECT_EQ(ServerErrorMessage("upstream\r\n\tfailed\x01"), "upstream failed");
  EXPECT_EQ(ServerErrorMessage(""), "");
  EXPECT_EQ(ServerErrorMessage(R"({"object":{"a":1}})"), R"({"object":{"a":1}})");
  std::string long_text(2000, 'x');
  EXPECT_LE(ServerErrorMessage(long_text).size(), 310u);
  EXPECT_EQ(HttpStatusText(429), "429 Too Many Requests");
  EXPECT_EQ(HttpStatusText(599), "599");
}

TEST(LlmEndpoint, ApiKeyFromEnvAndRedaction) {
  ::unsetenv("FOLDBACK_TEST_UNSET_KEY");
  auto missing = ApiKey::FromEnv("FOLDBACK_TEST_UNSET_KEY");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("$FOLDBACK_TEST_UNSET_KEY"), std::string::npos);

  const std::string canary = "sk-canary-0123456789abcdefghijklmnopqrstuv";
  ::setenv("FOLDBACK_TEST_CANARY_KEY", (canary + "\n").c_str(), 1);
  auto key = ApiKey::FromEnv("FOLDBACK_TEST_CANARY_KEY");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->value(), canary);  // the pasted newline is gone
  EXPECT_EQ(key->source(), "$FOLDBACK_TEST_CANARY_KEY");
  ::unsetenv("FOLDBACK_TEST_CANARY_KEY");

  std::string echoed = "Incorrect API key provided: " + canary + ". Cut: " + canary.substr(5, 20) + "...";
  std::string redacted = key->Redact(echoed);
  EXPECT_EQ(redacted.find(canary), std::string::npos);
  EXPECT_EQ(redacted.find(canary.substr(5, 20)), std::string::npos);
  EXPECT_NE(redacted.find("[REDACTED]"), std::string::npos);
  EXPECT_EQ(ApiKey().Redact("nothing to hide"), "nothing to hide");

  // Copies and moves keep working; the moved-from key is empty.
  ApiKey copy = *key;
  ApiKey moved = std::move(copy);
  EXPECT_EQ(moved.value(), canary);
  EXPECT_TRUE(copy.empty());  // NOLINT(bugprone-use-after-move): documented state
}

// The retry policy's arithmetic, the status mapping and Retry-After are the
// core's: tests/unit/wire_test.cc.

}  // namespace
}  // namespace foldback::llm
