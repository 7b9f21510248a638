// Loading a program saved by DSPy (`Module.save("x.json")`).
//
// What DSPy writes (BaseModule.save -> dump_state, one entry per named
// predictor; see dspy/primitives/base_module.py and dspy/predict/predict.py):
//
//   DSPy 2.5.3 .. 2.6 and later:
//     {"generate_query[0].predict": {"traces": [], "train": [],
//        "demos": [{"augmented": true, "context": [...], "question": "...",
//                   "reasoning": "...", "query": "..."}, ...],
//        "signature": {"instructions": "...",
//                      "fields": [{"prefix": "Context:", "description": "${context}"}, ...]},
//        "lm": null | {...}},
//      ...,
//      "metadata": {"dependency_versions": {"python": "3.11", "dspy": "2.6.5", ...}}}
//   (2.5.x without "metadata"; predictors of a ChainOfThought are named
//   "<name>.predict" from 2.5 on, "<name>" before, and lists of modules
//   "<name>[i]".)
//
//   DSPy 2.4 and 2.5.0 .. 2.5.2 (legacy):
//     {"generate_answer": {"lm": null, "traces": [], "train": [], "demos": [...],
//        "signature_instructions": "...", "signature_prefix": "Answer:",
//        "extended_signature_instructions": "...", "extended_signature_prefix": "..."}}
//
// The saved signature lists fields in signature order (inputs, then
// outputs) with their prefix and description but not their names; names
// come from DSPy's defaults: description "${name}", prefix = the name in
// title case with a colon ("Search Query:" for search_query).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "foldback/program.h"
#include "rewrite/program_internal.h"
#include "rewrite/text_util.h"
#include "text/utf8.h"

