// What deleting a document with its attachments costs
// (Index::RemoveWithAttachments: AttachmentsOf scans every document's
// parent_id) against removing one document (Index::Remove), on mailboxes of
// N messages where every message has two attachments (3N documents, one
// short chunk each, no dense side).
//
//   build/bin/attachments_bench --benchmark_min_time=0.2
//
// Each iteration removes a message (and its attachments) and, outside the
// timing, adds them back.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "foldback/index.h"

namespace foldback {
namespace {

std::vector<Document> Message(int n) {
  std::string id = "inbox/msg-" + std::to_string(n);
  Document m;
  m.id = id;
  m.kind = DocKind::kEmail;
  m.text = "Message " + std::to_string(n) + " about the escrow terms and the closing date.";
  std::vector<Document> out = {m};
  for (int a = 1; a <= 2; ++a) {
    Document d;
    d.id = id + "/att-" + std::to_string(a) + "-terms.pdf";
    d.parent_id = id;
    d.text = "Attachment " + std::to_string(a) + " of message " + std::to_string(n) + ".";
    out.push_back(d);
  }
  return out;
}

std::unique_ptr<Index> Mailbox(int messages) {
  IndexOptions o;
  o.dense.embedder = EmbedderKind::kNone;
  auto idx = Index::Create(o);
  for (int n = 0; n < messages; ++n) {
    for (const Document& d : Message(n)) (void)(*idx)->Add(d);
  }
  return std::move(*idx);
}

void BM_Remove(benchmark::State& state) {
  auto idx = Mailbox(static_cast<int>(state.range(0)));
  int n = 0;
  for (auto _ : state) {
    std::vector<Document> docs = Message(n % static_cast<int>(state.range(0)));
    Status s = idx->Remove(docs[0].id);
    benchmark::DoNotOptimize(s);
    state.PauseTiming();
    (void)idx->Add(docs[0]);
    ++n;
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Remove)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMicrosecond);

void BM_RemoveWithAttachments(benchmark::State& state) {
  auto idx = Mailbox(static_cast<int>(state.range(0)));
  int n = 0;
  for (auto _ : state) {
    std::vector<Document> docs = Message(n % static_cast<int>(state.range(0)));
    std::vector<std::string> removed;
    Status s = idx->RemoveWithAttachments(docs[0].id, &removed);
    benchmark::DoNotOptimize(s);
    state.PauseTiming();
    if (removed.size() != 3) state.SkipWithError("attachments not removed");
    for (const Document& d : docs) (void)idx->Add(d);
    ++n;
    state.ResumeTiming();
  }
}
BENCHMARK(BM_RemoveWithAttachments)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace foldback

BENCHMARK_MAIN();
