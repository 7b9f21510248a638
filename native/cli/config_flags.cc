#include "cli/config_flags.h"

#include <cmath>
#include <cstdlib>
#include <memory>
#include <vector>

#include "host/config.h"
#include "host/log.h"

namespace foldback::cli {
namespace {

// --config and --log-format, wherever they were given.
std::string g_config_path;
std::string g_log_format;

// Which flag of which subcommands a key of foldback.toml stands for.
struct FlagOf {
  const char* key;
  std::vector<const char*> commands;  // "ask", "jobs submit", ...
  const char* flag;
};

const std::vector<FlagOf>& Flags() {
  static const std::vector<FlagOf> kFlags = {
      {"llm.endpoint", {"ask", "serve", "jobs submit", "search", "eval"}, "--endpoint"},
      {"llm.provider", {"ask", "serve", "jobs submit", "search", "eval"}, "--provider"},
      {"llm.model", {"ask", "serve", "jobs submit", "search", "eval"}, "--model"},
      {"llm.api_key_env", {"ask", "serve", "jobs submit", "search", "eval"}, "--api-key-env"},
      {"llm.api_version", {"ask", "serve", "jobs submit", "search", "eval"}, "--api-version"},
      {"llm.structured_output", {"ask", "serve", "jobs submit", "search", "eval"}, "--no-json-schema"},
      {"llm.ca_bundle", {"ask", "serve", "jobs submit", "search", "eval"}, "--ca-bundle"},
      {"embed.endpoint", {"ask"}, "--embed-endpoint"},
      {"embed.provider", {"ask"}, "--embed-provider"},
      {"embed.model", {"ask"}, "--embed-model"},
      {"embed.api_key_env", {"ask"}, "--embed-api-key-env"},
      {"walls.allowed_matters",
       {"search", "ask", "export", "feedback", "jobs submit"},
       "--allowed-matters"},
      {"redact.patterns", {"ask", "serve", "jobs submit", "search", "eval"}, "--redact"},
      {"retry.max_retries", {"ask", "serve"}, "--max-retries"},
      {"retry.initial_delay_ms", {"ask", "serve"}, "--retry-initial-ms"},
      {"retry.max_delay_ms", {"ask", "serve"}, "--retry-max-ms"},
      {"retry.max_retry_after_ms", {"ask", "serve"}, "--retry-after-max-ms"},
      {"retry.connect_timeout_ms", {"ask", "serve"}, "--connect-timeout-ms"},
      {"retry.timeout_ms", {"ask", "serve"}, "--llm-timeout-ms"},
      {"ask.hops", {"ask"}, "--hops"},
      {"ask.depth", {"ask"}, "--depth"},
      {"ask.top_k", {"ask"}, "--top-k"},
      {"ask.variants", {"ask"}, "--variants"},
      {"ask.rewrite", {"ask"}, "--rewrite"},
      {"ask.mode", {"ask"}, "--mode"},
      {"ask.deadline_ms", {"ask"}, "--deadline-ms"},
      {"search.mode", {"search"}, "--mode"},
      {"search.top_k", {"search"}, "--top-k"},
      {"serve.listen", {"serve"}, "--listen"},
      {"serve.users", {"serve"}, "--users"},
      {"serve.tls_cert", {"serve"}, "--cert"},
      {"serve.tls_key", {"serve"}, "--key"},
      {"serve.audit_log", {"serve"}, "--audit-log"},
      {"serve.cors_origins", {"serve"}, "--cors-origin"},
      {"serve.rate_limit", {"serve"}, "--rate-limit"},
  };
  return kFlags;
}

std::string CommandPath(const CLI::App* sub) {
  std::string path = sub->get_name();
  for (const CLI::App* p = sub->get_parent(); p && p->get_parent(); p = p->get_parent()) {
    path = p->get_name() + " " + path;
  }
  return path;
}

[[noreturn]] void Refuse(const Status& s) { throw ConfigFailure{s}; }

// Gives `opt` the setting's value as if it had been on the command line.
void Inject(CLI::Option* opt, const host::Setting& s) {
  try {
    if (opt->get_type_size_max() == 0) {  // a flag: --no-json-schema
      if (s.values.front() != "false") return;
      opt->add_result("true");
    } else {
      // Values are taken literally: no "[a,b]" splitting of a pattern
      // such as [A-Z] (CLI11 splits bracketed values of vector options).
      const bool extra = opt->get_allow_extra_args();
      opt->allow_extra_args(false);
      if (s.key == "walls.allowed_matters") {
        std::string joined;
        for (const std::string& m : s.values) joined += (joined.empty() ? "" : ",") + m;
        opt->add_result(joined);
      } else {
        for (const std::string& v : s.values) opt->add_result(v);
      }
      opt->allow_extra_args(extra);
    }
    opt->run_callback();
  } catch (const CLI::Error& e) {
    Refuse(Status::InvalidArgument(s.where() + ": '" + s.key + "': " + e.what()));
  }
}

// Runs once a subcommand's flags are parsed: reads foldback.toml and fills
// the flags the command line left out.
void ApplyConfig(CLI::App* sub) {
  std::string index_dir;
  if (CLI::Option* idx = sub->get_option_no_throw("--index"); idx && idx->count() > 0) {
    index_dir = idx->results().front();
  }
  // The flag's log format before anything can fail: errors come out in it.
  if (!g_log_format.empty()) {
    host::LogFormat f;
    if (host::ParseLogFormat(g_log_format, &f)) host::SetLogFormat(f);
  }
  auto config = LoadConfigFor(index_dir);
  if (!config.ok()) Refuse(config.status());

  // The file's log format unless the flag gave one (the file checked it).
  if (const host::Setting* s = config->Find("log.format"); s && g_log_format.empty()) {
    host::LogFormat f;
    if (host::ParseLogFormat(s->values.front(), &f)) host::SetLogFormat(f);
  }

  const std::string path = CommandPath(sub);
  for (const FlagOf& m : Flags()) {
    bool here = false;
    for (const char* c : m.commands) here = here || path == c;
    if (!here) continue;
    const host::Setting* s = config->Find(m.key);
    if (!s) continue;
    CLI::Option* opt = sub->get_option_no_throw(m.flag);
    if (!opt || opt->count() > 0) continue;  // the flag wins
    Inject(opt, *s);
  }
  // serve's users: [[user]] tables in foldback.toml when no users file is named.
  if (path == "serve" && !config->users_file().empty()) {
    CLI::Option* users = sub->get_option_no_throw("--users");
    if (users && users->count() == 0) {
      host::Setting s;
      s.key = "user";
      s.values = {config->users_file()};
      s.file = config->users_file();
      Inject(users, s);
    }
  }
}

void AddGlobals(CLI::App* app) {
  app->add_option("--config", g_config_path,
                  "foldback.toml to read (besides <index>/foldback.toml and "
                  "~/.config/foldback/foldback.toml; it wins over both)")
      ->trigger_on_parse();
  app->add_option("--log-format", g_log_format, "Diagnostics on stderr: text or json (JSON lines)")
      ->check(CLI::IsMember({"text", "json"}))
      ->trigger_on_parse();
}

void SetUp(CLI::App* sub) {
  AddGlobals(sub);
  auto subs = sub->get_subcommands([](CLI::App*) { return true; });
  if (subs.empty()) {
    sub->parse_complete_callback([sub] { ApplyConfig(sub); });
    return;
  }
  for (CLI::App* s : subs) SetUp(s);
}

}  // namespace

Result<host::Config> LoadConfigFor(const std::string& index_dir) {
  host::ConfigFiles files;
  files.explicit_path = g_config_path;
  files.index_dir = index_dir;
  files.user_dir = host::UserConfigDir([](const char* n) { return std::getenv(n); });
  return host::Config::LoadLayers(files);
}

const char* FlagFor(const std::string& key, const std::string& command) {
  for (const FlagOf& m : Flags()) {
    if (key != m.key) continue;
    for (const char* c : m.commands) {
      if (command == c) return m.flag;
    }
  }
  return nullptr;
}

void SetUpConfig(CLI::App& app) {
  AddGlobals(&app);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) SetUp(sub);
}

