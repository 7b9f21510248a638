// Contrastive training of an index's embedder as the CLI runs it: shared by
// `foldback train` and `foldback eval --train corpus`.
#ifndef FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_
#define FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "foldback/index.h"
#include "foldback/questions.h"
#include "foldback/train.h"

namespace foldback::cli {

struct TrainArgs {
  std::string sources = "structure";
  uint32_t epochs = EmbedderTrainOptions().epochs;
  CLI::Option* epochs_opt = nullptr;  // given: --epochs wins over kFeedbackOnlyEpochs
  uint64_t seed = EmbedderTrainOptions().seed;
  uint32_t batch_size = EmbedderTrainOptions().batch_size;
  uint32_t max_pairs = EmbedderTrainOptions().max_pairs;
  float learning_rate = EmbedderTrainOptions().learning_rate;
  float temperature = EmbedderTrainOptions().temperature;
  float interpolation = EmbedderTrainOptions().interpolation;
  uint32_t soup = EmbedderTrainOptions().soup;
  std::string source_weights;  // "cloze=0.3,heading=2"; empty: 1 each
  bool no_hard_negatives = false;
  bool fixed_weights = false;
  bool incremental = false;
  // LLM-written questions (foldback/questions.h): the llm source, used
  // beside --sources when not empty.
  std::vector<QuestionPair> generated_pairs;
  // `eval --train-pairs FILE`: pairs files read by TrainIndexEmbedder when
  // generated_pairs is empty (chunk ids are stable for the same documents).
  std::vector<std::string> pairs_files;
  // Lawyers' labels: the feedback source, used when --sources names it (or
  // "all") and these records give pairs (FeedbackTrainingPairs). Only
  // records touching no matter, or only matters in shareable_matters, are
  // used: the embedder serves every search, whatever the asker's walls.
  std::vector<FeedbackRecord> feedback_records;
  std::string shareable_matters;  // comma-separated
};

// Where `foldback train` gets LLM-written questions from.
struct QuestionArgs {
  std::vector<std::string> pairs_files;  // --pairs
  std::vector<std::string> from_job;     // --synthetic-from-job STORE JOB
  uint32_t generate = 0;                 // --generate-questions N (inline)
  uint32_t per_passage = 3, min_words = 12, concurrency = 8;
  uint64_t seed = 42;
  double deadline_s = 0;
  std::string program, matter, allowed_matters, endpoint, provider = "openai", model, api_key_env,
                                                          api_version, ca_bundle, pairs_out;
  CLI::Option* allowed_opt = nullptr;
  std::vector<std::string> redact;
};
void AddQuestionOptions(CLI::App* cmd, QuestionArgs* a);
bool WantsQuestions(const QuestionArgs& a);
// Reads --pairs files and --synthetic-from-job, and runs --generate-questions
// (printing progress unless `quiet`); appends the pairs to *out. *report:
// {pairs_read, generated: {...}}.
Status CollectQuestionPairs(const Index& index, const QuestionArgs& a, bool quiet,
                            std::vector<QuestionPair>* out, nlohmann::json* report);

// Adds --sources, --epochs, --seed, --batch-size, --max-pairs, --lr,
// --temperature, --interpolation, --soup, --source-weights, --no-hard-negatives, --fixed-weights
// (and, unless `for_eval`, --incremental) to `cmd`, with `prefix` before each long name
// ("train-" gives --train-epochs).
void AddTrainOptions(CLI::App* cmd, TrainArgs* a, const std::string& prefix, bool for_eval);

// Trains `index`'s embedder and installs the model, printing progress and the
// loss on stderr (every `report_every` steps and at each epoch's end) unless
// `quiet`. Fills *report (pairs per source, steps, loss before and after,
// seconds, the new model's version).
Status TrainIndexEmbedder(Index* index, const TrainArgs& a, bool quiet, nlohmann::json* report);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_TRAIN_RUN_H_
