#include "llm_test_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace foldback::testing {
namespace {

using nlohmann::json;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t Words(const std::string& s) {
  size_t n = 0;
  bool in = false;
  for (char c : s) {
    bool space = std::isspace(static_cast<unsigned char>(c));
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

uint64_t Fnv1a(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

json ErrorBody(const std::string& message, const std::string& type) {
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}};
}

// cpp-httplib 0.11 listens with a backlog of 5: a burst of parallel
// connections beyond that waits for a SYN retransmit (1 s). Linux lets a
// second listen() raise the backlog of a listening socket.
class Server : public httplib::Server {
 public:
  void RaiseBacklog() { ::listen(svr_sock_, 1024); }
};

}  // namespace

std::vector<float> HashEmbedding(std::string_view text, uint32_t dim) {
  std::vector<float> v(dim == 0 ? 1 : dim, 0.0f);
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    uint64_t h = Fnv1a(word, 0);
    size_t bucket = h % v.size();
    float sign = (Fnv1a(word, 0x9e3779b97f4a7c15ull) & 1) ? 1.0f : -1.0f;
    v[bucket] += sign;
    word.clear();
  };
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
  double norm = 0;
  for (float x : v) norm += static_cast<double>(x) * x;
  if (norm == 0) {
    v[0] = 1;
    return v;
  }
  float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float& x : v) x *= inv;
  return v;
}

namespace {

// The section of `field` in a ChatAdapter message, "" when absent.
std::string Section(const std::string& msg, const std::string& field) {
  const std::string marker = "[[ ## " + field + " ## ]]";
  size_t at = msg.find(marker);
  if (at == std::string::npos) return "";
  size_t begin = at + marker.size();
  size_t end = msg.find("[[ ##", begin);
  return msg.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

std::vector<std::string> EchoQuestions(const std::string& section, size_t count) {
  // The text inside the <passage ...> block (not the note around it).
  std::string passage = section;
  size_t open = section.find("<passage");
  if (open != std::string::npos) {
    size_t body = section.find('>', open);
    size_t close = section.find("</passage>", open);
    if (body != std::string::npos && body < close)
      passage = section.substr(body + 1,
                               close == std::string::npos ? std::string::npos : close - body - 1);
  }
  // The passage's words outside markup (<passage ...> tags, entities), in
  // order, once each, without short and common ones.
  static const std::set<std::string> kCommon = {
      "the",   "and",  "for",     "with",  "that",     "this",    "shall", "from",  "such",
      "any",   "each", "other",   "which", "will",     "been",    "have",  "must",  "under",
      "into",  "upon", "passage", "title", "document", "section", "their", "there", "these",
      "those", "than", "then",    "were",  "what",     "when",    "where", "does",  "about"};
  std::vector<std::string> words;
  std::set<std::string> seen;
  std::string w;
  bool in_tag = false, in_entity = false;
  auto flush = [&] {
    if (w.size() >= 4 && !kCommon.count(w) && seen.insert(w).second) words.push_back(w);
    w.clear();
  };
  for (char ch : passage) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (in_tag) {
      in_tag = c != '>';
      continue;
    }
    if (in_entity) {
      in_entity = c != ';';
      continue;
    }
    if (c == '<') {
      flush();
      in_tag = true;
    } else if (c == '&') {
      flush();
      in_entity = true;
    } else if (std::isalpha(c)) {
      w += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string a = words.empty() ? "the matter" : words[(2 * i) % words.size()];
    std::string b = words.size() < 2 ? "its terms" : words[(2 * i + 1) % words.size()];
    out.push_back("What do we know about " + a + " and " + b + " here?");
  }
  return out;
}

// ---- LLM reranker (foldback/llm_rerank.h): EchoRanking
namespace {
std::set<std::string> EchoWords(const std::string& text) {
  std::set<std::string> out;
  std::string w;
  auto flush = [&] {
    if (w.size() >= 3) out.insert(w);
    w.clear();
  };
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) {
      w += static_cast<char>(std::tolower(c));
    } else {
      flush();
    }
  }
  flush();
  return out;
}
}  // namespace

