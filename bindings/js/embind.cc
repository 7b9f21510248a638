// embind glue: JavaScript values <-> foldback's C++ API. Type conversion
// only — no logic lives here. Errors come back as {error: {code, message}}
// values; the JS wrapper (wasm/src/index.js) turns them into exceptions.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "embed/wordpiece.h"
#include "foldback/index.h"
#include "foldback/version.h"

using emscripten::val;

namespace {

val ErrorValue(const foldback::Status& s) {
  val err = val::object();
  err.set("code", std::string(foldback::Status::CodeName(s.code())));
  err.set("message", s.message());
  val out = val::object();
  out.set("error", err);
  return out;
}

bool Has(const val& o, const char* key) {
  return o.isUndefined() || o.isNull() ? false : !o[key].isUndefined() && !o[key].isNull();
}

std::string Str(const val& o, const char* key, const std::string& fallback = "") {
  return Has(o, key) ? o[key].as<std::string>() : fallback;
}

std::string BytesToString(const val& bytes) {
  size_t n = bytes["length"].as<size_t>();
  std::string out(n, '\0');
  val view(emscripten::typed_memory_view(n, reinterpret_cast<unsigned char*>(out.data())));
  view.call<void>("set", bytes);
  return out;
}

val StringToBytes(const std::string& s) {
  val view(emscripten::typed_memory_view(s.size(), reinterpret_cast<const unsigned char*>(s.data())));
  return view.call<val>("slice");
}

// A copy of `v` as an Int32Array.
val Int32s(const std::vector<int32_t>& v) {
  return val(emscripten::typed_memory_view(v.size(), v.data())).call<val>("slice");
}

std::vector<std::string> Strings(const val& array) {
  std::vector<std::string> out;
  size_t n = array["length"].as<size_t>();
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) out.push_back(array[i].as<std::string>());
  return out;
}

val StringArray(const std::vector<std::string>& v) {
  val out = val::array();
  for (const auto& s : v) out.call<void>("push", s);
  return out;
}

// Length of UTF-8 `s` in UTF-16 code units (what String.prototype.slice counts).
uint32_t Utf16Length(std::string_view s) {
  uint32_t n = 0;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {  // ASCII runs eight bytes at a time
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if ((w & 0x8080808080808080ull) == 0) {
      n += 8;
      continue;
    }
    for (size_t k = i; k < i + 8; ++k) {
      unsigned char c = static_cast<unsigned char>(s[k]);
      n += ((c & 0xC0) != 0x80) + (c >= 0xF0);
    }
  }
  for (; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    n += ((c & 0xC0) != 0x80) + (c >= 0xF0);
  }
  return n;
}

foldback::IndexOptions ToIndexOptions(const val& o) {
  foldback::IndexOptions io;
  if (o.isUndefined() || o.isNull()) return io;
  if (Has(o, "chunkTargetTokens")) io.chunker.target_tokens = o["chunkTargetTokens"].as<uint32_t>();
  if (Has(o, "chunkMaxTokens")) io.chunker.max_tokens = o["chunkMaxTokens"].as<uint32_t>();
  if (Has(o, "bm25K1")) io.bm25.k1 = o["bm25K1"].as<double>();
  if (Has(o, "bm25B")) io.bm25.b = o["bm25B"].as<double>();
  if (Has(o, "embedder")) {
    std::string e = o["embedder"].as<std::string>();
    io.dense.embedder = e == "none" ? foldback::EmbedderKind::kNone
                        : e == "external" ? foldback::EmbedderKind::kExternal
                                          : foldback::EmbedderKind::kStatic;
  }
  if (Has(o, "dimension")) io.dense.dimension = o["dimension"].as<uint32_t>();
  return io;
}

class JsIndex {
 public:
  // Returns null or an error value.
  val init(val options) {
    auto r = foldback::Index::Create(ToIndexOptions(options));
    if (!r.ok()) return ErrorValue(r.status());
    index_ = std::move(r.value());
    return val::null();
  }

