// RunAsk (declared in llm_client.h) in its own file: it is the only part of
// the LLM host that needs the ask session's implementation, so programs that
// only make HTTP calls do not link the engine.
#include <set>

#include <fmt/format.h>

#include "llm/llm_client.h"

namespace foldback::llm {

Status RunAsk(AskSession& session, LlmClient& client, Clock& clock, const TraceEventFn& on_event) {
  constexpr double kTickMs = 50;
  auto flush = [&] {
    for (const TraceEvent& e : session.TakeEvents()) {
      if (on_event) on_event(e);
    }
  };
  std::set<uint64_t> mine;
  auto cancel_mine = [&] {
    for (uint64_t id : mine) client.Cancel(id);
    mine.clear();
  };
  flush();
  while (!session.done()) {
    for (const Need& need : session.TakeNeeds()) {
      Status s = client.Start(need);
      if (!s.ok()) {
        cancel_mine();
        return Status::Internal(fmt::format(
            FMT_STRING("the ask session emitted need {} while it was still pending: {}"), need.id,
            s.message()));
      }
      mine.insert(need.id);
    }
    flush();
    if (session.done()) break;
    if (mine.empty()) {
      return Status::Internal("the ask session is not done but asks for nothing");
    }
    // Wake at least every kTickMs so the session sees its deadline pass
    // even while nothing comes back.
    std::vector<Completion> done = client.Wait(kTickMs);
    if (done.empty()) {
      session.Tick(clock.NowMs());
      flush();
      continue;
    }
    for (Completion& c : done) {
      if (!mine.erase(c.need_id)) continue;  // someone else's need on a shared client
      Status s = session.Provide(c.need_id, std::move(c.result), clock.NowMs());
      if (!s.ok()) {
        // A need the session gave up on (its deadline passed) may still come
        // back; the session says so and nothing changes. Report, go on.
        TraceEvent e;
        e.kind = TraceEvent::Kind::kError;
        e.message =
            fmt::format(FMT_STRING("host: the session did not take the result of need {}: {}"),
                        c.need_id, s.message());
        if (on_event) on_event(e);
      }
      flush();
    }
  }
  cancel_mine();
  flush();
  return Status::OK();
}

}  // namespace foldback::llm
