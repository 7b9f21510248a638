// `foldback feedback`, `compact`, `export`, `search --feedback` and
// `eval --feedback-queries`, run as a user runs them.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "cli_test_util.h"
#include "host/files.h"
#include "host/traces.h"

namespace {

using json = nlohmann::json;
using foldback::testing::CliRun;
CliRun Cli(const std::string& args) { return foldback::testing::RunCli(args); }
std::string TempDir(const std::string& name) {
  return foldback::testing::FreshTempDir("fbcli", name);
}
void Write(const std::string& path, const std::string& data) {
  foldback::testing::WriteFile(path, data);
}
std::string Read(const std::string& path) { return foldback::testing::ReadFile(path); }

std::vector<json> JsonLines(const std::string& path) {
  std::vector<json> out;
  std::istringstream in(Read(path));
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << line;
    out.push_back(j);
  }
  return out;
}

uint64_t LogSize(const std::string& idx) { return foldback::host::FileSize(idx + "/feedback.log"); }

// An index of two matters and a saved trace, as `foldback ask` leaves them.
struct Fixture {
  std::string dir, idx;
  std::vector<std::string> chunks;  // shown in trace t1, best first
};

Fixture MakeFixture(const std::string& name) {
  Fixture f;
  f.dir = TempDir(name);
  f.idx = f.dir + "/idx";
  std::filesystem::create_directories(f.dir + "/acme");
  std::filesystem::create_directories(f.dir + "/beta");
  Write(f.dir + "/acme/reverse.txt",
        "Reverse engineering. The Recipient shall not reverse engineer the samples.\n");
  Write(f.dir + "/acme/term.txt",
        "Term. The Recipient's obligations end two years after signature.\n");
  Write(f.dir + "/acme/return.txt",
        "Return. The Recipient shall return all materials on request.\n");
  Write(f.dir + "/acme/sw.txt", "Licensee may not decompile or disassemble the software.\n");
  Write(f.dir + "/beta/lease.txt", "The Tenant shall not reverse engineer the premises alarm.\n");
  EXPECT_EQ(Cli("ingest --index " + f.idx + " --matter acme " + f.dir + "/acme").code, 0);
  EXPECT_EQ(Cli("ingest --index " + f.idx + " --matter beta " + f.dir + "/beta").code, 0);
  CliRun r = Cli("search --index " + f.idx +
                 " --mode bm25 --allowed-matters acme --json \"reverse engineer recipient\"");
  EXPECT_EQ(r.code, 0) << r.out;
  json hits = json::parse(r.out);
  json trace = {{"trace_id", "t1"},
                {"question", "May the recipient reverse engineer the samples?"},
                {"hops", json::array()},
                {"fused", json::array()},
                {"program_version", "prog-7"},
                {"model", "test-model"},
                {"answer", "Yes, freely."},
                {"stopped_early", false}};
  json hop = {{"hop", 1},
              {"query", "reverse engineering samples prohibition"},
              {"source", "llm"},
              {"results", json::array()}};
  for (const auto& h : hits) {
    json hit = {{"chunk_id", h["chunk_id"]}, {"doc_id", h["doc_id"]}, {"score", h["score"]}};
    hop["results"].push_back(hit);
    trace["fused"].push_back(hit);
    f.chunks.push_back(h["chunk_id"].get<std::string>());
  }
  trace["hops"].push_back(hop);
  EXPECT_TRUE(foldback::host::SaveTrace(f.idx, trace.dump(), "t1").ok());
  EXPECT_GE(f.chunks.size(), 3u);
  return f;
}

std::string Q(const std::string& s) { return "'" + s + "'"; }