  val load(val bytes) {
    auto r = foldback::Index::FromSnapshot(BytesToString(bytes));
    if (!r.ok()) return ErrorValue(r.status());
    index_ = std::move(r.value());
    return val::null();
  }

  val add(val doc) {
    foldback::Document d;
    d.id = Str(doc, "id");
    d.title = Str(doc, "title");
    d.text = Str(doc, "text");
    d.matter = Str(doc, "matter");
    d.parent_id = Str(doc, "parentId");
    if (Has(doc, "kind") && !foldback::ParseDocKind(doc["kind"].as<std::string>(), &d.kind)) {
      return ErrorValue(foldback::Status::InvalidArgument("kind must be document, email or web"));
    }
    if (Has(doc, "metadata")) {
      val meta = doc["metadata"];
      val keys = val::global("Object").call<val>("keys", meta);
      size_t n = keys["length"].as<size_t>();
      for (size_t i = 0; i < n; ++i) {
        std::string k = keys[i].as<std::string>();
        val v = meta[k];
        if (v.isArray()) {
          size_t m = v["length"].as<size_t>();
          for (size_t j = 0; j < m; ++j) d.metadata[k].push_back(v[j].as<std::string>());
        } else {
          d.metadata[k].push_back(v.as<std::string>());
        }
      }
    }
    auto r = index_->Add(d);
    if (!r.ok()) return ErrorValue(r.status());
    val out = val::object();
    out.set("chunks", r->chunks);
    out.set("invalidUtf8", r->invalid_utf8);
    out.set("replaced", r->replaced);
    return out;
  }

  val remove(std::string id) {
    foldback::Status s = index_->Remove(id);
    return s.ok() ? val::null() : ErrorValue(s);
  }

  val buildDense() {
    foldback::Status s = index_->BuildDense();
    return s.ok() ? val::null() : ErrorValue(s);
  }

  val search(std::string query, val opts) {
    foldback::SearchOptions o;
    if (Has(opts, "mode") && !foldback::ParseSearchMode(opts["mode"].as<std::string>(), &o.mode)) {
      return ErrorValue(foldback::Status::InvalidArgument("mode must be bm25, dense or hybrid"));
    }
    if (Has(opts, "topK")) o.top_k = opts["topK"].as<size_t>();
    if (Has(opts, "fusion") && !foldback::ParseFusion(opts["fusion"].as<std::string>(), &o.fusion)) {
      return ErrorValue(foldback::Status::InvalidArgument("fusion must be rrf or weighted"));
    }
    if (Has(opts, "filter")) {
      val f = opts["filter"];
      val keys = val::global("Object").call<val>("keys", f);
      size_t n = keys["length"].as<size_t>();
      for (size_t i = 0; i < n; ++i) {
        std::string k = keys[i].as<std::string>();
        o.filters.push_back({k, foldback::Filter::Op::kEq, f[k].as<std::string>()});
      }
    }
    if (Has(opts, "allowedMatters")) {
      val m = opts["allowedMatters"];
      o.allowed_matters.emplace();
      size_t n = m["length"].as<size_t>();
      for (size_t i = 0; i < n; ++i) o.allowed_matters->insert(m[i].as<std::string>());
    }
    if (Has(opts, "queryVector")) {
      o.query_vector = emscripten::convertJSArrayToNumberVector<float>(opts["queryVector"]);
    }
    auto r = index_->Search(query, o);
    if (!r.ok()) return ErrorValue(r.status());
    // The hits cross in three buffers — every string field in one UTF-8
    // text (decoded once in JS and sliced at `ends`, UTF-16 offsets), the
    // scores in a Float64Array — because an embind call per field, or JSON,
    // costs several times the search itself.
    result_text_.clear();
    result_ends_.clear();
    result_numbers_.clear();
    uint32_t end = 0;
    for (const auto& h : *r) {
      for (const std::string* f : {&h.chunk_id, &h.doc_id, &h.text, &h.title, &h.section, &h.matter}) {
        result_text_.append(*f);
        end += Utf16Length(*f);
        result_ends_.push_back(end);
      }
      result_numbers_.insert(result_numbers_.end(), {h.score, h.bm25, h.dense});
    }
    // Views of this object's buffers: valid until the next call on this
    // index; the JS wrapper reads them at once.
    val out = val::object();
    out.set("text", val(emscripten::typed_memory_view(
                        result_text_.size(), reinterpret_cast<const unsigned char*>(result_text_.data()))));
    out.set("ends", val(emscripten::typed_memory_view(result_ends_.size(), result_ends_.data())));
    out.set("numbers", val(emscripten::typed_memory_view(result_numbers_.size(), result_numbers_.data())));
    return out;
  }