void AddRetryOptions(CLI::App* cmd, RetryFlags* f) {
  f->max_retries_opt =
      cmd->add_option("--max-retries", f->max_retries, "Retries of a failed LLM call (default 2)");
  f->initial_opt =
      cmd->add_option("--retry-initial-ms", f->initial_delay_ms, "First backoff (default 500)");
  f->max_delay_opt =
      cmd->add_option("--retry-max-ms", f->max_delay_ms, "Longest backoff (default 8000)");
  f->retry_after_opt =
      cmd->add_option("--retry-after-max-ms", f->max_retry_after_ms,
                      "Longest Retry-After honoured; longer ends the retries (default 60000)");
  f->connect_opt = cmd->add_option("--connect-timeout-ms", f->connect_timeout_ms,
                                   "TCP + TLS connect limit per attempt (default 5000)");
  f->timeout_opt = cmd->add_option(
      "--llm-timeout-ms", f->timeout_ms,
      "Time of one LLM call, retries included, unless a deadline says less (default 120000)");
}

Status ApplyRetryFlags(const RetryFlags& f, llm::LlmClientOptions* o) {
  auto set = [](const CLI::Option* opt, double v, double* out) -> Status {
    if (!opt || opt->count() == 0) return Status::OK();
    if (!std::isfinite(v) || v < 0)
      return Status::InvalidArgument(opt->get_name() + " must be >= 0");
    *out = v;
    return Status::OK();
  };
  if (f.max_retries_opt && f.max_retries_opt->count() > 0) {
    if (f.max_retries > 100) return Status::InvalidArgument("--max-retries must be in 0..100");
    o->retry.max_retries = f.max_retries;
  }
  FB_RETURN_IF_ERROR(set(f.initial_opt, f.initial_delay_ms, &o->retry.initial_delay_ms));
  FB_RETURN_IF_ERROR(set(f.max_delay_opt, f.max_delay_ms, &o->retry.max_delay_ms));
  FB_RETURN_IF_ERROR(set(f.retry_after_opt, f.max_retry_after_ms, &o->retry.max_retry_after_ms));
  FB_RETURN_IF_ERROR(set(f.connect_opt, f.connect_timeout_ms, &o->connect_timeout_ms));
  FB_RETURN_IF_ERROR(set(f.timeout_opt, f.timeout_ms, &o->default_timeout_ms));
  return Status::OK();
}

}  // namespace foldback::cli
