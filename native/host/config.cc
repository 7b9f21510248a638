#include "host/config.h"
#include "host/toml_parse.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>
#include <memory>

#include "foldback/redact.h"
#include "foldback/wire.h"
#include "host/files.h"

namespace foldback::host {
namespace {

constexpr const char* kFileName = "foldback.toml";

// Keys that would hold a secret: refused wherever they appear, with the way
// out, and their value never repeated.
bool IsSecretKey(std::string_view k) {
  return k == "api_key" || k == "apikey" || k == "key" || k == "secret" || k == "token" ||
         k == "password" || k == "bearer" || k == "authorization" || k == "api-key";
}

bool IsEnvName(const std::string& s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

const char* TypeName(SettingType t) {
  switch (t) {
    case SettingType::kString:
      return "a string";
    case SettingType::kInt:
      return "an integer >= 0";
    case SettingType::kNumber:
      return "a number >= 0";
    case SettingType::kBool:
      return "true or false";
    case SettingType::kStrings:
      return "an array of strings";
  }
  return "?";
}

const SettingSpec* FindSpec(std::string_view key) {
  for (const SettingSpec& s : ConfigSchema()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

bool IsSection(std::string_view name) {
  for (const SettingSpec& s : ConfigSchema()) {
    std::string_view k(s.key);
    if (k.substr(0, k.find('.')) == name) return true;
  }
  return false;
}

// The node as the flag strings of `type`; false when it is not of the type.
bool Values(const toml::node& node, SettingType type, std::vector<std::string>* out) {
  switch (type) {
    case SettingType::kString:
      if (!node.is_string()) return false;
      out->push_back(node.as_string()->get());
      return true;
    case SettingType::kInt:
      if (!node.is_integer() || node.as_integer()->get() < 0) return false;
      out->push_back(fmt::format(FMT_STRING("{}"), node.as_integer()->get()));
      return true;
    case SettingType::kNumber: {
      auto v = node.value<double>();  // integers too
      if (!v || !std::isfinite(*v) || *v < 0) return false;
      out->push_back(fmt::format(FMT_STRING("{}"), *v));
      return true;
    }
    case SettingType::kBool:
      if (!node.is_boolean()) return false;
      out->push_back(node.as_boolean()->get() ? "true" : "false");
      return true;
    case SettingType::kStrings: {
      const toml::array* arr = node.as_array();
      if (!arr) return false;
      for (const toml::node& item : *arr) {
        if (!item.is_string()) return false;
        out->push_back(item.as_string()->get());
      }
      return true;
    }
  }
  return false;
}

// The checks a value's meaning needs, beyond its type. The core decides
// what an endpoint URL, a provider and a redaction pattern may be.
Status Check(const Setting& s, const toml::table& section) {
  const std::string& v = s.values.empty() ? std::string() : s.values.front();
  const std::string name = s.key.substr(s.key.find('.') + 1);
  if (name == "api_key_env") {
    // Never echoed: a key pasted here by mistake must not reach a log.
    if (!IsEnvName(v)) {
      return Status::InvalidArgument(
          "'" + s.key +
          "' names the environment variable holding the key (letters, digits, _), "
          "e.g. \"OPENAI_API_KEY\"; it must not hold the key itself (value not shown)");
    }
  } else if (name == "provider") {
    wire::Provider p;
    if (!wire::ParseProvider(v, &p)) {
      return Status::InvalidArgument("'" + s.key + "' must be openai, azure, ollama, vllm or tei");
    }
  } else if (name == "endpoint") {
    // The URL's own checks (scheme, host, credentials, characters), with
    // the provider and model the same section gives.
    wire::Endpoint ep;
    ep.url = v;
    auto prov = section.get_as<std::string>("provider");
    if (!prov || !wire::ParseProvider(prov->get(), &ep.provider))
      ep.provider = wire::GuessProvider(v);
    auto model = section.get_as<std::string>("model");
    ep.model = model ? model->get() : "model";
    bool embed = s.key.rfind("embed.", 0) == 0 || ep.provider == wire::Provider::kTei;
    auto url = wire::ResolveUrl(ep, embed ? wire::Route::kEmbeddings : wire::Route::kChat);
    if (!url.ok()) return Status::InvalidArgument("'" + s.key + "': " + url.status().message());
  } else if (s.key == "redact.patterns") {
    for (const std::string& p : s.values) {
      auto r = wire::CompileRedactionPatterns({p});
      if (!r.ok()) return Status::InvalidArgument("'" + s.key + "': " + r.status().message());
    }
  } else if (s.key == "walls.allowed_matters") {
    for (const std::string& m : s.values) {
      if (m.empty() || m.find(',') != std::string::npos) {
        return Status::InvalidArgument("'" + s.key + "' holds matter names: non-empty, no commas");
      }
    }
  } else if (s.key == "log.format") {
    if (v != "text" && v != "json")
      return Status::InvalidArgument("'log.format' must be text or json");
  } else if (name == "mode") {
    if (v != "bm25" && v != "dense" && v != "hybrid")
      return Status::InvalidArgument("'" + s.key + "' must be bm25, dense or hybrid");
  } else if (name == "rewrite") {
    if (v != "llm" && v != "rm3" && v != "none")
      return Status::InvalidArgument("'" + s.key + "' must be llm, rm3 or none");
  }
  return Status::OK();
}

Status AtLine(const std::string& source, uint32_t line, const Status& s) {
  return Status::InvalidArgument(fmt::format(FMT_STRING("{}:{}: {}"), source, line, s.message()));
}

uint32_t LineOf(const toml::key& k) { return static_cast<uint32_t>(k.source().begin.line); }

}  // namespace

const std::vector<SettingSpec>& ConfigSchema() {
  static const std::vector<SettingSpec> kSchema = {
      {"llm.endpoint", SettingType::kString, "chat endpoint base URL (ask, serve, jobs submit)"},
      {"llm.provider", SettingType::kString, "openai, azure, ollama, vllm or tei"},
      {"llm.model", SettingType::kString, "model (Azure: deployment)"},
      {"llm.api_key_env", SettingType::kString, "NAME of the environment variable holding the key"},
      {"llm.api_version", SettingType::kString, "Azure api-version"},
      {"llm.structured_output", SettingType::kBool, "false: do not send response_format"},
      {"llm.ca_bundle", SettingType::kString, "PEM certificate authorities to trust"},
      {"embed.endpoint", SettingType::kString, "embeddings endpoint base URL (ask)"},
      {"embed.provider", SettingType::kString, "openai, azure, ollama, vllm or tei"},
      {"embed.model", SettingType::kString, "embedding model"},
      {"embed.api_key_env", SettingType::kString, "NAME of the variable holding its key"},
      {"walls.allowed_matters", SettingType::kStrings,
       "the default ethical wall: matters a user may see (search, ask, export, jobs submit, "
       "feedback)"},
      {"redact.patterns", SettingType::kStrings,
       "patterns redacted from what is sent to endpoints"},
      {"retry.max_retries", SettingType::kInt, "retries after the first attempt (2)"},
      {"retry.initial_delay_ms", SettingType::kNumber, "first backoff (500)"},
      {"retry.max_delay_ms", SettingType::kNumber, "longest backoff (8000)"},
      {"retry.max_retry_after_ms", SettingType::kNumber, "longest Retry-After honoured (60000)"},
      {"retry.connect_timeout_ms", SettingType::kNumber, "TCP + TLS connect limit (5000)"},
      {"retry.timeout_ms", SettingType::kNumber, "time of one call, retries included (120000)"},
      {"ask.hops", SettingType::kInt, "hops (2)"},
      {"ask.depth", SettingType::kInt, "passages retrieved per hop (5)"},
      {"ask.top_k", SettingType::kInt, "passages in the result (5)"},
      {"ask.variants", SettingType::kInt, "query variants per hop (1)"},
      {"ask.rewrite", SettingType::kString, "llm, rm3 or none"},
      {"ask.mode", SettingType::kString, "bm25, dense or hybrid"},
      {"ask.deadline_ms", SettingType::kNumber, "time for a whole question (0 = none)"},
      {"search.mode", SettingType::kString, "bm25, dense or hybrid"},
      {"search.top_k", SettingType::kInt, "results (10)"},
      {"serve.listen", SettingType::kString, "HOST:PORT"},
      {"serve.users", SettingType::kString,
       "users file (default: [[user]] tables in foldback.toml)"},
      {"serve.tls_cert", SettingType::kString, "TLS certificate chain (PEM)"},
      {"serve.tls_key", SettingType::kString, "TLS private key file (PEM; a path, never the key)"},
      {"serve.audit_log", SettingType::kString, "audit log file"},
      {"serve.cors_origins", SettingType::kStrings, "origins allowed by CORS"},
      {"serve.rate_limit", SettingType::kNumber, "requests per second per user"},
      {"log.format", SettingType::kString, "text or json (JSON lines on stderr)"},
  };
  return kSchema;
}

std::string Setting::where() const { return fmt::format(FMT_STRING("{}:{}"), file, line); }

std::string UserConfigDir(const std::function<const char*(const char*)>& getenv) {
  const char* xdg = getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg) return std::string(xdg) + "/foldback";
  const char* home = getenv("HOME");
  if (home && *home) return std::string(home) + "/.config/foldback";
  return "";
}

Result<toml::table> ParseToml(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(fmt::format(FMT_STRING("{}:{}:{}: {}"), source,
                                               e.source().begin.line, e.source().begin.column,
                                               e.description()));
  }
}

Result<Config> Config::Parse(std::string_view text, const std::string& source) {
  auto parsed = host::ParseToml(text, source);
  if (!parsed.ok()) return parsed.status();
  toml::table doc = std::move(parsed.value());
  Config config;
  config.files_.push_back(source);
  for (const auto& [skey, snode] : doc) {
    const std::string section(skey.str());
    const uint32_t sline = LineOf(skey);
    if (IsSecretKey(section)) {
      return AtLine(
          source, sline,
          Status::InvalidArgument("'" + section +
                                  "': foldback.toml never holds a key or a secret. Put it in an "
                                  "environment variable and name the variable: [llm] api_key_env = "
                                  "\"OPENAI_API_KEY\""));
    }
    if (section == "user") {  // foldback serve's users (serve/users.h checks them)
      if (!snode.is_array_of_tables()) {
        return AtLine(source, sline, Status::InvalidArgument("'user' must be [[user]] tables"));
      }
      config.users_file_ = source;
      continue;
    }
    if (!IsSection(section)) {
      return AtLine(source, sline,
                    Status::InvalidArgument(
                        "unknown section '" + section +
                        "' (known: llm, embed, walls, redact, retry, ask, search, serve, log, "
                        "[[user]])"));
    }
    const toml::table* table = snode.as_table();
    if (!table) {
      return AtLine(source, sline,
                    Status::InvalidArgument("'" + section + "' must be a [" + section + "] table"));
    }
    for (const auto& [k, node] : *table) {
      const std::string name(k.str());
      const uint32_t line = LineOf(k);
      const std::string key = section + "." + name;
      if (IsSecretKey(name)) {
        return AtLine(
            source, line,
            Status::InvalidArgument("'" + key +
                                    "': foldback.toml never holds a key or a secret. Put it in an "
                                    "environment variable and name the variable: api_key_env = "
                                    "\"OPENAI_API_KEY\""));
      }
      const SettingSpec* spec = FindSpec(key);
      if (!spec) return AtLine(source, line, Status::InvalidArgument("unknown key '" + key + "'"));
      Setting s;
      s.key = key;
      s.type = spec->type;
      s.file = source;
      s.line = line;
      if (!Values(node, spec->type, &s.values)) {
        return AtLine(source, line,
                      Status::InvalidArgument(
                          fmt::format(FMT_STRING("'{}' must be {}"), key, TypeName(spec->type))));
      }
      Status checked = Check(s, *table);
      if (!checked.ok()) return AtLine(source, line, checked);
      config.settings_.push_back(std::move(s));
    }
  }
  return config;
}

Result<Config> Config::Load(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

Result<Config> Config::LoadLayers(const ConfigFiles& files) {
  std::vector<std::string> paths;
  if (!files.explicit_path.empty()) {
    if (!PathExists(files.explicit_path) || IsDirectory(files.explicit_path)) {
      return Status::NotFound("--config: no such file: " + files.explicit_path);
    }
    paths.push_back(files.explicit_path);
  }
  for (const std::string& dir : {files.index_dir, files.user_dir}) {
    if (dir.empty()) continue;
    std::string p = dir + "/" + kFileName;
    if (PathExists(p) && !IsDirectory(p)) paths.push_back(p);
  }
  Config merged;
  for (const std::string& p : paths) {
    if (!merged.files_.empty() && merged.files_.front() == p)
      continue;  // --config named the same file
    auto c = Load(p);
    if (!c.ok()) return c.status();
    merged.MergeUnder(*c);
  }
  return merged;
}

void Config::MergeUnder(const Config& lower) {
  for (const Setting& s : lower.settings_) {
    if (!Find(s.key)) settings_.push_back(s);
  }
  files_.insert(files_.end(), lower.files_.begin(), lower.files_.end());
  if (users_file_.empty()) users_file_ = lower.users_file_;
}

const Setting* Config::Find(std::string_view key) const {
  for (const Setting& s : settings_) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

}  // namespace foldback::host
