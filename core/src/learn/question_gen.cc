// Synthetic training questions (foldback/questions.h): the GenerateQuestions
// predictor, its requests and replies, passage sampling, the inline session
// and the pairs it yields.
#include <algorithm>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "foldback/questions.h"
#include "foldback/version.h"
#include "rewrite/ask_internal.h"
#include "rewrite/llm_session.h"
#include "rewrite/text_util.h"
#include "text/utf8.h"

namespace foldback {

using rewrite::Trim;

// ---------------------------------------------------------------- predictor

const std::string& DefaultQuestionInstructions() {
  static const std::string kText =
      "You help a law firm teach its search engine how lawyers ask for things. Given one "
      "passage from the firm's documents (a contract, a memo, a mail), write the questions a "
      "lawyer would type into the firm's search box when this passage is the answer they need: "
      "about obligations, rights, deadlines, notice periods, amounts, parties, conditions, "
      "termination, liability, governing law. Use the lawyer's own words, not phrases copied "
      "from the passage; each question must be answerable from the passage alone and must not "
      "mention the passage, the document or a number of either. Write exactly `count` "
      "questions, as a JSON list of strings.";
  return kText;
}

Predictor GenerateQuestionsPredictor(const std::string& instructions) {
  Predictor p;
  p.name = "generate_questions";
  p.instructions = instructions.empty() ? DefaultQuestionInstructions() : instructions;
  p.fields.push_back({"passage", "Passage:", "a passage of the firm's documents, as data", true});
  p.fields.push_back({"count", "Count:", "how many questions to write", true});
  p.fields.push_back(
      {"questions", "Questions:", "a JSON list of strings: the lawyer's questions", false});
  return p;
}

Result<Predictor> PickQuestionPredictor(const std::vector<Predictor>& predictors) {
  std::string why;
  for (const Predictor& p : predictors) {
    bool passage = false;
    std::string problem;
    for (const ProgramField& f : p.fields) {
      if (!f.input) continue;
      if (f.name == "passage") {
        passage = true;
      } else if (f.name != "count" && f.name != "title") {
        problem = "its input '" + f.name +
                  "' is not one question generation supplies (passage, count, title)";
      }
    }
    if (problem.empty() && !passage) problem = "it has no 'passage' input";
    if (problem.empty() && p.MainOutput().empty()) problem = "it has no output field";
    if (problem.empty()) return p;
    why += "; " + p.name + ": " + problem;
  }
  if (predictors.empty()) why = "; the program has no predictor";
  return Status::InvalidArgument(
      "no predictor of the program can write questions (input passage, optionally count and "
      "title; an output)" +
      why);
}

Status ValidateQuestionOptions(const QuestionOptions& o) {
  if (o.questions_per_passage < 1 || o.questions_per_passage > 20)
    return Status::InvalidArgument("questions per passage must be in 1..20");
  if (o.passage_token_budget < 16)
    return Status::InvalidArgument("the passage token budget must be at least 16");
  if (o.max_question_bytes < 16 || o.max_question_bytes > 4096)
    return Status::InvalidArgument("the longest question must be 16..4096 bytes");
  if (o.min_question_words < 1 || o.min_question_words > 50)
    return Status::InvalidArgument("the shortest question must be 1..50 words");
  if (!(o.max_copied_share >= 0 && o.max_copied_share <= 1))
    return Status::InvalidArgument("the copied share must be in [0, 1]");
  if (!(o.deadline_ms >= 0)) return Status::InvalidArgument("the deadline must be >= 0");
  if (o.max_in_flight < 1) return Status::InvalidArgument("at least one need in flight");
  return Status::OK();
}

// ---------------------------------------------------------------- requests

Result<QuestionPassage> QuestionPassageFor(const Index& index, const jobs::Selection& selection,
                                           const std::string& chunk_id) {
  const Chunk* c = index.FindChunk(chunk_id);
  const Document* d = c ? index.FindDocument(c->doc_id) : nullptr;
  if (!c || !d) return Status::NotFound("passage " + chunk_id + " is no longer in the index");
  if (!jobs::SelectionAllows(selection, d->matter))
    return Status::PermissionDenied("passage " + chunk_id + " is outside the allowed matters");
  QuestionPassage p;
  p.chunk_id = c->id;
  p.doc_id = d->id;
  p.title = d->title;
  p.text = c->text;
  return p;
}

namespace {

std::string PassageBlock(const QuestionPassage& passage, uint32_t budget) {
  SearchHit hit;
  hit.text = passage.text;
  hit.title = passage.title;
  hit.doc_id = passage.doc_id;
  std::vector<const SearchHit*> hits{&hit};
  uint32_t shown = 0;
  return rewrite::FormatPassages(hits, budget, &shown);
}

}  // namespace

LlmRequest BuildQuestionRequest(const Predictor& predictor, const QuestionPassage& passage,
                                const QuestionOptions& options, bool json_reply,
                                std::vector<RedactionCount>* redactions) {
  PredictorInputs inputs;
  inputs["passage"] = PassageBlock(passage, options.passage_token_budget);
  if (predictor.Find("count")) inputs["count"] = fmt::to_string(options.questions_per_passage);
  if (predictor.Find("title")) inputs["title"] = rewrite::DemoText(passage.title, 512);
  LlmRequest r;
  r.messages = RenderChat(predictor, inputs, json_reply);
  // Some variety across questions; the job's retries still differ only by format.
  r.temperature = 0.7;
  r.max_tokens = static_cast<uint32_t>(std::min<size_t>(
      4096, 64 + options.questions_per_passage * (options.max_question_bytes / 3 + 16)));
  rewrite::RedactMessages(options.redactor.get(), &r.messages, redactions);
  return r;
}

namespace {

bool HasLetterOrDigit(std::string_view s) {
  for (unsigned char c : s) {
    if (std::isalnum(c) || c >= 0x80) return true;
  }
  return false;
}

size_t CountWords(std::string_view s) {
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    bool space = rewrite::IsSpace(c);
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

// A candidate as a list item may look: "1. ", "- ", "Q2: ", "\"...\"", "**...**".
std::string CleanCandidate(std::string_view raw) {
  std::string s = rewrite::CollapseSpaces(Trim(raw));
  std::string_view v = s;
  // Bullets and numbering.
  for (bool again = true; again && !v.empty();) {
    again = false;
    if (v.substr(0, 2) == "**") break;  // emphasis, not a bullet
    if (v[0] == '-' || v[0] == '*' || v[0] == '+') {
      v = Trim(v.substr(1));
      again = true;
      continue;
    }
    size_t i = 0;
    if (i < v.size() && (v[i] == 'Q' || v[i] == 'q')) ++i;
    size_t digits = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i > digits && i < v.size() && (v[i] == '.' || v[i] == ')' || v[i] == ':')) {
      v = Trim(v.substr(i + 1));
      again = true;
    }
  }
  while (v.size() >= 2 && v.substr(0, 2) == "**" && v.substr(v.size() - 2) == "**") {
    v = Trim(v.substr(2, v.size() - 4));
  }
  while (v.size() >= 2 &&
         ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\'') ||
          (v.front() == '`' && v.back() == '`'))) {
    v = Trim(v.substr(1, v.size() - 2));
  }
  // One line, no control or invisible characters, no field markers.
  return rewrite::DemoText(v, 8192);
}