namespace foldback {
namespace {

using ojson = nlohmann::ordered_json;
using rewrite::Trim;

constexpr size_t kMaxProgramBytes = 32u << 20;
constexpr size_t kMaxDemos = 64;
constexpr size_t kMaxValueBytes = 64 * 1024;

bool IsQueryName(const std::string& n) { return n == "query" || n == "search_query"; }
bool IsKnownOutput(const std::string& n) {
  return IsQueryName(n) || n == "answer" || n == "reasoning" || n == "rationale";
}

std::string Str(const ojson& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return std::string();
  return it->get<std::string>();
}

// The name behind a DSPy prefix: "Search Query:" -> "search_query".
std::string NameFromPrefix(std::string_view prefix) {
  std::string_view p = Trim(prefix);
  if (rewrite::StartsWithNoCase(p, "reasoning:")) return "reasoning";
  size_t colon = p.find(':');
  if (colon != std::string_view::npos) p = p.substr(0, colon);
  std::string out;
  for (char c : Trim(p)) {
    if (c == ' ' || c == '-') {
      if (!out.empty() && out.back() != '_') out.push_back('_');
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_') {
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
  }
  return out;
}

// "${name}" -> name, else empty.
std::string NameFromDescription(std::string_view desc) {
  desc = Trim(desc);
  if (desc.size() > 3 && desc.substr(0, 2) == "${" && desc.back() == '}') {
    std::string name(desc.substr(2, desc.size() - 3));
    for (char c : name) {
      bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_';
      if (!word) return std::string();
    }
    return name;
  }
  return std::string();
}

// DSPy's _format_blob / _format_input_list_field_value.
std::string FormatBlob(const std::string& blob) {
  if (blob.find('\n') == std::string::npos && blob.find("\xC2\xAB") == std::string::npos &&
      blob.find("\xC2\xBB") == std::string::npos) {
    return "\xC2\xAB" + blob + "\xC2\xBB";
  }
  std::string modified;
  for (char c : blob) {
    modified.push_back(c);
    if (c == '\n') modified += "    ";
  }
  return "\xC2\xAB\xC2\xAB\xC2\xAB\n    " + modified + "\n\xC2\xBB\xC2\xBB\xC2\xBB";
}

std::string ScalarText(const ojson& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

std::string DemoValue(const ojson& v) {
  if (v.is_array()) {
    if (v.empty()) return "N/A";
    if (v.size() == 1) return FormatBlob(ScalarText(v[0]));
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out += "\n";
      out += fmt::format(FMT_STRING("[{}] {}"), i + 1, FormatBlob(ScalarText(v[i])));
    }
    return out;
  }
  return ScalarText(v);
}

struct Slot {
  Predictor predictor;
  std::string base;  // "generate_query" of "generate_query[1].predict"
  size_t index = 0;  // 1 of "generate_query[1]"
  size_t order = 0;  // position in the file
};

void SplitName(const std::string& key, std::string* base, size_t* index) {
  std::string k = key;
  const std::string suffix = ".predict";
  if (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0) {
    k.resize(k.size() - suffix.size());
  }
  *index = 0;
  size_t open = k.rfind('[');
  if (open != std::string::npos && k.back() == ']') {
    std::string digits = k.substr(open + 1, k.size() - open - 2);
    if (!digits.empty() && digits.size() < 6 &&
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      *index = static_cast<size_t>(std::stoul(digits));
      k.resize(open);
    }
  }
  *base = k;
}

// Reads the demos of a predictor state; keys other than signature fields
// and the "augmented" flag are dropped.
void ReadDemos(const ojson& state, Predictor* p, std::vector<std::string>* notes) {
  auto it = state.find("demos");
  if (it == state.end() || !it->is_array()) return;
  size_t kept = 0;
  for (const ojson& d : *it) {
    if (!d.is_object()) continue;
    if (kept == kMaxDemos) {
      notes->push_back(
          fmt::format(FMT_STRING("{}: only the first {} demos are used"), p->name, kMaxDemos));
      break;
    }
    ProgramDemo demo;
    for (auto f = d.begin(); f != d.end(); ++f) {
      if (f.key() == "augmented" || f.value().is_null() || !p->Find(f.key())) continue;
      std::string v = DemoValue(f.value());
      if (v.size() > kMaxValueBytes) v = std::string(text::TruncateUtf8(v, kMaxValueBytes));
      demo[f.key()] = std::move(v);
    }
    if (!demo.empty()) {
      p->demos.push_back(std::move(demo));
      ++kept;
    }
  }
}

std::set<std::string> DemoKeys(const ojson& state) {
  std::set<std::string> keys;
  auto it = state.find("demos");
  if (it == state.end() || !it->is_array()) return keys;
  for (const ojson& d : *it) {
    if (!d.is_object()) continue;
    for (auto f = d.begin(); f != d.end(); ++f) {
      if (f.key() != "augmented") keys.insert(f.key());
    }
  }
  return keys;
}

// Marks inputs and outputs: fields up to the first known output name are
// inputs; with no known output name, the last field is the output.
void SplitInputsOutputs(std::vector<ProgramField>* fields) {
  size_t first_out = fields->size();
  for (size_t i = 0; i < fields->size(); ++i) {
    if (IsKnownOutput((*fields)[i].name)) {
      first_out = i;
      break;
    }
  }
  if (first_out == fields->size() && !fields->empty()) first_out = fields->size() - 1;
  for (size_t i = 0; i < fields->size(); ++i) (*fields)[i].input = i < first_out;
}

// DSPy 2.5.3+: signature {instructions, fields[{prefix, description}]}.
Result<Predictor> ReadModern(const std::string& key, const ojson& state, const ojson& sig) {
  Predictor p;
  p.name = key;
  p.instructions = Str(sig, "instructions");
  auto fields = sig.find("fields");
  if (fields == sig.end() || !fields->is_array() || fields->empty()) {
    return Status::InvalidArgument("signature has no fields");
  }
  for (const ojson& f : *fields) {
    if (!f.is_object()) return Status::InvalidArgument("a signature field is not an object");
    ProgramField pf;
    pf.prefix = Str(f, "prefix");
    std::string desc = Str(f, "description");
    pf.name = NameFromDescription(desc);
    if (pf.name.empty()) {
      pf.name = NameFromPrefix(pf.prefix);
      pf.description = desc;
    }
    if (pf.name.empty()) {
      return Status::InvalidArgument("a signature field has neither a prefix nor a \"${name}\" "
                                     "description to name it by");
    }
    p.fields.push_back(std::move(pf));
  }
  // Names the prefixes do not give (custom prefixes): a demo key no field
  // claims, when there is exactly one.
  std::set<std::string> keys = DemoKeys(state);
  std::set<std::string> unclaimed = keys;
  for (const ProgramField& f : p.fields) unclaimed.erase(f.name);
  for (ProgramField& f : p.fields) {
    if (!keys.empty() && !keys.count(f.name) && unclaimed.size() == 1) {
      f.name = *unclaimed.begin();
      unclaimed.clear();
    }
  }
  SplitInputsOutputs(&p.fields);
  return p;
}

// DSPy 2.4 / 2.5.0-2.5.2: instructions and the last field's prefix only.
Predictor ReadLegacy(const std::string& key, const ojson& state) {
  Predictor p;
  p.name = key;
  std::set<std::string> keys = DemoKeys(state);
  bool cot = state.contains("extended_signature_instructions") || keys.count("rationale") ||
             keys.count("reasoning");
  p.instructions = Str(state, cot && state.contains("extended_signature_instructions")
                                  ? "extended_signature_instructions"
                                  : "signature_instructions");
  std::string out = "query";
  if (keys.count("search_query")) {
    out = "search_query";
  } else if (keys.count("answer") || key.find("answer") != std::string::npos) {
    out = "answer";
  }
  p.fields.push_back({"context", "Context:", "", true});
  p.fields.push_back({"question", "Question:", "", true});
  if (cot) {
    std::string r = keys.count("rationale") ? "rationale" : "reasoning";
    p.fields.push_back({r, "Reasoning: Let's think step by step in order to", "", false});
  }
  std::string prefix = Str(state, "signature_prefix");
  p.fields.push_back({out, prefix.empty() ? (out == "answer" ? "Answer:" : "Query:") : prefix, "",
                      false});
  return p;
}

}  // namespace

Result<LoadedProgram> LoadDspyProgram(std::string_view json_text) {
  if (json_text.size() > kMaxProgramBytes) {
    return Status::OutOfRange("program file is larger than 32 MiB");
  }
  std::string repaired = text::RepairUtf8(json_text);
  ojson root = ojson::parse(repaired, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Status::InvalidArgument("DSPy program: not valid JSON");
  if (!root.is_object()) return Status::InvalidArgument("DSPy program: not a JSON object");

  std::vector<std::string> ignored, notes;
  std::string dspy_version;
  bool lm_seen = false;
  std::vector<Slot> queries, answers;
  size_t order = 0;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& key = it.key();
    const ojson& state = it.value();
    if (key == "metadata") {
      if (state.is_object()) {
        auto dv = state.find("dependency_versions");
        if (dv != state.end() && dv->is_object()) dspy_version = Str(*dv, "dspy");
      }
      continue;
    }
    if (!state.is_object()) {
      ignored.push_back(key + ": not a predictor");
      continue;
    }
    auto lm = state.find("lm");
    if (lm != state.end() && !lm->is_null()) lm_seen = true;
    Predictor p;
    auto sig = state.find("signature");
    if (sig != state.end() && sig->is_object()) {
      auto read = ReadModern(key, state, *sig);
      if (!read.ok()) {
        ignored.push_back(key + ": " + read.status().message());
        continue;
      }
      p = std::move(read.value());
    } else if (state.contains("signature_instructions")) {
      p = ReadLegacy(key, state);
      notes.push_back(key + ": DSPy 2.4 format; field names inferred from the name and demos");
    } else {
      ignored.push_back(key + ": not a predictor (no signature)");
      continue;
    }
    if (p.instructions.size() > kMaxValueBytes) {
      p.instructions = std::string(text::TruncateUtf8(p.instructions, kMaxValueBytes));
      notes.push_back(key + ": instructions cut to 64 KiB");
    }
    ReadDemos(state, &p, &notes);
    Slot slot;
    SplitName(key, &slot.base, &slot.index);
    slot.order = order++;
    std::string main = p.MainOutput();
    slot.predictor = std::move(p);
    std::string problem_q = rewrite::RoleProblem(slot.predictor, false);
    std::string problem_a = rewrite::RoleProblem(slot.predictor, true);
    if (problem_q.empty()) {
      queries.push_back(std::move(slot));
    } else if (problem_a.empty()) {
      answers.push_back(std::move(slot));
    } else if (IsQueryName(main) || main == "answer") {
      ignored.push_back(key + ": " + (main == "answer" ? problem_a : problem_q));
    } else {
      ignored.push_back(key + ": its output '" + main + "' is neither a query nor an answer");
    }
  }

  if (queries.empty() && answers.empty()) {
    std::string why;
    for (const std::string& i : ignored) why += "; " + i;
    return Status::InvalidArgument(
        "DSPy program: no predictor maps to a query writer (inputs context, question -> query "
        "or search_query) or an answer writer (-> answer)" +
        why);
  }
  // Query writers: grouped by base name in file order, then by list index.
  std::map<std::string, size_t> base_order;
  for (const Slot& s : queries) base_order.emplace(s.base, base_order.size());
  std::stable_sort(queries.begin(), queries.end(), [&](const Slot& a, const Slot& b) {
    size_t oa = base_order[a.base], ob = base_order[b.base];
    return oa != ob ? oa < ob : a.index < b.index;
  });
  Program defaults = Program::Default();
  std::vector<Predictor> writers;
  std::vector<std::string> used;
  for (size_t i = 0; i < queries.size(); ++i) {
    std::string role;
    if (queries.size() == 1) {
      role = "query writer, every hop";
    } else if (i + 1 == queries.size()) {
      role = fmt::format(FMT_STRING("query writer, hop {} and later"), i + 1);
    } else {
      role = fmt::format(FMT_STRING("query writer, hop {}"), i + 1);
    }
    used.push_back(queries[i].predictor.name + " -> " + role);
    writers.push_back(queries[i].predictor);
  }
  if (writers.empty()) {
    writers = defaults.query_writers();
    notes.push_back("no query writer in the file: foldback's built-in one is used");
  }
  Predictor answer;
  if (answers.empty()) {
    answer = defaults.AnswerWriter();
    notes.push_back("no answer writer in the file: foldback's built-in one is used");
  } else {
    answer = answers[0].predictor;
    used.push_back(answer.name + " -> answer writer");
    for (size_t i = 1; i < answers.size(); ++i) {
      ignored.push_back(answers[i].predictor.name + ": a second answer writer ('" + answer.name +
                        "' is used)");
    }
  }
  if (lm_seen) {
    notes.push_back("saved 'lm' settings ignored: the host chooses the endpoint and model");
  }
  auto program = Program::Create(std::move(writers), std::move(answer));
  if (!program.ok()) return program.status().WithContext("DSPy program");
  return LoadedProgram{std::move(program.value()), std::move(used), std::move(ignored),
                       std::move(notes), std::move(dspy_version)};
}

Result<std::vector<Predictor>> LoadDspyPredictors(std::string_view json_text) {
  if (json_text.size() > kMaxProgramBytes) {
    return Status::OutOfRange("program file is larger than 32 MiB");
  }
  ojson root = ojson::parse(text::RepairUtf8(json_text), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Status::InvalidArgument("DSPy program: not valid JSON");
  if (!root.is_object()) return Status::InvalidArgument("DSPy program: not a JSON object");
  std::vector<Predictor> out;
  std::vector<std::string> notes;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const ojson& state = it.value();
    if (it.key() == "metadata" || !state.is_object()) continue;
    Predictor p;
    auto sig = state.find("signature");
    if (sig != state.end() && sig->is_object()) {
      auto read = ReadModern(it.key(), state, *sig);
      if (!read.ok()) continue;
      p = std::move(read.value());
    } else if (state.contains("signature_instructions")) {
      p = ReadLegacy(it.key(), state);
    } else {
      continue;
    }
    if (p.instructions.size() > kMaxValueBytes) {
      p.instructions = std::string(text::TruncateUtf8(p.instructions, kMaxValueBytes));
    }
    ReadDemos(state, &p, &notes);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace foldback
