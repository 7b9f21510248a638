#include "cli/rerank_flags.h"

#include "foldback/feedback.h"
#include "host/feedback_log.h"

namespace foldback::cli {

void AddRerankOptions(CLI::App* cmd, std::string* kind, size_t* depth) {
  cmd->add_option("--rerank", *kind,
                  "Second stage over the top results: none, or learned (a reranker learned from "
                  "lawyers' relevant / not-relevant labels in the feedback log, behind your "
                  "walls); llm is not available yet")
      ->capture_default_str();
  cmd->add_option("--rerank-depth", *depth, "Results the reranker reorders")->capture_default_str();
}

Result<std::unique_ptr<Reranker>> LoadReranker(
    const std::string& kind, size_t depth, const std::string& index_dir, const Index& index,
    const std::optional<std::set<std::string>>& allowed_matters) {
  RerankerKind k;
  if (!ParseRerankerKind(kind, &k)) {
    return Status::InvalidArgument("--rerank must be none, learned or llm, not \"" + kind + "\"");
  }
  if (depth == 0 || depth > 10000) {
    return Status::InvalidArgument("--rerank-depth must be in 1..10000");
  }
  if (k == RerankerKind::kNone) return std::unique_ptr<Reranker>();
  if (k == RerankerKind::kLlm) {
    return Status::InvalidArgument(
        "--rerank llm: the LLM listwise reranker is not available yet; use none or learned");
  }
  auto contents = host::ReadFeedbackLogFile(index_dir);
  if (!contents.ok()) return contents.status();
  LearnedRerankerOptions o;
  o.allowed_matters = allowed_matters;  // learn only from what this user may see
  auto trained = LearnedReranker::Train(index, ApplyFeedbackLog(*contents).records, o);
  if (!trained.ok()) return trained.status();
  return std::unique_ptr<Reranker>(std::move(trained.value()));
}

}  // namespace foldback::cli
