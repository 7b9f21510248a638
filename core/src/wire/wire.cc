// The wire protocol of remote models (foldback/wire.h): URLs, bodies,
// replies, the status mapping and the retry policy. No I/O, no clock.
#include "foldback/wire.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "foldback/redact.h"

namespace foldback::wire {
namespace {

using nlohmann::json;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// j[key] when it is a string, else "".
std::string StringField(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Total JSON dump: invalid UTF-8 in prompts becomes U+FFFD.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Cuts `s` at `max` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  s.resize(n);
  return s + "…";
}

// Control characters dropped, whitespace runs squeezed.
std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F || c == ' ') {
      if (!space && !out.empty()) out.push_back(' ');
      space = true;
      continue;
    }
    space = false;
    out.push_back(c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool IsToken(char c, bool dot) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || (dot && c == '.');
}

// ------------------------------------------------------------------ URLs

struct Url {
  std::string scheme;     // lower-case
  std::string authority;  // host[:port], host lower-cased
  std::string path;       // "" or starting with '/'
  std::string query;      // without '?'; has_query tells an empty one
  bool has_query = false;
  std::string Assemble() const {
    return scheme + "://" + authority + path + (has_query ? "?" + query : "");
  }
};

Result<Url> SplitUrl(std::string_view text) {
  static constexpr const char* kExample = "; expected e.g. https://api.openai.com/v1";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) {
      return Status::InvalidArgument(std::string("endpoint URL is not valid (it holds spaces or control characters)") +
                                     kExample);
    }
  }
  size_t sep = text.find("://");
  bool scheme_ok = sep != std::string_view::npos && sep > 0 &&
                   ((text[0] >= 'a' && text[0] <= 'z') || (text[0] >= 'A' && text[0] <= 'Z'));
  for (size_t i = 0; scheme_ok && i < sep; ++i) {
    char c = text[i];
    scheme_ok = IsToken(c, true) || c == '+';
  }
  if (!scheme_ok) return Status::InvalidArgument(std::string("endpoint URL is not valid") + kExample);
  Url u;
  u.scheme = LowerAscii(text.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https") {
    return Status::InvalidArgument("endpoint URL must start with http:// or https://");
  }
  std::string_view rest = text.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (authority.find('@') != std::string_view::npos) {
    // Never repeat the URL: the part before '@' is a secret.
    return Status::InvalidArgument(
        "endpoint URL carries credentials (user:password@host); give the API key separately "
        "(--api-key-env VAR, or the host's key option) instead");
  }
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("endpoint URL has an unclosed [IPv6] host");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Status::InvalidArgument(std::string("endpoint URL is not valid") + kExample);
      port = after.substr(1);
    }
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || host == "[]") return Status::InvalidArgument("endpoint URL has no host");
  for (char c : host) {
    if (c == '\\' || c == '%' || c == '<' || c == '>' || c == '"' || c == '^' || c == '`' || c == '{' ||
        c == '|' || c == '}') {
      return Status::InvalidArgument(std::string("endpoint URL has a host that is not valid") + kExample);
    }
  }
  if (!port.empty()) {
    long value = 0;
    for (char c : port) {
      if (c < '0' || c > '9' || value > 65535) return Status::InvalidArgument("endpoint URL has a port that is not a number");
      value = value * 10 + (c - '0');
    }
    if (value > 65535) return Status::InvalidArgument("endpoint URL has a port beyond 65535");
  }
  u.authority = LowerAscii(host);
  if (!port.empty()) u.authority += ":" + std::string(port);
  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(0, hash);
  size_t q = rest.find('?');
  u.path = std::string(rest.substr(0, q));
  if (q != std::string_view::npos) {
    u.has_query = true;
    u.query = std::string(rest.substr(q + 1));
  }
  return u;
}

// `name` from a query string "a=b&name=V&…".
std::string QueryParam(std::string_view query, std::string_view name) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string_view item = query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    if (item.size() > name.size() && item.substr(0, name.size()) == name && item[name.size()] == '=') {
      return std::string(item.substr(name.size() + 1));
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return "";
}

