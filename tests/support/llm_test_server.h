// An OpenAI-compatible HTTP server on loopback for tests, benchmarks and
// manual tries (cpp-httplib). Tests start it themselves on an ephemeral port
// and script it per test:
//
//   auto server = LlmTestServer::Start();
//   (*server)->Script({.status = 429, .headers = {{"Retry-After", "1"}}});
//   (*server)->Script({.content = "[[ ## query ## ]]\ntermination notice"});
//   ... point an LlmClient at (*server)->base_url() ...
//   EXPECT_EQ((*server)->requests().size(), 2u);
//
// Routes: POST .../chat/completions (chat completion replies), POST
// .../embeddings (deterministic embeddings: a hashed bag of words folded into
// a fixed-dimension unit vector), anything else 404. Two control routes,
// for a driver in another process (tests/parity, tests/crash/jobs_kill_loop.sh), are neither recorded nor
// scripted: GET /__test/requests (the recorded requests as a JSON list of
// {method, path, query, headers: {lowercased name: first value}, body,
// arrival_ms, status}) and POST /__test/script (a script as
// ParseServerScript reads it: its replies replace the script, and the
// recorded requests are cleared; 400 naming the bad field).
//
// Scripted replies are tried in order; the first whose `path` and `match`
// fit the request answers it and counts down its `times`. A request nothing
// matches gets the default: a chat completion of `default_content`, or the
// deterministic embeddings.
//
// Thread safety: all methods may be called from any thread while the server
// runs.
#ifndef FOLDBACK_TESTS_SUPPORT_LLM_TEST_SERVER_H_
#define FOLDBACK_TESTS_SUPPORT_LLM_TEST_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "foldback/status.h"

namespace foldback::testing {

struct ScriptedReply {
  enum class Fault : int {
    kNone = 0,
    kTruncate = 1,          // Content-Length of the whole body, half of it sent, connection closed
    kHangAfterHeaders = 2,  // status line and headers sent, then nothing for hang_ms
    kCloseMidBody = 3,      // chunked body, half of it sent, connection closed (no last chunk)
    kInvalidJson = 4,       // a complete reply whose body is not JSON
  };
  // Request path must contain this ("" = any path), e.g. "/embeddings".
  std::string path;
  // The request's text (chat: the messages' contents; embeddings: the
  // inputs; else the raw body) must contain this ("" = any request).
  std::string match;
  // Requests this entry answers; -1 = every matching request from now on.
  int times = 1;
  int status = 200;
  // Chat: the assistant's content, wrapped in a chat completion.
  std::string content;
  // When not empty: sent verbatim as the body instead (content ignored).
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Wait before sending anything.
  double delay_ms = 0;
  Fault fault = Fault::kNone;
  // How long kHangAfterHeaders hangs (the server's Stop() ends it early).
  double hang_ms = 60000;
  std::string model = "foldback-test-model";
};

struct RecordedRequest {
  std::string method;
  std::string path;   // without the query string
  std::string query;  // e.g. "api-version=2024-10-21"
  std::multimap<std::string, std::string> headers;  // names lowercased
  std::string body;
  double arrival_ms = 0;  // on a steady clock, since the server started
  int status = 0;         // the status the server chose

  // First value of header `name` (any case), "" when absent.
  std::string Header(const std::string& name) const;
};

struct LlmTestServerOptions {
  // Size of the deterministic embeddings. Default: 64.
  uint32_t embedding_dim = 64;
  // Chat reply when nothing in the script matches.
  std::string default_content = "ok";
  // Instead of default_content, answer unscripted chat requests the way a
  // DSPy program expects (see EchoReply): handy for demos and examples.
  // Default: false.
  bool echo = false;
  // Delay of unscripted replies. Default: 0.
  double default_delay_ms = 0;
  // Worker threads (concurrent requests served). Default: 32.
  int threads = 32;
  // When not empty, requests must authenticate with it ("Authorization:
  // Bearer KEY" or "api-key: KEY"), else 401.
  std::string expected_key;

