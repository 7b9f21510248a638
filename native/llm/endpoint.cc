#include "llm/endpoint.h"

#include <curl/curl.h>
#include <strings.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

namespace foldback::llm {
namespace {

using nlohmann::json;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// j[key] when it is a string, else "". (json::value() throws when the key
// holds another type: a reply must never get that far.)
std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Keeps the JSON dump total: invalid UTF-8 in prompts becomes U+FFFD instead
// of an exception.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Cuts `s` at `max` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s + "…";
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      if (!space && !out.empty()) out.push_back(' ');
      space = true;
      continue;
    }
    if (c == ' ') {
      if (space) continue;
      space = true;
    } else {
      space = false;
    }
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

// A URL part, or "" when absent.
std::string UrlPart(CURLU* u, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(u, part, &value, 0) != CURLUE_OK || value == nullptr) return "";
  std::string s(value);
  curl_free(value);
  return s;
}

bool ValidDeployment(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// `api-version` from a query string "a=b&api-version=V&…".
std::string QueryParam(const std::string& query, const std::string& name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string item = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    if (item.compare(0, name.size() + 1, name + "=") == 0) return item.substr(name.size() + 1);
    if (amp == std::string::npos) break;
    pos = amp + 1;
  }
  return "";
}

// Schema names must match ^[a-zA-Z0-9_-]{1,64}$ (OpenAI, Azure).
std::string SchemaName(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    out.push_back(ok ? c : '_');
    if (out.size() == 64) break;
  }
  return out.empty() ? "reply" : out;
}

}  // namespace

// ------------------------------------------------------------------ Provider

const char* ProviderName(Provider provider) {
  switch (provider) {
    case Provider::kOpenAI: return "openai";
    case Provider::kAzure: return "azure";
    case Provider::kOllama: return "ollama";
    case Provider::kVllm: return "vllm";
    case Provider::kTei: return "tei";
  }
  return "?";
}

bool ParseProvider(std::string_view name, Provider* provider) {
  for (Provider p : {Provider::kOpenAI, Provider::kAzure, Provider::kOllama, Provider::kVllm,
                     Provider::kTei}) {
    if (name == ProviderName(p)) {
      *provider = p;
      return true;
    }
  }
  return false;
}

// ------------------------------------------------------------------ ApiKey

ApiKey::~ApiKey() { Wipe(); }

ApiKey& ApiKey::operator=(const ApiKey& other) {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
    source_ = other.source_;
  }
  return *this;
}

ApiKey::ApiKey(ApiKey&& other) noexcept : value_(other.value_), source_(other.source_) {
  other.Wipe();
}

ApiKey& ApiKey::operator=(ApiKey&& other) noexcept {
  if (this != &other) {
    Wipe();
    value_ = other.value_;
    source_ = other.source_;
    other.Wipe();
  }
  return *this;
}

void ApiKey::Wipe() {
  if (!value_.empty()) explicit_bzero(value_.data(), value_.size());
  value_.clear();
}

ApiKey ApiKey::FromValue(std::string value, std::string source) {
  ApiKey key;
  key.value_ = value;
  if (!value.empty()) explicit_bzero(value.data(), value.size());
  key.source_ = std::move(source);
  return key;
}

Result<ApiKey> ApiKey::FromEnv(const std::string& var) {
  if (var.empty()) return Status::InvalidArgument("no environment variable named for the API key");
  const char* value = std::getenv(var.c_str());
  if (value == nullptr || *value == '\0') {
    return Status::NotFound("environment variable $" + var + " (the API key) is not set or empty");
  }
  std::string v(value);
  // A key pasted with its newline still works.
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
  return FromValue(std::move(v), "$" + var);
}

std::string ApiKey::Redact(std::string_view text) const {
  std::string out(text);
  if (value_.size() < 4) return out;
  static constexpr std::string_view kMark = "[REDACTED]";
  auto replace_all = [&out](std::string_view needle) {
    size_t pos = 0;
    while ((pos = out.find(needle, pos)) != std::string::npos) {
      out.replace(pos, needle.size(), kMark);
      pos += kMark.size();
    }
  };
  replace_all(value_);
  constexpr size_t kPiece = 12;
  if (value_.size() > kPiece) {
    for (size_t i = 0; i + kPiece <= value_.size(); ++i) {
      replace_all(std::string_view(value_).substr(i, kPiece));
    }
  }
  return out;
}

// ------------------------------------------------------------------ URLs

