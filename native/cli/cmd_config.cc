// foldback config [--index DIR] [--json]
//
// What foldback.toml says for a command run with this --index (and
// --config): the files read, highest precedence first, and every setting
// with the file and line it comes from and the flags it stands for. For IT
// checking a deployment; a flag given on a command line still wins. Key
// variables are shown by name with whether they are set, never a value.
#include <nlohmann/json.hpp>

#include <cstdlib>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/config_flags.h"

namespace foldback::cli {
namespace {

using json = nlohmann::ordered_json;

struct ConfigArgs {
  std::string index_dir;
  bool json = false;
};

// The subcommands whose flags a key fills, as "ask --endpoint, serve --endpoint".
std::string FlagsOf(const std::string& key) {
  std::string out;
  for (const char* c : {"ask", "search", "serve", "export", "feedback", "jobs submit"}) {
    if (const char* f = FlagFor(key, c))
      out += (out.empty() ? "" : ", ") + std::string(c) + " " + f;
  }
  if (key == "log.format") out = "--log-format";
  return out;
}

int Run(const ConfigArgs& a) {
  auto config = LoadConfigFor(a.index_dir);
  if (!config.ok()) return Fail(config.status());
  if (a.json) {
    json out = {{"files", config->files()}, {"settings", json::array()}};
    for (const host::Setting& s : config->settings()) {
      json v = s.type == host::SettingType::kStrings ? json(s.values) : json(s.values.front());
      json item = {{"key", s.key},
                   {"value", v},
                   {"file", s.file},
                   {"line", s.line},
                   {"flags", FlagsOf(s.key)}};
      if (s.key.size() > 12 && s.key.compare(s.key.size() - 12, 12, ".api_key_env") == 0) {
        const char* set = std::getenv(s.values.front().c_str());
        item["variable_set"] = set != nullptr && *set != '\0';
      }
      out["settings"].push_back(item);
    }
    if (!config->users_file().empty()) out["users_file"] = config->users_file();
    fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(out.dump(2)));
    return 0;
  }
  if (config->files().empty()) {
    fmt::print(FMT_STRING("no foldback.toml found (built-in defaults)\n"));
    return 0;
  }
  fmt::print(FMT_STRING("files, highest precedence first:\n"));
  for (const auto& f : config->files()) fmt::print(FMT_STRING("  {}\n"), TerminalSafe(f, false));
  for (const host::Setting& s : config->settings()) {
    std::string v;
    for (const auto& x : s.values) v += (v.empty() ? "" : ", ") + x;
    if (s.type == host::SettingType::kStrings) v = "[" + v + "]";
    fmt::print(FMT_STRING("{:<26} = {}\n    from {}; {}\n"), s.key, TerminalSafe(v, false),
               TerminalSafe(s.where(), false), FlagsOf(s.key));
  }
  if (!config->users_file().empty()) {
    fmt::print(FMT_STRING("serve's users: [[user]] tables of {}\n"),
               TerminalSafe(config->users_file(), false));
  }
  return 0;
}

}  // namespace

void RegisterConfig(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<ConfigArgs>();
  CLI::App* cmd = app.add_subcommand(
      "config", "Show what foldback.toml sets (files by precedence, each setting's file and line)");
  cmd->add_option("--index", a->index_dir, "Index folder (its foldback.toml counts)");
  cmd->add_flag("--json", a->json, "Print as JSON");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