// The main output's text: from its marker section, or a JSON object's key.
// `list` receives the items when the value is a JSON list.
enum class Found { kNone, kText, kList };

Found FromJsonValue(const nlohmann::json& v, std::string* text, std::vector<std::string>* list) {
  if (v.is_string()) {
    *text = v.get<std::string>();
    return Found::kText;
  }
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) {
        list->push_back(e.get<std::string>());
      } else if (e.is_object() && e.contains("question") && e["question"].is_string()) {
        list->push_back(e["question"].get<std::string>());
      } else {
        list->push_back(std::string());  // counted as unusable below
      }
    }
    return Found::kList;
  }
  return Found::kNone;
}

// Items of a field's text: a JSON list, else one per line.
std::vector<std::string> Items(std::string_view value) {
  std::string_view t = rewrite::WithoutFence(value);  // a ```json fence around the list
  std::vector<std::string> out;
  if (!t.empty() && t[0] == '[') {
    nlohmann::json j = nlohmann::json::parse(t.begin(), t.end(), nullptr, false);
    std::string ignored;
    if (!j.is_discarded() && FromJsonValue(j, &ignored, &out) == Found::kList) return out;
    // A list cut short (max_tokens) or otherwise broken: its complete
    // string literals, each decoded on its own; an unterminated last one is
    // lost.
    out.clear();
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] != '"') continue;
      size_t k = i + 1;
      while (k < t.size() && t[k] != '"') k += t[k] == '\\' ? 2 : 1;
      if (k >= t.size()) break;
      nlohmann::json lit = nlohmann::json::parse(t.substr(i, k - i + 1), nullptr, false);
      if (!lit.is_discarded() && lit.is_string()) out.push_back(lit.get<std::string>());
      i = k;
    }
    return out;
  }
  for (std::string_view line : rewrite::SplitLines(t)) {
    if (!Trim(line).empty()) out.emplace_back(line);
  }
  return out;
}

}  // namespace

