// What a job runs, as stored with it (JSON): the index and selection, the
// endpoint (URL, model, the NAME of the environment variable holding the
// key — never the key), redaction patterns, and for map and synthesize jobs
// the predictor itself (so workers do not need the program file) with its
// hash.
#ifndef FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_
#define FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_

#include <string>
#include <vector>

#include "foldback/jobs.h"
#include "foldback/program.h"
#include "foldback/status.h"

namespace foldback::jobs {

struct EndpointSpec {
  std::string url;
  std::string provider = "openai";
  std::string model;
  std::string api_key_env;  // a variable name; "" = no key
  std::string api_version;
  bool structured_output = true;
  std::string ca_bundle;
};

struct JobSpec {
  std::string kind;  // "map" | "embed" | "synthesize"
  std::string index_dir;
  Selection selection;
  EndpointSpec endpoint;
  std::vector<std::string> redact;  // patterns (foldback/redact.h)
  // map
  Predictor predictor;
  std::string program_hash;
  std::string program_source;  // "--instructions" or the program file's name
  std::string question;
  uint32_t token_budget = 6000;  // whitespace tokens of the document per request
  // embed
  uint32_t embed_batch = 64;  // passages per /embeddings request
  // synthesize (the predictor, hash and source above; token_budget: the
  // passage's tokens shown). Items are the sampled chunk ids.
  uint32_t questions_per_passage = 3;
  uint32_t max_question_bytes = 300;
  uint32_t sample = 0;  // passages asked for at submit (for the record)
  uint64_t seed = 42;
  std::string foldback_version;
};

std::string SpecToJson(const JobSpec& spec);
// InvalidArgument naming what is wrong.
Result<JobSpec> SpecFromJson(const std::string& json);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_
