#include "embed/wordpiece.h"

#include <utf8proc.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "text/utf8.h"

namespace foldback::embed {
namespace {

using nlohmann::json;

// Unicode's White_Space property (stable since Unicode 6.3), which Rust's
// char::is_whitespace — and so HuggingFace's BertPreTokenizer — uses.
bool IsWhitespace(char32_t c) {
  if (c == ' ' || (c >= '\t' && c <= '\r')) return true;
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

utf8proc_category_t Category(char32_t c) {
  return static_cast<utf8proc_category_t>(utf8proc_category(static_cast<utf8proc_int32_t>(c)));
}

// HuggingFace's is_control: control, format and private-use characters
// (Cc, Cf, Co), except the three that count as whitespace.
bool IsControl(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c < 0x20 || c == 0x7F) return true;
  if (c < 0x80) return false;
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
      return true;
    default:
      return false;
  }
}

// ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) and
// every Unicode punctuation category.
bool IsPunctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
  }
  switch (Category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideographs blocks as HuggingFace's BertNormalizer lists
// them (note 0x2B920, where Google's original BERT had 0x2B820).
bool IsChineseChar(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

std::u32string Decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (pos < s.size()) out.push_back(text::DecodeUtf8(s, &pos));
  return out;
}

std::string Encode32(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) text::AppendUtf8(c, &out);
  return out;
}

// Canonical decomposition (NFD) of `s`, then nonspacing marks removed.
std::u32string StripAccents(const std::u32string& s) {
  bool ascii = std::all_of(s.begin(), s.end(), [](char32_t c) { return c < 0x80; });
  if (ascii) return s;
  std::string utf8 = Encode32(s);
  utf8proc_uint8_t* nfd = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()), &nfd,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  std::u32string out;
  if (n < 0) {  // cannot happen on repaired UTF-8; keep the text unstripped
    std::free(nfd);
    return s;
  }
  std::u32string decomposed = Decode(
      std::string_view(reinterpret_cast<const char*>(nfd), static_cast<size_t>(n)));
  std::free(nfd);
  out.reserve(decomposed.size());
  for (char32_t c : decomposed) {
    if (c >= 0x300 && Category(c) == UTF8PROC_CATEGORY_MN) continue;
    out.push_back(c);
  }
  return out;
}

// Per-character full lower-casing (Rust's char::to_lowercase): the simple
// mapping, plus U+0130 whose lower case is two characters.
void AppendLower(char32_t c, std::u32string* out) {
  if (c < 0x80) {
    out->push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
  } else if (c == 0x130) {
    out->push_back('i');
    out->push_back(0x307);
  } else {
    out->push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
  }
}

// The vocabulary shapes Create() accepts, turned into (token, id) pairs.
struct ParsedVocabulary {
  std::vector<std::pair<std::string, int32_t>> entries;
  size_t size = 0;  // ids are < size
};

bool IsBracketedSpecial(const std::string& t) {
  return t.size() > 2 && t.front() == '[' && t.back() == ']';
}

constexpr std::string_view kSentencePieceMark = "\xE2\x96\x81";  // U+2581

Status ParseArray(const json& arr, ParsedVocabulary* out) {
  std::vector<std::string> tokens;
  tokens.reserve(arr.size());
  bool any_mark = false, any_hashes = false;
  for (size_t i = 0; i < arr.size(); ++i) {
    if (!arr[i].is_string()) {
      return Status::InvalidArgument(
          fmt::format(FMT_STRING("vocabulary: JSON array element {} is not a string"), i));
    }
    tokens.push_back(arr[i].get<std::string>());
    const std::string& t = tokens.back();
    any_mark |= t.compare(0, kSentencePieceMark.size(), kSentencePieceMark) == 0;
    any_hashes |= t.size() > 2 && t.compare(0, 2, "##") == 0;
  }
  bool sentencepiece_style = any_mark && !any_hashes;
  out->size = tokens.size();
  for (size_t i = 0; i < tokens.size(); ++i) {
    std::string t = std::move(tokens[i]);
    if (sentencepiece_style && !IsBracketedSpecial(t)) {
      if (t.compare(0, kSentencePieceMark.size(), kSentencePieceMark) == 0) {
        t.erase(0, kSentencePieceMark.size());
        if (t.empty()) continue;  // a bare mark names no piece
      } else {
        t.insert(0, "##");
      }
    }
    out->entries.emplace_back(std::move(t), static_cast<int32_t>(i));
  }
  return Status::OK();
}