TEST(FeedbackCli, HelpForNewSubcommands) {
  for (const char* sub : {"feedback", "compact", "export"}) {
    CliRun r = Cli(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub;
  }
}

TEST(FeedbackCli, RecordsFeedbackAndRefusesBadInput) {
  Fixture f = MakeFixture("record");
  const std::string base = "feedback --index " + f.idx + " ";
  CliRun r = Cli(base + "--trace t1 --rating up --relevant " + Q(f.chunks[0]) + " --irrelevant " +
                 Q(f.chunks[1]) + " --correction 'No: clause 1 forbids it [1].' --consent " +
                 "--user u-17 --tag reverse");
  ASSERT_EQ(r.code, 0) << r.out;
  std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$");
  EXPECT_TRUE(std::regex_match(r.out, uuid)) << r.out;
  std::string id = r.out.substr(0, 36);
  uint64_t size = LogSize(f.idx);
  ASSERT_GT(size, 0u);

  struct Bad {
    std::string args, message;
  };
  std::vector<Bad> bad = {
      {"--trace nope --rating up", "no trace 'nope'"},
      {"--trace ../etc --rating up", "trace id"},
      {"--trace t1 --relevant no-such-chunk#0-00000000",
       "unknown chunk 'no-such-chunk#0-00000000'"},
      {"--trace t1 --relevant " + Q(f.chunks[0]) + " --irrelevant " + Q(f.chunks[0]),
       "labelled both"},
      {"--trace t1 --rating 7", "rating must be"},
      {"--trace t1", "nothing to record"},
      {"--trace t1 --critique " + std::string(100 * 1024, 'x'), "critique is 102400 bytes"},
      {"--forget no-such-record", "no record 'no-such-record'"},
      {"", "give --trace"},
  };
  for (const auto& b : bad) {
    CliRun e = Cli(base + b.args);
    EXPECT_NE(e.code, 0) << b.args.substr(0, 80);
    EXPECT_NE(e.out.find(b.message), std::string::npos) << b.args.substr(0, 80) << ": " << e.out;
    EXPECT_EQ(LogSize(f.idx), size) << "something was written for " << b.args.substr(0, 80);
  }

  r = Cli(base + "--list --json");
  ASSERT_EQ(r.code, 0) << r.out;
  json list = json::parse(r.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["record_id"], id);
  EXPECT_EQ(list[0]["trace_id"], "t1");
  EXPECT_EQ(list[0]["matter"], "acme");  // every passage shown was acme's
  EXPECT_EQ(list[0]["user"], "u-17");
  EXPECT_EQ(list[0]["rating"], "up");
  EXPECT_EQ(list[0]["labels"].size(), 2u);
  EXPECT_EQ(list[0]["tags"], json::array({"reverse"}));
  EXPECT_EQ(list[0]["consent_to_train"], true);

  r = Cli(base + "--forget " + id);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(json::parse(Cli(base + "--list --json").out).size(), 0u);
  r = Cli(base + "--forget " + id);
  EXPECT_NE(r.out.find("already forgotten"), std::string::npos) << r.out;
}

// A lawyer changes their mind: --replace-earlier writes the new judgment
// and retires their earlier ones of the question in one append; another
// user's judgment of it stays.
TEST(FeedbackCli, ANewJudgmentReplacesTheEarlierOne) {
  Fixture f = MakeFixture("replace");
  const std::string base = "feedback --index " + f.idx + " --trace t1 --json ";
  CliRun first = Cli(base + "--user ann --rating up --correction 'CONSENTED answer' --consent");
  ASSERT_EQ(first.code, 0) << first.out;
  const std::string first_id = json::parse(first.out)["record_id"];
  ASSERT_EQ(Cli(base + "--user bob --rating down").code, 0);
  const uint64_t before = LogSize(f.idx);
  CliRun second = Cli(base + "--user ann --rating 5 --correction 'PRIVILEGED answer' --consent " +
                      "--privileged --replace-earlier");
  ASSERT_EQ(second.code, 0) << second.out;
  json rec = json::parse(second.out);
  EXPECT_EQ(rec["replaces"], json::array({first_id}));
  EXPECT_GT(LogSize(f.idx), before);
  CliRun list = Cli("feedback --index " + f.idx + " --list --json");
  ASSERT_EQ(list.code, 0) << list.out;
  std::vector<std::string> users;
  for (const auto& r : json::parse(list.out)) users.push_back(r["user"]);
  EXPECT_EQ(users, (std::vector<std::string>{"bob", "ann"}));
  const std::string out = f.dir + "/sft.jsonl";
  ASSERT_EQ(Cli("export --index " + f.idx + " --format sft --out " + out).code, 0);
  EXPECT_EQ(Read(out).find("CONSENTED"), std::string::npos);
  EXPECT_EQ(Read(out).find("PRIVILEGED"), std::string::npos);
  // Compaction keeps the meaning.
  ASSERT_EQ(Cli("compact --index " + f.idx).code, 0);
  list = Cli("feedback --index " + f.idx + " --list --json");
  EXPECT_EQ(json::parse(list.out).size(), 2u) << list.out;
}

TEST(FeedbackCli, ExportsLoadInTheirToolsFormats) {
  Fixture f = MakeFixture("export");
  const std::string base = "feedback --index " + f.idx + " --trace t1 ";
  ASSERT_EQ(Cli(base + "--rating up --relevant " + Q(f.chunks[0]) + " --irrelevant " +
                Q(f.chunks[1]) + " --correction 'CONSENTED: no [1].' --consent " +
                "--preferred-rewrite 'reverse engineering prohibition recipient'")
                .code,
            0);
  ASSERT_EQ(
      Cli(base + "--rating down --relevant " + Q(f.chunks[0]) + " --correction 'NO-CONSENT answer'")
          .code,
      0);
  ASSERT_EQ(Cli(base + "--rating 5 --relevant " + Q(f.chunks[0]) +
                " --correction 'PRIVILEGED answer' --consent --privileged")
                .code,
            0);
  auto exported = [&](const std::string& format) {
    std::string out = f.dir + "/" + format + ".out";
    CliRun r = Cli("export --index " + f.idx + " --format " + format + " --out " + out);
    EXPECT_EQ(r.code, 0) << r.out;
    std::string text = Read(out);
    EXPECT_EQ(text.find("NO-CONSENT"), std::string::npos) << format;
    EXPECT_EQ(text.find("PRIVILEGED"), std::string::npos) << format;
    // Re-running gives the same bytes, and no temp file is left behind.
    EXPECT_EQ(Cli("export --index " + f.idx + " --format " + format + " --out " + out).code, 0);
    EXPECT_EQ(Read(out), text) << format;
    for (const auto& e : std::filesystem::directory_iterator(f.dir)) {
      EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
    }
    return out;
  };

  // sentence-transformers: columns anchor, positive, negative (strings).
  auto triplets = JsonLines(exported("triplets"));
  ASSERT_FALSE(triplets.empty());
  for (const auto& t : triplets) {
    ASSERT_TRUE(t.is_object());
    EXPECT_EQ(t.size(), 3u);
    for (const char* k : {"anchor", "positive", "negative"}) {
      ASSERT_TRUE(t.contains(k) && t[k].is_string()) << k;
      EXPECT_FALSE(t[k].get<std::string>().empty()) << k;
    }
    EXPECT_EQ(t["anchor"], "May the recipient reverse engineer the samples?");
    EXPECT_NE(t["positive"], t["negative"]);
    EXPECT_NE(t["positive"].get<std::string>().find("reverse engineer"), std::string::npos);
  }
  // TRL DPO, standard format: prompt, chosen, rejected (strings).
  auto dpo = JsonLines(exported("dpo"));
  ASSERT_EQ(dpo.size(), 1u);
  EXPECT_EQ(dpo[0].size(), 3u);
  for (const char* k : {"prompt", "chosen", "rejected"}) ASSERT_TRUE(dpo[0][k].is_string()) << k;
  EXPECT_EQ(dpo[0]["chosen"], "CONSENTED: no [1].");
  EXPECT_EQ(dpo[0]["rejected"], "Yes, freely.");
  EXPECT_NE(dpo[0]["prompt"].get<std::string>().find("May the recipient"), std::string::npos);
  // OpenAI chat fine-tuning: {"messages": [system, user, assistant]}.
  auto sft = JsonLines(exported("sft"));
  ASSERT_EQ(sft.size(), 1u);
  ASSERT_EQ(sft[0].size(), 1u);
  const json& msgs = sft[0]["messages"];
  ASSERT_TRUE(msgs.is_array());
  ASSERT_EQ(msgs.size(), 3u);
  const char* roles[] = {"system", "user", "assistant"};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(msgs[i].size(), 2u);
    EXPECT_EQ(msgs[i]["role"], roles[i]);
    ASSERT_TRUE(msgs[i]["content"].is_string());
  }
  std::string user = msgs[1]["content"];
  EXPECT_NE(user.find("May the recipient reverse engineer"), std::string::npos);
  EXPECT_NE(user.find("<passage>"), std::string::npos);  // retrieved text delimited as data
  EXPECT_NE(user.find("shall not reverse engineer the samples"), std::string::npos);
  EXPECT_EQ(msgs[2]["content"], "CONSENTED: no [1].");
  // DSPy saved program: what Predict.load_state / Signature.load_state read.
  json dspy = json::parse(Read(exported("demos")));
  ASSERT_TRUE(dspy.is_object());
  ASSERT_TRUE(dspy["metadata"]["dependency_versions"].is_object());
  const json& p = dspy["generate_query"];
  for (const char* k : {"traces", "train", "demos"}) ASSERT_TRUE(p[k].is_array()) << k;
  EXPECT_TRUE(p["lm"].is_null());
  ASSERT_TRUE(p["signature"]["instructions"].is_string());
  ASSERT_EQ(p["signature"]["fields"].size(), 2u);
  EXPECT_EQ(p["signature"]["fields"][0]["prefix"], "Question:");
  EXPECT_EQ(p["signature"]["fields"][0]["description"], "${question}");
  EXPECT_EQ(p["signature"]["fields"][1]["prefix"], "Query:");
  ASSERT_EQ(p["demos"].size(), 1u);
  EXPECT_EQ(p["demos"][0]["question"], "May the recipient reverse engineer the samples?");
  EXPECT_EQ(p["demos"][0]["query"], "reverse engineering prohibition recipient");
  // Another signature and predictor name.
  std::string out = f.dir + "/prog.json";
  CliRun r = Cli("export --index " + f.idx + " --format demos --out " + out +
                 " --dspy-predictor 'hops[0].predict' --dspy-signature 'context, question -> "
                 "search_query'");
  ASSERT_EQ(r.code, 0) << r.out;
  json prog = json::parse(Read(out));
  EXPECT_EQ(prog["hops[0].predict"]["signature"]["fields"][2]["prefix"], "Search Query:");
  EXPECT_EQ(prog["hops[0].predict"]["demos"][0]["search_query"],
            "reverse engineering prohibition recipient");
  EXPECT_NE(Cli("export --index " + f.idx + " --format demos --out " + out +
                " --dspy-signature 'no arrow'")
                .code,
            0);
  EXPECT_NE(Cli("export --index " + f.idx + " --format csv --out " + out).code, 0);

  // TRL standard DPO: the prompt is the SFT prompt — system message, blank
  // line, the same user turn — so SFT and DPO train on one prompt shape.
  const std::string system = msgs[0]["content"];
  EXPECT_EQ(dpo[0]["prompt"], system + "\n\n" + user);
  // TRL conversational DPO and OpenAI preference fine-tuning: the same turns.
  auto ordered_lines = [&](const std::string& path) {
    std::vector<nlohmann::ordered_json> rows;
    std::istringstream in(Read(path));
    std::string line;
    while (std::getline(in, line)) rows.push_back(nlohmann::ordered_json::parse(line));
    return rows;
  };
  auto keys = [](const nlohmann::ordered_json& o) {
    std::vector<std::string> k;
    for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
    return k;
  };
  using Keys = std::vector<std::string>;
  auto chat = ordered_lines(exported("dpo-chat"));
  ASSERT_EQ(chat.size(), 1u);
  EXPECT_EQ(keys(chat[0]), (Keys{"prompt", "chosen", "rejected"}));
  ASSERT_EQ(chat[0]["prompt"].size(), 2u);
  EXPECT_EQ(keys(chat[0]["prompt"][0]), (Keys{"role", "content"}));
  EXPECT_EQ(chat[0]["prompt"][0]["role"], "system");
  EXPECT_EQ(chat[0]["prompt"][0]["content"], system);
  EXPECT_EQ(chat[0]["prompt"][1]["role"], "user");
  EXPECT_EQ(chat[0]["prompt"][1]["content"], user);
  ASSERT_EQ(chat[0]["chosen"].size(), 1u);
  EXPECT_EQ(chat[0]["chosen"][0]["role"], "assistant");
  EXPECT_EQ(chat[0]["chosen"][0]["content"], "CONSENTED: no [1].");
  EXPECT_EQ(chat[0]["rejected"][0]["content"], "Yes, freely.");
  auto pref = ordered_lines(exported("openai-preference"));
  ASSERT_EQ(pref.size(), 1u);
  EXPECT_EQ(keys(pref[0]), (Keys{"input", "preferred_output", "non_preferred_output"}));
  ASSERT_EQ(pref[0]["input"]["messages"].size(), 2u);
  EXPECT_EQ(pref[0]["input"]["messages"][0]["content"], system);
  EXPECT_EQ(pref[0]["input"]["messages"][1]["content"], user);
  EXPECT_EQ(pref[0]["preferred_output"][0]["role"], "assistant");
  EXPECT_EQ(pref[0]["preferred_output"][0]["content"], "CONSENTED: no [1].");
  EXPECT_EQ(pref[0]["non_preferred_output"][0]["content"], "Yes, freely.");

  // Forgetting the matter removes its records from every export.
  ASSERT_EQ(Cli("feedback --index " + f.idx + " --forget-matter acme").code, 0);
  EXPECT_EQ(Read(exported("triplets")), "");
  EXPECT_EQ(Read(exported("sft")), "");
  r = Cli("compact --index " + f.idx);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("0 record(s)"), std::string::npos) << r.out;
  EXPECT_EQ(Read(exported("dpo")), "");
}