std::string EchoRanking(const std::string& question, const std::string& section) {
  const std::set<std::string> q = EchoWords(question);
  struct Scored {
    int n;
    size_t overlap;
  };
  std::vector<Scored> blocks;
  size_t pos = 0;
  while ((pos = section.find("<passage n=\"", pos)) != std::string::npos) {
    size_t num = pos + 12;
    int n = 0;
    for (size_t i = num; i < section.size() && std::isdigit(static_cast<unsigned char>(section[i]));
         ++i)
      n = n * 10 + (section[i] - '0');
    size_t body = section.find('>', num);
    size_t close = section.find("</passage>", num);
    if (body == std::string::npos || close == std::string::npos || body > close) break;
    size_t overlap = 0;
    for (const std::string& w : EchoWords(section.substr(body + 1, close - body - 1)))
      overlap += q.count(w);
    blocks.push_back({n, overlap});
    pos = close;
  }
  std::stable_sort(blocks.begin(), blocks.end(), [](const Scored& a, const Scored& b) {
    return a.overlap != b.overlap ? a.overlap > b.overlap : a.n < b.n;
  });
  std::string out;
  for (const Scored& b : blocks) out += (out.empty() ? "[" : " > [") + std::to_string(b.n) + "]";
  return out;
}
// ---- end LLM reranker

std::string EchoReply(const std::string& msg) {
  // The question: the [[ ## question ## ]] section, up to the next marker.
  std::string question;
  static const std::string kQ = "[[ ## question ## ]]";
  size_t q = msg.find(kQ);
  if (q != std::string::npos) {
    size_t begin = q + kQ.size();
    size_t end = msg.find("[[ ##", begin);
    question = msg.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  } else {
    question = msg.substr(0, msg.find('\n'));
  }
  while (!question.empty() && std::isspace(static_cast<unsigned char>(question.front()))) question.erase(0, 1);
  while (!question.empty() && std::isspace(static_cast<unsigned char>(question.back()))) question.pop_back();
  if (question.find('\n') != std::string::npos) question = question.substr(0, question.find('\n'));

  // A GenerateQuestions prompt: deterministic questions from the passage.
  std::string passage = Section(msg, "passage");
  size_t count = 3;
  {
    std::string c = Section(msg, "count");
    size_t n = 0;
    bool any = false;
    for (char ch : c) {
      if (std::isdigit(static_cast<unsigned char>(ch))) {
        n = n * 10 + static_cast<size_t>(ch - '0');
        any = true;
        if (n > 100) break;
      } else if (any) {
        break;
      }
    }
    if (any && n >= 1 && n <= 100) count = n;
  }
  auto questions = [&] { return EchoQuestions(passage, count); };
  auto value = [&](const std::string& field) -> std::string {
    if (field == "questions" && !passage.empty()) return json(questions()).dump();
    if (field == "ranking" && !Section(msg, "passages").empty())  // LLM reranker
      return EchoRanking(question, Section(msg, "passages"));
    if (field == "answer") return "Echo: " + question + " [1]";
    if (field == "reasoning" || field == "rationale") return "The echo server does not reason.";
    return question;
  };
  // The fields asked for, in order: `[[ ## f ## ]]` (markers) or `f` (JSON).
  static const std::string kMarkers = "Respond with the corresponding output fields";
  static const std::string kJson = "Respond with a JSON object in the following order of fields";
  size_t at = msg.rfind(kMarkers);
  bool json_reply = false;
  if (at == std::string::npos) {
    at = msg.rfind(kJson);
    json_reply = at != std::string::npos;
  }
  if (at == std::string::npos) return question;
  std::vector<std::string> fields;
  std::string tail = msg.substr(at);
  size_t pos = 0;
  while ((pos = tail.find('`', pos)) != std::string::npos) {
    size_t end = tail.find('`', pos + 1);
    if (end == std::string::npos) break;
    std::string f = tail.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    if (f.rfind("[[ ## ", 0) == 0 && f.size() > 12) f = f.substr(6, f.size() - 12);
    if (f.empty() || f == "completed") continue;
    fields.push_back(f);
  }
  if (json_reply) {
    json j = json::object();
    for (const auto& f : fields) {
      if (f == "questions" && !passage.empty()) {
        j[f] = questions();
      } else {
        j[f] = value(f);
      }
    }
    return j.dump();
  }
  std::string out;
  for (const auto& f : fields) out += "[[ ## " + f + " ## ]]\n" + value(f) + "\n\n";
  return out + "[[ ## completed ## ]]";
}

