// foldback.toml (host/config.h) and the logs (host/log.h) in the CLI.
//
// Precedence of a value, highest first:
//   1. the flag on the command line
//   2. an environment variable, where one exists (the API key's, named by
//      --api-key-env / api_key_env; the OTEL_* variables of telemetry,
//      which the file does not hold)
//   3. the file given by --config
//   4. <--index folder>/foldback.toml
//   5. $XDG_CONFIG_HOME/foldback/foldback.toml (else ~/.config/foldback/)
//   6. the built-in default (each flag's --help)
// A file's value is given to a subcommand as if it were its flag, only
// when that flag is absent from the command line: every value is
// overridable by its flag, and the subcommand's own checks see it.
#ifndef FOLDBACK_NATIVE_CLI_CONFIG_FLAGS_H_
#define FOLDBACK_NATIVE_CLI_CONFIG_FLAGS_H_

#include <string>

#include <CLI/CLI.hpp>

#include "foldback/status.h"
#include "host/config.h"
#include "llm/llm_client.h"

namespace foldback::cli {

// Thrown by the parse callbacks when the configuration is unusable (an
// unknown key, a wrong type, --config naming no file); main() prints it
// like any error and exits 2. Never crosses a public API.
struct ConfigFailure {
  Status status;
};

// Adds --config and --log-format to `app` and every subcommand, and makes
// each subcommand read foldback.toml once its own flags are parsed.
// Call after every subcommand is registered.
void SetUpConfig(CLI::App& app);

// The files a command with `index_dir` ("" = none) reads, merged by
// precedence (--config as given on the command line).
Result<host::Config> LoadConfigFor(const std::string& index_dir);

// The flag a key of foldback.toml stands for in `command` ("ask", "jobs
// submit"), or null.
const char* FlagFor(const std::string& key, const std::string& command);

// Retry and timeout flags of the LLM client (ask, serve); unset = the
// client's default (or foldback.toml's [retry]).
struct RetryFlags {
  uint32_t max_retries = 2;
  double initial_delay_ms = 0, max_delay_ms = 0, max_retry_after_ms = 0, connect_timeout_ms = 0,
         timeout_ms = 0;
  // The options, to know which were given.
  CLI::Option *max_retries_opt = nullptr, *initial_opt = nullptr, *max_delay_opt = nullptr,
              *retry_after_opt = nullptr, *connect_opt = nullptr, *timeout_opt = nullptr;
};
void AddRetryOptions(CLI::App* cmd, RetryFlags* flags);
// InvalidArgument for a negative or non-finite value.
Status ApplyRetryFlags(const RetryFlags& flags, llm::LlmClientOptions* options);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_CONFIG_FLAGS_H_