Result<std::string> ResolveUrl(const EndpointConfig& config, Route route) {
  if (config.url.empty()) return Status::InvalidArgument("no endpoint URL given");
  if (config.provider == Provider::kTei && route == Route::kChat) {
    return Status::InvalidArgument("text-embeddings-inference serves embeddings only, not chat");
  }
  CurlUrl u(curl_url());
  if (!u) return Status::Internal("out of memory parsing a URL");
  // Keys never belong in URLs; check before anything can echo the URL.
  CURLUcode rc = curl_url_set(u.get(), CURLUPART_URL, config.url.c_str(), 0);
  if (rc != CURLUE_OK) {
    return Status::InvalidArgument(std::string("endpoint URL is not valid (") + curl_url_strerror(rc) +
                                   "); expected e.g. https://api.openai.com/v1");
  }
  if (!UrlPart(u.get(), CURLUPART_USER).empty() || !UrlPart(u.get(), CURLUPART_PASSWORD).empty()) {
    return Status::InvalidArgument(
        "endpoint URL carries credentials (user:password@host); put the API key in an environment "
        "variable (--api-key-env) instead");
  }
  std::string scheme = UrlPart(u.get(), CURLUPART_SCHEME);
  if (strcasecmp(scheme.c_str(), "http") != 0 && strcasecmp(scheme.c_str(), "https") != 0) {
    return Status::InvalidArgument("endpoint URL must start with http:// or https://");
  }
  if (UrlPart(u.get(), CURLUPART_HOST).empty()) {
    return Status::InvalidArgument("endpoint URL has no host");
  }
  curl_url_set(u.get(), CURLUPART_FRAGMENT, nullptr, 0);
  std::string path = UrlPart(u.get(), CURLUPART_PATH);
  std::string query = UrlPart(u.get(), CURLUPART_QUERY);
  const char* suffix = route == Route::kChat ? "/chat/completions" : "/embeddings";

  // Strip a route the user may have included, and trailing slashes.
  auto strip = [](std::string p) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    for (const char* s : {"/chat/completions", "/embeddings"}) {
      if (EndsWith(p, s)) {
        p.resize(p.size() - std::strlen(s));
        break;
      }
    }
    while (!p.empty() && p.back() == '/') p.pop_back();
    return p;
  };

  if (config.provider != Provider::kAzure) {
    std::string base = strip(path);
    if (base.empty()) base = "/v1";
    curl_url_set(u.get(), CURLUPART_PATH, (base + suffix).c_str(), 0);
  } else {
    std::string base = strip(path);
    std::string deployment;
    static constexpr std::string_view kDeployments = "/openai/deployments/";
    size_t at = base.find(kDeployments);
    if (at != std::string::npos) {
      deployment = base.substr(at + kDeployments.size());
      if (deployment.find('/') != std::string::npos) deployment.resize(deployment.find('/'));
    } else if (base.empty() || base == "/openai") {
      deployment = config.model;
    } else {
      return Status::InvalidArgument(
          "Azure endpoint URL should be https://RESOURCE.openai.azure.com or a deployment URL "
          ".../openai/deployments/DEPLOYMENT");
    }
    if (deployment.empty()) {
      return Status::InvalidArgument(
          "Azure OpenAI needs a deployment: give --model DEPLOYMENT or a deployment URL");
    }
    if (!ValidDeployment(deployment)) {
      return Status::InvalidArgument("Azure deployment name \"" + deployment +
                                     "\" has characters other than letters, digits, '-', '_', '.'");
    }
    std::string version = config.api_version;
    if (version.empty()) version = QueryParam(query, "api-version");
    if (version.empty()) version = kDefaultAzureApiVersion;
    std::string full = "/openai/deployments/" + deployment + suffix;
    curl_url_set(u.get(), CURLUPART_PATH, full.c_str(), 0);
    curl_url_set(u.get(), CURLUPART_QUERY, nullptr, 0);
    for (char c : version) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '.' || c == '_';
      if (!ok) return Status::InvalidArgument("Azure api-version \"" + version + "\" is not a version");
    }
    std::string q = "api-version=" + version;
    curl_url_set(u.get(), CURLUPART_QUERY, q.c_str(), 0);
  }
  std::string out = UrlPart(u.get(), CURLUPART_URL);
  if (out.empty()) return Status::InvalidArgument("endpoint URL could not be assembled");
  return out;
}

std::string AuthHeader(const EndpointConfig& config) {
  if (config.key.empty()) return "";
  if (config.provider == Provider::kAzure) return "api-key: " + config.key.value();
  return "Authorization: Bearer " + config.key.value();
}

// ------------------------------------------------------------------ bodies