// `--into`: the demos merged into a multi-predictor program the user saved
// from DSPy; DSPy's `load` needs every named predictor of the target
// program, so the others and their fields must come back unchanged.
TEST(FeedbackCli, DemosMergeIntoADspyProgram) {
  Fixture f = MakeFixture("demos-into");
  ASSERT_EQ(Cli("feedback --index " + f.idx + " --trace t1 --rating up --consent " +
                "--preferred-rewrite 'reverse engineering prohibition recipient'")
                .code,
            0);
  nlohmann::ordered_json program = nlohmann::ordered_json::parse(R"({
    "hops[0].predict": {"traces": [], "train": [],
      "demos": [{"augmented": true, "context": [], "question": "Old?", "search_query": "old q"}],
      "signature": {"instructions": "Write a query.", "fields": [
        {"prefix": "Context:", "description": "${context}"},
        {"prefix": "Question:", "description": "${question}"},
        {"prefix": "Search Query:", "description": "a short query"}]},
      "lm": null},
    "generate_answer": {"traces": [], "train": [], "demos": [],
      "signature": {"instructions": "Answer.", "fields": [
        {"prefix": "Context:", "description": "${context}"},
        {"prefix": "Answer:", "description": "${answer}"}]},
      "lm": {"model": "x"}},
    "metadata": {"dependency_versions": {"python": "3.11", "dspy": "2.6.0"}}
  })");
  const std::string in = f.dir + "/program.json", out = f.dir + "/merged.json";
  Write(in, program.dump(2));
  const std::string cmd = "export --index " + f.idx + " --format demos --into " + in +
                          " --dspy-predictor 'hops[0].predict' --dspy-signature 'context, "
                          "question -> search_query' --out ";
  CliRun r = Cli(cmd + out);
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::ordered_json merged = nlohmann::ordered_json::parse(Read(out));
  EXPECT_EQ(merged["generate_answer"], program["generate_answer"]);
  EXPECT_EQ(merged["metadata"], program["metadata"]);
  EXPECT_EQ(merged["hops[0].predict"]["signature"], program["hops[0].predict"]["signature"]);
  const auto& demos = merged["hops[0].predict"]["demos"];
  ASSERT_EQ(demos.size(), 2u) << demos.dump();
  EXPECT_EQ(demos[0], program["hops[0].predict"]["demos"][0]);
  EXPECT_EQ(demos[1]["question"], "May the recipient reverse engineer the samples?");
  EXPECT_EQ(demos[1]["search_query"], "reverse engineering prohibition recipient");
  // Merging into the merged program again adds nothing.
  r = Cli("export --index " + f.idx + " --format demos --into " + out +
          " --dspy-predictor 'hops[0].predict' --dspy-signature 'context, question -> "
          "search_query' --out " + f.dir + "/again.json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::ordered_json::parse(Read(f.dir + "/again.json")), merged);
  // Clear refusals, and the output file is not written.
  r = Cli("export --index " + f.idx + " --format demos --into " + in + " --dspy-predictor "
          "missing --out " + f.dir + "/x.json");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("has no predictor 'missing' (it has: hops[0].predict, generate_answer)"),
            std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(f.dir + "/x.json"));
  r = Cli("export --index " + f.idx + " --format demos --into " + in +
          " --dspy-predictor 'hops[0].predict' --out " + f.dir + "/x.json");  // question -> query
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("has no field 'query'"), std::string::npos) << r.out;
  r = Cli("export --index " + f.idx + " --format sft --into " + in + " --out " + f.dir + "/x.json");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("use it with --format demos"), std::string::npos) << r.out;
  Write(f.dir + "/broken.json", "{\"hops[0].predict\": ");
  r = Cli("export --index " + f.idx + " --format demos --into " + f.dir + "/broken.json --out " +
          f.dir + "/x.json");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("not a JSON object"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(f.dir + "/x.json"));
}