std::string RecordedRequest::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

struct LlmTestServer::Rep {
  LlmTestServerOptions options;
  Server server;
  std::thread thread;
  int port = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  mutable std::mutex mu;
  std::vector<ScriptedReply> script;
  std::vector<RecordedRequest> requests;
  uint64_t next_id = 1;

  std::mutex stop_mu;
  std::condition_variable stop_cv;
  std::atomic<bool> stopping{false};

  // ---- fine-tuning (under mu)
  std::map<std::string, json> ft_files;  // id -> file object (+ "content")
  std::vector<json> ft_jobs;             // job objects, in creation order
  std::map<std::string, int> ft_polls;   // job id -> polls answered
  uint64_t ft_next = 1;

  // A scripted reply for a fine-tuning route, when one matches: true when
  // it answered (a failure, or a verbatim body).
  bool FinetuneScripted(const httplib::Request& req, httplib::Response& res) {
    ScriptedReply reply;
    if (!Take(req.path, req.body, &reply)) return false;
    if (reply.delay_ms > 0 && !Sleep(reply.delay_ms)) {
      res.status = 503;
      return true;
    }
    if (reply.status == 200 && reply.body.empty()) return false;  // a delay only
    Record(req, reply.status);
    res.status = reply.status;
    for (const auto& [name, value] : reply.headers) res.set_header(name, value);
    res.set_content(reply.body.empty()
                        ? ErrorBody("scripted " + std::to_string(reply.status),
                                    reply.status == 429 ? "rate_limit_error" : "api_error")
                              .dump()
                        : reply.body,
                    "application/json");
    return true;
  }

  json FinetuneJob(json& job) {  // advances a job by one poll (under mu)
    const std::string id = job["id"];
    int polls = ++ft_polls[id];
    if (polls <= options.finetune_queued_polls) {
      job["status"] = "queued";
    } else if (polls <= options.finetune_queued_polls + options.finetune_running_polls) {
      job["status"] = "running";
    } else if (!options.finetune_fail_message.empty()) {
      job["status"] = "failed";
      job["error"] = {{"code", "invalid_training_file"},
                      {"message", options.finetune_fail_message},
                      {"param", "training_file"}};
    } else {
      job["status"] = "succeeded";
      job["fine_tuned_model"] = "ft:" + job["model"].get<std::string>() + ":foldback-test::" + id;
      job["trained_tokens"] = 1234;
    }
    return job;
  }

