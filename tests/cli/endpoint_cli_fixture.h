// A fixture for CLI tests that talk to an LLM endpoint: a fresh folder,
// documents ingested per matter into <dir>/idx, the loopback test server
// (tests/support) and the API key in an environment variable.
#ifndef FOLDBACK_TESTS_CLI_ENDPOINT_CLI_FIXTURE_H_
#define FOLDBACK_TESTS_CLI_ENDPOINT_CLI_FIXTURE_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_test_util.h"
#include "llm_test_server.h"

namespace foldback::testing {

class EndpointCliTest : public ::testing::Test {
 protected:
  // `tag` names the temp folder; the key goes into $key_var.
  EndpointCliTest(std::string tag, std::string key_var, std::string key)
      : tag_(std::move(tag)), key_var_(std::move(key_var)), key_(std::move(key)) {}

  // Writes docs/<matter>/<file> for each entry, ingests each matter folder
  // with --matter, starts the server and sets the key. Call from SetUp.
  void Prepare(const std::map<std::string, std::map<std::string, std::string>>& docs_by_matter) {
    dir_ = std::filesystem::temp_directory_path() /
           ("foldback-" + tag_ + "-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    for (const auto& [matter, files] : docs_by_matter) {
      std::filesystem::create_directories(dir_ / "docs" / matter);
      for (const auto& [name, text] : files) WriteFile(dir_ / "docs" / matter / name, text);
    }
    for (const auto& [matter, files] : docs_by_matter) {
      CliRun r = RunCli("ingest --index " + Index() + " --matter " + matter + " " +
                        (dir_ / "docs" / matter).string());
      ASSERT_EQ(r.code, 0) << r.out << r.err;
    }
    auto s = LlmTestServer::Start();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    ::setenv(key_var_.c_str(), key_.c_str(), 1);
  }

  void TearDown() override {
    if (server_) server_->Stop();
    ::unsetenv(key_var_.c_str());
    std::filesystem::remove_all(dir_);
  }

  std::string Index() const { return (dir_ / "idx").string(); }
  // The CLI options that point `ask` at the test server with the key.
  std::string Endpoint() const {
    return "--endpoint " + server_->base_url() + " --model test-model --api-key-env " + key_var_;
  }
  nlohmann::json Json(const CliRun& r) {
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out << r.err;
    return j;
  }

  std::filesystem::path dir_;
  std::unique_ptr<LlmTestServer> server_;

 private:
  std::string tag_, key_var_, key_;
};

}  // namespace foldback::testing

#endif  // FOLDBACK_TESTS_CLI_ENDPOINT_CLI_FIXTURE_H_
