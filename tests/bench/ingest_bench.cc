// Ingestion speed: hostile mail headers (must stay well under a second),
// the HTML nesting guard, real .docx and mail files, and plain-text contracts
// through extraction + indexing (MB/s).
//
//   build/bin/ingest_bench                      # all
//   build/bin/ingest_bench --benchmark_filter=Addresses
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

#include "foldback/index.h"
#include "ingest/extract.h"

namespace {

using foldback::ingest::ExtractBytes;

std::string ReadFileOrDie(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) std::abort();
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

std::string FoldedAddressField(int n) {
  std::string raw = "From: a@example.com\r\nSubject: x\r\nTo: ";
  for (int i = 0; i < n; ++i) raw += "\"User " + std::to_string(i) + "\" <user" + std::to_string(i) + "@example.com>,\r\n ";
  return raw + "last@example.com\r\n\r\nbody\r\n";
}

std::string AddressHeaders(int n) {
  std::string raw = "From: a@example.com\r\nSubject: x\r\n";
  for (int i = 0; i < n; ++i) raw += "To: user" + std::to_string(i) + "@example.com\r\n";
  return raw + "\r\nbody\r\n";
}

// Runs ExtractBytes on `raw`; `expect_ok` says whether it should parse.
void RunMail(benchmark::State& state, const std::string& raw, const foldback::ingest::ExtractOptions& o,
             bool expect_ok) {
  for (auto _ : state) {
    auto ex = ExtractBytes(raw, "x.eml", "x", o);
    if (ex.ok() != expect_ok) state.SkipWithError(ex.ok() ? "parsed, expected a limit" : ex.status().ToString().c_str());
    benchmark::DoNotOptimize(ex);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * raw.size()));
}

// One To: field with 100,000 addresses folded over 100,000 lines (3.9 MB):
// refused by the pre-scan (field limit 1 MiB) ...
void BM_Mail100kAddressesInOneField_Refused(benchmark::State& state) {
  RunMail(state, FoldedAddressField(100000), {}, false);
}
BENCHMARK(BM_Mail100kAddressesInOneField_Refused)->Unit(benchmark::kMillisecond);

// ... and parsed by GMime when the limit is raised (first 1,000 kept).
void BM_Mail100kAddressesInOneField_Parsed(benchmark::State& state) {
  foldback::ingest::ExtractOptions o;
  o.max_header_field_bytes = 8u << 20;
  RunMail(state, FoldedAddressField(100000), o, true);
}
BENCHMARK(BM_Mail100kAddressesInOneField_Parsed)->Unit(benchmark::kMillisecond);

// 100,000 To: fields: refused by the pre-scan (limit 10,000 fields) ...
void BM_Mail100kAddressHeaders_Refused(benchmark::State& state) {
  RunMail(state, AddressHeaders(100000), {}, false);
}
BENCHMARK(BM_Mail100kAddressHeaders_Refused)->Unit(benchmark::kMillisecond);

// ... and parsed when the limit is raised.
void BM_Mail100kAddressHeaders_Parsed(benchmark::State& state) {
  foldback::ingest::ExtractOptions o;
  o.max_header_fields = 200000;
  RunMail(state, AddressHeaders(100000), o, true);
}
BENCHMARK(BM_Mail100kAddressHeaders_Parsed)->Unit(benchmark::kMillisecond);

// 200 nested multiparts: refused at depth 100.
void BM_MailNested200(benchmark::State& state) {
  std::string body = "From: a@example.com\r\nMIME-Version: 1.0\r\n", tail;
  for (int i = 0; i < 200; ++i) {
    std::string b = "b" + std::to_string(i);
    body += "Content-Type: multipart/mixed; boundary=\"" + b + "\"\r\n\r\n--" + b + "\r\n";
    tail = "\r\n--" + b + "--\r\n" + tail;
  }
  std::string raw = body + "Content-Type: text/plain\r\n\r\ndeep" + tail;
  for (auto _ : state) benchmark::DoNotOptimize(ExtractBytes(raw, "x.eml", "x"));
}
BENCHMARK(BM_MailNested200)->Unit(benchmark::kMicrosecond);

// 100,000 nested <div>s: refused by the pre-scan (gumbo itself needs ~30 s).
void BM_HtmlDeepNestingRefused(benchmark::State& state) {
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<div>";
  for (auto _ : state) {
    auto ex = ExtractBytes(html, "x.html", "x");
    if (ex.ok()) state.SkipWithError("expected OutOfRange");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * html.size()));
}
BENCHMARK(BM_HtmlDeepNestingRefused)->Unit(benchmark::kMillisecond);

// Every message in tests/data/mail (real fixtures), extracted.
void BM_MailFixtures(benchmark::State& state) {
  std::vector<std::pair<std::string, std::string>> files;
  size_t bytes = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(FOLDBACK_TEST_DATA) + "/mail")) {
    std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "LICENSE" || name == "sample_output_multipart") continue;
    files.emplace_back(name, ReadFileOrDie(e.path().string()));
    bytes += files.back().second.size();
  }
  for (auto _ : state) {
    for (const auto& [name, data] : files) benchmark::DoNotOptimize(ExtractBytes(data, name, name));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["files"] = static_cast<double>(files.size());
}
BENCHMARK(BM_MailFixtures)->Unit(benchmark::kMillisecond);

// A real contract template as .docx.
void BM_DocxContract(benchmark::State& state) {
  std::string data = ReadFileOrDie(std::string(FOLDBACK_TEST_DATA) +
                                   "/docx/agreements/common-paper-business-associate-agreement/template.docx");
  for (auto _ : state) benchmark::DoNotOptimize(ExtractBytes(data, "t.docx", "t"));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_DocxContract)->Unit(benchmark::kMillisecond);

// The bundled CUAD contracts (plain text): extraction + Index::Add, no dense
// index — what `foldback ingest --no-dense` does per file.
void BM_IngestDemoContracts(benchmark::State& state) {
  std::vector<std::string> paths;
  uint64_t bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(FOLDBACK_DEMO_CORPUS)) {
    if (e.path().extension() == ".txt") {
      paths.push_back(e.path().string());
      bytes += std::filesystem::file_size(e.path());
    }
  }
  for (auto _ : state) {
    auto index = foldback::Index::Create();
    for (const std::string& p : paths) {
      auto ex = foldback::ingest::Extract(p, p);
      for (const auto& d : ex->documents) benchmark::DoNotOptimize((*index)->Add(d));
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_IngestDemoContracts)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
