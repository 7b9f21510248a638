// Known-item search in a mailbox full of newsletters, as a user runs it:
// the subject of one message finds that message first in the default
// (hybrid) mode, and the newsletter boilerplate repeated in every other mail
// comes back once, not once per mail.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli_test_util.h"

namespace {

namespace fs = std::filesystem;
using foldback::testing::FreshTempDir;
using foldback::testing::RunCli;
using foldback::testing::ShellQuote;
using foldback::testing::WriteFile;

std::string Mail(int n, const std::string& subject, const std::string& body) {
  return "From: sender" + std::to_string(n) +
         "@example.com\r\nTo: desk@example.com\r\nSubject: " + subject +
         "\r\nDate: Mon, 4 Mar 2024 10:" + std::to_string(10 + n % 50) +
         ":00 +0000\r\nMessage-ID: <m" + std::to_string(n) +
         "@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body;
}

// Forty newsletters: each its own subject and story, the same boilerplate
// lines (">>more related articles...", an unsubscribe footer) in all.
void WriteMailbox(const std::string& dir) {
  const char* topics[] = {"pipeline capacity",  "gas storage",        "power prices",
                          "weather outlook",    "trading desk hires", "regulatory filings",
                          "transmission rates", "coal deliveries"};
  const char* verbs[] = {"rose", "fell", "held steady", "surprised analysts"};
  for (int i = 0; i < 40; ++i) {
    std::string topic = topics[i % 8];
    std::string body = "Energy digest number " + std::to_string(i) + ".\n\n";
    body += "Today's lead story: " + topic + " " + verbs[i % 4] + " in region " +
            std::to_string(i % 7) +
            " as traders watched the weekly numbers and the desk compared notes with brokers.\n\n";
    body += ">>more related articles...\n\n";
    body +=
        "Analysts said " + topic + " will matter for the next quarter of contracts and hedges.\n\n";
    body += ">>more related articles...\n\n";
    body +=
        "You receive this newsletter because you subscribed. To unsubscribe reply with the word "
        "remove in the subject line.\n";
    WriteFile(fs::path(dir) / ("news" + std::to_string(i) + ".eml"),
              Mail(i, "Energy digest " + std::to_string(i) + ": " + topic, body));
  }
  WriteFile(
      fs::path(dir) / "target.eml",
      Mail(99, "Translation of articles",
           "Mark,\n\nThe Spanish and Portuguese versions you asked for are attached; the second "
           "one still needs a lawyer's read before it goes to the board.\n\nSara\n"));
}

TEST(DistinctCli, DefaultSearchFindsTheMessageBySubjectAndShowsBoilerplateOnce) {
  std::string root = FreshTempDir("cli", "distinct");
  std::string mail = root + "/mail", index = root + "/idx";
  fs::create_directories(mail);
  WriteMailbox(mail);
  auto in = RunCli("ingest --quiet --index " + ShellQuote(index) + " " + ShellQuote(mail));
  ASSERT_EQ(in.code, 0) << in.out;

  for (const std::string mode : {"hybrid", "bm25"}) {
    auto r = RunCli("search --index " + ShellQuote(index) + " --mode " + mode +
                        " --top-k 5 --json 'Translation of articles'",
                    foldback::testing::Stderr::kSeparate);
    ASSERT_EQ(r.code, 0) << r.err;
    auto hits = nlohmann::json::parse(r.out);
    ASSERT_FALSE(hits.empty()) << mode;
    EXPECT_EQ(hits[0]["doc_id"], "target") << mode << ": " << r.out;
    std::set<std::string> texts;
    size_t boiler = 0;
    for (const auto& h : hits) {
      texts.insert(h["text"].get<std::string>());
      if (h["text"].get<std::string>().find(">>more related articles") != std::string::npos) {
        ++boiler;
        // The copies folded into it are listed.
        EXPECT_GE(h["duplicates"].size(), 39u) << mode;
      }
    }
    EXPECT_EQ(texts.size(), hits.size()) << mode << ": " << r.out;
    EXPECT_LE(boiler, 1u) << mode << ": " << r.out;
  }
  fs::remove_all(root);
}

}  // namespace