// sentence-transformers (through `datasets.load_dataset("json")`) takes the
// columns of a triplet dataset by position — anchor, positive, negative —
// whatever their names. Read the file that way: keys in file order, values
// by position, and check the positive is the passage the lawyer marked
// relevant.
TEST(FeedbackCli, TripletColumnsAreReadByPosition) {
  Fixture f = MakeFixture("triplet-order");
  ASSERT_EQ(Cli("feedback --index " + f.idx + " --trace t1 --rating up --relevant " +
                Q(f.chunks[0]) + " --irrelevant " + Q(f.chunks[1]) + " --consent")
                .code,
            0);
  std::string out = f.dir + "/triplets.jsonl";
  CliRun r = Cli("export --index " + f.idx + " --format triplets --negatives 1 --out " + out);
  ASSERT_EQ(r.code, 0) << r.out;
  CliRun relevant = Cli("search --index " + f.idx + " --mode bm25 --json --allowed-matters acme "
                        "\"reverse engineer recipient\"");
  ASSERT_EQ(relevant.code, 0);
  std::map<std::string, std::string> text_of;
  for (const auto& h : json::parse(relevant.out)) text_of[h["chunk_id"]] = h["text"];
  std::istringstream in(Read(out));
  std::string line;
  size_t rows = 0;
  while (std::getline(in, line)) {
    nlohmann::ordered_json row = nlohmann::ordered_json::parse(line);
    std::vector<std::string> columns, values;
    for (auto it = row.begin(); it != row.end(); ++it) {
      columns.push_back(it.key());
      values.push_back(it.value().get<std::string>());
    }
    ASSERT_EQ(columns, (std::vector<std::string>{"anchor", "positive", "negative"})) << line;
    EXPECT_EQ(values[0], "May the recipient reverse engineer the samples?");
    EXPECT_EQ(values[1], text_of[f.chunks[0]]) << "column 2 must be the relevant passage";
    EXPECT_EQ(values[2], text_of[f.chunks[1]]) << "column 3 must be the irrelevant passage";
    ++rows;
  }
  EXPECT_EQ(rows, 1u);
}