Result<std::string> BuildChatBody(const EndpointConfig& config, const LlmRequest& request) {
  json body = json::object();
  if (config.provider != Provider::kAzure && !config.model.empty()) body["model"] = config.model;
  json messages = json::array();
  for (const ChatMessage& m : request.messages) {
    messages.push_back({{"role", m.role}, {"content", m.content}});
  }
  body["messages"] = std::move(messages);
  body["temperature"] = request.temperature;
  // OpenAI deprecated max_tokens (reasoning models reject it); Ollama and
  // vLLM read max_tokens.
  bool new_name = config.provider == Provider::kOpenAI || config.provider == Provider::kAzure;
  body[new_name ? "max_completion_tokens" : "max_tokens"] = request.max_tokens;
  body["stream"] = false;
  if (!request.json_schema.empty() && config.structured_output) {
    json schema = json::parse(request.json_schema, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded() || !schema.is_object()) {
      return Status::InvalidArgument("the request's JSON schema is not a JSON object");
    }
    body["response_format"] = {
        {"type", "json_schema"},
        {"json_schema", {{"name", SchemaName(request.json_schema_name)}, {"schema", schema}}}};
  }
  return Dump(body);
}

std::string BuildEmbeddingsBody(const EndpointConfig& config, const std::vector<std::string>& texts) {
  json body = json::object();
  body["input"] = texts;
  if (config.provider != Provider::kAzure && !config.model.empty()) body["model"] = config.model;
  if (config.provider != Provider::kTei) body["encoding_format"] = "float";
  return Dump(body);
}

// ------------------------------------------------------------------ replies

namespace {

// Parses `body` or says clearly why not (truncated vs. not JSON).
Result<json> ParseJsonBody(std::string_view body) {
  if (body.empty()) return Status::IOError("endpoint sent an empty reply body");
  try {
    return json::parse(body.begin(), body.end());
  } catch (const json::parse_error& e) {
    if (e.byte >= body.size()) {
      return Status::IOError("endpoint reply is truncated: its JSON ends early (" +
                             std::to_string(body.size()) + " bytes received)");
    }
    return Status::IOError("endpoint reply is not valid JSON (error at byte " +
                           std::to_string(e.byte) + " of " + std::to_string(body.size()) + ")");
  } catch (const std::exception& e) {
    return Status::IOError("endpoint reply could not be read as JSON");
  }
}

std::string ErrorObjectMessage(const json& j) {
  if (j.contains("error")) {
    const json& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      return e["message"].get<std::string>();
    }
    return Dump(e);
  }
  if (StringField(j, "object") == "error" && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  return "";
}

}  // namespace

Result<ChatReply> ParseChatCompletion(std::string_view body) {
  auto parsed = ParseJsonBody(body);
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  if (!j.is_object()) return Status::IOError("endpoint reply is JSON but not an object");
  std::string err = ErrorObjectMessage(j);
  if (!err.empty() && !j.contains("choices")) {
    return Status::IOError("endpoint reported an error: " + CutUtf8(Printable(err), 300));
  }
  ChatReply reply;
  if (j.contains("model") && j["model"].is_string()) reply.model = j["model"].get<std::string>();
  if (j.contains("usage") && j["usage"].is_object()) {
    const json& u = j["usage"];
    if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer()) {
      reply.prompt_tokens = u["prompt_tokens"].get<int64_t>();
    }
    if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer()) {
      reply.completion_tokens = u["completion_tokens"].get<int64_t>();
    }
  }
  if (!j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) {
    return Status::IOError("endpoint reply has no choices (not a chat completion)");
  }
  const json& choice = j["choices"][0];
  if (!choice.is_object() || !choice.contains("message") || !choice["message"].is_object()) {
    return Status::IOError("endpoint reply has no choices[0].message (not a chat completion)");
  }
  if (choice.contains("finish_reason") && choice["finish_reason"].is_string()) {
    reply.finish_reason = choice["finish_reason"].get<std::string>();
  }
  const json& message = choice["message"];
  const json content = message.contains("content") ? message["content"] : json();
  if (content.is_string()) {
    reply.content = content.get<std::string>();
  } else if (content.is_array()) {
    for (const json& part : content) {
      if (StringField(part, "type") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        reply.content += part["text"].get<std::string>();
      }
    }
  } else if (message.contains("refusal") && message["refusal"].is_string()) {
    return Status::IOError("the model refused: " +
                           CutUtf8(Printable(message["refusal"].get<std::string>()), 300));
  } else {
    return Status::IOError("endpoint reply has no text in choices[0].message.content");
  }
  return reply;
}

