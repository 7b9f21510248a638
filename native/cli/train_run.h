// Contrastive training of an index's embedder as the CLI runs it: shared by
// `foldback train` and `foldback eval --train corpus`.
#ifndef FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_
#define FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "foldback/index.h"
#include "foldback/train.h"

namespace foldback::cli {

struct TrainArgs {
  std::string sources = "structure";
  uint32_t epochs = EmbedderTrainOptions().epochs;
  uint64_t seed = EmbedderTrainOptions().seed;
  uint32_t batch_size = EmbedderTrainOptions().batch_size;
  uint32_t max_pairs = EmbedderTrainOptions().max_pairs;
  float learning_rate = EmbedderTrainOptions().learning_rate;
  float temperature = EmbedderTrainOptions().temperature;
  bool no_hard_negatives = false;
  bool fixed_weights = false;
  bool incremental = false;
};

// Adds --sources, --epochs, --seed, --batch-size, --max-pairs, --lr,
// --temperature, --no-hard-negatives, --fixed-weights (and, unless
// `for_eval`, --incremental) to `cmd`, with `prefix` before each long name
// ("train-" gives --train-epochs).
void AddTrainOptions(CLI::App* cmd, TrainArgs* a, const std::string& prefix, bool for_eval);

// Trains `index`'s embedder and installs the model, printing progress and the
// loss on stderr (every `report_every` steps and at each epoch's end) unless
// `quiet`. Fills *report (pairs per source, steps, loss before and after,
// seconds, the new model's version).
Status TrainIndexEmbedder(Index* index, const TrainArgs& a, bool quiet, nlohmann::json* report);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_