TEST(FeedbackCli, SearchWithFeedbackAndCompactionStoresTheAdapter) {
  Fixture f = MakeFixture("search");
  ASSERT_EQ(Cli("feedback --index " + f.idx + " --trace t1 --rating up --relevant " +
                Q(f.chunks[0]) + " --irrelevant " + Q(f.chunks[1]))
                .code,
            0);
  CliRun r = Cli("search --index " + f.idx +
                 " --feedback --allowed-matters beta --json \"reverse engineer recipient\"");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& h : json::parse(r.out)) EXPECT_NE(h["matter"], "acme");
  r = Cli("search --index " + f.idx + " --feedback --json \"may the recipient reverse engineer\"");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(json::parse(r.out).empty());
  r = Cli("compact --index " + f.idx);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("query adapter: none ("), std::string::npos)
      << r.out;  // too little to learn from
}

// A tiny BEIR data set where feedback on TRAIN queries must help TEST
// queries: each topic's passages come in two wordings, and a query matches
// only the first wording's words.
TEST(FeedbackCli, EvalMeasuresFeedback) {
  std::string dir = TempDir("eval");
  const std::vector<std::pair<std::string, std::string>> topics = {
      {"reverse engineer the samples", "decompile or disassemble any software"},
      {"terminate this agreement for convenience", "end the contract without cause"},
      {"governed by the laws of New York", "courts of Delaware have exclusive jurisdiction"},
      {"indemnify against third party claims", "hold harmless and defend from losses"}};
  const std::vector<std::string> questions = {
      "May the recipient reverse engineer samples?", "Can a party terminate for convenience?",
      "Which law governs the agreement?", "Must the supplier indemnify claims?"};
  std::string corpus, train, test, qrels = "query-id\tcorpus-id\tscore\n";
  for (int d = 0; d < 12; ++d) {
    std::string doc = "nda" + std::to_string(d);
    for (size_t t = 0; t < topics.size(); ++t) {
      for (int w = 0; w < 2; ++w) {
        std::string id = doc + ":" + std::to_string(t) + std::to_string(w);
        std::string text =
            "The parties agree that " + (w ? topics[t].second : topics[t].first) + " hereunder.";
        corpus += json({{"_id", id}, {"text", text}, {"doc_id", doc}}).dump() + "\n";
      }
      std::string qid = doc + ":q" + std::to_string(t);
      std::string line =
          json({{"_id", qid}, {"text", questions[t]}, {"doc_id", doc}}).dump() + "\n";
      (d < 6 ? train : test) += line;
      qrels += qid + "\t" + doc + ":" + std::to_string(t) + "1\t1\n";  // the second wording
      qrels += qid + "\t" + doc + ":" + std::to_string(t) + "0\t1\n";
    }
  }
  Write(dir + "/corpus.jsonl", corpus);
  Write(dir + "/train.jsonl", train);
  Write(dir + "/test.jsonl", test);
  Write(dir + "/qrels.tsv", qrels);
  std::string common = "eval --corpus " + dir + "/corpus.jsonl --queries " + dir +
                       "/test.jsonl --qrels " + dir +
                       "/qrels.tsv --scope-field doc_id --mode bm25 ";
  CliRun r = Cli(common + "--feedback-queries " + dir +
                 "/train.jsonl --feedback-methods demos,rocchio,adapter --json");
  ASSERT_EQ(r.code, 0) << r.out;
  json j = json::parse(r.out);
  for (const char* k : {"baseline", "with_feedback", "methods"}) ASSERT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["feedback_records"], 24);
  EXPECT_EQ(j["baseline"]["queries"], 24);
  EXPECT_TRUE(j["methods"].contains("rocchio"));
  EXPECT_TRUE(j["methods"].contains("adapter"));
  EXPECT_EQ(j["methods"]["demos"]["measurable_offline"], false);
  double before = j["baseline"]["ndcg@10"], after = j["with_feedback"]["ndcg@10"];
  double rocchio = j["methods"]["rocchio"]["ndcg@10"];
  EXPECT_GT(after, before + 0.05) << r.out;
  EXPECT_GT(rocchio, before + 0.05) << r.out;
  r = Cli(common + "--feedback-queries " + dir + "/train.jsonl");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("baseline"), std::string::npos);
  r = Cli(common + "--feedback-queries " + dir + "/train.jsonl --feedback-methods magic");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("unknown method 'magic'"), std::string::npos) << r.out;
  r = Cli(common + "--feedback-queries " + dir + "/missing.jsonl");
  EXPECT_NE(r.code, 0);
}

}  // namespace
