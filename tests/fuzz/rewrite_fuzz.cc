// Fuzz target: everything the ask session reads from outside — model
// replies, DSPy program files, trace JSON — and the data blocks that carry
// retrieved text into prompts.
#include <cstddef>
#include <cstdint>
#include <string>

#include "foldback/ask.h"
#include "foldback/program.h"
#include "rewrite/ask_internal.h"
#include "text/utf8.h"

namespace {

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace foldback;
  std::string in(reinterpret_cast<const char*>(data), size);
  static const Program program = Program::Default();

  // Replies: a usable value is non-empty, capped and valid UTF-8.
  for (const Predictor* p : {&program.QueryWriter(1), &program.AnswerWriter()}) {
    auto r = ParseReply(*p, in);
    if (r.ok()) {
      const std::string& v = r->fields.at(p->MainOutput());
      size_t cap = p->MainOutput() == "answer" ? kMaxAnswerBytes : kMaxQueryBytes;
      if (v.empty() || v.size() > cap || !text::IsValidUtf8(v)) __builtin_trap();
      (void)IsNoneQuery(v);
    }
  }

  // DSPy programs: whatever loads renders.
  auto loaded = LoadDspyProgram(in);
  if (loaded.ok()) {
    for (const Predictor& q : loaded->program.query_writers()) {
      if (RenderChat(q, {{"question", "q"}}).empty()) __builtin_trap();
    }
    (void)RenderChat(loaded->program.AnswerWriter(), {});
  }

  // Traces: what parses round-trips.
  auto trace = TraceFromJson(in);
  if (trace.ok()) {
    std::string json = TraceToJson(*trace);
    auto again = TraceFromJson(json);
    if (!again.ok() || TraceToJson(*again) != json) __builtin_trap();
  }

  // Citations stay within the passages shown.
  std::vector<uint32_t> kept, dropped;
  (void)rewrite::CheckCitations(in, 3, &kept, &dropped);
  for (uint32_t n : kept) {
    if (n < 1 || n > 3) __builtin_trap();
  }

  // A passage's text can never close its block or forge a marker.
  SearchHit hit;
  hit.text = text::RepairUtf8(in);
  hit.title = hit.text.substr(0, 64);
  hit.section = hit.title;
  uint32_t shown = 0;
  std::string block = rewrite::FormatPassages({&hit, &hit}, 100000, &shown);
  if (shown > 0) {
    if (Count(block, "</passage>") != shown || Count(block, "<passage ") != shown) __builtin_trap();
    if (Count(block, "[[") != 0) __builtin_trap();
  }
  return 0;
}
