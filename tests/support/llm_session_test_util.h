// GoogleTest helpers for the tests of the sans-IO sessions that ask one LLM
// predictor (QuestionSession, LlmRerankSession): the echo test server on
// loopback with an LlmClient pointed at it, a loop that plays the host until
// a session is done, and readers of the requests a session builds.
//
//   auto echo = testing::EchoLlm::Start();
//   ASSERT_TRUE(echo.ok()) << echo.status().ToString();
//   auto s = QuestionSession::Start(...);
//   (*echo)->Drive(**s);
//   ... (*echo)->server().requests() ...
#ifndef FOLDBACK_TESTS_SUPPORT_LLM_SESSION_TEST_UTIL_H_
#define FOLDBACK_TESTS_SUPPORT_LLM_SESSION_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "foldback/ask.h"
#include "foldback/index.h"
#include "foldback/status.h"
#include "llm/llm_client.h"
#include "llm_test_server.h"

namespace foldback::testing {

// A document of `text` in `matter` ("" = none).
inline Document Doc(std::string id, std::string text, std::string matter = "") {
  Document d;
  d.id = std::move(id);
  d.text = std::move(text);
  d.matter = std::move(matter);
  return d;
}

// The last user message of a request ("" when none).
inline std::string LastUser(const LlmRequest& r) {
  for (auto it = r.messages.rbegin(); it != r.messages.rend(); ++it) {
    if (it->role == "user") return it->content;
  }
  return "";
}

// Every message of a request, one after the other.
inline std::string AllText(const LlmRequest& r) {
  std::string s;
  for (const auto& m : r.messages) s += m.content + "\n";
  return s;
}

// The echo test server (LlmTestServerOptions::echo) and an LlmClient of
// model "m" pointed at it.
class EchoLlm {
 public:
  static Result<std::unique_ptr<EchoLlm>> Start() {
    LlmTestServerOptions so;
    so.echo = true;
    auto server = LlmTestServer::Start(so);
    if (!server.ok()) return server.status();
    llm::LlmClientOptions co;
    co.chat.url = (*server)->base_url();
    co.chat.model = "m";
    auto client = llm::LlmClient::Create(co);
    if (!client.ok()) return client.status();
    return std::unique_ptr<EchoLlm>(new EchoLlm(std::move(*server), std::move(*client)));
  }

  LlmTestServer& server() { return *server_; }
  llm::LlmClient& client() { return *client_; }

  // Plays the host until `session` is done: starts every need it emits and
  // hands back every result (at time 0). A need the client refuses or a
  // result the session refuses fails the test and ends the loop.
  template <typename Session>
  void Drive(Session& session) {
    while (!session.done()) {
      for (const Need& n : session.TakeNeeds()) ASSERT_TRUE(client_->Start(n).ok());
      for (auto& c : client_->Wait(100)) ASSERT_TRUE(session.Provide(c.need_id, c.result, 0).ok());
    }
  }

 private:
  EchoLlm(std::unique_ptr<LlmTestServer> server, std::unique_ptr<llm::LlmClient> client)
      : server_(std::move(server)), client_(std::move(client)) {}

  // Declared first, destroyed last: the client's transfers end before it.
  std::unique_ptr<LlmTestServer> server_;
  std::unique_ptr<llm::LlmClient> client_;
};

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_SUPPORT_LLM_SESSION_TEST_UTIL_H_
