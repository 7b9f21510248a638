// foldback.toml: the settings a firm's IT or a user writes once instead of
// repeating flags — endpoints and models, the NAME of the environment
// variable holding the key (never the key), the default wall, redaction
// patterns, retries and deadlines, defaults of ask/search/serve, the log
// format (docs/config.md has a full example).
//
//   [llm]
//   endpoint = "https://api.openai.com/v1"
//   model = "gpt-4o-mini"
//   api_key_env = "OPENAI_API_KEY"
//   [walls]
//   allowed_matters = ["acme", "beta"]
//
// Where files are found, highest precedence first (Config::LoadLayers):
// the file given by --config, <index folder>/foldback.toml, the user's
// $XDG_CONFIG_HOME/foldback/foldback.toml (else ~/.config/foldback/). A key
// set in a higher file replaces the same key of a lower one (arrays are
// replaced, not appended); a flag on the command line replaces them all.
//
// The file is strict: an unknown section or key, a value of the wrong type,
// an invalid endpoint URL (the core's wire::ResolveUrl), provider, redaction
// pattern (the core's wire::CompileRedactionPatterns) or variable name is an
// InvalidArgument naming the file and the line — a typo must not quietly
// widen a wall or send text unredacted. A key's value (`api_key = ...`,
// `token`, `secret`, `password`) is refused with the way out, and no
// message ever repeats the value of such a key or of api_key_env.
//
// [[user]] tables (foldback serve's users, serve/users.h) may sit in the
// same file: they are checked by serve, not here.
#ifndef FOLDBACK_NATIVE_HOST_CONFIG_H_
#define FOLDBACK_NATIVE_HOST_CONFIG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/status.h"

namespace foldback::host {

enum class SettingType { kString, kInt, kNumber, kBool, kStrings };

// One key of the schema.
struct SettingSpec {
  const char* key;  // "section.name"
  SettingType type;
  const char* help;
};

// Every key foldback.toml may hold, in the documented order.
const std::vector<SettingSpec>& ConfigSchema();

// One setting as a file wrote it.
struct Setting {
  std::string key;  // "llm.endpoint"
  SettingType type = SettingType::kString;
  // The value as a command-line flag would carry it: one string (integers
  // in decimal, numbers in their shortest form, booleans "true"/"false"),
  // one per element for kStrings.
  std::vector<std::string> values;
  std::string file;
  uint32_t line = 0;
  // "file:line".
  std::string where() const;
};

// The files a command looks at.
struct ConfigFiles {
  std::string explicit_path;  // --config: must exist when given
  std::string index_dir;      // <index_dir>/foldback.toml when present ("" = none)
  std::string user_dir;       // <user_dir>/foldback.toml when present ("" = none)
};

// The user's config folder: $XDG_CONFIG_HOME/foldback, else
// $HOME/.config/foldback; "" when neither variable is set. `getenv` is
// std::getenv (a parameter for tests).
std::string UserConfigDir(const std::function<const char*(const char*)>& getenv);

class Config {
 public:
  // Parses one file's text; `source` names it in messages.
  static Result<Config> Parse(std::string_view toml, const std::string& source);
  // Reads and parses `path`.
  static Result<Config> Load(const std::string& path);
  // Every file of `files` that exists, merged by precedence (--config,
  // then the index folder's, then the user's). NotFound when --config
  // names a file that does not exist; the first file's error otherwise.
  static Result<Config> LoadLayers(const ConfigFiles& files);

  // Adds the settings of `lower` that this config does not set.
  void MergeUnder(const Config& lower);

  // The setting of `key` ("llm.endpoint"), or null.
  const Setting* Find(std::string_view key) const;
  const std::vector<Setting>& settings() const { return settings_; }
  // The files read, highest precedence first.
  const std::vector<std::string>& files() const { return files_; }
  // The highest file holding [[user]] tables ("" when none).
  const std::string& users_file() const { return users_file_; }

 private:
  std::vector<Setting> settings_;
  std::vector<std::string> files_;
  std::string users_file_;
};

}  // namespace foldback::host

#endif  // FOLDBACK_NATIVE_HOST_CONFIG_H_