Status ParseObject(const json& obj, ParsedVocabulary* out) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
        it.value().get<int64_t>() > 10'000'000) {
      return Status::InvalidArgument("vocabulary: the id of \"" + it.key() +
                                     "\" is not an integer in 0..10000000");
    }
    int32_t id = static_cast<int32_t>(it.value().get<int64_t>());
    out->entries.emplace_back(it.key(), id);
    out->size = std::max(out->size, static_cast<size_t>(id) + 1);
  }
  return Status::OK();
}

// A HuggingFace tokenizer.json: the WordPiece model and BertNormalizer
// settings.
Status ParseTokenizerJson(const json& doc, ParsedVocabulary* out, WordPieceOptions* options) {
  const json& model = doc["model"];
  if (!model.is_object() || !model.contains("type") || model["type"] != "WordPiece") {
    return Status::InvalidArgument(
        "vocabulary: tokenizer.json model is not WordPiece (BERT-style models only)");
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) {
    return Status::InvalidArgument("vocabulary: tokenizer.json has no model.vocab object");
  }
  FB_RETURN_IF_ERROR(ParseObject(model["vocab"], out));
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    options->unk_token = model["unk_token"].get<std::string>();
  }
  if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"].is_string()) {
    options->continuing_subword_prefix = model["continuing_subword_prefix"].get<std::string>();
  }
  if (model.contains("max_input_chars_per_word") &&
      model["max_input_chars_per_word"].is_number_unsigned()) {
    options->max_input_chars_per_word = model["max_input_chars_per_word"].get<uint32_t>();
  }
  if (doc.contains("normalizer") && doc["normalizer"].is_object()) {
    const json& n = doc["normalizer"];
    if (n.contains("type") && n["type"] == "BertNormalizer") {
      auto flag = [&](const char* key, bool* v) {
        if (n.contains(key) && n[key].is_boolean()) *v = n[key].get<bool>();
      };
      flag("clean_text", &options->clean_text);
      flag("handle_chinese_chars", &options->handle_chinese_chars);
      flag("lowercase", &options->lowercase);
      if (n.contains("strip_accents") && n["strip_accents"].is_boolean()) {
        options->strip_accents = n["strip_accents"].get<bool>();
      } else {
        options->strip_accents.reset();
      }
    }
  }
  return Status::OK();
}

