// foldback export --index DIR --format FORMAT --out FILE [--into PROGRAM.json]
//
// FORMAT: triplets, dpo, dpo-chat, openai-preference, sft, demos (see
// core/src/feedback/exports.cc for what each consumer reads).
//
// Fine-tuning data from the feedback log: only records with consent to
// train, never privileged ones, never forgotten ones. The file is written
// atomically (temp file, fsync, rename) and its content depends only on the
// log and the index, so re-running an interrupted export gives the same
// file.
#include <cstdio>

#include <fmt/format.h>

#include "cli/common.h"
#include "foldback/feedback.h"
#include "host/feedback_record.h"
#include "host/files.h"
#include "host/index_dir.h"

namespace foldback::cli {
namespace {

struct ExportArgs {
  std::string index_dir, format, out, allowed_matters, into;
  ExportOptions options;
};

int Run(const ExportArgs& a) {
  ExportFormat format;
  ExportOptions options = a.options;
  if (!a.allowed_matters.empty()) options.allowed_matters = SplitCommaSet(a.allowed_matters);
  if (!ParseExportFormat(a.format, &format)) {
    return Fail(Status::InvalidArgument("--format must be one of " + ExportFormatNames()));
  }
  if (!a.into.empty()) {
    if (format != ExportFormat::kDemos) {
      return Fail(Status::InvalidArgument("--into merges demos into a DSPy program: use it with "
                                          "--format demos"));
    }
    auto program = host::ReadFile(a.into);
    if (!program.ok()) return Fail(program.status());
    options.dspy_into = std::move(*program);
  }
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  ExportReport rep;
  std::vector<LogDamage> damage;
  Status s = host::ExportFeedbackFile(**opened, a.index_dir, format, options, a.out, &rep, &damage);
  for (const auto& d : damage) {
    fmt::print(stderr,
               FMT_STRING("warning: feedback log damage at byte {}: {} bytes skipped ({})\n"),
               static_cast<unsigned long long>(d.offset), static_cast<unsigned long long>(d.bytes),
               d.reason);
  }
  if (!s.ok()) return Fail(s);
  fmt::print(
      FMT_STRING("exported {} {} from {} of {} record(s) to {} (skipped: {} without consent, {} "
                 "privileged, {} behind the wall, {} with nothing for this format; {} stale "
                 "passage(s))\n"),
      rep.rows, format == ExportFormat::kDemos ? "demo(s)" : "line(s)", rep.exported, rep.records,
      a.out, rep.no_consent, rep.privileged, rep.walled, rep.unusable, rep.stale_passages);
  return 0;
}

}  // namespace

void RegisterExport(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "Export feedback as fine-tuning data");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  cmd->add_option("--format", a->format,
                  "triplets (sentence-transformers), dpo (TRL standard), dpo-chat (TRL "
                  "conversational), openai-preference (OpenAI/Azure preference fine-tuning), sft "
                  "(OpenAI chat), demos (DSPy)")
      ->required();
  cmd->add_option("--out", a->out, "Output file (replaced atomically)")->required();
  cmd->add_option("--allowed-matters", a->allowed_matters,
                  "Ethical wall: only records whose matters (and their passages') are all in "
                  "this comma-separated list");
  cmd->add_option("--negatives", a->options.negatives_per_positive,
                  "triplets: negatives per relevant passage")
      ->capture_default_str();
  cmd->add_option("--context", a->options.context_passages,
                  "sft, dpo: passages of the trace in the prompt")
      ->capture_default_str();
  cmd->add_option("--system", a->options.system_prompt,
                  "sft, dpo, dpo-chat, openai-preference: the system message (the same in all)");
  cmd->add_option("--into", a->into,
                  "demos: a DSPy saved program to merge the demos into (its other predictors "
                  "and fields are kept); the output is that program with the demos added");
  cmd->add_option("--dspy-predictor", a->options.dspy_predictor,
                  "demos: the query writer's name in the DSPy program")
      ->capture_default_str();
  cmd->add_option("--dspy-signature", a->options.dspy_signature,
                  "demos: its signature; the input named 'question' (else the first) gets the "
                  "question, the first output the query")
      ->capture_default_str();
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
