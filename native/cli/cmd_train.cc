// foldback train --index DIR [--sources structure|heading,caption,...] [--epochs N] [--seed S]
//                [--incremental] [--dry-run [--show-pairs N]] [--restore] [--json]
//                [--pairs FILE | --synthetic-from-job STORE JOB |
//                 --generate-questions N --endpoint URL --model M --api-key-env VAR]
//
// Trains the index's embedder on pairs mined from its documents' structure
// (foldback/train.h), prints progress and the loss, and stores the model in
// the index's snapshot as a new version (the previous one kept: --restore
// brings it back).
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "cli/common.h"
#include "cli/train_run.h"
#include "host/feedback_log.h"
#include "host/files.h"
#include "host/index_dir.h"

namespace foldback::cli {

void AddTrainOptions(CLI::App* cmd, TrainArgs* a, const std::string& prefix, bool for_eval) {
  cmd->add_option(
         "--" + prefix + "sources", a->sources,
         "Pair sources: structure (all), or a list of heading, caption, definition, cloze, "
         "xref, subject, reply; llm (LLM-written questions) and feedback (lawyers' labels) "
         "beside them")
      ->capture_default_str();
  a->epochs_opt = cmd->add_option("--" + prefix + "epochs", a->epochs,
                                  "Passes over the pairs (feedback alone: " +
                                      fmt::to_string(kFeedbackOnlyEpochs) + " unless given)")
                      ->capture_default_str();
  cmd->add_option("--" + prefix + "seed", a->seed, "Seed for sampling and shuffling")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "batch-size", a->batch_size,
                  "Pairs per step (in-batch negatives)")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "max-pairs", a->max_pairs, "At most this many pairs")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "lr", a->learning_rate, "Adam step size")->capture_default_str();
  cmd->add_option("--" + prefix + "temperature", a->temperature, "Softmax temperature")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "interpolation", a->interpolation,
                  "Mix of the trained model with the starting one, in [0, 1] (WiSE-FT): "
                  "(1 - x) * start + x * trained")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "soup", a->soup,
                  "Train this many models (same pairs, own batch orders) and install their mean")
      ->capture_default_str();
  cmd->add_option("--" + prefix + "source-weights", a->source_weights,
                  "Loss weight per pair source, e.g. cloze=0.3,heading=2 (others 1)");
  cmd->add_flag("--" + prefix + "no-hard-negatives", a->no_hard_negatives,
                "In-batch negatives only (no BM25-mined hard negatives)");
  cmd->add_flag("--" + prefix + "fixed-weights", a->fixed_weights,
                "Keep the idf pooling weights (train the word vectors only)");
  if (for_eval) {
    cmd->add_option("--" + prefix + "pairs", a->pairs_files,
                    "LLM-written question pairs (JSONL, e.g. `foldback jobs results` of a "
                    "synthesize job over the same documents) as the llm source");
  }
  if (!for_eval) {
    cmd->add_flag("--incremental", a->incremental,
                  "Continue from the index's current (trained) model, e.g. after adding documents");
  }
}

