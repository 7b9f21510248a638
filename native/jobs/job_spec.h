// What a job runs, as stored with it (JSON): the index and selection, the
// endpoint (URL, model, the NAME of the environment variable holding the
// key — never the key), redaction patterns, and for map and synthesize jobs
// the predictor itself (so workers do not need the program file) with its
// hash.
#ifndef FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_
#define FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_

#include <string>
#include <vector>

#include "foldback/finetune.h"
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

// A finetune job: the export made at submit (the job's one item carries
// its bytes) and where it goes.
struct FinetuneSpec {
  std::string trainer;  // "openai" (OpenAI / Azure OpenAI fine-tuning API) | "command"
  std::string format;   // the export format's name
  // openai: the method (supervised | dpo), model suffix, epochs (0: the
  // service's choice), poll interval; the base model is endpoint.model.
  std::string method;
  std::string suffix;
  uint32_t n_epochs = 0;
  int64_t poll_ms = 30000;
  // command: argv template ({file}, {out}; parsed like a shell's words,
  // run without a shell).
  std::string command;
  // Make the resulting model the endpoint's model for `ask` (foldback.toml
  // of the index folder) once it is trained.
  bool activate = false;
  finetune::Summary summary;  // what the approval showed
};

struct JobSpec {
  std::string kind;  // "map" | "embed" | "synthesize" | "finetune"
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
  // finetune (the selection's allowed_matters are the export's walls)
  FinetuneSpec finetune;
};

std::string SpecToJson(const JobSpec& spec);
// InvalidArgument naming what is wrong.
Result<JobSpec> SpecFromJson(const std::string& json);

}  // namespace foldback::jobs

#endif  // FOLDBACK_NATIVE_JOBS_JOB_SPEC_H_