Status ParseText(std::string_view bytes, ParsedVocabulary* out) {
  size_t start = 0;
  int32_t id = 0;
  while (start < bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string_view::npos) end = bytes.size();
    std::string_view line = bytes.substr(start, end - start);
    // HuggingFace trims trailing whitespace (\r of Windows files included).
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    out->entries.emplace_back(std::string(line), id++);
    start = end + 1;
  }
  out->size = static_cast<size_t>(id);
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::Create(
    std::string_view vocabulary, const WordPieceOptions& options) {
  if (options.max_length < 2) {
    return Status::InvalidArgument("wordpiece: max_length must be at least 2 ([CLS] and [SEP])");
  }
  if (options.continuing_subword_prefix.empty()) {
    return Status::InvalidArgument("wordpiece: continuing_subword_prefix must not be empty");
  }
  if (!text::IsValidUtf8(vocabulary)) {
    return Status::InvalidArgument("vocabulary: not valid UTF-8 text (vocab.txt or JSON expected)");
  }
  size_t first = vocabulary.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Status::InvalidArgument("vocabulary: empty");

  std::unique_ptr<WordPieceTokenizer> t(new WordPieceTokenizer());
  t->options_ = options;
  ParsedVocabulary parsed;
  char lead = vocabulary[first];
  json doc;
  if (lead == '[' || lead == '{') doc = json::parse(vocabulary, nullptr, /*allow_exceptions=*/false);
  if ((lead == '[' || lead == '{') && !doc.is_discarded()) {
    if (doc.is_array()) {
      FB_RETURN_IF_ERROR(ParseArray(doc, &parsed));
    } else if (doc.contains("model")) {
      FB_RETURN_IF_ERROR(ParseTokenizerJson(doc, &parsed, &t->options_));
    } else {
      FB_RETURN_IF_ERROR(ParseObject(doc, &parsed));
    }
  } else if (lead == '{') {
    return Status::InvalidArgument("vocabulary: starts like JSON but does not parse as JSON");
  } else {
    // vocab.txt ("[PAD]" on the first line also starts with '[').
    FB_RETURN_IF_ERROR(ParseText(vocabulary, &parsed));
  }
  if (parsed.entries.empty()) return Status::InvalidArgument("vocabulary: no tokens");

  t->tokens_.assign(parsed.size, std::string());
  t->ids_.reserve(parsed.entries.size());
  for (auto& [token, id] : parsed.entries) {
    t->tokens_[static_cast<size_t>(id)] = token;
    t->ids_[std::move(token)] = id;  // a repeated token: the last id wins (as HuggingFace)
  }
  auto require = [&](const std::string& token, const char* role, int32_t* id) -> Status {
    *id = t->IdOf(token);
    if (*id < 0) {
      return Status::InvalidArgument(std::string("vocabulary: the ") + role + " token \"" + token +
                                     "\" is missing (is this a BERT WordPiece vocabulary?)");
    }
    return Status::OK();
  };
  FB_RETURN_IF_ERROR(require(t->options_.unk_token, "unknown", &t->unk_id_));
  FB_RETURN_IF_ERROR(require(t->options_.cls_token, "[CLS]", &t->cls_id_));
  FB_RETURN_IF_ERROR(require(t->options_.sep_token, "[SEP]", &t->sep_id_));
  t->pad_id_ = std::max(0, t->IdOf(t->options_.pad_token));
  t->strip_accents_ = t->options_.strip_accents.value_or(t->options_.lowercase);
  return t;
}

int32_t WordPieceTokenizer::IdOf(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  return it == ids_.end() ? -1 : it->second;
}

const std::string& WordPieceTokenizer::TokenOf(int32_t id) const {
  static const std::string kEmpty;
  return id >= 0 && static_cast<size_t>(id) < tokens_.size() ? tokens_[static_cast<size_t>(id)]
                                                              : kEmpty;
}

std::vector<std::string> WordPieceTokenizer::BasicTokenize(std::string_view input) const {
  std::string repaired;
  if (!text::IsValidUtf8(input)) {
    repaired = text::RepairUtf8(input);
    input = repaired;
  }
  // 1-2: clean text, space CJK ideographs.
  std::u32string s;
  s.reserve(input.size());
  size_t pos = 0;
  while (pos < input.size()) {
    char32_t c = text::DecodeUtf8(input, &pos);
    if (options_.clean_text) {
      if (c == 0 || c == 0xFFFD || IsControl(c)) continue;
      if (IsWhitespace(c)) c = ' ';
    }
    if (options_.handle_chinese_chars && IsChineseChar(c)) {
      s.push_back(' ');
      s.push_back(c);
      s.push_back(' ');
    } else {
      s.push_back(c);
    }
  }
  // 3-4: strip accents, lower-case.
  if (strip_accents_) s = StripAccents(s);
  if (options_.lowercase) {
    std::u32string lower;
    lower.reserve(s.size());
    for (char32_t c : s) AppendLower(c, &lower);
    s.swap(lower);
  }
  // 5: split on whitespace, isolate punctuation.
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (char32_t c : s) {
    if (IsWhitespace(c)) {
      flush();
    } else if (IsPunctuation(c)) {
      flush();
      text::AppendUtf8(c, &word);
      flush();
    } else {
      text::AppendUtf8(c, &word);
    }
  }
  flush();
  return words;
}

