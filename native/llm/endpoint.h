// Remote model endpoints the native host talks to: OpenAI-compatible chat
// completions and embeddings (OpenAI, Azure OpenAI, Ollama, vLLM, HuggingFace
// text-embeddings-inference).
//
// This file is pure: it builds URLs, headers and request bodies and parses
// replies. The HTTP itself lives in llm_client.h.
//
// Secrets: the API key lives only in an ApiKey, in memory. Nothing in this
// file puts it anywhere but the one authentication header; every message that
// could carry server-echoed text goes through ApiKey::Redact first.
#ifndef FOLDBACK_NATIVE_LLM_ENDPOINT_H_
#define FOLDBACK_NATIVE_LLM_ENDPOINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/ask.h"
#include "foldback/status.h"

namespace foldback::llm {

// How an endpoint wants to be spoken to.
//   kOpenAI  api.openai.com or any OpenAI-compatible server: Bearer key,
//            `max_completion_tokens`, `response_format` json_schema.
//   kAzure   Azure OpenAI: deployment URL with ?api-version=, `api-key`
//            header, `max_completion_tokens`, `response_format` json_schema.
//   kOllama  Ollama's OpenAI-compatible /v1: `max_tokens`; Ollama (>= 0.5)
//            turns `response_format` json_schema into its own `format`.
//   kVllm    vLLM's OpenAI-compatible server: `max_tokens`,
//            `response_format` json_schema (guided decoding).
//   kTei     HuggingFace text-embeddings-inference (embeddings only): its
//            OpenAI-compatible /v1/embeddings route.
enum class Provider : int { kOpenAI = 0, kAzure = 1, kOllama = 2, kVllm = 3, kTei = 4 };
const char* ProviderName(Provider provider);  // "openai" | "azure" | "ollama" | "vllm" | "tei"
bool ParseProvider(std::string_view name, Provider* provider);

// Azure OpenAI data-plane API version used when none is given (GA; supports
// structured outputs and max_completion_tokens).
inline constexpr const char* kDefaultAzureApiVersion = "2024-10-21";

// An API key held in memory. It is never written anywhere by foldback; the
// only place its value leaves is the authentication header of a request.
// Copies are allowed (an LlmClient keeps one); every copy wipes its buffer
// when destroyed.
class ApiKey {
 public:
  ApiKey() = default;
  ~ApiKey();
  ApiKey(const ApiKey& other) = default;
  ApiKey& operator=(const ApiKey& other);
  ApiKey(ApiKey&& other) noexcept;
  ApiKey& operator=(ApiKey&& other) noexcept;

  // `source` says where the key came from, for messages: "$OPENAI_API_KEY",
  // "the host secret store". It must not contain the key.
  static ApiKey FromValue(std::string value, std::string source);
  // Reads the environment variable `var`. NotFound when it is unset or empty
  // (the message names the variable, never a value).
  static Result<ApiKey> FromEnv(const std::string& var);

  bool empty() const { return value_.empty(); }
  // Where the key came from ("" when none was configured).
  const std::string& source() const { return source_; }
  // The secret itself. Only the HTTP layer should call this.
  const std::string& value() const { return value_; }

  // `text` with every occurrence of the key — and of any 12-character piece
  // of it, which catches keys cut or wrapped by a server echoing them —
  // replaced by "[REDACTED]". Returns `text` unchanged when the key is empty.
  std::string Redact(std::string_view text) const;

 private:
  void Wipe();
  std::string value_;
  std::string source_;
};

// One endpoint as the user configured it.
struct EndpointConfig {
  Provider provider = Provider::kOpenAI;
  // OpenAI, Ollama, vLLM, TEI: the API base URL, e.g. https://api.openai.com/v1
  // or http://localhost:11434/v1. A URL with no path gets /v1 appended; a URL
  // already ending in /chat/completions or /embeddings is used as is.
  // Azure: the resource endpoint https://{resource}.openai.azure.com (the
  // deployment is `model`), or a deployment URL
  // https://{resource}.openai.azure.com/openai/deployments/{deployment}
  // [/chat/completions|/embeddings][?api-version=V].
  // Credentials never go in the URL (rejected, see ResolveUrl).
  std::string url;
  // The model name (sent in the body). Azure: the deployment name, unless the
  // URL names the deployment; Azure bodies carry no model. TEI: optional.
  std::string model;
  // Azure only: the api-version query parameter. Default: kDefaultAzureApiVersion
  // (or the one in the URL).
  std::string api_version;
  ApiKey key;
  // Send `response_format` with the request's JSON schema when it has one.
  // Turn off for servers that reject it. Default: true.
  bool structured_output = true;
  // Texts per /embeddings request; a bigger embedding need is split and the
  // requests run in parallel. Default: 64 (TEI's own default limit is 32:
  // set 32 for TEI).
  uint32_t embed_batch = 64;
};

enum class Route : int { kChat = 0, kEmbeddings = 1 };

// The full request URL of `route` on `config` (no secrets in it).
// InvalidArgument for: an empty URL, a scheme other than http/https, no host,
// credentials in the URL ("user:pass@host": keys go in --api-key-env), an
// Azure URL without a deployment, TEI for chat.
Result<std::string> ResolveUrl(const EndpointConfig& config, Route route);

// The authentication header line ("Authorization: Bearer …" or
// "api-key: …"), or "" when there is no key. Contains the secret: pass it to
// the HTTP layer only.
std::string AuthHeader(const EndpointConfig& config);

// JSON body of a chat completion request. InvalidArgument when
// request.json_schema is not a JSON object.
Result<std::string> BuildChatBody(const EndpointConfig& config, const LlmRequest& request);

// JSON body of an embeddings request for `texts`.
std::string BuildEmbeddingsBody(const EndpointConfig& config, const std::vector<std::string>& texts);

// A parsed chat completion.
struct ChatReply {
  std::string content;        // choices[0].message.content
  std::string model;          // "model", when present
  std::string finish_reason;  // choices[0].finish_reason, when present
  int64_t prompt_tokens = -1;      // usage.prompt_tokens, -1 when absent
  int64_t completion_tokens = -1;  // usage.completion_tokens, -1 when absent
};

// Parses a chat completion (OpenAI shape: choices[0].message.content; a
// content given as an array of text parts is joined). IOError with a clear
// message for invalid JSON, a truncated body, an error object, a refusal, a
// missing or non-string content. Never throws.
Result<ChatReply> ParseChatCompletion(std::string_view body);

struct EmbeddingsReply {
  std::vector<std::vector<float>> vectors;  // in input order
  std::string model;
};

// Parses an embeddings reply (data[i].embedding as a float array or a
// base64 string of little-endian float32, ordered by data[i].index).
// IOError when the JSON is invalid, the count is not `expected`, the indexes
// are not 0..expected-1, dimensions differ, or a value is not finite.
Result<EmbeddingsReply> ParseEmbeddings(std::string_view body, size_t expected);

// The human part of an error reply: error.message (OpenAI, Azure, vLLM),
// error (Ollama, TEI) or message; else the body's start. Control characters
// dropped, cut at 300 bytes. NOT redacted: callers pass it through
// ApiKey::Redact.
std::string ServerErrorMessage(std::string_view body);

// "401 Unauthorized", "429 Too Many Requests", "599" for an unknown code.
std::string HttpStatusText(long status);

}  // namespace foldback::llm

#endif  // FOLDBACK_NATIVE_LLM_ENDPOINT_H_
