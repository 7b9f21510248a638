#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "foldback/eval.h"
#include "text/utf8.h"

namespace foldback {
namespace {

using json = nlohmann::json;

// Splits into lines, calling fn(line_number, line) for non-blank lines;
// stops at the first non-OK status.
template <typename Fn>
Status ForEachLine(std::string_view data, Fn&& fn) {
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) nl = data.size();
    std::string_view line = data.substr(pos, nl - pos);
    ++line_no;
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = true;
    for (char c : line) blank &= (c == ' ' || c == '\t');
    if (blank) continue;
    FB_RETURN_IF_ERROR(fn(line_no, line));
  }
  return Status::OK();
}

Status LineError(size_t line, const std::string& msg) {
  return Status::InvalidArgument(fmt::format(FMT_STRING("line {}: {}"), line, msg));
}

Result<json> ParseObject(size_t line_no, std::string_view line) {
  // Repair before parsing: nlohmann rejects invalid UTF-8 and a corpus with a
  // few bad bytes should still load.
  std::string repaired = text::RepairUtf8(line);
  json j = json::parse(repaired, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return LineError(line_no, "not valid JSON");
  if (!j.is_object()) return LineError(line_no, "not a JSON object");
  return j;
}

// Scalar or array-of-scalar JSON values as metadata strings.
void AddMetadataValues(const json& v, std::vector<std::string>* out) {
  if (v.is_string()) {
    out->push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) {
        out->push_back(e.get<std::string>());
      } else if (e.is_primitive() && !e.is_null()) {
        out->push_back(e.dump());
      }
    }
  } else if (v.is_primitive() && !v.is_null()) {
    out->push_back(v.dump());
  }
}

Result<std::string> IdField(size_t line_no, const json& j) {
  auto it = j.find("_id");
  if (it == j.end()) return LineError(line_no, "missing \"_id\"");
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return it->dump();
  return LineError(line_no, "\"_id\" is not a string");
}

}  // namespace

Result<std::vector<Document>> ParseBeirCorpus(std::string_view jsonl) {
  std::vector<Document> docs;
  Status s = ForEachLine(jsonl, [&](size_t line_no, std::string_view line) -> Status {
    auto parsed = ParseObject(line_no, line);
    if (!parsed.ok()) return parsed.status();
    const json& j = *parsed;
    auto id = IdField(line_no, j);
    if (!id.ok()) return id.status();
    Document d;
    d.id = *id;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (key == "_id") continue;
      if (key == "title") {
        if (it->is_string()) d.title = it->get<std::string>();
      } else if (key == "text") {
        if (!it->is_string()) return LineError(line_no, "\"text\" is not a string");
        d.text = it->get<std::string>();
      } else {
        AddMetadataValues(*it, &d.metadata[key]);
        if (d.metadata[key].empty()) d.metadata.erase(key);
      }
    }
    docs.push_back(std::move(d));
    return Status::OK();
  });
  if (!s.ok()) return s;
  return docs;
}

Result<std::vector<EvalQuery>> ParseBeirQueries(std::string_view jsonl) {
  std::vector<EvalQuery> queries;
  Status s = ForEachLine(jsonl, [&](size_t line_no, std::string_view line) -> Status {
    auto parsed = ParseObject(line_no, line);
    if (!parsed.ok()) return parsed.status();
    const json& j = *parsed;
    auto id = IdField(line_no, j);
    if (!id.ok()) return id.status();
    EvalQuery q;
    q.line = line_no;
    q.id = *id;
    auto t = j.find("text");
    if (t == j.end() || !t->is_string()) return LineError(line_no, "missing string \"text\"");
    q.text = t->get<std::string>();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "_id" || it.key() == "text") continue;
      if (it->is_string()) {
        q.fields[it.key()] = it->get<std::string>();
      } else if (it->is_primitive() && !it->is_null()) {
        q.fields[it.key()] = it->dump();
      }
    }
    queries.push_back(std::move(q));
    return Status::OK();
  });
  if (!s.ok()) return s;
  return queries;
}

Result<Qrels> ParseQrels(std::string_view tsv) {
  Qrels qrels;
  bool header = true;
  Status s = ForEachLine(tsv, [&](size_t line_no, std::string_view line) -> Status {
    std::vector<std::string_view> cols;
    size_t pos = 0;
    while (true) {
      size_t tab = line.find('\t', pos);
      cols.push_back(line.substr(pos, tab == std::string_view::npos ? std::string_view::npos : tab - pos));
      if (tab == std::string_view::npos) break;
      pos = tab + 1;
    }
    if (header) {
      header = false;
      if (cols.size() >= 1 && cols[0] == "query-id") return Status::OK();
    }
    if (cols.size() != 3) return LineError(line_no, "expected 3 tab-separated columns");
    int grade = 0;
    try {
      grade = std::stoi(std::string(cols[2]));
    } catch (...) {
      return LineError(line_no, "score is not an integer");
    }
    qrels[std::string(cols[0])][std::string(cols[1])] = grade;
    return Status::OK();
  });
  if (!s.ok()) return s;
  return qrels;
}

}  // namespace foldback