// A path without trailing slashes and without a route the user included.
std::string StripRoute(std::string p) {
  while (!p.empty() && p.back() == '/') p.pop_back();
  for (const char* s : {"/chat/completions", "/embeddings"}) {
    if (EndsWith(p, s)) {
      p.resize(p.size() - std::strlen(s));
      break;
    }
  }
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

// Schema names must match ^[a-zA-Z0-9_-]{1,64}$ (OpenAI, Azure).
std::string SchemaName(const std::string& name) {
  std::string out;
  for (char c : name) {
    out.push_back(IsToken(c, false) ? c : '_');
    if (out.size() == 64) break;
  }
  return out.empty() ? "reply" : out;
}

// ------------------------------------------------------------------ JSON replies

// Finds where a JSON text stops being valid, without exceptions (the wasm
// build has none).
struct ErrorFinder : nlohmann::json_sax<json> {
  size_t position = 0;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t pos, const std::string&, const nlohmann::detail::exception&) override {
    position = pos;
    return false;
  }
};

// Parses `body` or says clearly why not (truncated vs. not JSON).
Result<json> ParseJsonBody(std::string_view body) {
  if (body.empty()) return Status::IOError("endpoint sent an empty reply body");
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  ErrorFinder finder;
  json::sax_parse(body.begin(), body.end(), &finder);
  // The position is 1-based and counts the byte that failed; at the end of
  // input it is one past the last byte.
  if (finder.position >= body.size()) {
    return Status::IOError(fmt::format(
        FMT_STRING("endpoint reply is truncated: its JSON ends early ({} bytes received)"),
        body.size()));
  }
  return Status::IOError(
      fmt::format(FMT_STRING("endpoint reply is not valid JSON (error at byte {} of {})"),
                  finder.position, body.size()));
}