  // Fine-tuning (finetune jobs): POST .../files (multipart, purpose
  // fine-tune), GET .../files, POST .../fine_tuning/jobs, GET
  // .../fine_tuning/jobs and .../fine_tuning/jobs/ID. A job answers
  // "validating_files" when created, then "queued" for
  // `finetune_queued_polls` polls and "running" for
  // `finetune_running_polls`, then "succeeded" with fine_tuned_model
  // "ft:MODEL:foldback-test::ID" — or "failed" with
  // `finetune_fail_message` when that is set. Scripted replies (by path)
  // answer these routes first: failures, 429s, delays.
  int finetune_queued_polls = 1;
  int finetune_running_polls = 1;
  std::string finetune_fail_message;
};

class LlmTestServer {
 public:
  // Binds 127.0.0.1:`port` (0 = an ephemeral port) and serves on a
  // background thread. IOError when the port cannot be bound.
  static Result<std::unique_ptr<LlmTestServer>> Start(LlmTestServerOptions options = {},
                                                      int port = 0);
  ~LlmTestServer();  // Stop()s.
  LlmTestServer(const LlmTestServer&) = delete;
  LlmTestServer& operator=(const LlmTestServer&) = delete;

  int port() const;
  // "http://127.0.0.1:PORT/v1"
  std::string base_url() const;

  void Script(ScriptedReply reply);
  void ClearScript();
  // Scripted entries not yet used up.
  size_t script_left() const;

  std::vector<RecordedRequest> requests() const;
  size_t request_count() const;
  void ClearRequests();

  // Fine-tuning: the files uploaded so far (id -> content) and the jobs
  // created (their training files, in order).
  std::map<std::string, std::string> finetune_files() const;
  std::vector<std::string> finetune_jobs() const;

  // Stops serving; hanging and delayed replies end at once. Idempotent.
  void Stop();

  struct Rep;

 private:
  explicit LlmTestServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// The test server's embedding of `text`: lowercase alphanumeric words,
// each hashed (FNV-1a) to a bucket and a sign, summed, L2-normalized. The
// same text always gives the same vector; texts sharing words are close.
// An empty text gives a vector with 1 in bucket 0.
std::vector<float> HashEmbedding(std::string_view text, uint32_t dim);

// The echo server's reply to a chat in DSPy's ChatAdapter layout: the
// output fields the last user message asks for ("Respond with the
// corresponding output fields, starting with the field `[[ ## query ## ]]`
// ..." or "Respond with a JSON object in the following order of fields:
// `query` ..."), each filled from the `[[ ## question ## ]]` section: an
// output named "answer" gets "Echo: <question> [1]", "reasoning" a fixed
// sentence, any other field the question itself. Without such a request:
// the last user message's first line.
// A GenerateQuestions prompt (foldback/questions.h: a `[[ ## passage ## ]]`
// section and a `questions` output) gets `count` (its `[[ ## count ## ]]`,
// default 3) deterministic questions built from the passage's words
// (EchoQuestions), as a JSON list.
std::string EchoReply(const std::string& last_user_message);
std::vector<std::string> EchoQuestions(const std::string& passage, size_t count);

// ---- LLM reranker (foldback/llm_rerank.h)
// A RankPassages prompt (a `[[ ## passages ## ]]` section of numbered
// <passage n="k"> blocks and a `ranking` output) gets EchoRanking: the
// passages ordered by how many distinct words of the question (lowercase
// letters and digits, 3+ characters) each holds, most first, ties by
// number; as "[2] > [1] > [3]". Text outside the blocks and the blocks'
// attributes are not read.
std::string EchoRanking(const std::string& question, const std::string& passages_section);
// ---- end LLM reranker

// A script file (JSON) for the standalone server:
//   {"embedding_dim": 64, "default_content": "...", "default_delay_ms": 0, "echo": false,
//    "expected_key": "...",
//    "replies": [{"path": "", "match": "", "times": 1, "status": 200,
//                 "content": "", "body": "", "headers": {"Retry-After": "1"},
//                 "delay_ms": 0, "hang_ms": 60000, "model": "...",
//                 "fault": "none|truncate|hang|close_mid_body|invalid_json"}]}
// InvalidArgument naming the bad field.
struct ServerScript {
  LlmTestServerOptions options;
  std::vector<ScriptedReply> replies;
};
Result<ServerScript> ParseServerScript(std::string_view json);

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_LLM_TEST_SERVER_H_