Result<QuestionReply> ParseQuestionReply(const Predictor& predictor, const QuestionPassage& passage,
                                         const QuestionOptions& options, std::string_view reply) {
  const std::string main = predictor.MainOutput();
  if (main.empty())
    return Status::InvalidArgument("predictor '" + predictor.name + "' has no output");
  std::string text = text::RepairUtf8(text::TruncateUtf8(reply, kMaxReplyBytes));
  text = rewrite::WithoutThinking(std::move(text));
  if (Trim(text).empty()) return Status::InvalidArgument("unusable reply: empty");

  std::vector<std::string> candidates;
  bool structured = false;
  const std::string marker = "[[ ## " + main + " ## ]]";
  size_t at = text.find(marker);
  if (at != std::string::npos) {
    size_t begin = at + marker.size();
    size_t end = text.find("[[ ##", begin);
    candidates = Items(std::string_view(text).substr(
        begin, end == std::string::npos ? std::string::npos : end - begin));
    structured = true;
  } else {
    nlohmann::json j;
    if (rewrite::ExtractObject(text, &j)) {
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (rewrite::AsciiLower(it.key()) != main) continue;
        std::string value;
        Found f = FromJsonValue(it.value(), &value, &candidates);
        if (f == Found::kText) candidates = Items(value);
        structured = f != Found::kNone;
        break;
      }
    }
    if (!structured && text.find("[[ ##") != std::string::npos)
      return Status::InvalidArgument("unusable reply: no " + marker + " section");
    if (!structured && Trim(text).substr(0, 1) == "[") {
      candidates = Items(text);  // a bare JSON list
      structured = !candidates.empty() && Trim(text).back() == ']';
    }
    if (!structured) {
      // No structure: only lines that are questions (a refusal or a
      // commentary is not one).
      candidates.clear();
      for (std::string_view line : rewrite::SplitLines(text)) {
        std::string_view l = Trim(line);
        if (!l.empty() && l.back() == '?') candidates.emplace_back(l);
      }
      if (candidates.empty())
        return Status::InvalidArgument(
            "unusable reply: no questions (not JSON, no line ends with '?')");
    }
  }

  QuestionReply out;
  const std::vector<uint64_t> passage_shingles = rewrite::Shingles(passage.text);
  const std::string passage_folded = rewrite::AsciiLower(rewrite::CollapseSpaces(passage.text));
  std::set<std::string> seen;
  const uint32_t k = options.questions_per_passage;
  for (const std::string& raw : candidates) {
    std::string q = CleanCandidate(raw);
    if (q.empty() || !HasLetterOrDigit(q)) {
      if (!Trim(raw).empty() || q.empty()) out.dropped.push_back("empty");
      continue;
    }
    if (q.size() > options.max_question_bytes) {
      out.dropped.push_back(fmt::format(FMT_STRING("too long ({} bytes)"), q.size()));
      continue;
    }
    if (CountWords(q) < options.min_question_words) {
      out.dropped.push_back(fmt::format(FMT_STRING("too short ({} words)"), CountWords(q)));
      continue;
    }
    std::string folded = rewrite::AsciiLower(q);
    std::string core = folded;
    while (!core.empty() && (core.back() == '?' || core.back() == '.')) core.pop_back();
    bool copied = core.size() >= 12 && passage_folded.find(core) != std::string::npos;
    if (!copied) {
      std::vector<uint64_t> qs = rewrite::Shingles(q);
      if (qs.size() >= 2) {
        std::vector<uint64_t> common;
        std::set_intersection(qs.begin(), qs.end(), passage_shingles.begin(),
                              passage_shingles.end(), std::back_inserter(common));
        copied = static_cast<double>(common.size()) >=
                     options.max_copied_share * static_cast<double>(qs.size()) &&
                 !common.empty();
      }
    }
    if (copied) {
      out.dropped.push_back("copies the passage");
      continue;
    }
    if (!seen.insert(folded).second) {
      out.dropped.push_back("duplicate");
      continue;
    }
    if (out.questions.size() >= k) {
      out.dropped.push_back(fmt::format(FMT_STRING("beyond the {} asked for"), k));
      continue;
    }
    out.questions.push_back(std::move(q));
  }
  if (out.questions.empty()) {
    std::map<std::string, int> why;
    for (const std::string& d : out.dropped) why[d.substr(0, d.find(" ("))] += 1;
    std::string list;
    for (const auto& [reason, n] : why)
      list +=
          (list.empty() ? "" : ", ") + reason + (n > 1 ? fmt::format(FMT_STRING(" x{}"), n) : "");
    return Status::InvalidArgument("unusable reply: no usable question" +
                                   (list.empty() ? std::string() : " (" + list + ")"));
  }
  return out;
}