  void RouteFinetune() {
    server.Post(R"(.*/files)", [this](const httplib::Request& req, httplib::Response& res) {
      if (FinetuneScripted(req, res)) return;
      if (!Authorized(req)) {
        Record(req, 401);
        res.status = 401;
        res.set_content(ErrorBody("Incorrect API key provided.", "invalid_request_error").dump(),
                        "application/json");
        return;
      }
      if (!req.is_multipart_form_data() || !req.has_file("file") || !req.has_file("purpose") ||
          req.get_file_value("purpose").content != "fine-tune") {
        Record(req, 400);
        res.status = 400;
        res.set_content(
            ErrorBody("a multipart body with purpose=fine-tune and a file is required",
                      "invalid_request_error")
                .dump(),
            "application/json");
        return;
      }
      const auto file = req.get_file_value("file");
      json obj;
      {
        std::lock_guard<std::mutex> lock(mu);
        std::string id = "file-test-" + std::to_string(ft_next++);
        obj = {{"id", id},           {"object", "file"},   {"bytes", file.content.size()},
               {"created_at", static_cast<int64_t>(ft_next)}, {"filename", file.filename},
               {"purpose", "fine-tune"}, {"status", "processed"}};
        ft_files[id] = obj;
        ft_files[id]["content"] = file.content;
      }
      Record(req, 200);
      res.set_content(obj.dump(), "application/json");
    });
    server.Get(R"(.*/files)", [this](const httplib::Request& req, httplib::Response& res) {
      if (FinetuneScripted(req, res)) return;
      Record(req, 200);
      json data = json::array();
      {
        std::lock_guard<std::mutex> lock(mu);
        for (const auto& [id, f] : ft_files) {
          json o = f;
          o.erase("content");
          data.push_back(o);
        }
      }
      res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
    });
    server.Post(R"(.*/fine_tuning/jobs)", [this](const httplib::Request& req, httplib::Response& res) {
      if (FinetuneScripted(req, res)) return;
      json body = json::parse(req.body, nullptr, false);
      int status = 200;
      json out;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!Authorized(req)) {
          status = 401;
          out = ErrorBody("Incorrect API key provided.", "invalid_request_error");
        } else if (body.is_discarded() || !body.is_object() || !body.contains("training_file") ||
                   !body["training_file"].is_string() ||
                   !ft_files.count(body["training_file"].get<std::string>()) ||
                   !body.contains("model")) {
          status = 400;
          out = ErrorBody("a known training_file and a model are required", "invalid_request_error");
        } else {
          std::string id = "ftjob-test-" + std::to_string(ft_next++);
          out = {{"id", id},
                 {"object", "fine_tuning.job"},
                 {"model", body["model"]},
                 {"training_file", body["training_file"]},
                 {"status", "validating_files"},
                 {"fine_tuned_model", nullptr},
                 {"method", body.value("method", json::object())},
                 {"metadata", body.value("metadata", json(nullptr))}};
          ft_jobs.push_back(out);
        }
      }
      Record(req, status);
      res.status = status;
      res.set_content(out.dump(), "application/json");
    });
    server.Get(R"(.*/fine_tuning/jobs(/[^/]+)?)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 if (FinetuneScripted(req, res)) return;
                 std::string one = req.matches.size() > 1 ? req.matches[1].str() : "";
                 json out;
                 int status = 200;
                 {
                   std::lock_guard<std::mutex> lock(mu);
                   if (one.empty()) {
                     json data = json::array();
                     for (auto it = ft_jobs.rbegin(); it != ft_jobs.rend(); ++it) data.push_back(*it);
                     out = {{"object", "list"}, {"data", data}, {"has_more", false}};
                   } else {
                     status = 404;
                     out = ErrorBody("no fine-tuning job " + one.substr(1), "invalid_request_error");
                     for (json& j : ft_jobs) {
                       if ("/" + j["id"].get<std::string>() == one) {
                         status = 200;
                         out = FinetuneJob(j);
                       }
                     }
                   }
                 }
                 Record(req, status);
                 res.status = status;
                 res.set_content(out.dump(), "application/json");
               });
  }

  double Now() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  }

  // Sleeps up to `ms`; false when the server is stopping.
  bool Sleep(double ms) {
    std::unique_lock<std::mutex> lock(stop_mu);
    return !stop_cv.wait_for(lock, std::chrono::duration<double, std::milli>(ms),
                             [this] { return stopping.load(); });
  }

  // The text a `match` is looked for in.
  static std::string MatchText(const std::string& path, const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return body;
    std::string text;
    if (j.contains("messages") && j["messages"].is_array()) {
      for (const json& m : j["messages"]) {
        if (m.is_object() && m.contains("content") && m["content"].is_string()) {
          text += m["content"].get<std::string>();
          text += "\n";
        }
      }
      return text;
    }
    if (j.contains("input")) {
      const json& in = j["input"];
      if (in.is_string()) return in.get<std::string>();
      if (in.is_array()) {
        for (const json& t : in) {
          if (t.is_string()) text += t.get<std::string>() + "\n";
        }
        return text;
      }
    }
    return body;
  }

  // Picks (and uses up) the scripted reply for a request, if any.
  bool Take(const std::string& path, const std::string& text, ScriptedReply* out) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = script.begin(); it != script.end(); ++it) {
      if (!it->path.empty() && path.find(it->path) == std::string::npos) continue;
      if (!it->match.empty() && text.find(it->match) == std::string::npos) continue;
      *out = *it;
      if (it->times > 0 && --it->times == 0) script.erase(it);
      return true;
    }
    return false;
  }

  void Record(const httplib::Request& req, int status) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    size_t q = req.target.find('?');
    if (q != std::string::npos) r.query = req.target.substr(q + 1);
    for (const auto& [name, value] : req.headers) r.headers.emplace(Lower(name), value);
    r.body = req.body;
    r.arrival_ms = Now();
    r.status = status;
    std::lock_guard<std::mutex> lock(mu);
    requests.push_back(std::move(r));
  }

  std::vector<RecordedRequest> Requests() const {
    std::lock_guard<std::mutex> lock(mu);
    return requests;
  }

  bool Authorized(const httplib::Request& req) const {
    if (options.expected_key.empty()) return true;
    return req.get_header_value("Authorization") == "Bearer " + options.expected_key ||
           req.get_header_value("api-key") == options.expected_key;
  }

  json ChatCompletion(const std::string& content, const std::string& model, const std::string& prompt) {
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(mu);
      id = next_id++;
    }
    size_t p = Words(prompt), c = Words(content);
    return {{"id", "chatcmpl-test-" + std::to_string(id)},
            {"object", "chat.completion"},
            {"created", static_cast<int64_t>(std::time(nullptr))},
            {"model", model},
            {"choices",
             json::array({{{"index", 0},
                           {"message", {{"role", "assistant"}, {"content", content}}},
                           {"finish_reason", "stop"}}})},
            {"usage", {{"prompt_tokens", p}, {"completion_tokens", c}, {"total_tokens", p + c}}}};
  }

  // Builds the default (unscripted) body; sets status 400 for malformed requests.
  std::string DefaultBody(bool embeddings, const std::string& body, const std::string& prompt,
                          const std::string& model, int* status) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      *status = 400;
      return ErrorBody("request body is not a JSON object", "invalid_request_error").dump();
    }
    if (!embeddings) {
      if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
        *status = 400;
        return ErrorBody("'messages' is required", "invalid_request_error").dump();
      }
      std::string content = options.default_content;
      if (options.echo) {
        std::string last_user;
        for (const json& m : j["messages"]) {
          if (m.is_object() && m.contains("role") && m["role"] == "user" && m.contains("content") &&
              m["content"].is_string()) {
            last_user = m["content"].get<std::string>();
          }
        }
        content = EchoReply(last_user);
      }
      return ChatCompletion(content, model, prompt).dump();
    }
    std::vector<std::string> inputs;
    if (j.contains("input") && j["input"].is_string()) {
      inputs.push_back(j["input"].get<std::string>());
    } else if (j.contains("input") && j["input"].is_array()) {
      for (const json& t : j["input"]) {
        if (!t.is_string()) {
          *status = 400;
          return ErrorBody("'input' must be a string or a list of strings", "invalid_request_error").dump();
        }
        inputs.push_back(t.get<std::string>());
      }
    } else {
      *status = 400;
      return ErrorBody("'input' is required", "invalid_request_error").dump();
    }
    json data = json::array();
    size_t tokens = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      data.push_back({{"object", "embedding"},
                      {"index", i},
                      {"embedding", HashEmbedding(inputs[i], options.embedding_dim)}});
      tokens += Words(inputs[i]);
    }
    std::string m = j.contains("model") && j["model"].is_string() ? j["model"].get<std::string>() : model;
    return json{{"object", "list"},
                {"data", data},
                {"model", m},
                {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}
        .dump();
  }

  void Handle(const httplib::Request& req, httplib::Response& res, bool embeddings) {
    std::string text = MatchText(req.path, req.body);
    ScriptedReply reply;
    bool scripted = Take(req.path, text, &reply);
    if (!scripted) reply.delay_ms = options.default_delay_ms;
    int status = reply.status;
    std::string body;
    if (!Authorized(req)) {
      status = 401;
      body = ErrorBody("Incorrect API key provided.", "invalid_request_error").dump();
    } else if (!reply.body.empty()) {
      body = reply.body;
    } else if (reply.fault == ScriptedReply::Fault::kInvalidJson) {
      body = "<html><body>this is not JSON {";
    } else if (status == 200) {
      if (scripted && !embeddings) {
        body = ChatCompletion(reply.content, reply.model, text).dump();
      } else {
        body = DefaultBody(embeddings, req.body, text, reply.model, &status);
      }
    } else {
      body = ErrorBody("scripted " + std::to_string(status),
                       status == 429 ? "rate_limit_error" : "api_error")
                 .dump();
    }
    Record(req, status);
    if (reply.delay_ms > 0 && !Sleep(reply.delay_ms)) {
      res.status = 503;
      return;
    }
    res.status = status;
    for (const auto& [name, value] : reply.headers) res.set_header(name, value);
    auto shared = std::make_shared<std::string>(std::move(body));
    switch (reply.fault) {
      case ScriptedReply::Fault::kTruncate:
        res.set_content_provider(shared->size(), "application/json",
                                 [shared](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset == 0) sink.write(shared->data(), shared->size() / 2);
                                   return false;  // closes the connection short of Content-Length
                                 });
        return;
      case ScriptedReply::Fault::kHangAfterHeaders: {
        double hang = reply.hang_ms;
        res.set_content_provider(shared->size(), "application/json",
                                 [this, shared, hang](size_t, size_t, httplib::DataSink& sink) {
                                   if (Sleep(hang)) sink.write(shared->data(), shared->size());
                                   return !stopping;
                                 });
        return;
      }
      case ScriptedReply::Fault::kCloseMidBody:
        res.set_chunked_content_provider("application/json",
                                         [shared](size_t offset, httplib::DataSink& sink) {
                                           if (offset == 0) sink.write(shared->data(), shared->size() / 2);
                                           return false;  // no terminating chunk
                                         });
        return;
      default:
        res.set_content(*shared, reply.fault == ScriptedReply::Fault::kInvalidJson ? "text/html"
                                                                                  : "application/json");
    }
  }
};

