// What the sans-IO sessions that ask one LLM predictor share
// (QuestionSession, foldback/questions.h; LlmRerankSession,
// foldback/llm_rerank.h): redacting a request, cleaning a reply, and the
// books of their needs. Each session decides what a need asks and what a
// reply means; the rules below are written once.
#ifndef FOLDBACK_REWRITE_LLM_SESSION_H_
#define FOLDBACK_REWRITE_LLM_SESSION_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "foldback/ask.h"
#include "foldback/redact.h"
#include "foldback/status.h"

namespace foldback::rewrite {

// Applies `redactor` (may be null: nothing changes) to every message;
// `*redactions` (may be null) receives the counts per rule, summed over the
// messages.
void RedactMessages(const Redactor* redactor, std::vector<ChatMessage>* messages,
                    std::vector<RedactionCount>* redactions);

// `text` without its <think>...</think> blocks; an unclosed one takes the
// rest.
std::string WithoutThinking(std::string text);

// `value` trimmed, and without a ```json fence around it.
std::string_view WithoutFence(std::string_view value);

// The JSON object between the first '{' and the last '}' of `text` (bare,
// fenced or with prose around it); false when there is none.
bool ExtractObject(std::string_view text, nlohmann::json* out);

// The needs of a session that sends one LLM need per item of work at a
// time (QuestionSession: a passage; LlmRerankSession: a window):
//
//   - ids count from 1; Send emits the need, its timeout the time left
//     before the deadline, and records the redactor's counts as one line
//     "<label>: rule xN, ...";
//   - Claim takes a result: the item its need was sent for; a result for a
//     need abandoned at the deadline is accepted and ignored; any other id
//     is refused and nothing changes;
//   - an unusable reply may be retried (asking for JSON) `retry_budget`
//     times per item (RetryUnusable); a host failure is final for the item
//     (the host has retried already, wire.h's policy);
//   - past the deadline (PastDeadline), AbandonAll drops the needs not yet
//     taken and abandons the outstanding ones.
class LlmNeeds {
 public:
  LlmNeeds() = default;
  // `purpose`: each need's purpose ("questions"); `noun`: the need in the
  // refusal of an unknown id ("no outstanding <noun> need 7").
  LlmNeeds(std::string purpose, std::string noun, double start_ms, double deadline_ms,
           uint32_t retry_budget);

  // Emits an LLM need for `item` asking `request`; `redactions` are the
  // counts the request's redaction left (a line under `label` when any).
  void Send(uint32_t item, LlmRequest request, const std::vector<RedactionCount>& redactions,
            std::string_view label, double now_ms);

  // Needs emitted since the last call.
  std::vector<Need> TakeNeeds();

  // The result of `need_id` came: *item the item it was sent for (the need
  // is no longer outstanding), or nothing when the need was abandoned.
  // InvalidArgument for an unknown or answered id.
  Status Claim(uint64_t need_id, std::optional<uint32_t>* item);

  // After an unusable reply for `item`: whether it may be asked again.
  bool RetryUnusable(uint32_t item);

  // Whether `now_ms` is at or past the deadline (never without one).
  bool PastDeadline(double now_ms) const;

  // Abandons every outstanding need (their results will be accepted and
  // ignored) and drops the needs not taken yet; the items that were
  // outstanding, by need id.
  std::vector<uint32_t> AbandonAll();

  size_t outstanding() const { return outstanding_.size(); }
  // No need outstanding or waiting to be taken.
  bool idle() const { return outstanding_.empty() && fresh_.empty(); }
  const std::vector<std::string>& redactions() const { return redactions_; }

 private:
  std::string purpose_, noun_;
  double start_ms_ = 0;
  double deadline_ms_ = 0;
  uint32_t retry_budget_ = 0;
  uint64_t next_id_ = 1;
  std::map<uint64_t, uint32_t> outstanding_;  // need id -> item
  std::set<uint64_t> abandoned_;
  std::map<uint32_t, uint32_t> unusable_;  // item -> unusable replies
  std::vector<Need> fresh_;
  std::vector<std::string> redactions_;
};

}  // namespace foldback::rewrite

#endif  // FOLDBACK_REWRITE_LLM_SESSION_H_
