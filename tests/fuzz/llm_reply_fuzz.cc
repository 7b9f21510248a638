// Fuzz target: what an LLM or embeddings endpoint sends back — chat
// completions, embeddings replies, error bodies, Retry-After values — and
// the key redactor. Replies come from the network: none may crash us, and
// the redactor must never let the key through.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "llm/endpoint.h"
#include "llm/llm_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback::llm;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)ParseChatCompletion(in);
  (void)ParseEmbeddings(in, size == 0 ? 0 : data[0] % 8);
  std::string msg = ServerErrorMessage(in);
  if (msg.size() > 310) std::abort();  // 300 bytes and an ellipsis

  // Header values: the first line as retry-after-ms, the second as Retry-After.
  size_t nl = in.find('\n');
  std::string first(in.substr(0, nl));
  std::string second(nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1, 200));
  (void)foldback::wire::ParseRetryAfterMs(first, second, 1700000000000.0);
  (void)foldback::wire::ShouldRetryStatus(static_cast<long>(size), first);
  // The core's URL parser on hostile URLs, and a whole response read.
  foldback::wire::Endpoint url_ep;
  url_ep.url = first;
  url_ep.provider = size % 2 ? Provider::kAzure : Provider::kOpenAI;
  (void)foldback::wire::ResolveUrl(url_ep, Route::kChat);
  foldback::wire::RequestContext rc;
  foldback::wire::HttpResponse resp;
  resp.status = 100 + static_cast<long>(size % 500);
  resp.headers.push_back({"retry-after", second});
  resp.body = in;
  (void)foldback::wire::ReadResponse(rc, resp);

  // The redactor: whatever surrounds it, the key never survives.
  static const ApiKey key = ApiKey::FromValue("sk-fuzz-0123456789abcdefghij", "$FUZZ");
  std::string text = std::string(in) + key.value() + std::string(in);
  if (key.Redact(text).find(key.value()) != std::string::npos) std::abort();

  // Request bodies built from hostile prompts and schemas stay valid JSON.
  EndpointConfig c;
  c.model = first;
  foldback::LlmRequest req;
  req.messages.push_back({"user", std::string(in)});
  req.json_schema = std::string(in);
  req.json_schema_name = first;
  (void)BuildChatBody(c, req);
  (void)BuildEmbeddingsBody(c, {std::string(in)});
  return 0;
}