LlmTestServer::LlmTestServer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

LlmTestServer::~LlmTestServer() { Stop(); }

Result<std::unique_ptr<LlmTestServer>> LlmTestServer::Start(LlmTestServerOptions options, int port) {
  auto rep = std::make_unique<Rep>();
  rep->options = std::move(options);
  Rep* r = rep.get();
  int threads = std::max(1, r->options.threads);
  r->server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  r->server.set_keep_alive_max_count(1000);
  r->server.set_tcp_nodelay(true);  // headers and body go out in two writes
  r->server.set_payload_max_length(64u << 20);
  r->server.Post(R"(.*/chat/completions)",
                 [r](const httplib::Request& req, httplib::Response& res) { r->Handle(req, res, false); });
  r->server.Post(R"(.*/embeddings)",
                 [r](const httplib::Request& req, httplib::Response& res) { r->Handle(req, res, true); });
  // An OTLP/HTTP receiver (telemetry tests): bodies recorded, 200 as a
  // collector answers.
  r->server.Post("/v1/traces", [r](const httplib::Request& req, httplib::Response& res) {
    r->Record(req, 200);
    res.set_content("{}", "application/json");
  });
  // Control routes for a driver in another process (the parity suite):
  // not recorded, never scripted.
  r->server.Get("/__test/requests", [r](const httplib::Request&, httplib::Response& res) {
    json list = json::array();
    for (const RecordedRequest& q : r->Requests()) {
      json headers = json::object();
      for (const auto& [name, value] : q.headers) {
        if (!headers.contains(name)) headers[name] = value;  // first value, as Header() gives it
      }
      list.push_back({{"method", q.method},
                      {"path", q.path},
                      {"query", q.query},
                      {"headers", headers},
                      {"body", q.body},
                      {"arrival_ms", q.arrival_ms},
                      {"status", q.status}});
    }
    res.set_content(list.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  });
  r->server.Post("/__test/script", [r](const httplib::Request& req, httplib::Response& res) {
    auto script = ParseServerScript(req.body);
    if (!script.ok()) {
      res.status = 400;
      res.set_content(ErrorBody(script.status().message(), "invalid_request_error").dump(),
                      "application/json");
      return;
    }
    {
      std::lock_guard<std::mutex> lock(r->mu);
      r->script.clear();
      r->requests.clear();
      for (auto& reply : script->replies) {
        if (reply.times != 0) r->script.push_back(std::move(reply));
      }
    }
    res.set_content("{\"ok\":true}", "application/json");
  });
  r->RouteFinetune();
  auto not_found = [r](const httplib::Request& req, httplib::Response& res) {
    r->Record(req, 404);
    res.status = 404;
    res.set_content(ErrorBody("Unknown route " + req.path, "invalid_request_error").dump(),
                    "application/json");
  };
  r->server.Post(".*", not_found);
  r->server.Get(".*", not_found);
  if (port == 0) {
    r->port = r->server.bind_to_any_port("127.0.0.1");
    if (r->port <= 0) return Status::IOError("test server: could not bind 127.0.0.1 on any port");
  } else {
    if (!r->server.bind_to_port("127.0.0.1", port)) {
      return Status::IOError("test server: could not bind 127.0.0.1:" + std::to_string(port));
    }
    r->port = port;
  }
  r->server.RaiseBacklog();
  r->thread = std::thread([r] { r->server.listen_after_bind(); });
  for (int i = 0; i < 2000 && !r->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return std::unique_ptr<LlmTestServer>(new LlmTestServer(std::move(rep)));
}

int LlmTestServer::port() const { return rep_->port; }

std::string LlmTestServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(rep_->port) + "/v1";
}

void LlmTestServer::Script(ScriptedReply reply) {
  if (reply.times == 0) return;
  std::lock_guard<std::mutex> lock(rep_->mu);
  rep_->script.push_back(std::move(reply));
}

void LlmTestServer::ClearScript() {
  std::lock_guard<std::mutex> lock(rep_->mu);
  rep_->script.clear();
}

size_t LlmTestServer::script_left() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  return rep_->script.size();
}

