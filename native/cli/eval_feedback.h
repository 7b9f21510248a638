// `foldback eval --feedback-queries TRAIN.jsonl`: measuring what feedback
// teaches. Simulated lawyers ask the TRAIN queries, are shown the top
// results and label them from the qrels; their records go through the real
// feedback path (FeedbackLogWriter into a memory sink, ReadFeedbackLog,
// ApplyFeedbackLog); FoldBack is built from what was read back, and the
// --queries set is evaluated without and with each fold-back method.
#ifndef FOLDBACK_NATIVE_CLI_EVAL_FEEDBACK_H_
#define FOLDBACK_NATIVE_CLI_EVAL_FEEDBACK_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "foldback/eval.h"
#include "foldback/index.h"
#include "foldback/rerank.h"
#include "foldback/search.h"
#include "foldback/train.h"

namespace foldback::cli {

struct FeedbackEvalArgs {
  std::string train_queries;  // empty: no feedback evaluation
  std::string methods = "demos,rocchio,adapter";
  size_t depth = 10;  // results each simulated lawyer sees and labels
  // Share of the shown passages an (imperfect) simulated lawyer labels; the
  // others stay unlabelled (never negatives). 1: every shown passage.
  double label_rate = 1.0;
  uint64_t label_seed = 7;      // which passages are labelled, with label_rate < 1
  size_t rerank_depth = 50;     // candidates the reranker reorders (method "rerank")
  std::string rerank = "none";  // --rerank: learned adds the method "rerank"
  // Learned reranker settings measured (LearnedRerankerOptions).
  bool rerank_memory = LearnedRerankerOptions().memory;
  double rerank_l2 = LearnedRerankerOptions().l2;
  double rerank_min_similarity = LearnedRerankerOptions().min_similarity;
  bool rerank_prior = LearnedRerankerOptions().label_prior;
  double min_similarity = FoldBackOptions().min_similarity;
  double rerank_same_similarity = LearnedRerankerOptions().same_question_similarity;
  double rerank_first_stage_prior = LearnedRerankerOptions().first_stage_prior;
  // Method finetune (the embedder trained on the labels).
  uint32_t finetune_epochs = kFeedbackOnlyEpochs;
  float finetune_interpolation = 1.0f;
  // The pair sources of that training: the labels alone, or with the
  // corpus' structure in one training ("feedback,structure", "all").
  std::string finetune_sources = "feedback";
};

// --rerank / --rerank-depth as given to `eval`: InvalidArgument for an
// unknown kind, for llm with --feedback-queries (it learns nothing from
// labels; `eval --rerank llm` runs it over plain search) and for learned
// without --feedback-queries (the learned reranker needs labels).
Status CheckEvalRerank(const FeedbackEvalArgs& args);

// Registers --feedback-queries, --feedback-methods, --feedback-depth,
// --feedback-label-rate, --feedback-seed, --rerank, --rerank-depth.
void AddFeedbackEvalOptions(CLI::App* cmd, FeedbackEvalArgs* args);

struct FeedbackEvalContext {
  Index* index = nullptr;
  SearchOptions search;  // mode, fusion: the baseline's options
  const Qrels* qrels = nullptr;
  const std::vector<EvalQuery>* queries = nullptr;  // the evaluated set
  std::string scope_field;
  size_t top_k = 100;
  size_t limit = 0;
  bool json = false;
  std::string mode_name;
};

// Runs the simulation and the evaluation, prints the report (JSON with
// "baseline", "with_feedback" and "methods", or text). Returns the exit code.
int RunFeedbackEval(const FeedbackEvalArgs& args, const FeedbackEvalContext& ctx);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_EVAL_FEEDBACK_H_