// ---------------------------------------------------------------- sampling

Result<std::vector<std::string>> SamplePassages(const Index& index,
                                                const jobs::Selection& selection,
                                                const PassageSampleOptions& options) {
  if (options.count < 1) return Status::InvalidArgument("sample at least one passage");
  auto chunks = jobs::SelectChunks(index, selection);
  if (!chunks.ok()) return chunks.status();
  struct Candidate {
    uint64_t rank;
    const Chunk* chunk;
  };
  std::vector<Candidate> cands;
  std::unordered_set<uint64_t> texts;
  const uint64_t salt = rewrite::Fnv1a(fmt::to_string(options.seed), 0x9e3779b97f4a7c15ull);
  for (const std::string& id : *chunks) {
    const Chunk* c = index.FindChunk(id);
    if (!c || CountWords(c->text) < options.min_words) continue;
    // Repeated text (the same clause in twenty templates): the first stands for it.
    if (!texts.insert(rewrite::Fnv1a(rewrite::AsciiLower(rewrite::CollapseSpaces(c->text)))).second)
      continue;
    cands.push_back({rewrite::Fnv1a(c->id, salt), c});
  }
  if (cands.empty()) {
    return Status::FailedPrecondition(fmt::format(
        FMT_STRING("the selection holds no passage of at least {} words"), options.min_words));
  }
  std::sort(cands.begin(), cands.end(), [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank < b.rank : a.chunk->id < b.chunk->id;
  });
  std::vector<std::string> out;
  std::map<std::string, uint32_t> per_doc;
  for (const Candidate& c : cands) {
    if (out.size() >= options.count) break;
    if (options.max_per_document && per_doc[c.chunk->doc_id] >= options.max_per_document) continue;
    ++per_doc[c.chunk->doc_id];
    out.push_back(c.chunk->id);
  }
  return out;
}

Result<std::vector<QuestionPassage>> SampleQuestionPassages(const Index& index,
                                                            const jobs::Selection& selection,
                                                            const PassageSampleOptions& options) {
  auto ids = SamplePassages(index, selection, options);
  if (!ids.ok()) return ids.status();
  std::vector<QuestionPassage> out;
  out.reserve(ids->size());
  for (const std::string& id : *ids) {
    auto p = QuestionPassageFor(index, selection, id);
    if (!p.ok()) return p.status();
    out.push_back(std::move(*p));
  }
  return out;
}

// ---------------------------------------------------------------- session

struct QuestionSession::Rep {
  std::vector<QuestionPassage> passages;
  Predictor predictor;
  QuestionOptions options;
  std::vector<GeneratedQuestions> results;
  std::vector<uint32_t> queue;  // passages waiting to be sent (front first)
  size_t queue_at = 0;
  rewrite::LlmNeeds needs;  // items: passages
  bool deadline_passed = false;

