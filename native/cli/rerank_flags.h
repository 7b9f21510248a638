// --rerank none|learned|llm and --rerank-depth N, shared by `search` and
// `ask`.
#ifndef FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_
#define FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_

#include <memory>
#include <optional>
#include <set>
#include <string>

#include <CLI/CLI.hpp>

#include "foldback/index.h"
#include "foldback/rerank.h"

namespace foldback::cli {

void AddRerankOptions(CLI::App* cmd, std::string* kind, size_t* depth);

// The reranker the flags ask for: null for none; for learned, one trained
// from the live records of DIR/feedback.log that `allowed_matters` (the
// user's walls) let through — records touching another matter are refused
// before training. InvalidArgument for an unknown kind, a bad depth, and
// for llm (not available yet).
Result<std::unique_ptr<Reranker>> LoadReranker(
    const std::string& kind, size_t depth, const std::string& index_dir, const Index& index,
    const std::optional<std::set<std::string>>& allowed_matters);

}  // namespace foldback::cli

#endif  // FOLDBACK_NATIVE_CLI_RERANK_FLAGS_H_