Status TrainIndexEmbedder(Index* index, const TrainArgs& a, bool quiet, nlohmann::json* report) {
  auto sources = ParsePairSources(a.sources);
  if (!sources.ok()) return sources.status();
  auto weights = ParseSourceWeights(a.source_weights);
  if (!weights.ok()) return weights.status();
  EmbedderTrainOptions o;
  o.sources = *sources;
  o.source_weights = *weights;
  o.epochs = a.epochs_opt && a.epochs_opt->count() ? a.epochs : DefaultEpochs(o.sources);
  o.seed = a.seed;
  o.batch_size = a.batch_size;
  o.max_pairs = a.max_pairs;
  o.learning_rate = a.learning_rate;
  o.temperature = a.temperature;
  o.interpolation = a.interpolation;
  o.soup = a.soup;
  o.hard_negatives = !a.no_hard_negatives;
  o.train_weights = !a.fixed_weights;
  o.warm_start = a.incremental;
  size_t missing = 0;
  std::vector<QuestionPair> from_files;
  for (const std::string& f : a.pairs_files) {
    auto text = host::ReadFile(f);
    if (!text.ok()) return text.status();
    auto pairs = ParseQuestionPairs(*text);
    if (!pairs.ok()) return pairs.status().WithContext(f);
    from_files.insert(from_files.end(), pairs->begin(), pairs->end());
  }
  const std::vector<QuestionPair>& generated =
      a.generated_pairs.empty() ? from_files : a.generated_pairs;
  if (!generated.empty()) {
    FB_RETURN_IF_ERROR(UseQuestionPairs(*index, generated, &o, &missing));
    if (missing && !quiet) {
      fmt::print(stderr,
                 FMT_STRING("note: {} question pairs name passages no longer in the index\n"),
                 missing);
    }
  } else if (o.sources.Has(PairSource::kGenerated) && a.sources.find("llm") != std::string::npos) {
    return Status::InvalidArgument(
        "the llm source needs questions: --pairs FILE, --synthetic-from-job STORE JOB or "
        "--generate-questions N");
  }
  nlohmann::json feedback_report;
  if (o.sources.Has(PairSource::kFeedback)) {
    ExportReport er;
    Status used =
        UseFeedbackPairs(*index, a.feedback_records, SplitCommaSet(a.shareable_matters), &o, &er);
    feedback_report = {{"records", er.records},
                       {"used", er.exported},
                       {"pairs", er.rows},
                       {"no_consent", er.no_consent},
                       {"privileged", er.privileged},
                       {"walled", er.walled},
                       {"unusable", er.unusable},
                       {"stale_passages", er.stale_passages}};
    // Named, no pairs is an error; within "all", quietly none.
    if (!used.ok() && NamesPairSource(a.sources, PairSource::kFeedback)) return used;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto started = EmbedderTrainer::Start(*index, o);
  if (!started.ok()) return started.status();
  EmbedderTrainer& t = **started;
  double mine_s = SecondsSince(t0);
  std::vector<size_t> per = t.PairsPerSource();
  nlohmann::json pairs = nlohmann::json::object();
  for (int s = 0; s < kPairSourceCount; ++s) {
    if (o.sources.enabled[s]) pairs[PairSourceName(static_cast<PairSource>(s))] = per[s];
  }
  size_t negatives = 0;
  for (const auto& p : t.pairs()) negatives += !p.negative.empty();
  if (!quiet) {
    fmt::print(stderr, FMT_STRING("mined {} pairs ("), t.pairs().size());
    bool first = true;
    for (auto& [k, v] : pairs.items()) {
      fmt::print(stderr, FMT_STRING("{}{} {}"), first ? "" : ", ", k, v.get<size_t>());
      first = false;
    }
    fmt::print(stderr, FMT_STRING("), {} with a BM25 hard negative, in {:.1f}s\n"), negatives,
               mine_s);
  }
  double before = t.MeanLoss();
  if (!quiet) fmt::print(stderr, FMT_STRING("loss before training {:.4f}\n"), before);
  auto t1 = std::chrono::steady_clock::now();
  uint64_t every = std::max<uint64_t>(1, t.progress().steps / 20);
  std::vector<double> epoch_losses;
  while (!t.done()) {
    auto p = t.Step();
    if (!p.ok()) return p.status();
    bool epoch_end = p->step % (p->steps / p->epochs) == 0 || p->step == p->steps;
    if (epoch_end) epoch_losses.push_back(p->epoch_loss);
    if (!quiet && (p->step % every == 0 || epoch_end)) {
      fmt::print(stderr,
                 FMT_STRING("epoch {}/{}  step {}/{}  loss {:.4f}  (epoch mean {:.4f})  {:.1f}s\n"),
                 p->epoch, p->epochs, static_cast<unsigned long long>(p->step),
                 static_cast<unsigned long long>(p->steps), p->loss, p->epoch_loss,
                 SecondsSince(t1));
    }
  }
  double train_s = SecondsSince(t1);
  double after = t.MeanLoss();
  if (!quiet) fmt::print(stderr, FMT_STRING("loss after training {:.4f}\n"), after);
  auto t2 = std::chrono::steady_clock::now();
  FB_RETURN_IF_ERROR(t.Install(index));
  double embed_s = SecondsSince(t2);
  EmbedderInfo info = DescribeEmbedder(*index);
  if (!quiet) {
    fmt::print(
        stderr,
        FMT_STRING("installed embedder version {} (previous {} kept); re-embedded in {:.1f}s\n"),
        info.version, info.previous_version, embed_s);
  }
  if (report) {
    *report = {{"pairs", pairs},
               {"pairs_total", t.pairs().size()},
               {"generated_pairs_missing", missing},
               {"feedback", feedback_report},
               {"hard_negatives", negatives},
               {"epochs", o.epochs},
               {"steps", t.progress().steps},
               {"seed", o.seed},
               {"loss_before", before},
               {"loss_after", after},
               {"epoch_loss", epoch_losses},
               {"mine_s", mine_s},
               {"train_s", train_s},
               {"embed_s", embed_s},
               {"version", info.version},
               {"previous_version", info.previous_version},
               {"training", info.training}};
  }
  return Status::OK();
}

namespace {

struct TrainCmdArgs {
  std::string index_dir;
  TrainArgs train;
  bool dry_run = false;
  size_t show_pairs = 0;
  bool restore = false;
  bool json = false;
  QuestionArgs questions;
};

int Run(const TrainCmdArgs& a) {
  auto t0 = std::chrono::steady_clock::now();
  auto opened = host::OpenIndex(a.index_dir, /*create=*/false);
  if (!opened.ok()) return Fail(opened.status());
  Index& index = **opened;
  if (a.restore) {
    Status s = RestorePreviousEmbedder(&index);
    if (!s.ok()) return Fail(s);
    s = host::SaveIndex(a.index_dir, index);
    if (!s.ok()) return Fail(s);
    EmbedderInfo info = DescribeEmbedder(index);
    if (a.json) {
      nlohmann::json out = {{"restored", true},
                            {"version", info.version},
                            {"training", info.training},
                            {"previous_version", info.previous_version}};
      fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(out.dump(2)));
    } else {
      fmt::print(
          FMT_STRING("restored embedder version {} ({}); version {} kept as the previous one\n"),
          info.version, TerminalSafe(info.training), info.previous_version);
    }
    return 0;
  }
  TrainArgs train = a.train;
  auto sources = ParsePairSources(train.sources);
  if (sources.ok() && sources->Has(PairSource::kFeedback)) {
    // The index folder's feedback log: what lawyers labelled.
    auto contents = host::ReadFeedbackLogFile(a.index_dir);
    if (!contents.ok()) return Fail(contents.status());
    for (const auto& d : contents->damage) {
      fmt::print(stderr,
                 FMT_STRING("warning: feedback log damage at byte {}: {} bytes skipped ({})\n"),
                 static_cast<unsigned long long>(d.offset),
                 static_cast<unsigned long long>(d.bytes), d.reason);
    }
    train.feedback_records = ApplyFeedbackLog(*contents).records;
  }
  if (a.dry_run) {
    if (!sources.ok()) return Fail(sources.status());
    std::vector<TrainingPair> pairs = MinePairs(index, *sources);
    if (sources->Has(PairSource::kFeedback)) {  // what the labels would give
      EmbedderTrainOptions o;
      Status used = UseFeedbackPairs(index, train.feedback_records,
                                     SplitCommaSet(train.shareable_matters), &o);
      if (!used.ok() && NamesPairSource(train.sources, PairSource::kFeedback)) return Fail(used);
      pairs.insert(pairs.end(), o.feedback_pairs.begin(), o.feedback_pairs.end());
    }
    std::vector<size_t> per(kPairSourceCount, 0);
    for (const auto& p : pairs) ++per[static_cast<int>(p.source)];
    nlohmann::json counts = nlohmann::json::object();
    for (int s = 0; s < kPairSourceCount; ++s) {
      if (sources->enabled[s]) counts[PairSourceName(static_cast<PairSource>(s))] = per[s];
    }
    // An even sample of each source.
    nlohmann::json shown = nlohmann::json::array();
    for (int s = 0; s < kPairSourceCount && a.show_pairs; ++s) {
      if (!per[s]) continue;
      size_t step = std::max<size_t>(1, per[s] / a.show_pairs), seen = 0, taken = 0;
      for (const auto& p : pairs) {
        if (static_cast<int>(p.source) != s) continue;
        if (seen++ % step == 0 && taken < a.show_pairs) {
          ++taken;
          shown.push_back({{"source", PairSourceName(p.source)},
                           {"anchor", p.anchor},
                           {"positive", p.positive}});
        }
      }
    }
    if (a.json) {
      nlohmann::json out = {{"pairs", counts}, {"pairs_total", pairs.size()}};
      if (a.show_pairs) out["sample"] = shown;
      fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(out.dump(2)));
      return 0;
    }
    fmt::print(FMT_STRING("{} pairs would be mined (before sampling to --max-pairs {}):\n"),
               pairs.size(), a.train.max_pairs);
    for (auto& [k, v] : counts.items()) fmt::print(FMT_STRING("  {:<10} {}\n"), k, v.get<size_t>());
    for (const auto& p : shown) {
      fmt::print(FMT_STRING("[{}] {}\n    -> {}\n"), p["source"].get<std::string>(),
                 OneLine(p["anchor"].get<std::string>(), 100),
                 OneLine(p["positive"].get<std::string>(), 100));
    }
    return 0;
  }
  nlohmann::json report;
  nlohmann::json question_report;
  if (WantsQuestions(a.questions)) {
    QuestionArgs qa = a.questions;
    qa.seed = a.train.seed;  // --seed also samples the passages
    Status q =
        CollectQuestionPairs(index, qa, /*quiet=*/false, &train.generated_pairs, &question_report);
    if (!q.ok()) return Fail(q);
  }
  Status s = TrainIndexEmbedder(&index, train, /*quiet=*/false, &report);
  if (WantsQuestions(a.questions)) report["questions"] = question_report;
  if (!s.ok()) return Fail(s);
  s = host::SaveIndex(a.index_dir, index);
  if (!s.ok()) return Fail(s);
  report["total_s"] = SecondsSince(t0);
  if (a.json) {
    fmt::print(FMT_STRING("{}\n"), JsonTerminalSafe(report.dump(2)));
  } else {
    fmt::print(FMT_STRING("trained embedder version {} on {} pairs: loss {:.4f} -> {:.4f} in "
                          "{:.1f}s (saved to {})\n"),
               report["version"].get<uint32_t>(), report["pairs_total"].get<size_t>(),
               report["loss_before"].get<double>(), report["loss_after"].get<double>(),
               report["total_s"].get<double>(), TerminalSafe(a.index_dir));
  }
  return 0;
}

}  // namespace

void RegisterTrain(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<TrainCmdArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train the index's embedder on pairs mined from its documents' structure (no labels), "
      "LLM-written questions or lawyers' labels");
  cmd->add_option("--index", a->index_dir, "Index folder")->required();
  AddTrainOptions(cmd, &a->train, "", /*for_eval=*/false);
  cmd->add_flag("--dry-run", a->dry_run, "Mine the pairs and report them; train nothing");
  cmd->add_option("--show-pairs", a->show_pairs, "With --dry-run: show N pairs of each source");
  cmd->add_flag("--restore", a->restore, "Swap the embedder back to the previous version");
  cmd->add_flag("--json", a->json, "Print one JSON object");
  AddQuestionOptions(cmd, &a->questions);
  cmd->add_option("--shareable-matters", a->train.shareable_matters,
                  "With --sources feedback: matters an administrator marks shareable "
                  "(comma-separated); records touching any other matter are not used, the "
                  "embedder serving every search whatever the asker's walls");
  cmd->callback([a, exit_code] { *exit_code = Run(*a); });
}

}  // namespace foldback::cli