  void Send(uint32_t p, bool json, double now) {
    std::vector<RedactionCount> counts;
    LlmRequest request = BuildQuestionRequest(predictor, passages[p], options, json, &counts);
    needs.Send(p, std::move(request), counts, "chunk " + passages[p].chunk_id, now);
    ++results[p].requests;
  }

  void Fill(double now) {
    while (!deadline_passed && needs.outstanding() < options.max_in_flight &&
           queue_at < queue.size()) {
      Send(queue[queue_at++], false, now);
    }
  }

  void Finish(uint32_t p, Status s) { results[p].status = std::move(s); }
};

QuestionSession::QuestionSession(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
QuestionSession::~QuestionSession() = default;

Result<std::unique_ptr<QuestionSession>> QuestionSession::Start(
    std::vector<QuestionPassage> passages, Predictor predictor, QuestionOptions options,
    double now_ms) {
  FB_RETURN_IF_ERROR(ValidateQuestionOptions(options));
  if (passages.empty()) return Status::InvalidArgument("no passage to write questions for");
  if (!predictor.Find("passage") || !predictor.Find("passage")->input ||
      predictor.MainOutput().empty()) {
    return Status::InvalidArgument("the predictor needs a 'passage' input and an output");
  }
  auto rep = std::make_unique<Rep>();
  rep->passages = std::move(passages);
  rep->predictor = std::move(predictor);
  rep->options = std::move(options);
  rep->needs = rewrite::LlmNeeds("questions", "question", now_ms, rep->options.deadline_ms,
                                 rep->options.retry_budget);
  const size_t n = rep->passages.size();
  rep->results.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    rep->results[i].chunk_id = rep->passages[i].chunk_id;
    rep->results[i].doc_id = rep->passages[i].doc_id;
    rep->queue.push_back(i);
  }
  rep->Fill(now_ms);
  return std::unique_ptr<QuestionSession>(new QuestionSession(std::move(rep)));
}

std::vector<Need> QuestionSession::TakeNeeds() { return rep_->needs.TakeNeeds(); }

Status QuestionSession::Provide(uint64_t need_id, NeedResult result, double now_ms) {
  Rep& r = *rep_;
  std::optional<uint32_t> item;
  FB_RETURN_IF_ERROR(r.needs.Claim(need_id, &item));
  if (!item) return Status::OK();  // abandoned at the deadline
  const uint32_t p = *item;
  GeneratedQuestions& g = r.results[p];
  if (!result.model.empty()) g.model = result.model;
  if (!result.status.ok()) {
    // The host has retried already (wire.h's policy): the passage fails.
    r.Finish(p, result.status);
  } else {
    auto parsed = ParseQuestionReply(r.predictor, r.passages[p], r.options, result.text);
    if (parsed.ok()) {
      g.questions = std::move(parsed->questions);
      g.dropped = std::move(parsed->dropped);
      r.Finish(p, Status::OK());
    } else if (r.needs.RetryUnusable(p) && !r.deadline_passed) {
      r.Send(p, /*json=*/true, now_ms);
    } else {
      r.Finish(p, parsed.status());
    }
  }
  Tick(now_ms);
  return Status::OK();
}

void QuestionSession::Tick(double now_ms) {
  Rep& r = *rep_;
  if (!r.deadline_passed && r.needs.PastDeadline(now_ms)) {
    r.deadline_passed = true;
    Status late = Status::DeadlineExceeded(
        fmt::format(FMT_STRING("the deadline of {} ms passed before questions came back"),
                    static_cast<int64_t>(r.options.deadline_ms)));
    for (uint32_t p : r.needs.AbandonAll()) r.Finish(p, late);
    for (; r.queue_at < r.queue.size(); ++r.queue_at) r.Finish(r.queue[r.queue_at], late);
  }
  r.Fill(now_ms);
}

bool QuestionSession::done() const {
  return rep_->needs.idle() && rep_->queue_at >= rep_->queue.size();
}

const std::vector<GeneratedQuestions>& QuestionSession::results() const { return rep_->results; }
const std::vector<std::string>& QuestionSession::redactions() const {
  return rep_->needs.redactions();
}

