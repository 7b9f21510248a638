// What the sessions that ask one LLM predictor share (rewrite/llm_session.h).
#include "rewrite/llm_session.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "rewrite/text_util.h"

namespace foldback::rewrite {

void RedactMessages(const Redactor* redactor, std::vector<ChatMessage>* messages,
                    std::vector<RedactionCount>* redactions) {
  if (redactions) redactions->clear();
  if (!redactor) return;
  std::map<std::string, uint32_t> fired;
  std::vector<RedactionCount> counts;
  for (ChatMessage& m : *messages) {
    m.content = redactor->Redact(m.content, &counts);
    for (const RedactionCount& c : counts) fired[c.rule] += c.count;
  }
  if (redactions) {
    for (const auto& [rule, n] : fired) redactions->push_back({rule, n});
  }
}

std::string WithoutThinking(std::string text) {
  for (;;) {
    size_t open = text.find("<think>");
    if (open == std::string::npos) break;
    size_t close = text.find("</think>", open);
    text.erase(open, close == std::string::npos ? std::string::npos : close + 8 - open);
  }
  return text;
}

std::string_view WithoutFence(std::string_view value) {
  std::string_view t = Trim(value);
  if (t.substr(0, 3) == "```") {
    size_t nl = t.find('\n');
    size_t close = t.rfind("```");
    if (nl != std::string_view::npos && close != std::string_view::npos && close > nl)
      t = Trim(t.substr(nl + 1, close - nl - 1));
  }
  return t;
}

bool ExtractObject(std::string_view text, nlohmann::json* out) {
  size_t open = text.find('{');
  size_t last = text.rfind('}');
  if (open == std::string_view::npos || last == std::string_view::npos || last <= open)
    return false;
  nlohmann::json j =
      nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(open),
                            text.begin() + static_cast<std::ptrdiff_t>(last) + 1, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  *out = std::move(j);
  return true;
}

LlmNeeds::LlmNeeds(std::string purpose, std::string noun, double start_ms, double deadline_ms,
                   uint32_t retry_budget)
    : purpose_(std::move(purpose)),
      noun_(std::move(noun)),
      start_ms_(start_ms),
      deadline_ms_(deadline_ms),
      retry_budget_(retry_budget) {}

void LlmNeeds::Send(uint32_t item, LlmRequest request,
                    const std::vector<RedactionCount>& redactions, std::string_view label,
                    double now_ms) {
  Need need;
  need.id = next_id_++;
  need.kind = Need::Kind::kLlm;
  need.purpose = purpose_;
  need.llm = std::move(request);
  need.timeout_ms = deadline_ms_ <= 0 ? 0 : std::max(1.0, start_ms_ + deadline_ms_ - now_ms);
  if (!redactions.empty()) {
    std::string line = std::string(label) + ":";
    bool first = true;
    for (const RedactionCount& c : redactions) {
      line += fmt::format(FMT_STRING("{}{} x{}"), std::string(first ? " " : ", "), c.rule, c.count);
      first = false;
    }
    redactions_.push_back(std::move(line));
  }
  outstanding_[need.id] = item;
  fresh_.push_back(std::move(need));
}

std::vector<Need> LlmNeeds::TakeNeeds() {
  std::vector<Need> out;
  out.swap(fresh_);
  return out;
}

Status LlmNeeds::Claim(uint64_t need_id, std::optional<uint32_t>* item) {
  item->reset();
  auto it = outstanding_.find(need_id);
  if (it == outstanding_.end()) {
    if (abandoned_.erase(need_id)) return Status::OK();
    return Status::InvalidArgument(
        fmt::format(FMT_STRING("no outstanding {} need {}"), noun_, need_id));
  }
  *item = it->second;
  outstanding_.erase(it);
  return Status::OK();
}

bool LlmNeeds::RetryUnusable(uint32_t item) { return unusable_[item]++ < retry_budget_; }

bool LlmNeeds::PastDeadline(double now_ms) const {
  return deadline_ms_ > 0 && now_ms >= start_ms_ + deadline_ms_;
}

std::vector<uint32_t> LlmNeeds::AbandonAll() {
  std::vector<uint32_t> items;
  for (const auto& [id, item] : outstanding_) {
    abandoned_.insert(id);
    items.push_back(item);
  }
  outstanding_.clear();
  fresh_.clear();
  return items;
}

}  // namespace foldback::rewrite