void WordPieceTokenizer::WordPieces(std::string_view word, std::vector<int32_t>* ids) const {
  size_t chars = 0;
  for (unsigned char b : word) chars += (b & 0xC0) != 0x80;
  if (chars > options_.max_input_chars_per_word) {
    ids->push_back(unk_id_);
    return;
  }
  const std::string& prefix = options_.continuing_subword_prefix;
  std::vector<int32_t> pieces;
  std::string key;
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (start < end) {
      key.clear();
      if (start > 0) key = prefix;
      key.append(word.data() + start, end - start);
      auto it = ids_.find(key);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      // Back off one character (not one byte).
      do {
        --end;
      } while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
    }
    if (found < 0) {  // the word cannot be covered: one unknown token
      ids->push_back(unk_id_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids->insert(ids->end(), pieces.begin(), pieces.end());
}

std::vector<int32_t> WordPieceTokenizer::PieceIds(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const std::string& w : BasicTokenize(text)) WordPieces(w, &ids);
  return ids;
}

std::vector<std::string> WordPieceTokenizer::Tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (int32_t id : PieceIds(text)) out.push_back(TokenOf(id));
  return out;
}

WordPieceEncoding WordPieceTokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> pieces = PieceIds(text);
  size_t keep = std::min(pieces.size(), static_cast<size_t>(options_.max_length) - 2);
  WordPieceEncoding e;
  e.ids.reserve(keep + 2);
  e.ids.push_back(cls_id_);
  e.ids.insert(e.ids.end(), pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(keep));
  e.ids.push_back(sep_id_);
  e.attention_mask.assign(e.ids.size(), 1);
  e.type_ids.assign(e.ids.size(), 0);
  return e;
}

WordPieceEncoding WordPieceTokenizer::EncodePair(std::string_view a, std::string_view b) const {
  std::vector<int32_t> pa = PieceIds(a);
  std::vector<int32_t> pb = PieceIds(b);
  const size_t room = options_.max_length > 3 ? options_.max_length - 3 : 0;
  while (pa.size() + pb.size() > room) (pa.size() > pb.size() ? pa : pb).pop_back();
  WordPieceEncoding e;
  e.ids.reserve(pa.size() + pb.size() + 3);
  e.ids.push_back(cls_id_);
  e.ids.insert(e.ids.end(), pa.begin(), pa.end());
  e.ids.push_back(sep_id_);
  e.type_ids.assign(e.ids.size(), 0);
  e.ids.insert(e.ids.end(), pb.begin(), pb.end());
  e.ids.push_back(sep_id_);
  e.type_ids.resize(e.ids.size(), 1);
  e.attention_mask.assign(e.ids.size(), 1);
  return e;
}

namespace {

WordPieceBatch Pad(const std::vector<WordPieceEncoding>& encodings, int32_t pad_id) {
  WordPieceBatch b;
  b.batch = encodings.size();
  for (const WordPieceEncoding& e : encodings) b.length = std::max(b.length, e.ids.size());
  b.ids.assign(b.batch * b.length, pad_id);
  b.attention_mask.assign(b.batch * b.length, 0);
  b.type_ids.assign(b.batch * b.length, 0);
  for (size_t i = 0; i < b.batch; ++i) {
    const WordPieceEncoding& e = encodings[i];
    const auto at = static_cast<std::ptrdiff_t>(i * b.length);
    std::copy(e.ids.begin(), e.ids.end(), b.ids.begin() + at);
    std::copy(e.type_ids.begin(), e.type_ids.end(), b.type_ids.begin() + at);
    std::fill_n(b.attention_mask.begin() + at, e.ids.size(), 1);
  }
  return b;
}

}  // namespace

WordPieceBatch WordPieceTokenizer::EncodeBatch(const std::vector<std::string>& texts) const {
  std::vector<WordPieceEncoding> encodings;
  encodings.reserve(texts.size());
  for (const std::string& t : texts) encodings.push_back(Encode(t));
  return Pad(encodings, pad_id_);
}

WordPieceBatch WordPieceTokenizer::EncodePairBatch(std::string_view first,
                                                   const std::vector<std::string>& seconds) const {
  std::vector<WordPieceEncoding> encodings;
  encodings.reserve(seconds.size());
  for (const std::string& t : seconds) encodings.push_back(EncodePair(first, t));
  return Pad(encodings, pad_id_);
}

}  // namespace foldback::embed