std::vector<RecordedRequest> LlmTestServer::requests() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  return rep_->requests;
}

size_t LlmTestServer::request_count() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  return rep_->requests.size();
}

std::map<std::string, std::string> LlmTestServer::finetune_files() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  std::map<std::string, std::string> out;
  for (const auto& [id, f] : rep_->ft_files) out[id] = f["content"].get<std::string>();
  return out;
}

std::vector<std::string> LlmTestServer::finetune_jobs() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  std::vector<std::string> out;
  for (const auto& j : rep_->ft_jobs) out.push_back(j["training_file"].get<std::string>());
  return out;
}

void LlmTestServer::ClearRequests() {
  std::lock_guard<std::mutex> lock(rep_->mu);
  rep_->requests.clear();
}

void LlmTestServer::Stop() {
  {
    std::lock_guard<std::mutex> lock(rep_->stop_mu);
    if (rep_->stopping.load() && !rep_->thread.joinable()) return;
    rep_->stopping.store(true);
  }
  rep_->stop_cv.notify_all();
  rep_->server.stop();
  if (rep_->thread.joinable()) rep_->thread.join();
}

// ------------------------------------------------------------------ scripts

Result<ServerScript> ParseServerScript(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("script is not a JSON object");
  ServerScript s;
  auto bad = [](const std::string& what) { return Status::InvalidArgument("script: " + what); };
  try {
    if (j.contains("embedding_dim")) {
      if (!j["embedding_dim"].is_number_unsigned() || j["embedding_dim"].get<uint64_t>() == 0 ||
          j["embedding_dim"].get<uint64_t>() > 65536) {
        return bad("embedding_dim must be an integer in 1..65536");
      }
      s.options.embedding_dim = j["embedding_dim"].get<uint32_t>();
    }
    if (j.contains("default_content")) {
      if (!j["default_content"].is_string()) return bad("default_content must be a string");
      s.options.default_content = j["default_content"].get<std::string>();
    }
    if (j.contains("echo")) {
      if (!j["echo"].is_boolean()) return bad("echo must be true or false");
      s.options.echo = j["echo"].get<bool>();
    }
    if (j.contains("default_delay_ms")) {
      if (!j["default_delay_ms"].is_number()) return bad("default_delay_ms must be a number");
      s.options.default_delay_ms = j["default_delay_ms"].get<double>();
    }
    if (j.contains("expected_key")) {
      if (!j["expected_key"].is_string()) return bad("expected_key must be a string");
      s.options.expected_key = j["expected_key"].get<std::string>();
    }
    if (j.contains("replies")) {
      if (!j["replies"].is_array()) return bad("replies must be a list");
      size_t i = 0;
      for (const json& e : j["replies"]) {
        std::string at = "replies[" + std::to_string(i++) + "]";
        if (!e.is_object()) return bad(at + " must be an object");
        ScriptedReply r;
        for (const char* f : {"path", "match", "content", "body", "model"}) {
          if (e.contains(f) && !e[f].is_string()) return bad(at + "." + f + " must be a string");
        }
        r.path = e.value("path", "");
        r.match = e.value("match", "");
        r.content = e.value("content", "");
        r.body = e.value("body", "");
        r.model = e.value("model", r.model);
        if (e.contains("times")) {
          if (!e["times"].is_number_integer() || e["times"].get<int64_t>() < -1) {
            return bad(at + ".times must be an integer >= -1");
          }
          r.times = e["times"].get<int>();
        }
        if (e.contains("status")) {
          if (!e["status"].is_number_integer() || e["status"].get<int>() < 100 || e["status"].get<int>() > 599) {
            return bad(at + ".status must be an HTTP status (100..599)");
          }
          r.status = e["status"].get<int>();
        }
        for (const char* f : {"delay_ms", "hang_ms"}) {
          if (e.contains(f) && (!e[f].is_number() || e[f].get<double>() < 0)) {
            return bad(at + "." + f + " must be a number >= 0");
          }
        }
        r.delay_ms = e.value("delay_ms", 0.0);
        r.hang_ms = e.value("hang_ms", r.hang_ms);
        if (e.contains("headers")) {
          if (!e["headers"].is_object()) return bad(at + ".headers must be an object of strings");
          for (const auto& [name, value] : e["headers"].items()) {
            if (!value.is_string()) return bad(at + ".headers." + name + " must be a string");
            r.headers.emplace_back(name, value.get<std::string>());
          }
        }
        if (e.contains("fault")) {
          std::string f = e["fault"].is_string() ? e["fault"].get<std::string>() : "";
          if (f == "none") r.fault = ScriptedReply::Fault::kNone;
          else if (f == "truncate") r.fault = ScriptedReply::Fault::kTruncate;
          else if (f == "hang") r.fault = ScriptedReply::Fault::kHangAfterHeaders;
          else if (f == "close_mid_body") r.fault = ScriptedReply::Fault::kCloseMidBody;
          else if (f == "invalid_json") r.fault = ScriptedReply::Fault::kInvalidJson;
          else return bad(at + ".fault must be none, truncate, hang, close_mid_body or invalid_json");
        }
        s.replies.push_back(std::move(r));
      }
    }
  } catch (const std::exception& e) {
    return bad(std::string("unexpected value (") + e.what() + ")");
  }
  return s;
}

}  // namespace foldback::testing