std::string ErrorObjectMessage(const json& j) {
  if (j.contains("error")) {
    const json& e = j["error"];
    if (e.is_string()) return e.get<std::string>();
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
    return Dump(e);
  }
  if (StringField(j, "object") == "error" && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  return "";
}

// ------------------------------------------------------------------ numbers and dates

// "12", "1.5", " 3 " -> value; false for anything else (no exponent, no
// locale).
bool ParseDecimal(std::string_view s, double* out) {
  s = Trim(s);
  if (s.empty()) return false;
  bool negative = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  double value = 0, scale = 1;
  bool digits = false, dot = false;
  for (char c : s) {
    if (c == '.' && !dot) {
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') return false;
    digits = true;
    if (dot) {
      scale /= 10;
      value += (c - '0') * scale;
    } else {
      value = value * 10 + (c - '0');
    }
  }
  if (!digits || !std::isfinite(value)) return false;
  *out = negative ? -value : value;
  return true;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

// An HTTP-date in any of its three forms, as unix milliseconds.
bool ParseHttpDate(std::string_view text, double* unix_ms) {
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  static constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  int day = -1, month = -1, hour = -1, minute = -1, second = -1;
  int64_t year = -1;
  bool weekday = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == ',' || c == '-' || c == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '-' && text[j] != '\t') ++j;
    std::string token = LowerAscii(text.substr(i, j - i));
    i = j;
    if (token.find(':') != std::string::npos) {
      if (hour >= 0 || token.size() != 8 || token[2] != ':' || token[5] != ':') return false;
      for (size_t k : {0, 1, 3, 4, 6, 7}) {
        if (token[k] < '0' || token[k] > '9') return false;
      }
      hour = (token[0] - '0') * 10 + (token[1] - '0');
      minute = (token[3] - '0') * 10 + (token[4] - '0');
      second = (token[6] - '0') * 10 + (token[7] - '0');
      if (hour > 23 || minute > 59 || second > 60) return false;
      continue;
    }
    if (token[0] >= '0' && token[0] <= '9') {
      int64_t v = 0;
      for (char d : token) {
        if (d < '0' || d > '9' || v > 100000) return false;
        v = v * 10 + (d - '0');
      }
      if (day < 0 && token.size() <= 2) {
        day = static_cast<int>(v);
      } else if (year < 0) {
        year = v;
        if (token.size() == 2) year += year < 70 ? 2000 : 1900;  // RFC 850's two-digit years
      } else {
        return false;
      }
      continue;
    }
    if (token == "gmt" || token == "utc" || token == "z") continue;
    bool known = false;
    for (int m = 0; m < 12 && !known; ++m) {
      if (token == kMonths[m]) {
        if (month >= 0) return false;
        month = m + 1;
        known = true;
      }
    }
    for (const char* d : kDays) {
      if (!known && !weekday && token.size() >= 3 && token.compare(0, 3, d) == 0) {
        weekday = true;
        known = true;
      }
    }
    if (!known) return false;
  }
  if (day < 1 || day > 31 || month < 1 || year < 1970 || hour < 0) return false;
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  *unix_ms = (static_cast<double>(days) * 86400.0 + hour * 3600.0 + minute * 60.0 + second) * 1000.0;
  return true;
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

// ------------------------------------------------------------------ providers

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
  for (Provider p : {Provider::kOpenAI, Provider::kAzure, Provider::kOllama, Provider::kVllm, Provider::kTei}) {
    if (name == ProviderName(p)) {
      *provider = p;
      return true;
    }
  }
  return false;
}

Provider GuessProvider(std::string_view url) {
  auto u = SplitUrl(url);
  if (!u.ok()) return Provider::kOpenAI;
  std::string host = u->authority.substr(0, u->authority.rfind(':') == std::string::npos ||
                                                    u->authority.back() == ']'
                                                ? std::string::npos
                                                : u->authority.rfind(':'));
  return EndsWith(host, ".openai.azure.com") ? Provider::kAzure : Provider::kOpenAI;
}

Result<std::string> ResolveUrl(const Endpoint& endpoint, Route route) {
  if (endpoint.url.empty()) return Status::InvalidArgument("no endpoint URL given");
  if (endpoint.provider == Provider::kTei && route == Route::kChat) {
    return Status::InvalidArgument("text-embeddings-inference serves embeddings only, not chat");
  }
  auto parsed = SplitUrl(endpoint.url);
  if (!parsed.ok()) return parsed.status();
  Url u = std::move(*parsed);
  const char* suffix = route == Route::kChat ? "/chat/completions" : "/embeddings";
  std::string base = StripRoute(u.path);
  if (endpoint.provider != Provider::kAzure) {
    if (base.empty()) base = "/v1";
    u.path = base + suffix;
    return u.Assemble();
  }
  std::string deployment;
  static constexpr std::string_view kDeployments = "/openai/deployments/";
  size_t at = base.find(kDeployments);
  if (at != std::string::npos) {
    deployment = base.substr(at + kDeployments.size());
    if (deployment.find('/') != std::string::npos) deployment.resize(deployment.find('/'));
  } else if (base.empty() || base == "/openai") {
    deployment = endpoint.model;
  } else {
    return Status::InvalidArgument(
        "Azure endpoint URL should be https://RESOURCE.openai.azure.com or a deployment URL "
        ".../openai/deployments/DEPLOYMENT");
  }
  if (deployment.empty()) {
    return Status::InvalidArgument("Azure OpenAI needs a deployment: give the model (the deployment) or a deployment URL");
  }
  bool valid = deployment.size() <= 64;
  for (char c : deployment) valid = valid && IsToken(c, true);
  if (!valid) {
    return Status::InvalidArgument("Azure deployment name \"" + deployment +
                                   "\" has characters other than letters, digits, '-', '_', '.'");
  }
  std::string version = endpoint.api_version;
  if (version.empty()) version = QueryParam(u.query, "api-version");
  if (version.empty()) version = kDefaultAzureApiVersion;
  for (char c : version) {
    if (!IsToken(c, true)) return Status::InvalidArgument("Azure api-version \"" + version + "\" is not a version");
  }
  u.path = "/openai/deployments/" + deployment + suffix;
  u.has_query = true;
  u.query = "api-version=" + version;
  return u.Assemble();
}

// ------------------------------------------------------------------ requests

std::vector<Header> RequestHeaders() {
  return {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
}

const char* AuthHeaderName(Provider provider) {
  return provider == Provider::kAzure ? "api-key" : "Authorization";
}

const char* AuthValuePrefix(Provider provider) { return provider == Provider::kAzure ? "" : "Bearer "; }

Result<std::string> BuildChatBody(const Endpoint& endpoint, const LlmRequest& request) {
  json body = json::object();
  if (endpoint.provider != Provider::kAzure && !endpoint.model.empty()) body["model"] = endpoint.model;
  json messages = json::array();
  for (const ChatMessage& m : request.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(messages);
  body["temperature"] = request.temperature;
  // OpenAI deprecated max_tokens (reasoning models reject it); Ollama and
  // vLLM read max_tokens.
  bool new_name = endpoint.provider == Provider::kOpenAI || endpoint.provider == Provider::kAzure;
  body[new_name ? "max_completion_tokens" : "max_tokens"] = request.max_tokens;
  body["stream"] = false;
  if (!request.json_schema.empty() && endpoint.structured_output) {
    json schema = json::parse(request.json_schema, nullptr, /*allow_exceptions=*/false);
    if (schema.is_discarded() || !schema.is_object()) {
      return Status::InvalidArgument("the request's JSON schema is not a JSON object");
    }
    body["response_format"] = {{"type", "json_schema"},
                               {"json_schema", {{"name", SchemaName(request.json_schema_name)}, {"schema", schema}}}};
  }
  return Dump(body);
}

std::string BuildEmbeddingsBody(const Endpoint& endpoint, const std::vector<std::string>& texts) {
  json body = json::object();
  body["input"] = texts;
  if (endpoint.provider != Provider::kAzure && !endpoint.model.empty()) body["model"] = endpoint.model;
  if (endpoint.provider != Provider::kTei) body["encoding_format"] = "float";
  return Dump(body);
}

// ------------------------------------------------------------------ replies

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
  reply.model = StringField(j, "model");
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
  reply.finish_reason = StringField(choice, "finish_reason");
  const json& message = choice["message"];
  const json content = message.contains("content") ? message["content"] : json();
  if (content.is_string()) {
    reply.content = content.get<std::string>();
  } else if (content.is_array()) {
    for (const json& part : content) {
      if (StringField(part, "type") == "text" && part.contains("text") && part["text"].is_string()) {
        reply.content += part["text"].get<std::string>();
      }
    }
  } else if (message.contains("refusal") && message["refusal"].is_string()) {
    return Status::IOError("the model refused: " + CutUtf8(Printable(message["refusal"].get<std::string>()), 300));
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
  if (!j.contains("data") || !j["data"].is_array()) return Status::IOError("embeddings reply has no data array");
  const json& data = j["data"];
  if (data.size() != expected) {
    return Status::IOError(fmt::format(FMT_STRING("embeddings reply has {} vectors for {} texts"),
                                       data.size(), expected));
  }
  EmbeddingsReply reply;
  reply.model = StringField(j, "model");
  reply.vectors.resize(expected);
  std::vector<bool> seen(expected, false);
  size_t dim = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    const json& item = data[i];
    std::string where = fmt::format(FMT_STRING("embeddings reply: data[{}]"), i);
    if (!item.is_object() || !item.contains("embedding")) return Status::IOError(where + " has no embedding");
    size_t index = i;
    if (item.contains("index")) {
      if (!item["index"].is_number_integer()) return Status::IOError(where + ".index is not an integer");
      int64_t idx = item["index"].get<int64_t>();
      if (idx < 0 || static_cast<size_t>(idx) >= expected) {
        return Status::IOError(
            fmt::format(FMT_STRING("embeddings reply: index {} out of range"), idx));
      }
      index = static_cast<size_t>(idx);
    }
    if (seen[index])
      return Status::IOError(
          fmt::format(FMT_STRING("embeddings reply: index {} appears twice"), index));
    seen[index] = true;
    const json& e = item["embedding"];
    if (e.is_string()) {
      return Status::IOError("embeddings reply is base64-encoded; foldback asks for floats (encoding_format=float)");
    }
    if (!e.is_array() || e.empty()) return Status::IOError(where + ".embedding is not a list of numbers");
    std::vector<float>& v = reply.vectors[index];
    v.reserve(e.size());
    for (const json& x : e) {
      if (!x.is_number()) return Status::IOError("embeddings reply: a vector holds something other than numbers");
      double d = x.get<double>();
      if (!std::isfinite(d)) return Status::IOError("embeddings reply: a vector holds a non-finite value");
      v.push_back(static_cast<float>(d));
    }
    if (dim == 0) dim = v.size();
    if (v.size() != dim) {
      return Status::IOError(fmt::format(
          FMT_STRING("embeddings reply: vectors of different sizes ({} and {})"), dim, v.size()));
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
    if (msg.empty()) msg = StringField(j, "message");
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
    case 303: reason = "See Other"; break;
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
  std::string s = fmt::to_string(status);
  if (reason) s += std::string(" ") + reason;
  return s;
}

std::string FormatMs(double ms) {
  if (!std::isfinite(ms)) return "an unlimited time";
  if (ms >= 10000)
    return fmt::format(FMT_STRING("{} s"), static_cast<long long>(std::llround(ms / 1000)));
  return fmt::format(FMT_STRING("{} ms"), static_cast<long long>(std::llround(ms)));
}

// ------------------------------------------------------------------ status mapping

Status::Code CodeForHttpStatus(long status) {
  if (status >= 200 && status < 300) return Status::Code::kOk;
  if (status == 401 || status == 403) return Status::Code::kPermissionDenied;
  if (status == 404) return Status::Code::kNotFound;
  if (status >= 100 && status < 600 && ShouldRetryStatus(status, "")) return Status::Code::kUnavailable;
  return Status::Code::kInvalidArgument;
}

bool ShouldRetryStatus(long status, std::string_view x_should_retry) {
  x_should_retry = Trim(x_should_retry);
  if (EqualsIgnoreCase(x_should_retry, "true")) return true;
  if (EqualsIgnoreCase(x_should_retry, "false")) return false;
  return status == 408 || status == 409 || status == 429 || status >= 500;
}

// ------------------------------------------------------------------ retries

double RetryDelayMs(const RetryPolicy& policy, uint32_t retry, double retry_after_ms, double u) {
  if (retry_after_ms > 0 && retry_after_ms <= policy.max_retry_after_ms) return retry_after_ms;
  double n = std::min<double>(retry, 1000);
  double sleep = std::min(policy.initial_delay_ms * std::pow(2.0, n), policy.max_delay_ms);
  return std::max(0.0, sleep * (1 - 0.25 * u));
}

double Jitter(uint64_t seed, uint32_t retry) {
  uint64_t x = SplitMix64(seed ^ SplitMix64(static_cast<uint64_t>(retry) + 1));
  return static_cast<double>(x >> 11) * (1.0 / 9007199254740992.0);  // 53 bits -> [0, 1)
}

double ParseRetryAfterMs(std::string_view retry_after_ms, std::string_view retry_after, double now_unix_ms) {
  double v = 0;
  if (ParseDecimal(retry_after_ms, &v)) return v;
  if (ParseDecimal(retry_after, &v)) return v * 1000;
  double when = 0;
  if (ParseHttpDate(Trim(retry_after), &when)) return when - now_unix_ms;
  return -1;
}

std::string HttpResponse::HeaderValue(std::string_view name) const {
  std::string_view found;
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) found = h.value;
  }
  return std::string(Trim(found));
}

Attempt ReadResponse(const RequestContext& context, const HttpResponse& response) {
  Attempt a;
  long status = response.status;
  if (status >= 200 && status < 300) {
    if (context.kind == Need::Kind::kLlm) {
      auto reply = ParseChatCompletion(response.body);
      if (!reply.ok()) {
        a.status = reply.status();
        return a;
      }
      a.text = std::move(reply->content);
      a.model = std::move(reply->model);
      a.input_tokens = reply->prompt_tokens;
      a.output_tokens = reply->completion_tokens;
    } else {
      auto reply = ParseEmbeddings(response.body, context.expected_vectors);
      if (!reply.ok()) {
        a.status = reply.status();
        return a;
      }
      a.vectors = std::move(reply->vectors);
      a.model = std::move(reply->model);
    }
    return a;
  }
  if ((status >= 300 && status < 400) || status == 0) {
    // 0: a redirect the host was not shown (fetch's "opaqueredirect").
    std::string location = response.HeaderValue("location");
    a.status = Status::InvalidArgument(
        "endpoint redirected" + (status ? " (" + HttpStatusText(status) + ")" : std::string()) +
        (location.empty() ? "" : " to " + location) +
        ": foldback does not follow redirects with the API key; give the final URL");
    return a;
  }
  std::string server = ServerErrorMessage(response.body);
  std::string detail = server.empty() ? "" : ": " + server;
  std::string msg = "endpoint returned " + HttpStatusText(status);
  const Endpoint& ep = context.endpoint;
  switch (status) {
    case 401:
      // The server's text may quote the key: leave it out.
      if (!context.has_key) {
        msg += ": no API key was configured and the endpoint wants one";
        if (!context.key_hint.empty()) msg += " (" + context.key_hint + ")";
      } else {
        msg += ": check the API key";
        if (!context.key_source.empty()) msg += " in " + context.key_source;
      }
      break;
    case 403:
      msg += ": the API key" + (context.key_source.empty() ? "" : " in " + context.key_source) +
             " may not use this model or deployment" + detail;
      break;
    case 404:
      msg += ": check the endpoint URL" + (context.url.empty() ? "" : " (" + context.url + ")") +
             (ep.model.empty() ? "" : " and the model name \"" + ep.model + "\"") + detail;
      break;
    case 429: msg += " (rate limited)" + detail; break;
    default: msg += detail; break;
  }
  a.status = Status::FromCode(CodeForHttpStatus(status), msg);
  a.retryable = ShouldRetryStatus(status, response.HeaderValue("x-should-retry"));
  if (a.retryable) {
    a.retry_after_ms = ParseRetryAfterMs(response.HeaderValue("retry-after-ms"), response.HeaderValue("retry-after"),
                                         context.now_unix_ms);
  }
  return a;
}

Attempt TransportAttempt(TransportFailure failure, std::string_view url, std::string_view why, double limit_ms) {
  Attempt a;
  std::string u(url), w(why);
  switch (failure) {
    case TransportFailure::kUnreachable:
      a.status = Status::Unavailable("could not reach " + u + ": " + w);
      a.retryable = true;
      break;
    case TransportFailure::kCutOff:
      a.status = Status::Unavailable("connection to " + u + " closed in the middle of the reply (" + w + ")");
      a.retryable = true;
      break;
    case TransportFailure::kAttemptTimeout:
      a.status = Status::DeadlineExceeded("no complete reply from " + u + " within " + FormatMs(limit_ms) +
                                          " (one attempt's limit)");
      a.retryable = true;
      break;
    case TransportFailure::kHopeless:
      a.status = Status::Unavailable("could not reach " + u + ": " + w);
      break;
    case TransportFailure::kTooLarge:
      a.status =
          Status::OutOfRange(fmt::format(FMT_STRING("endpoint reply is larger than {} bytes"),
                                         static_cast<unsigned long long>(limit_ms)));
      break;
  }
  return a;
}

Status NeedTimedOut(std::string_view url, double budget_ms, long status_seen) {
  return Status::DeadlineExceeded(
      "no complete reply from " + std::string(url) + " within this request's " + FormatMs(budget_ms) +
      " time limit" +
      (status_seen > 0 ? " (the endpoint sent " + HttpStatusText(status_seen) + " headers, then stalled)" : ""));
}

RetryDecision DecideRetry(const RetryPolicy& policy, uint32_t attempts, const Attempt& attempt, double now_ms,
                          double deadline_ms, double budget_ms, uint64_t seed) {
  RetryDecision d;
  if (attempt.status.ok() || !attempt.retryable) return d;
  uint32_t retries_taken = attempts > 0 ? attempts - 1 : 0;
  if (retries_taken >= policy.max_retries) return d;
  if (attempt.retry_after_ms > policy.max_retry_after_ms) {
    d.note = "; not retried: the endpoint asked to wait " + FormatMs(attempt.retry_after_ms) + ", more than the " +
             FormatMs(policy.max_retry_after_ms) + " foldback waits";
    return d;
  }
  double delay = RetryDelayMs(policy, retries_taken, attempt.retry_after_ms, Jitter(seed, retries_taken));
  if (now_ms + delay >= deadline_ms) {
    d.note = "; not retried: waiting " + FormatMs(delay) + " would pass this request's " + FormatMs(budget_ms) +
             " time limit";
    return d;
  }
  d.retry = true;
  d.delay_ms = delay;
  return d;
}

Status FinalStatus(const Attempt& attempt, uint32_t attempts, const RetryDecision& decision) {
  if (attempt.status.ok()) return attempt.status;
  std::string msg = attempt.status.message();
  if (attempts > 1) msg += fmt::format(FMT_STRING(" ({} attempts)"), attempts);
  msg += decision.note;
  return Status::FromCode(attempt.status.code(), msg);
}

AfterFailure AfterFailedAttempt(const RetryPolicy& policy, uint32_t attempts, const Attempt& attempt,
                                double now_ms, double deadline_ms, double budget_ms, uint64_t seed) {
  AfterFailure out;
  RetryDecision d = DecideRetry(policy, attempts, attempt, now_ms, deadline_ms, budget_ms, seed);
  out.retry = d.retry;
  out.delay_ms = d.delay_ms;
  if (!d.retry) out.status = FinalStatus(attempt, attempts, d);
  return out;
}

NeedResult NeedResultFromResponse(const RequestContext& context, const HttpResponse& response) {
  Attempt a = ReadResponse(context, response);
  NeedResult r;
  r.status = a.status;
  if (a.status.ok()) {
    r.text = std::move(a.text);
    r.vectors = std::move(a.vectors);
    r.input_tokens = a.input_tokens;
    r.output_tokens = a.output_tokens;
  }
  r.model = std::move(a.model);
  return r;
}

// ------------------------------------------------------------------ redaction

Result<std::unique_ptr<Redactor>> CompileRedactionPatterns(const std::vector<std::string>& patterns) {
  std::vector<RedactionRule> rules;
  rules.reserve(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    rules.push_back({fmt::format(FMT_STRING("pattern-{}"), i + 1), patterns[i], "[REDACTED]"});
  }
  auto r = Redactor::Create(rules);
  if (r.ok()) return r;
  // Name the pattern as the user wrote it.
  const std::string msg = r.status().message();
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (msg.find(fmt::format(FMT_STRING("'pattern-{}'"), i + 1)) != std::string::npos) {
      return Status::FromCode(r.status().code(), "redaction pattern \"" + patterns[i] +
                                                     "\" is not a regular expression foldback can use (" + msg + ")");
    }
  }
  return Status::FromCode(r.status().code(), "redaction patterns: " + msg);
}

}  // namespace foldback::wire