  // External embedder: up to `limit` chunks still waiting for a vector,
  // as [{chunkId, text}].
  val chunksMissingVectors(size_t limit) {
    val out = val::array();
    for (const std::string& id : index_->ChunksMissingVectors(limit)) {
      const foldback::Chunk* c = index_->FindChunk(id);
      val item = val::object();
      item.set("chunkId", id);
      item.set("text", c ? c->text : std::string());
      out.call<void>("push", item);
    }
    return out;
  }

  val setChunkVector(std::string chunk_id, val vector) {
    foldback::Status s = index_->SetChunkVector(
        chunk_id, emscripten::convertJSArrayToNumberVector<float>(vector));
    return s.ok() ? val::null() : ErrorValue(s);
  }

  val options() {
    const foldback::IndexOptions& o = index_->options();
    val out = val::object();
    out.set("embedder", std::string(o.dense.embedder == foldback::EmbedderKind::kNone ? "none"
                                    : o.dense.embedder == foldback::EmbedderKind::kExternal
                                        ? "external"
                                        : "static"));
    out.set("dimension", o.dense.dimension);
    return out;
  }

  val snapshot() {
    auto r = index_->Snapshot();
    if (!r.ok()) return ErrorValue(r.status());
    return StringToBytes(*r);
  }

  val stats() {
    foldback::IndexStats s = index_->Stats();
    val out = val::object();
    out.set("documents", static_cast<double>(s.documents));
    out.set("chunks", static_cast<double>(s.chunks));
    out.set("terms", static_cast<double>(s.terms));
    out.set("vectors", static_cast<double>(s.vectors));
    out.set("pendingVectors", static_cast<double>(s.pending_vectors));
    out.set("textBytes", static_cast<double>(s.text_bytes));
    return out;
  }

 private:
  std::unique_ptr<foldback::Index> index_;
  std::string result_text_;
  std::vector<uint32_t> result_ends_;
  std::vector<double> result_numbers_;
};

// foldback's BERT WordPiece tokenizer (core/src/embed/wordpiece.h).
class JsWordPiece {
 public:
  // Returns null or an error value.
  val init(val vocabulary, val options) {
    foldback::embed::WordPieceOptions o;
    if (Has(options, "lowercase")) o.lowercase = options["lowercase"].as<bool>();
    if (Has(options, "stripAccents")) o.strip_accents = options["stripAccents"].as<bool>();
    if (Has(options, "handleChineseChars")) {
      o.handle_chinese_chars = options["handleChineseChars"].as<bool>();
    }
    if (Has(options, "cleanText")) o.clean_text = options["cleanText"].as<bool>();
    if (Has(options, "maxInputCharsPerWord")) {
      o.max_input_chars_per_word = options["maxInputCharsPerWord"].as<uint32_t>();
    }
    if (Has(options, "maxLength")) o.max_length = options["maxLength"].as<uint32_t>();
    o.unk_token = Str(options, "unkToken", o.unk_token);
    o.cls_token = Str(options, "clsToken", o.cls_token);
    o.sep_token = Str(options, "sepToken", o.sep_token);
    o.pad_token = Str(options, "padToken", o.pad_token);
    o.continuing_subword_prefix = Str(options, "continuingSubwordPrefix", o.continuing_subword_prefix);
    std::string bytes = vocabulary.isString() ? vocabulary.as<std::string>() : BytesToString(vocabulary);
    auto r = foldback::embed::WordPieceTokenizer::Create(bytes, o);
    if (!r.ok()) return ErrorValue(r.status());
    tokenizer_ = std::move(r.value());
    return val::null();
  }

