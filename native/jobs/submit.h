// Submitting map, embed and synthesize jobs, and reading their results:
// what `foldback jobs submit` / `jobs results` and the C API's fb_jobs_*
// both call, so a job submitted from either is the same job.
#ifndef FOLDBACK_NATIVE_JOBS_SUBMIT_H_
#define FOLDBACK_NATIVE_JOBS_SUBMIT_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "foldback/jobs.h"
#include "foldback/status.h"
#include "jobs/job_spec.h"
#include "jobs/job_store.h"

namespace foldback::jobs {

struct SubmitRequest {
  std::string kind;       // "map" | "embed" | "synthesize"
  std::string index_dir;  // made absolute
  std::string matter;
  std::vector<std::string> filters;  // FIELD=VALUE, FIELD>=VALUE, FIELD<=VALUE
  std::optional<std::set<std::string>> allowed_matters;
  // map: one of instructions / program_json (a DSPy saved program's text);
  // synthesize: either or neither (the built-in predictor).
  std::string instructions;
  std::string program_json;
  std::string program_source;  // shown in results: the program file's name
  std::string question;        // map: the predictor's 'question' input
  EndpointSpec endpoint;       // the key's variable NAME only
  std::vector<std::string> redact;
  uint32_t token_budget = 6000;  // map: document tokens per request
  uint32_t embed_batch = 64;
  // synthesize
  uint32_t sample = 100, questions_per_passage = 3, min_words = 12, max_per_document = 0,
           passage_tokens = 512, max_question_bytes = 300;
  uint64_t seed = 42;
  LeasePolicy lease;
  JobLimits limits;
};

struct Submitted {
  std::string job_id;
  size_t items = 0;
  std::string program_hash;     // map, synthesize
  bool question_unset = false;  // the predictor has a 'question' input and none was given
};

// Checks the request (the endpoint's URL, the key's variable set — read,
// never stored —, redaction patterns, limits), selects the items behind the
// walls and submits the job. InvalidArgument naming what is wrong (in the
// CLI's flag names), PermissionDenied for a matter outside the walls.
Result<Submitted> SubmitJob(JobStore& store, const SubmitRequest& request);

struct ResultsReport {
  size_t done = 0, failed = 0, open = 0;
  size_t pairs = 0;  // synthesize (not raw): pairs written
};

// The job's results as JSONL: map and finetune lines as stored; embed
// lines with their "vector"; synthesize one training pair per question
// (QuestionPairLine) unless `raw`. `include_failed` adds {id, error,
// attempts} per failed item.
Result<std::string> JobResultsJsonl(JobStore& store, const std::string& job_id, bool include_failed,
                                    bool raw, ResultsReport* report);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_SUBMIT_H_
