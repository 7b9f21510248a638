// foldback from C++: ingest a folder of mail and documents, search it, ask a
// two-hop question through foldback's own HTTP client (libcurl), and record
// the lawyer's feedback.
//
//   usage: foldback_example_cpp LLM_URL INDEX_DIR QUESTION PATH...
//
// LLM_URL is an OpenAI-compatible base URL ("http://127.0.0.1:8080/v1"); the
// key, if the endpoint wants one, comes from $FOLDBACK_API_KEY.
#include <foldback/ask.h>
#include <foldback/index.h>
#include <foldback/version.h>

#include <cstdio>
#include <string>

#include "host/feedback_log.h"
#include "host/feedback_record.h"
#include "host/ids.h"
#include "host/index_dir.h"
#include "host/ingest_path.h"
#include "host/traces.h"
#include "llm/llm_client.h"

using namespace foldback;

// The start of a passage, on one line.
static std::string Line(std::string text, size_t width = 60) {
  if (text.size() > width) text.resize(width);
  for (char& c : text) c = c == '\n' || c == '\t' ? ' ' : c;
  return text;
}

static int Fail(const Status& s) {
  std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s LLM_URL INDEX_DIR QUESTION PATH...\n", argv[0]);
    return 2;
  }
  const std::string llm_url = argv[1], dir = argv[2], question = argv[3];
  std::printf("foldback %s (C++ API)\n", Version());

  // 1. Ingest: mail, .docx, .pdf, .html, .txt ... Broken files are reported
  //    and skipped.
  auto created = Index::Create();
  if (!created.ok()) return Fail(created.status());
  Index& index = **created;
  for (int i = 4; i < argc; ++i) {
    host::IngestPathReport report;
    Status s = host::IngestPath(
        &index, argv[i], {},
        [](const host::IngestFileOutcome& f) {
          if (f.kind != host::IngestFileOutcome::Kind::kIndexed) {
            std::printf("  skipped %s: %s\n", f.path.c_str(), f.status.ToString().c_str());
          }
        },
        &report);
    if (!s.ok()) return Fail(s);
    std::printf(
        "ingested %s: %llu files, %llu indexed, %llu failed, %llu unsupported, %llu documents\n",
        argv[i], (unsigned long long)report.files, (unsigned long long)report.indexed,
        (unsigned long long)report.failed, (unsigned long long)report.unsupported,
        (unsigned long long)report.documents);
  }
  Status s = index.BuildDense();
  if (!s.ok()) std::printf("(no dense index, lexical search only: %s)\n", s.ToString().c_str());
  s = host::SaveIndex(dir, index);
  if (!s.ok()) return Fail(s);
  std::printf("index %s: %llu documents, %llu chunks\n", dir.c_str(),
              (unsigned long long)index.Stats().documents,
              (unsigned long long)index.Stats().chunks);

  // 2. Search.
  SearchOptions so;
  so.top_k = 3;
  auto hits = index.Search(question, so);
  if (!hits.ok()) return Fail(hits.status());
  std::printf("search \"%s\":\n", question.c_str());
  for (size_t i = 0; i < hits->size(); ++i) {
    const SearchHit& h = (*hits)[i];
    std::printf("  %zu. %s (%.3f) %s\n", i + 1, h.doc_id.c_str(), h.score, Line(h.text).c_str());
  }

  // 3. Ask: two hops, each query written by the LLM, then an answer. The
  //    session emits needs; RunAsk answers them with libcurl.
  llm::LlmClientOptions co;
  co.chat.url = llm_url;
  co.chat.model = "any";
  if (auto key = llm::ApiKey::FromEnv("FOLDBACK_API_KEY"); key.ok()) co.chat.key = std::move(*key);
  auto client = llm::LlmClient::Create(co);
  if (!client.ok()) return Fail(client.status());
  AskOptions ao;
  ao.hops = 2;
  ao.answer = true;
  ao.trace_id = host::NewUuidV7();
  llm::SteadyClock clock;
  auto session = AskSession::Start(index, question, ao, clock.NowMs());
  if (!session.ok()) return Fail(session.status());
  std::printf("ask %s:\n", ao.trace_id.c_str());
  s = llm::RunAsk(**session, **client, clock, [](const TraceEvent& e) {
    if (e.kind == TraceEvent::Kind::kQuery)
      std::printf("  hop %u query: %s\n", e.hop, e.message.c_str());
    if (e.kind == TraceEvent::Kind::kFallback) std::printf("  fallback: %s\n", e.message.c_str());
  });
  if (!s.ok()) return Fail(s);
  const AskResult& result = (*session)->result();
  for (const TraceHop& hop : result.trace.hops) {
    std::printf("hop %u (%s): %s - %zu passages, %zu new\n", hop.hop, hop.source.c_str(),
                hop.query.c_str(), hop.results.size(), hop.new_chunks.size());
  }
  std::printf("passages: %zu\n", result.passages.size());
  for (size_t i = 0; i < result.passages.size(); ++i) {
    const SearchHit& h = result.passages[i];
    std::printf("  [%zu] %s: %s\n", i + 1, h.doc_id.c_str(), Line(h.text).c_str());
  }
  std::printf("answer: %s\n", result.answer.c_str());
  s = host::SaveTrace(dir, TraceToJson(result.trace), ao.trace_id);
  if (!s.ok()) return Fail(s);
  std::printf("trace: %s\n", host::TracePath(dir, ao.trace_id).c_str());

  // 4. Feedback: checked against the trace and the index, then appended
  //    durably (fsync) to DIR/feedback.log.
  host::FeedbackInput in;
  in.trace_id = ao.trace_id;
  in.rating = "up";
  if (!result.passages.empty()) in.relevant.push_back(result.passages[0].chunk_id);
  in.critique = "Right clause; the notice period is what mattered.";
  auto record = host::BuildFeedbackRecord(index, dir, in);
  if (!record.ok()) return Fail(record.status());
  auto log = host::FeedbackLogFile::Open(dir);
  if (!log.ok()) return Fail(log.status());
  s = (*log)->Append(*record);
  if (!s.ok()) return Fail(s);
  std::printf("feedback record: %s\n", record->record_id.c_str());
  return 0;
}
