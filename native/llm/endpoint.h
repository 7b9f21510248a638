// Remote model endpoints the native host talks to: OpenAI-compatible chat
// completions and embeddings (OpenAI, Azure OpenAI, Ollama, vLLM, HuggingFace
// text-embeddings-inference).
//
// The protocol itself — URLs, bodies, replies, statuses, retries — is the
// core's (foldback/wire.h), shared with the C API and the JS host; this file
// adds what only the native host has: the API key in memory, and the
// endpoint configuration that carries it.
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
#include "foldback/wire.h"

namespace foldback::llm {

// The core's protocol, under the names the native host has always used.
using wire::ChatReply;
using wire::EmbeddingsReply;
using wire::HttpStatusText;
using wire::kDefaultAzureApiVersion;
using wire::ParseChatCompletion;
using wire::ParseEmbeddings;
using wire::ParseProvider;
using wire::Provider;
using wire::ProviderName;
using wire::Route;
using wire::ServerErrorMessage;

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

// One endpoint as the user configured it (wire::Endpoint: provider, url,
// model, api_version, structured_output, embed_batch), with its key.
struct EndpointConfig : wire::Endpoint {
  ApiKey key;
};

// The core's request building; an EndpointConfig is a wire::Endpoint.
using wire::BuildChatBody;
using wire::BuildEmbeddingsBody;
using wire::ResolveUrl;

// The authentication header line ("Authorization: Bearer …" or
// "api-key: …"), or "" when there is no key. Contains the secret: pass it to
// the HTTP layer only.
std::string AuthHeader(const EndpointConfig& config);

}  // namespace foldback::llm

#endif  // FOLDBACK_NATIVE_LLM_ENDPOINT_H_
