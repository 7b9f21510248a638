// Programs as data: DSPy-style predictors (signature, instructions, demos)
// that the ask session renders as OpenAI chat messages, and the parsing of
// the model's replies.
//
// A Program holds the query writers (GenerateSearchQuery: context, question
// -> query), one per hop or one shared, and an answer writer
// (GenerateAnswer: context, question -> answer). Prompts are rendered in the
// layout of DSPy's ChatAdapter (DSPy 2.6: dspy/adapters/chat_adapter.py and
// base.py): a system message describing the fields, their structure with
// `[[ ## field ## ]]` markers and the instructions; demos as user/assistant
// pairs; the assistant's part closing with `[[ ## completed ## ]]`. A program
// optimized and saved by DSPy (`program.save("x.json")`) loads with
// LoadDspyProgram and renders the prompts DSPy itself would send.
//
// Thread safety: a Program is immutable once built; const methods may run
// concurrently.
#ifndef FOLDBACK_PROGRAM_H_
#define FOLDBACK_PROGRAM_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "foldback/ask.h"
#include "foldback/export.h"
#include "foldback/status.h"

namespace foldback {

// One field of a predictor's signature.
struct ProgramField {
  std::string name;         // e.g. "context", "question", "query", "answer", "reasoning"
  std::string prefix;       // DSPy's prefix ("Search Query:"); kept for round trips
  std::string description;  // shown in the system message; may be empty
  bool input = true;        // input field (else output)
};

// A demo: field name -> value. List values from DSPy are stored already
// rendered as DSPy renders them ("[1] «...»\n[2] «...»").
using ProgramDemo = std::map<std::string, std::string>;

struct Predictor {
  std::string name;          // e.g. "generate_query[0]", "generate_answer"
  std::string instructions;  // the signature's docstring
  std::vector<ProgramField> fields;  // signature order: inputs, then outputs
  std::vector<ProgramDemo> demos;

  // nullptr when the signature has no such field.
  const ProgramField* Find(std::string_view field_name) const;
  // The output the session consumes: the last output field ("query",
  // "search_query" or "answer"; a ChainOfThought's "reasoning" comes before
  // it). Empty when there is no output field.
  std::string MainOutput() const;
};

// The field values of one call. Missing input fields render as empty.
using PredictorInputs = std::map<std::string, std::string>;

class FOLDBACK_EXPORT Program {
 public:
  // foldback's built-in program: one shared query writer and an answer
  // writer, with instructions written for contract retrieval.
  static Program Default();

  // A program from predictors. REQUIRES nothing: InvalidArgument unless
  // there is at least one query writer whose inputs are among {context,
  // question} (question required) and whose main output is "query" or
  // "search_query", and an answer writer with main output "answer" and the
  // same inputs. Query writer i serves hop i + 1; hops beyond the last query
  // writer reuse the last one.
  static Result<Program> Create(std::vector<Predictor> query_writers, Predictor answer_writer);

  // REQUIRES: hop >= 1.
  const Predictor& QueryWriter(uint32_t hop) const;
  const Predictor& AnswerWriter() const { return answer_writer_; }
  const std::vector<Predictor>& query_writers() const { return query_writers_; }

  // Stable hash of every rendered prompt (system messages, demos), 16 hex
  // digits: two programs with the same version send the same prompts.
  const std::string& version() const { return version_; }

 private:
  Program() = default;
  void ComputeVersion();

  std::vector<Predictor> query_writers_;
  Predictor answer_writer_;
  std::string version_;
};

// Renders one call of `predictor` as chat messages in DSPy's ChatAdapter
// layout. With `json_reply`, the final user message asks for a JSON object
// instead of markers (DSPy's JSONAdapter wording) — used when retrying after
// an unusable reply.
std::vector<ChatMessage> RenderChat(const Predictor& predictor, const PredictorInputs& inputs,
                                    bool json_reply = false);

// A JSON schema (draft 2020-12 subset accepted by OpenAI's response_format)
// for the predictor's output fields, all strings, all required.
std::string OutputJsonSchema(const Predictor& predictor);

// ---------------------------------------------------------------- replies

// Caps: a reply is read up to kMaxReplyBytes; a query is cut to
// kMaxQueryBytes, an answer to kMaxAnswerBytes (at a UTF-8 boundary).
constexpr size_t kMaxReplyBytes = 256 * 1024;
constexpr size_t kMaxQueryBytes = 400;
constexpr size_t kMaxAnswerBytes = 32 * 1024;

struct ParsedReply {
  enum class Format : int {
    kMarkers = 0,  // [[ ## field ## ]] sections
    kJson = 1,     // a JSON object, bare or in a ```json fence
    kPlain = 2,    // no structure: the text itself
  };
  Format format = Format::kPlain;
  // Output field -> value (trimmed, capped). Always holds the main output.
  std::map<std::string, std::string> fields;
};

// Parses a reply to `predictor`: markers (anywhere in the reply, with prose
// around them; the first occurrence of a field wins; `<think>` blocks are
// skipped), else a JSON object (``` fenced or bare), else plain text (for a
// query: the first non-empty line without list bullets, "Query:"-style
// prefixes, Markdown emphasis and quotes; for an answer: the whole text).
// InvalidArgument ("unusable reply: ...") when the main output is empty or
// holds no letter or digit.
Result<ParsedReply> ParseReply(const Predictor& predictor, std::string_view reply);

// How a query writer says no further search is needed: its query is the
// word NONE (any case, optional trailing punctuation or quotes).
bool IsNoneQuery(std::string_view query);

// ---------------------------------------------------------------- DSPy

struct LoadedProgram {
  Program program;
  // Predictor names (the JSON's top-level keys) mapped to foldback's roles,
  // e.g. "generate_query[0] -> query writer, hop 1".
  std::vector<std::string> used;
  // Keys not used, each with the reason, e.g. "summarize: output 'summary'
  // is neither a query nor an answer".
  std::vector<std::string> ignored;
  // What was filled in from foldback's built-in program, version notes.
  std::vector<std::string> notes;
  std::string dspy_version;  // metadata.dependency_versions.dspy, if saved
};

// Loads the JSON that DSPy's `Module.save("x.json")` writes (DSPy 2.4 to
// 2.6: `signature` {instructions, fields[{prefix, description}]} and its
// 2.4 form `signature_instructions`/`signature_prefix`; predictors named
// `generate_query[0]`, `generate_query[0].predict`, `generate_answer`, ...;
// `demos` with `augmented` flags; `lm`, `traces`, `train` and `metadata`
// ignored — an `lm` block is never read, it may hold an API key).
// Field names are recovered from DSPy's defaults (description "${name}",
// prefix "Search Query:" -> search_query). A missing query or answer writer
// is taken from the built-in program (said in `notes`). InvalidArgument on
// malformed JSON or when no predictor maps to a query or answer writer.
Result<LoadedProgram> LoadDspyProgram(std::string_view json);

// Every predictor of a DSPy saved program, whatever its fields, in file
// order (for hosts running predictors other than the ask program's, e.g.
// the map jobs of foldback/jobs.h). Keys that are not predictors are
// skipped. InvalidArgument on malformed JSON.
Result<std::vector<Predictor>> LoadDspyPredictors(std::string_view json);

}  // namespace foldback

#endif  // FOLDBACK_PROGRAM_H_
