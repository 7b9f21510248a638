// foldback — the command-line tool.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <system_error>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/config_flags.h"
#include "foldback/version.h"

int main(int argc, char** argv) {
  CLI::App app{"foldback: retrieval, query rewriting and feedback capture for legal work"};
  app.set_version_flag("--version", std::string("foldback ") + foldback::Version());
  app.require_subcommand(1);
  app.fallthrough(false);
  int exit_code = 0;
  foldback::cli::RegisterDemo(app, &exit_code);
  foldback::cli::RegisterIngest(app, &exit_code);
  foldback::cli::RegisterSearch(app, &exit_code);
  foldback::cli::RegisterInfo(app, &exit_code);
  foldback::cli::RegisterDelete(app, &exit_code);
  foldback::cli::RegisterEval(app, &exit_code);
  foldback::cli::RegisterAsk(app, &exit_code);
  foldback::cli::RegisterWatch(app, &exit_code);
  foldback::cli::RegisterExtract(app, &exit_code);
  foldback::cli::RegisterFeedback(app, &exit_code);
  foldback::cli::RegisterCompact(app, &exit_code);
  foldback::cli::RegisterExport(app, &exit_code);
  foldback::cli::RegisterJobs(app, &exit_code);
  foldback::cli::RegisterTrain(app, &exit_code);
  foldback::cli::RegisterServe(app, &exit_code);
  foldback::cli::RegisterConfig(app, &exit_code);
  // --config, --log-format and foldback.toml (cli/config_flags.h).
  foldback::cli::SetUpConfig(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const foldback::cli::ConfigFailure& e) {
    return foldback::cli::Fail(e.status);
  } catch (const std::system_error& e) {
    // fmt::print throws on a failed write (a full disk, a closed pipe with
    // SIGPIPE ignored: "cannot write to file: ...") where printf went on
    // silently; so do std::filesystem calls that have no error_code. Said
    // once, non-zero exit — not std::terminate. fputs: stderr failing too
    // must not throw again.
    std::fputs(fmt::format(FMT_STRING("error: {}\n"), e.what()).c_str(), stderr);
    return 1;
  }
  return exit_code;
}