Result<EmbeddingsReply> ParseEmbeddings(std::string_view body, size_t expected) {
  auto parsed = ParseJsonBody(body);
  if (!parsed.ok()) return parsed.status();
  const json& j = *parsed;
  if (!j.is_object()) return Status::IOError("embeddings reply is JSON but not an object");
  std::string err = ErrorObjectMessage(j);
  if (!err.empty() && !j.contains("data")) {
    return Status::IOError("endpoint reported an error: " + CutUtf8(Printable(err), 300));
  }
  if (!j.contains("data") || !j["data"].is_array()) {
    return Status::IOError("embeddings reply has no data array");
  }
  const json& data = j["data"];
  if (data.size() != expected) {
    return Status::IOError("embeddings reply has " + std::to_string(data.size()) +
                           " vectors for " + std::to_string(expected) + " texts");
  }
  EmbeddingsReply reply;
  if (j.contains("model") && j["model"].is_string()) reply.model = j["model"].get<std::string>();
  reply.vectors.resize(expected);
  std::vector<bool> seen(expected, false);
  size_t dim = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const json& item = data[i];
    if (!item.is_object() || !item.contains("embedding")) {
      return Status::IOError("embeddings reply: data[" + std::to_string(i) + "] has no embedding");
    }
    size_t index = i;
    if (item.contains("index")) {
      if (!item["index"].is_number_unsigned() && !item["index"].is_number_integer()) {
        return Status::IOError("embeddings reply: data[" + std::to_string(i) + "].index is not an integer");
      }
      int64_t idx = item["index"].get<int64_t>();
      if (idx < 0 || static_cast<size_t>(idx) >= expected) {
        return Status::IOError("embeddings reply: index " + std::to_string(idx) + " out of range");
      }
      index = static_cast<size_t>(idx);
    }
    if (seen[index]) {
      return Status::IOError("embeddings reply: index " + std::to_string(index) + " appears twice");
    }
    seen[index] = true;
    const json& e = item["embedding"];
    if (e.is_string()) {
      return Status::IOError(
          "embeddings reply is base64-encoded; foldback asks for floats (encoding_format=float)");
    }
    if (!e.is_array() || e.empty()) {
      return Status::IOError("embeddings reply: data[" + std::to_string(i) + "].embedding is not a list of numbers");
    }
    std::vector<float>& v = reply.vectors[index];
    v.reserve(e.size());
    for (const json& x : e) {
      if (!x.is_number()) {
        return Status::IOError("embeddings reply: a vector holds something other than numbers");
      }
      double d = x.get<double>();
      if (!std::isfinite(d)) return Status::IOError("embeddings reply: a vector holds a non-finite value");
      v.push_back(static_cast<float>(d));
    }
    if (dim == 0) dim = v.size();
    if (v.size() != dim) {
      return Status::IOError("embeddings reply: vectors of different sizes (" + std::to_string(dim) +
                             " and " + std::to_string(v.size()) + ")");
    }
  }
  return reply;
}

std::string ServerErrorMessage(std::string_view body) {
  if (body.empty()) return "";
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  std::string msg;
  if (!j.is_discarded() && j.is_object()) {
    msg = ErrorObjectMessage(j);
    if (msg.empty() && j.contains("message") && j["message"].is_string()) msg = j["message"].get<std::string>();
    if (msg.empty() && j.contains("detail")) msg = j["detail"].is_string() ? j["detail"].get<std::string>() : Dump(j["detail"]);
  }
  if (msg.empty()) msg = std::string(body.substr(0, 600));
  return CutUtf8(Printable(msg), 300);
}

std::string HttpStatusText(long status) {
  const char* reason = nullptr;
  switch (status) {
    case 200: reason = "OK"; break;
    case 301: reason = "Moved Permanently"; break;
    case 302: reason = "Found"; break;
    case 307: reason = "Temporary Redirect"; break;
    case 308: reason = "Permanent Redirect"; break;
    case 400: reason = "Bad Request"; break;
    case 401: reason = "Unauthorized"; break;
    case 403: reason = "Forbidden"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 408: reason = "Request Timeout"; break;
    case 409: reason = "Conflict"; break;
    case 413: reason = "Payload Too Large"; break;
    case 415: reason = "Unsupported Media Type"; break;
    case 422: reason = "Unprocessable Entity"; break;
    case 429: reason = "Too Many Requests"; break;
    case 500: reason = "Internal Server Error"; break;
    case 501: reason = "Not Implemented"; break;
    case 502: reason = "Bad Gateway"; break;
    case 503: reason = "Service Unavailable"; break;
    case 504: reason = "Gateway Timeout"; break;
    default: break;
  }
  std::string s = std::to_string(status);
  if (reason) s += std::string(" ") + reason;
  return s;
}

}  // namespace foldback::llm