// ---------------------------------------------------------------- pairs

std::string QuestionPairLine(const QuestionPair& pair, const PairProvenance& prov) {
  nlohmann::ordered_json j;
  j["query"] = pair.query;
  j["chunk_id"] = pair.chunk_id;
  j["doc_id"] = pair.doc_id;
  j["source"] = "llm";
  if (!prov.model.empty()) j["model"] = prov.model;
  if (!prov.program_hash.empty()) j["program_hash"] = prov.program_hash;
  if (!prov.job_id.empty()) j["job_id"] = prov.job_id;
  if (!prov.foldback_version.empty()) j["foldback_version"] = prov.foldback_version;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

QuestionHarvest HarvestQuestions(const std::vector<GeneratedQuestions>& results,
                                 const std::string& program_hash) {
  QuestionHarvest h;
  h.passages = results.size();
  for (const GeneratedQuestions& g : results) {
    if (!g.status.ok()) {
      ++h.failed;
      if (h.errors.size() < 5) h.errors.push_back(g.chunk_id + ": " + g.status.ToString());
      continue;
    }
    ++h.answered;
    if (!g.model.empty()) h.model = g.model;
    h.dropped += g.dropped.size();
    for (const std::string& q : g.questions) {
      h.pairs.push_back({q, g.chunk_id, g.doc_id});
      h.jsonl += QuestionPairLine(h.pairs.back(), {g.model, program_hash, "", Version()});
      h.jsonl += '\n';
    }
  }
  return h;
}

Result<std::vector<QuestionPair>> ParseQuestionPairs(std::string_view jsonl) {
  std::vector<QuestionPair> out;
  size_t line_no = 0;
  for (std::string_view line : rewrite::SplitLines(jsonl)) {
    ++line_no;
    std::string_view t = Trim(line);
    if (t.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Status::InvalidArgument(fmt::format(FMT_STRING("pairs line {}: {}"), line_no, why));
    };
    nlohmann::json j = nlohmann::json::parse(t.begin(), t.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
    if (!j.contains("query") || !j["query"].is_string()) return bad("no string 'query'");
    const char* key = j.contains("chunk_id") ? "chunk_id" : "positive";
    if (!j.contains(key) || !j[key].is_string()) return bad("no string 'chunk_id'");
    QuestionPair p;
    p.query = std::string(Trim(j["query"].get<std::string>()));
    p.chunk_id = j[key].get<std::string>();
    if (j.contains("doc_id") && j["doc_id"].is_string()) p.doc_id = j["doc_id"].get<std::string>();
    if (p.query.empty()) return bad("empty 'query'");
    if (p.chunk_id.empty()) return bad("empty 'chunk_id'");
    out.push_back(std::move(p));
  }
  if (out.empty()) return Status::InvalidArgument("the pairs file holds no pair");
  return out;
}

std::vector<TrainingPair> GeneratedTrainingPairs(const Index& index,
                                                 const std::vector<QuestionPair>& pairs,
                                                 size_t* missing) {
  std::vector<TrainingPair> out;
  size_t gone = 0;
  for (const QuestionPair& p : pairs) {
    const Chunk* c = index.FindChunk(p.chunk_id);
    if (!c) {
      ++gone;
      continue;
    }
    TrainingPair t;
    t.source = PairSource::kGenerated;
    t.anchor = p.query;
    t.positive = c->text;
    t.positive_chunk = c->id;
    out.push_back(std::move(t));
  }
  if (missing) *missing = gone;
  return out;
}

Status UseQuestionPairs(const Index& index, const std::vector<QuestionPair>& pairs,
                        EmbedderTrainOptions* options, size_t* missing) {
  size_t gone = 0;
  std::vector<TrainingPair> live = GeneratedTrainingPairs(index, pairs, &gone);
  if (missing) *missing = gone;
  if (live.empty()) {
    return Status::InvalidArgument(fmt::format(
        FMT_STRING("none of the {} question pairs names a passage of this index"), pairs.size()));
  }
  options->generated_pairs = std::move(live);
  options->sources.enabled[static_cast<int>(PairSource::kGenerated)] = true;
  return Status::OK();
}

}  // namespace foldback