  val basicTokenize(std::string text) { return StringArray(tokenizer_->BasicTokenize(text)); }
  val tokenize(std::string text) { return StringArray(tokenizer_->Tokenize(text)); }

  val encode(std::string text) {
    foldback::embed::WordPieceEncoding e = tokenizer_->Encode(text);
    val out = val::object();
    out.set("ids", Int32s(e.ids));
    out.set("attentionMask", Int32s(e.attention_mask));
    out.set("typeIds", Int32s(e.type_ids));
    return out;
  }

  val encodeBatch(val texts) {
    foldback::embed::WordPieceBatch b = tokenizer_->EncodeBatch(Strings(texts));
    val out = val::object();
    out.set("batch", static_cast<double>(b.batch));
    out.set("length", static_cast<double>(b.length));
    out.set("ids", Int32s(b.ids));
    out.set("attentionMask", Int32s(b.attention_mask));
    out.set("typeIds", Int32s(b.type_ids));
    return out;
  }

  int32_t idOf(std::string token) { return tokenizer_->IdOf(token); }
  std::string tokenOf(int32_t id) { return tokenizer_->TokenOf(id); }
  double vocabularySize() { return static_cast<double>(tokenizer_->vocabulary_size()); }

  val options() {
    const foldback::embed::WordPieceOptions& o = tokenizer_->options();
    val out = val::object();
    out.set("lowercase", o.lowercase);
    out.set("stripAccents", o.strip_accents.value_or(o.lowercase));
    out.set("handleChineseChars", o.handle_chinese_chars);
    out.set("cleanText", o.clean_text);
    out.set("maxInputCharsPerWord", o.max_input_chars_per_word);
    out.set("maxLength", o.max_length);
    out.set("unkToken", o.unk_token);
    out.set("continuingSubwordPrefix", o.continuing_subword_prefix);
    return out;
  }

 private:
  std::unique_ptr<foldback::embed::WordPieceTokenizer> tokenizer_;
};

std::string Version() { return foldback::Version(); }

}  // namespace

EMSCRIPTEN_BINDINGS(foldback) {
  emscripten::function("version", &Version);
  emscripten::class_<JsIndex>("Index")
      .constructor<>()
      .function("init", &JsIndex::init)
      .function("load", &JsIndex::load)
      .function("add", &JsIndex::add)
      .function("remove", &JsIndex::remove)
      .function("buildDense", &JsIndex::buildDense)
      .function("search", &JsIndex::search)
      .function("chunksMissingVectors", &JsIndex::chunksMissingVectors)
      .function("setChunkVector", &JsIndex::setChunkVector)
      .function("options", &JsIndex::options)
      .function("snapshot", &JsIndex::snapshot)
      .function("stats", &JsIndex::stats);
  emscripten::class_<JsWordPiece>("WordPiece")
      .constructor<>()
      .function("init", &JsWordPiece::init)
      .function("basicTokenize", &JsWordPiece::basicTokenize)
      .function("tokenize", &JsWordPiece::tokenize)
      .function("encode", &JsWordPiece::encode)
      .function("encodeBatch", &JsWordPiece::encodeBatch)
      .function("idOf", &JsWordPiece::idOf)
      .function("tokenOf", &JsWordPiece::tokenOf)
      .function("vocabularySize", &JsWordPiece::vocabularySize)
      .function("options", &JsWordPiece::options);
}
