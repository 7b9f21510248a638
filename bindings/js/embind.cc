// embind glue: JavaScript values <-> foldback's C++ API. Type conversion
// only — no logic lives here. Errors come back as {error: {code, message}}
// values; the JS wrapper (wasm/src/index.js) turns them into exceptions.
#include <emscripten/bind.h>
#include <emscripten/emscripten.h>
#include <emscripten/val.h>

#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <tsl/robin_map.h>

#include "embed/wordpiece.h"
#include "foldback/ask.h"
#include "foldback/feedback.h"
#include "foldback/index.h"
#include "foldback/llm_rerank.h"
#include "foldback/msg.h"
#include "foldback/program.h"
#include "foldback/questions.h"
#include "foldback/redact.h"
#include "foldback/rerank.h"
#include "foldback/telemetry.h"
#include "foldback/train.h"
#include "foldback/version.h"
#include "foldback/wire.h"

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

// A Status from a JS error: {code: 'Unavailable', message} or a string.
foldback::Status ToStatus(const val& error, const std::string& fallback_code) {
  using C = foldback::Status::Code;
  std::string code = fallback_code, message;
  if (error.isString()) {
    message = error.as<std::string>();
  } else if (!error.isUndefined() && !error.isNull()) {
    code = Str(error, "code", fallback_code);
    message = Str(error, "message");
  }
  if (message.empty()) message = "the host reported a failure";
  C c;
  if (foldback::Status::CodeFromName(code, &c) && c != C::kOk) return foldback::Status::FromCode(c, message);
  return foldback::Status::Unavailable(message);
}

std::optional<std::set<std::string>> ToMatterSet(const val& o, const char* key) {
  if (!Has(o, key)) return std::nullopt;
  std::vector<std::string> v = Strings(o[key]);
  return std::set<std::string>(v.begin(), v.end());
}

// A wall from its JS form: null / undefined (none) or an array of matters.
std::optional<std::set<std::string>> ToWall(const val& list) {
  if (list.isUndefined() || list.isNull()) return std::nullopt;
  std::vector<std::string> v = Strings(list);
  return std::set<std::string>(v.begin(), v.end());
}

// Option values both conversions below check, with the same messages.
foldback::Status SetMode(const std::string& v, foldback::SearchOptions* o) {
  return foldback::ParseSearchMode(v, &o->mode)
             ? foldback::Status::OK()
             : foldback::Status::InvalidArgument("mode must be bm25, dense or hybrid");
}

foldback::Status SetFusion(const std::string& v, foldback::SearchOptions* o) {
  return foldback::ParseFusion(v, &o->fusion)
             ? foldback::Status::OK()
             : foldback::Status::InvalidArgument("fusion must be rrf or weighted");
}

foldback::Status SetSyntax(const std::string& v, foldback::SearchOptions* o) {
  return foldback::ParseQuerySyntax(v, &o->syntax)
             ? foldback::Status::OK()
             : foldback::Status::InvalidArgument("syntax must be auto, plain or connectors");
}

// {mode, topK, fusion, filter: {field: value}, allowedMatters, queryVector,
//  oneDocument, candidates, denseWeight, rrfK, efSearch, syntax}; an error value or null.
// The keys present are listed once and only those are read: every property
// read is a call out of wasm, and a scoped search from an add-in is small
// enough for a dozen absent-key probes to show (docs/benchmarks.md, issue 13
// item 7). Unknown keys are ignored; null and undefined mean absent.
val ToSearchOptions(const val& opts, foldback::SearchOptions* o) {
  if (opts.isUndefined() || opts.isNull()) return val::null();
  static const val object = val::global("Object");
  const val keys = object.call<val>("keys", opts);
  const size_t n = keys["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    const std::string k = keys[i].as<std::string>();
    const val v = opts[k];
    if (v.isUndefined() || v.isNull()) continue;
    if (k == "mode") {
      foldback::Status st = SetMode(v.as<std::string>(), o);
      if (!st.ok()) return ErrorValue(st);
    } else if (k == "topK") {
      o->top_k = v.as<size_t>();
    } else if (k == "fusion") {
      foldback::Status st = SetFusion(v.as<std::string>(), o);
      if (!st.ok()) return ErrorValue(st);
    } else if (k == "filter") {
      const val fields = object.call<val>("keys", v);
      const size_t m = fields["length"].as<size_t>();
      for (size_t j = 0; j < m; ++j) {
        std::string f = fields[j].as<std::string>();
        std::string value = v[f].as<std::string>();
        o->filters.push_back({std::move(f), foldback::Filter::Op::kEq, std::move(value)});
      }
    } else if (k == "allowedMatters") {
      std::vector<std::string> list = Strings(v);
      o->allowed_matters = std::set<std::string>(list.begin(), list.end());
    } else if (k == "queryVector") {
      o->query_vector = emscripten::convertJSArrayToNumberVector<float>(v);
    } else if (k == "oneDocument") {
      o->one_per_document = v.as<bool>();
    } else if (k == "candidates") {
      o->candidates = v.as<size_t>();
    } else if (k == "denseWeight") {
      o->dense_weight = v.as<double>();
    } else if (k == "rrfK") {
      o->rrf_k = v.as<double>();
    } else if (k == "efSearch") {
      o->ef_search = v.as<size_t>();
    } else if (k == "syntax") {
      foldback::Status st = SetSyntax(v.as<std::string>(), o);
      if (!st.ok()) return ErrorValue(st);
    }
  }
  return val::null();
}

// The same options packed by wasm/src/index.js (packSearchOptions) into one
// string, for the kinds of values the add-ins pass: walking a JS object from
// wasm costs three or four calls out per key (docs/benchmarks.md, issue 13
// item 7), a string crosses once. Every record starts with a NUL (JS packs
// no string holding one; such options take the path above); no options is "":
//   m<mode>  k<topK>  f<fusion>  s<syntax>  o0 | o1 (oneDocument)
//   F<field> then the value's record (a filter entry)
//   W<n> then n records, the matters (allowedMatters, n may be 0)
// The values are checked here, as above; anything malformed is an error.
foldback::Status FromPackedOptions(std::string_view packed, foldback::SearchOptions* o) {
  auto bad = [] { return foldback::Status::InvalidArgument("malformed packed search options"); };
  if (packed.empty()) return foldback::Status::OK();
  if (packed[0] != '\0') return bad();
  std::vector<std::string_view> r;
  for (size_t start = 1;;) {
    size_t end = packed.find('\0', start);
    r.push_back(packed.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  auto count = [](std::string_view d, uint64_t* n) {
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), *n);
    return ec == std::errc() && end == d.data() + d.size() && !d.empty();
  };
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i].empty()) return bad();
    const std::string_view v = r[i].substr(1);
    uint64_t n = 0;
    foldback::Status st;
    switch (r[i][0]) {
      case 'm':
        st = SetMode(std::string(v), o);
        break;
      case 'f':
        st = SetFusion(std::string(v), o);
        break;
      case 's':
        st = SetSyntax(std::string(v), o);
        break;
      case 'k':
        if (!count(v, &n) || n > UINT32_MAX) return bad();
        o->top_k = static_cast<size_t>(n);
        break;
      case 'o':
        o->one_per_document = v == "1";
        break;
      case 'F':
        if (i + 1 >= r.size()) return bad();
        o->filters.push_back({std::string(v), foldback::Filter::Op::kEq, std::string(r[++i])});
        break;
      case 'W':
        if (!count(v, &n) || n > r.size() - i - 1) return bad();
        o->allowed_matters.emplace();
        for (uint64_t j = 0; j < n; ++j) o->allowed_matters->emplace(r[++i]);
        break;
      default:
        return bad();
    }
    if (!st.ok()) return st;
  }
  return foldback::Status::OK();
}

// The last packed options a search was given and what they read as: an
// add-in asks question after question in one scope, and the same string
// comes back each time, so it is read once (docs/benchmarks.md, "The JS API
// ratio: allocator, flags, the call's own cost").
class LastPackedOptions {
 public:
  // The options `packed` reads as (FromPackedOptions), with
  // SearchOptions::hit_text as given, valid until the next call; an error
  // leaves nothing kept. Without `packed` (the plain exports' kSamePacked),
  // the options kept from the last call; FailedPrecondition when none are.
  foldback::Status Read(std::optional<std::string_view> packed,
                        const foldback::SearchOptions** out, bool hit_text = true) {
    if (!packed) {
      if (!kept_) return foldback::Status::FailedPrecondition("no search options kept");
    } else if (!kept_ || *packed != packed_) {
      kept_ = false;
      options_ = foldback::SearchOptions();
      foldback::Status st = FromPackedOptions(*packed, &options_);
      if (!st.ok()) return st;
      packed_.assign(*packed);
      kept_ = true;
    }
    options_.hit_text = hit_text;
    options_.hit_ids = hit_text;  // off: the hits JS holds are known by position
    *out = &options_;
    return foldback::Status::OK();
  }

 private:
  bool kept_ = false;
  std::string packed_;
  foldback::SearchOptions options_;
};

// Search hits cross in three buffers — every string field in one UTF-8 text
// (decoded once in JS and sliced at `ends`, UTF-16 offsets), the scores in a
// Float64Array — because an embind call per field, or JSON, costs several
// times the search itself. The views are valid until the next Encode.
class HitBuffers {
 public:
  val Encode(const std::vector<foldback::SearchHit>& hits) {
    text_.clear();
    ends_.clear();
    numbers_.clear();
    uint32_t end = 0;
    for (const auto& h : hits) {
      for (const std::string* f : {&h.chunk_id, &h.doc_id, &h.text, &h.title, &h.section, &h.matter}) {
        text_.append(*f);
        end += Utf16Length(*f);
        ends_.push_back(end);
      }
      numbers_.insert(numbers_.end(), {h.score, h.bm25, h.dense});
    }
    val out = val::object();
    out.set("text", val(emscripten::typed_memory_view(
                        text_.size(), reinterpret_cast<const unsigned char*>(text_.data()))));
    out.set("ends", val(emscripten::typed_memory_view(ends_.size(), ends_.data())));
    out.set("numbers", val(emscripten::typed_memory_view(numbers_.size(), numbers_.data())));
    return out;
  }

  // The hits for JS to read through the module's heap views, without the
  // dozen calls out that building the object above costs: the address of
  // nine words — hits, ASCII text address and bytes, ends address, numbers
  // address, other text address and bytes, slots address (0 without
  // slots), 1 when JS is to forget the hits it knows. Fields all ASCII go
  // into the first text, the others into the second: a TextDecoder decodes
  // ASCII several times faster than UTF-8 with a few curly quotes in it,
  // and the slow path then costs only the fields that need it
  // (docs/benchmarks.md, issue 13 item 7). `ends` holds each field's end in
  // its text in UTF-16 units, bit 31 set for the second text. Valid until
  // the next Encode; 0 with error() set when a hit cannot be filled.
  //
  // With `epoch` (the engine's index generation), the hits JS already holds
  // cross as a number only: an add-in asks one contract question after
  // question, and the same passages come back; copying their text into the
  // block, decoding it in JS and slicing it was a third of the call around
  // the core (docs/benchmarks.md, "The JS API ratio: allocator, flags, the
  // call's own cost"). Each hit then has a slot: bit 31 set when its six
  // fields follow in the texts (JS keeps them at that slot), clear when JS
  // has them from an earlier block of this epoch. A new epoch, or more
  // than kKnownHits hits or kKnownBytes of their fields known, starts
  // again from nothing (the block's last word tells JS to drop what it
  // holds): what JS keeps stays a few MB. The key is the chunk's position
  // in the index (SearchHit::chunk), which names one chunk's text, title,
  // section and matter until the index changes, and every change moves the
  // epoch (keyed by the chunk id, hashing it and comparing it with the
  // kept one was 7 % of the add-ins' call). A hit no index search made has
  // no position: it brings its fields every time.
  //
  // With `fill`, the hits were searched without their text
  // (SearchOptions::hit_text off: copying it was wasted on the hits JS
  // holds) and the ones JS lacks are filled from `fill` here.
  uint32_t EncodeBlock(std::vector<foldback::SearchHit>& hits, const double* epoch = nullptr,
                       const foldback::Index* fill = nullptr) {
    text_.clear();
    wide_.clear();
    ends_.clear();
    numbers_.clear();
    slots_.clear();
    uint32_t forget = 0;
    if (epoch != nullptr && (*epoch != known_epoch_ || known_count_ + hits.size() > kKnownHits ||
                             known_bytes_ > kKnownBytes)) {
      Forget();
      known_epoch_ = *epoch;
      forget = 1;
    }
    uint32_t end = 0, wide_end = 0;
    numbers_.resize(3 * hits.size());
    double* number = numbers_.data();
    for (auto& h : hits) {
      *number++ = h.score;
      *number++ = h.bm25;
      *number++ = h.dense;
      if (epoch != nullptr) {
        // By the chunk's position in the index: one integer probe, the
        // same chunk within the epoch (the index's generation).
        uint32_t slot = known_count_;
        bool added = true;
        if (h.chunk != foldback::SearchHit::kNoChunk) {
          auto [it, fresh] = known_.try_emplace(h.chunk, known_count_);
          slot = it->second;
          added = fresh;
        }
        slots_.push_back(slot | (added ? 0x80000000u : 0));
        if (!added) continue;
        ++known_count_;
        if (fill != nullptr) {
          foldback::Status st = fill->FillHitText(&h);
          if (!st.ok()) {  // a hit of the index just searched: cannot happen
            Forget();
            known_epoch_ = -1;
            return Fail(st);
          }
        }
        known_bytes_ += h.chunk_id.size() + h.doc_id.size() + h.text.size() + h.title.size() +
                        h.section.size() + h.matter.size();
      }
      for (const std::string* f :
           {&h.chunk_id, &h.doc_id, &h.text, &h.title, &h.section, &h.matter}) {
        const uint32_t units = Utf16Length(*f);
        if (units == f->size()) {  // ASCII: one unit per byte
          text_.append(*f);
          end += units;
          ends_.push_back(end);
        } else {
          wide_.append(*f);
          wide_end += units;
          ends_.push_back(wide_end | 0x80000000u);
        }
      }
    }
    block_[0] = static_cast<uint32_t>(hits.size());
    block_[1] = reinterpret_cast<uintptr_t>(text_.data());
    block_[2] = static_cast<uint32_t>(text_.size());
    block_[3] = reinterpret_cast<uintptr_t>(ends_.data());
    block_[4] = reinterpret_cast<uintptr_t>(numbers_.data());
    block_[5] = reinterpret_cast<uintptr_t>(wide_.data());
    block_[6] = static_cast<uint32_t>(wide_.size());
    block_[7] = epoch != nullptr ? reinterpret_cast<uintptr_t>(slots_.data()) : 0;
    block_[8] = forget;
    return reinterpret_cast<uintptr_t>(block_);
  }

  uint32_t Fail(const foldback::Status& s) {
    error_ = s;
    return 0;
  }

  // The error of the last EncodeBlock or Fail that returned 0.
  val error() const { return ErrorValue(error_); }

 private:
  void Forget() {
    known_ = {};  // not clear(): that keeps (and zeroes) every bucket
    known_count_ = 0;
    known_bytes_ = 0;
  }

  std::string text_;
  std::string wide_;
  std::vector<uint32_t> ends_;
  std::vector<double> numbers_;
  std::vector<uint32_t> slots_;
  // The chunks JS holds the fields of, by position, with their slots, for
  // known_epoch_.
  static constexpr size_t kKnownHits = 4096;
  static constexpr size_t kKnownBytes = size_t{1} << 20;
  tsl::robin_map<uint32_t, uint32_t> known_;
  uint32_t known_count_ = 0;  // slots given (a hit without a position takes one too)
  size_t known_bytes_ = 0;
  double known_epoch_ = -1;
  uint32_t block_[9] = {};
  foldback::Status error_;
};

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

  // As fb_index_remove, `foldback delete` and DELETE /v1/documents/{id}:
  // the document with its attachments; the ids removed, the document first.
  val remove(std::string id) {
    std::vector<std::string> removed;
    foldback::Status s = index_->RemoveWithAttachments(id, &removed);
    if (!s.ok()) return ErrorValue(s);
    val out = val::array();
    for (const std::string& r : removed) out.call<void>("push", r);
    return out;
  }

  val buildDense() {
    foldback::Status s = index_->BuildDense();
    return s.ok() ? val::null() : ErrorValue(s);
  }

  val search(std::string query, val opts) {
    foldback::SearchOptions o;
    val err = ToSearchOptions(opts, &o);
    if (!err.isNull()) return err;
    auto r = index_->Search(query, o);
    if (!r.ok()) return ErrorValue(r.status());
    return hits_.Encode(*r);
  }

  // search() with packed options (FromPackedOptions): the address of the
  // hits' block (HitBuffers::EncodeBlock), or 0 and lastError().
  uint32_t searchPacked(std::string query, std::string packed) {
    return SearchPacked(query, packed);
  }
  // With `epoch` (fb_js_index_search) the hits JS holds cross as slots
  // (HitBuffers::EncodeBlock), and only the others' text is copied.
  uint32_t SearchPacked(std::string_view query, std::optional<std::string_view> packed,
                        const double* epoch = nullptr) {
    const foldback::SearchOptions* o = nullptr;
    foldback::Status st = packed_.Read(packed, &o, /*hit_text=*/epoch == nullptr);
    if (!st.ok()) return hits_.Fail(st);
    // Into one vector kept across calls: the hits' strings keep their
    // capacity (Index::Search's second form), no allocation per field.
    st = index_->Search(query, *o, &found_);
    if (!st.ok()) return hits_.Fail(st);
    return hits_.EncodeBlock(found_, epoch, epoch != nullptr ? index_.get() : nullptr);
  }
  // For the plain exports (fb_js_index_search): this object's address.
  uint32_t address() const { return reinterpret_cast<uintptr_t>(this); }

  val lastError() const { return hits_.error(); }

  // The chunks with these ids as search hits (encoded as search() encodes
  // them; score 0); a chunk not in the index comes back with empty fields.
  val passages(val ids) {
    std::vector<foldback::SearchHit> out;
    for (const std::string& id : Strings(ids)) {
      foldback::SearchHit h;
      if (const foldback::Chunk* c = index_->FindChunk(id)) {
        h.chunk_id = id;
        h.doc_id = c->doc_id;
        h.text = c->text;
        h.section = c->section;
        if (const foldback::Document* d = index_->FindDocument(c->doc_id)) {
          h.title = d->title;
          h.matter = d->matter;
        }
      }
      out.push_back(std::move(h));
    }
    return hits_.Encode(out);
  }

  // [{chunkId, docId, text, title, section, matter, textHash}] for the ids
  // given; null for an id not in the index.
  val chunks(val ids) {
    val out = val::array();
    for (const std::string& id : Strings(ids)) {
      const foldback::Chunk* c = index_->FindChunk(id);
      if (!c) {
        out.call<void>("push", val::null());
        continue;
      }
      const foldback::Document* d = index_->FindDocument(c->doc_id);
      val item = val::object();
      item.set("chunkId", id);
      item.set("docId", c->doc_id);
      item.set("text", std::string(c->text));
      item.set("title", d ? d->title : std::string());
      item.set("section", c->section);
      item.set("matter", d ? d->matter : std::string());
      item.set("textHash", foldback::FeedbackTextHash(c->text));
      out.call<void>("push", item);
    }
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
      item.set("text", c ? std::string(c->text) : std::string());
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

  foldback::Index* get() { return index_.get(); }

 private:
  std::unique_ptr<foldback::Index> index_;
  HitBuffers hits_;
  std::vector<foldback::SearchHit> found_;  // SearchPacked's hits, reused
  LastPackedOptions packed_;
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

  val encodeBatch(val texts) { return BatchValue(tokenizer_->EncodeBatch(Strings(texts))); }

  // [CLS] first [SEP] second [SEP] for each second text (a cross-encoder's input).
  val encodePairBatch(std::string first, val seconds) {
    return BatchValue(tokenizer_->EncodePairBatch(first, Strings(seconds)));
  }

  static val BatchValue(const foldback::embed::WordPieceBatch& b) {
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

// ---------------------------------------------------------------- ask

// A DSPy saved program (program.save("x.json")), loaded by the core.
class JsProgram {
 public:
  // {used, ignored, notes, dspyVersion, version} or an error value.
  val load(std::string json) {
    auto r = foldback::LoadDspyProgram(json);
    if (!r.ok()) return ErrorValue(r.status());
    program_ = std::make_shared<foldback::Program>(r->program);
    val out = val::object();
    out.set("used", StringArray(r->used));
    out.set("ignored", StringArray(r->ignored));
    out.set("notes", StringArray(r->notes));
    out.set("dspyVersion", r->dspy_version);
    out.set("version", program_->version());
    return out;
  }

  std::string version() const { return program_ ? program_->version() : std::string(); }
  std::shared_ptr<const foldback::Program> get() const { return program_; }

 private:
  std::shared_ptr<const foldback::Program> program_;
};

// {hops, depth, topK, answer, rewrite, variants, contextTokenBudget,
//  deadlineMs, retryBudget, nearDuplicateJaccard, search: {...},
//  rm3: {fbDocs, fbTerms, originalQueryWeight}, traceId, redactPatterns, matter, user}
val ToAskOptions(const val& o, foldback::AskOptions* a) {
  if (o.isUndefined() || o.isNull()) return val::null();
  if (Has(o, "hops")) a->hops = o["hops"].as<uint32_t>();
  if (Has(o, "depth")) a->depth = o["depth"].as<uint32_t>();
  if (Has(o, "topK")) a->top_k = o["topK"].as<uint32_t>();
  if (Has(o, "answer")) a->answer = o["answer"].as<bool>();
  if (Has(o, "rewrite") && !foldback::ParseRewriteMode(o["rewrite"].as<std::string>(), &a->rewrite)) {
    return ErrorValue(foldback::Status::InvalidArgument("rewrite must be llm, rm3 or none"));
  }
  if (Has(o, "variants")) a->variants = o["variants"].as<uint32_t>();
  if (Has(o, "contextTokenBudget")) a->context_token_budget = o["contextTokenBudget"].as<uint32_t>();
  if (Has(o, "deadlineMs")) a->deadline_ms = o["deadlineMs"].as<double>();
  if (Has(o, "retryBudget")) a->retry_budget = o["retryBudget"].as<uint32_t>();
  if (Has(o, "nearDuplicateJaccard")) a->near_duplicate_jaccard = o["nearDuplicateJaccard"].as<double>();
  if (Has(o, "rm3")) {
    val r = o["rm3"];
    if (Has(r, "fbDocs")) a->rm3.fb_docs = r["fbDocs"].as<uint32_t>();
    if (Has(r, "fbTerms")) a->rm3.fb_terms = r["fbTerms"].as<uint32_t>();
    if (Has(r, "originalQueryWeight")) a->rm3.original_query_weight = r["originalQueryWeight"].as<double>();
  }
  a->trace_id = Str(o, "traceId");
  if (Has(o, "redactPatterns")) {
    auto redactor = foldback::wire::CompileRedactionPatterns(Strings(o["redactPatterns"]));
    if (!redactor.ok()) return ErrorValue(redactor.status());
    a->redactor = std::move(redactor.value());
  }
  a->matter = Str(o, "matter");
  a->user = Str(o, "user");
  if (Has(o, "search")) return ToSearchOptions(o["search"], &a->search);
  return val::null();
}

val TraceHitsValue(const std::vector<foldback::TraceHit>& hits) {
  val out = val::array();
  for (const auto& h : hits) {
    val item = val::object();
    item.set("chunkId", h.chunk_id);
    item.set("docId", h.doc_id);
    item.set("score", h.score);
    out.call<void>("push", item);
  }
  return out;
}

const char* EventKindName(foldback::TraceEvent::Kind kind) {
  using K = foldback::TraceEvent::Kind;
  switch (kind) {
    case K::kHopStarted: return "hop-started";
    case K::kQuery: return "query";
    case K::kRetrieved: return "retrieved";
    case K::kFallback: return "fallback";
    case K::kAnswer: return "answer";
    case K::kDone: return "done";
    case K::kError: return "error";
  }
  return "error";
}

// Needs as JS values: [{id, kind: 'llm'|'embed', hop, purpose, messages,
// temperature, maxTokens, jsonSchema, jsonSchemaName, texts, timeoutMs}]
// (the ask and LLM rerank sessions').
val NeedsValue(const std::vector<foldback::Need>& needs) {
  val out = val::array();
  for (const foldback::Need& n : needs) {
    val item = val::object();
    item.set("id", static_cast<double>(n.id));
    item.set("kind", std::string(n.kind == foldback::Need::Kind::kLlm ? "llm" : "embed"));
    item.set("hop", n.hop);
    item.set("purpose", n.purpose);
    item.set("timeoutMs", n.timeout_ms);
    if (n.kind == foldback::Need::Kind::kLlm) {
      val messages = val::array();
      for (const auto& m : n.llm.messages) {
        val msg = val::object();
        msg.set("role", m.role);
        msg.set("content", m.content);
        messages.call<void>("push", msg);
      }
      item.set("messages", messages);
      item.set("temperature", n.llm.temperature);
      item.set("maxTokens", n.llm.max_tokens);
      item.set("jsonSchema", n.llm.json_schema);
      item.set("jsonSchemaName", n.llm.json_schema_name);
    } else {
      item.set("texts", StringArray(n.embed.texts));
    }
    out.call<void>("push", item);
  }
  return out;
}

// A host's result: {ok, error: {code, message} | string, text, vectors,
// model, elapsedMs, attempts, inputTokens, outputTokens}.
foldback::NeedResult NeedResultOf(const val& result) {
  foldback::NeedResult r;
  bool ok = !Has(result, "ok") || result["ok"].as<bool>();
  if (!ok) r.status = ToStatus(result["error"], "Unavailable");
  r.text = Str(result, "text");
  if (Has(result, "vectors")) {
    val v = result["vectors"];
    size_t n = v["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      r.vectors.push_back(emscripten::convertJSArrayToNumberVector<float>(v[i]));
    }
  }
  r.model = Str(result, "model");
  if (Has(result, "elapsedMs")) r.elapsed_ms = result["elapsedMs"].as<double>();
  if (Has(result, "attempts")) r.attempts = result["attempts"].as<uint32_t>();
  if (Has(result, "inputTokens")) r.input_tokens = static_cast<int64_t>(result["inputTokens"].as<double>());
  if (Has(result, "outputTokens")) r.output_tokens = static_cast<int64_t>(result["outputTokens"].as<double>());
  return r;
}

class JsFeedback;

// foldback::AskSession: needs out, results in, events out (see ask.h).
class JsAsk {
 public:
  void useProgram(const JsProgram& program) { program_ = program.get(); }
  void useFeedback(const JsFeedback& feedback);

  // Returns null or an error value. The index must stay unchanged (and
  // alive) until the session is done or deleted.
  val start(JsIndex& index, std::string question, val options, double now_ms) {
    foldback::AskOptions o;
    val err = ToAskOptions(options, &o);
    if (!err.isNull()) return err;
    auto r = foldback::AskSession::Start(*index.get(), std::move(question), o, now_ms, program_.get(),
                                         foldback_.get());
    if (!r.ok()) return ErrorValue(r.status());
    session_ = std::move(r.value());
    return val::null();
  }

  // [{id, kind: 'llm'|'embed', hop, purpose, messages, temperature,
  //   maxTokens, jsonSchema, jsonSchemaName, texts, timeoutMs}]
  val takeNeeds() { return NeedsValue(session_->TakeNeeds()); }

  // result: {ok, error: {code, message} | string, text, vectors, model,
  // elapsedMs, attempts, inputTokens, outputTokens}. Returns null or an error value.
  val provide(double id, val result, double now_ms) {
    foldback::Status s = session_->Provide(static_cast<uint64_t>(id), NeedResultOf(result), now_ms);
    return s.ok() ? val::null() : ErrorValue(s);
  }

  void tick(double now_ms) { session_->Tick(now_ms); }

  // [{kind, hop, message, hits?}] (hits: kRetrieved only)
  val takeEvents() {
    val out = val::array();
    for (const foldback::TraceEvent& e : session_->TakeEvents()) {
      val item = val::object();
      item.set("kind", std::string(EventKindName(e.kind)));
      item.set("hop", e.hop);
      item.set("message", e.message);
      if (e.kind == foldback::TraceEvent::Kind::kRetrieved) item.set("hits", TraceHitsValue(e.hits));
      out.call<void>("push", item);
    }
    return out;
  }

  bool done() const { return session_ && session_->done(); }

  // {passages (as JsIndex::search encodes hits), answer, citations,
  // traceJson}. REQUIRES: done().
  val result() {
    const foldback::AskResult& r = session_->result();
    val out = val::object();
    out.set("passages", hits_.Encode(r.passages));
    out.set("answer", r.answer);
    val citations = val::array();
    for (const auto& c : r.citations) {
      val item = val::object();
      item.set("marker", c.marker);
      item.set("chunkId", c.chunk_id);
      item.set("docId", c.doc_id);
      citations.call<void>("push", item);
    }
    out.set("citations", citations);
    out.set("traceJson", foldback::TraceToJson(r.trace));
    return out;
  }

 private:
  std::shared_ptr<const foldback::Program> program_;
  std::shared_ptr<const foldback::FoldBack> foldback_;
  std::unique_ptr<foldback::AskSession> session_;
  HitBuffers hits_;
};

// First-stage hits handed back by JS: [{chunkId, score, bm25, dense,
// matter}] (the core looks each up again and checks its walls).
std::vector<foldback::SearchHit> CandidatesOf(const val& candidates) {
  std::vector<foldback::SearchHit> hits;
  const size_t n = candidates["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    const val c = candidates[i];
    foldback::SearchHit h;
    h.chunk_id = Str(c, "chunkId");
    h.matter = Str(c, "matter");
    if (Has(c, "score")) h.score = c["score"].as<double>();
    if (Has(c, "bm25")) h.bm25 = c["bm25"].as<double>();
    if (Has(c, "dense")) h.dense = c["dense"].as<double>();
    hits.push_back(std::move(h));
  }
  return hits;
}

// options.redactPatterns compiled into *out (unchanged when absent or
// empty); null or an error value.
val RedactorOf(const val& options, std::shared_ptr<const foldback::Redactor>* out) {
  if (!Has(options, "redactPatterns")) return val::null();
  std::vector<std::string> patterns = Strings(options["redactPatterns"]);
  if (patterns.empty()) return val::null();
  auto red = foldback::wire::CompileRedactionPatterns(patterns);
  if (!red.ok()) return ErrorValue(red.status());
  *out = std::shared_ptr<const foldback::Redactor>(std::move(*red));
  return val::null();
}

// options.program (a DSPy saved program), when given, picked by `pick`
// into *predictor; null or an error value.
template <class Pick>
val ProgramPredictorOf(const val& options, Pick pick, foldback::Predictor* predictor) {
  const std::string program = Str(options, "program");
  if (program.empty()) return val::null();
  auto preds = foldback::LoadDspyPredictors(program);
  if (!preds.ok()) return ErrorValue(preds.status());
  auto picked = pick(*preds);
  if (!picked.ok()) return ErrorValue(picked.status());
  *predictor = std::move(*picked);
  return val::null();
}

// A base class's member as the derived class's (embind binds the member
// pointer's own class, which must be the registered one).
template <class Derived, class R, class Base, class... Args>
R (Derived::*AsMemberOf(R (Base::*f)(Args...)))
(Args...) {
  return f;
}
template <class Derived, class R, class Base, class... Args>
R (Derived::*AsMemberOf(R (Base::*f)(Args...) const))
(Args...) const {
  return f;
}

// The calls every needs-driven session (LLM rerank, questions) shares.
template <class Session>
class JsNeedsSession {
 public:
  val takeNeeds() { return NeedsValue(session_->TakeNeeds()); }
  val provide(double id, val result, double now_ms) {
    foldback::Status s = session_->Provide(static_cast<uint64_t>(id), NeedResultOf(result), now_ms);
    return s.ok() ? val::null() : ErrorValue(s);
  }
  void tick(double now_ms) { session_->Tick(now_ms); }
  bool done() const { return session_ && session_->done(); }

 protected:
  std::unique_ptr<Session> session_;
};

// foldback::LlmRerankSession (llm_rerank.h): the first stage's hits in,
// needs out, results in, the reordered hits out.
class JsLlmRerank : public JsNeedsSession<foldback::LlmRerankSession> {
 public:
  // candidates: [{chunkId, score}] best first, from a search behind
  // searchOpts' walls (checked again); options: {depth, windowSize, step,
  // passageTokens, deadlineMs, retryBudget, redactPatterns, program (DSPy
  // JSON), instructions}. Returns null or an error value.
  val start(JsIndex& index, std::string query, val candidates, val search_opts, val options,
            double now_ms) {
    foldback::SearchOptions so;
    val err = ToSearchOptions(search_opts, &so);
    if (!err.isNull()) return err;
    foldback::LlmRerankOptions o;
    if (Has(options, "depth")) o.depth = options["depth"].as<size_t>();
    if (Has(options, "windowSize")) o.window_size = options["windowSize"].as<size_t>();
    if (Has(options, "step")) o.step = options["step"].as<size_t>();
    if (Has(options, "passageTokens")) o.passage_token_budget = options["passageTokens"].as<uint32_t>();
    if (Has(options, "deadlineMs")) o.deadline_ms = options["deadlineMs"].as<double>();
    if (Has(options, "retryBudget")) o.retry_budget = options["retryBudget"].as<uint32_t>();
    err = RedactorOf(options, &o.redactor);
    if (!err.isNull()) return err;
    foldback::Predictor predictor = foldback::RankPassagesPredictor(Str(options, "instructions"));
    err = ProgramPredictorOf(options, foldback::PickRerankPredictor, &predictor);
    if (!err.isNull()) return err;
    auto r = foldback::LlmRerankSession::Start(*index.get(), query, CandidatesOf(candidates), so,
                                               std::move(predictor), std::move(o), now_ms);
    if (!r.ok()) return ErrorValue(r.status());
    session_ = std::move(r.value());
    return val::null();
  }
  // {hits (encoded as JsIndex::search encodes them), applied, failed,
  // error ('' or why), requests, windows, walled, redactions}. REQUIRES: done().
  val result() {
    const foldback::LlmRerankResult& r = session_->result();
    val out = val::object();
    out.set("hits", hits_.Encode(r.hits));
    out.set("applied", r.applied);
    out.set("failed", r.failed);
    out.set("error", r.failed ? r.status.ToString() : std::string());
    out.set("requests", r.requests);
    out.set("windows", r.windows);
    out.set("walled", static_cast<double>(r.walled));
    out.set("redactions", StringArray(session_->redactions()));
    return out;
  }

 private:
  HitBuffers hits_;
};

// A second stage scored by the host (rerank.h, "external scores"): the
// core admits the candidates (walls, depth, the index's text), the JS host
// runs its model (the ONNX cross-encoder), the core orders by its scores.
class JsExternalRerank {
 public:
  // candidates: [{chunkId, score, bm25, dense, matter}] best first;
  // searchOpts: the search's (its walls). -> {texts, walled, gone} or an
  // error value.
  val start(JsIndex& index, val candidates, val search_opts, double depth) {
    foldback::SearchOptions so;
    val err = ToSearchOptions(search_opts, &so);
    if (!err.isNull()) return err;
    foldback::RerankOptions ro;
    ro.depth = depth >= 0 ? static_cast<size_t>(depth) : 0;
    input_ = foldback::PrepareExternalRerank(*index.get(), CandidatesOf(candidates), so, ro);
    val texts = val::array();
    for (const foldback::SearchHit& h : input_.candidates) texts.call<void>("push", h.text);
    val out = val::object();
    out.set("texts", texts);
    out.set("walled", static_cast<double>(input_.walled));
    out.set("gone", static_cast<double>(input_.gone));
    return out;
  }
  // The hits (encoded as JsIndex::search encodes them) or an error value.
  val apply(val scores) {
    std::vector<double> v;
    const size_t n = scores["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) v.push_back(scores[i].as<double>());
    auto r = foldback::ApplyExternalScores(std::move(input_), v);
    if (!r.ok()) return ErrorValue(r.status());
    return hits_.Encode(*r);
  }

 private:
  foldback::ExternalRerankInput input_;
  HitBuffers hits_;
};

// foldback::QuestionSession (questions.h): passages sampled behind the
// walls, needs out, results in, the training pairs out — as
// fb_questions_* and `foldback train --generate-questions`.
class JsQuestions : public JsNeedsSession<foldback::QuestionSession> {
 public:
  // selection: {matter, allowedMatters}; options: {sample, seed, minWords,
  // perPassage, deadlineMs, maxInFlight, redactPatterns, program (DSPy
  // JSON), instructions}. Returns null or an error value.
  val start(JsIndex& index, val selection, val options, double now_ms) {
    foldback::jobs::Selection sel;
    sel.matter = Str(selection, "matter");
    sel.allowed_matters = ToMatterSet(selection, "allowedMatters");
    foldback::PassageSampleOptions so;
    foldback::QuestionOptions qo;
    if (Has(options, "sample")) so.count = options["sample"].as<uint32_t>();
    if (Has(options, "seed")) so.seed = static_cast<uint64_t>(options["seed"].as<double>());
    if (Has(options, "minWords")) so.min_words = options["minWords"].as<uint32_t>();
    if (Has(options, "perPassage")) qo.questions_per_passage = options["perPassage"].as<uint32_t>();
    if (Has(options, "deadlineMs")) qo.deadline_ms = options["deadlineMs"].as<double>();
    if (Has(options, "maxInFlight")) qo.max_in_flight = options["maxInFlight"].as<uint32_t>();
    val err = RedactorOf(options, &qo.redactor);
    if (!err.isNull()) return err;
    foldback::Predictor predictor =
        foldback::GenerateQuestionsPredictor(Str(options, "instructions"));
    err = ProgramPredictorOf(options, foldback::PickQuestionPredictor, &predictor);
    if (!err.isNull()) return err;
    auto passages = foldback::SampleQuestionPassages(*index.get(), sel, so);
    if (!passages.ok()) return ErrorValue(passages.status());
    program_hash_ = foldback::jobs::PredictorHash(predictor);
    auto r = foldback::QuestionSession::Start(std::move(*passages), std::move(predictor),
                                              std::move(qo), now_ms);
    if (!r.ok()) return ErrorValue(r.status());
    session_ = std::move(r.value());
    return val::null();
  }
  // {pairsJsonl, pairs: [{query, chunkId, docId}], passages, answered,
  // failed, dropped, model, programHash, errors, redactions}. REQUIRES: done().
  val result() {
    foldback::QuestionHarvest h = foldback::HarvestQuestions(session_->results(), program_hash_);
    val pairs = val::array();
    for (const foldback::QuestionPair& p : h.pairs) {
      val o = val::object();
      o.set("query", p.query);
      o.set("chunkId", p.chunk_id);
      o.set("docId", p.doc_id);
      pairs.call<void>("push", o);
    }
    val out = val::object();
    out.set("pairsJsonl", h.jsonl);
    out.set("pairs", pairs);
    out.set("passages", static_cast<double>(h.passages));
    out.set("answered", static_cast<double>(h.answered));
    out.set("failed", static_cast<double>(h.failed));
    out.set("dropped", static_cast<double>(h.dropped));
    out.set("model", h.model);
    out.set("programHash", program_hash_);
    out.set("errors", StringArray(h.errors));
    out.set("redactions", StringArray(session_->redactions()));
    return out;
  }

 private:
  std::string program_hash_;
};

// ---------------------------------------------------------------- wire (LLM host)
// foldback/wire.h for wasm/src/host.js, which only moves bytes and keeps
// time. The endpoint travels as
// {endpoint, provider, model, apiVersion, structuredOutput, maxRetries,
//  initialDelayMs, maxDelayMs, maxRetryAfterMs}.

namespace wire = foldback::wire;

val WireEndpointOf(const val& o, wire::Endpoint* e) {
  e->url = Str(o, "endpoint");
  std::string provider = Str(o, "provider");
  if (provider.empty()) {
    e->provider = wire::GuessProvider(e->url);
  } else if (!wire::ParseProvider(provider, &e->provider)) {
    return ErrorValue(foldback::Status::InvalidArgument(
        "provider must be one of openai, azure, ollama, vllm, tei, not '" + provider + "'"));
  }
  e->model = Str(o, "model");
  e->api_version = Str(o, "apiVersion");
  if (Has(o, "structuredOutput")) e->structured_output = o["structuredOutput"].as<bool>();
  return val::null();
}

wire::RetryPolicy WirePolicyOf(const val& o) {
  wire::RetryPolicy p;
  if (Has(o, "maxRetries")) p.max_retries = o["maxRetries"].as<uint32_t>();
  if (Has(o, "initialDelayMs")) p.initial_delay_ms = o["initialDelayMs"].as<double>();
  if (Has(o, "maxDelayMs")) p.max_delay_ms = o["maxDelayMs"].as<double>();
  if (Has(o, "maxRetryAfterMs")) p.max_retry_after_ms = o["maxRetryAfterMs"].as<double>();
  return p;
}

// {url, provider, model, authHeader, authPrefix, headers: [[name, value]]}
// or an error value; also checks o.redactPatterns.
val WireEndpoint(val o) {
  wire::Endpoint e;
  val err = WireEndpointOf(o, &e);
  if (!err.isNull()) return err;
  auto url = wire::ResolveUrl(e, wire::Route::kChat);
  if (!url.ok()) return ErrorValue(url.status());
  if (Has(o, "redactPatterns")) {
    auto r = wire::CompileRedactionPatterns(Strings(o["redactPatterns"]));
    if (!r.ok()) return ErrorValue(r.status());
  }
  val out = val::object();
  out.set("url", *url);
  out.set("provider", std::string(wire::ProviderName(e.provider)));
  out.set("model", e.model);
  out.set("authHeader", std::string(wire::AuthHeaderName(e.provider)));
  out.set("authPrefix", std::string(wire::AuthValuePrefix(e.provider)));
  val headers = val::array();
  for (const wire::Header& h : wire::RequestHeaders()) {
    val pair = val::array();
    pair.call<void>("push", h.name);
    pair.call<void>("push", h.value);
    headers.call<void>("push", pair);
  }
  out.set("headers", headers);
  return out;
}

// An attempt as the host's next step: {ok: true, text, model},
// {retry: true, delayMs} or {error: {code, message}} (key not redacted).
val WireStep(const wire::RetryPolicy& policy, wire::Attempt a, uint32_t attempts, double now_ms,
             double deadline_ms, double budget_ms, double seed) {
  if (a.status.ok()) {
    val out = val::object();
    out.set("ok", true);
    out.set("text", a.text);
    out.set("model", a.model);
    if (a.input_tokens >= 0) out.set("inputTokens", static_cast<double>(a.input_tokens));
    if (a.output_tokens >= 0) out.set("outputTokens", static_cast<double>(a.output_tokens));
    return out;
  }
  wire::AfterFailure f = wire::AfterFailedAttempt(policy, attempts, a, now_ms, deadline_ms, budget_ms,
                                                  static_cast<uint64_t>(seed));
  if (!f.retry) return ErrorValue(f.status);
  val out = val::object();
  out.set("retry", true);
  out.set("delayMs", f.delay_ms);
  return out;
}

// One endpoint of the JS host, converted once: its requests and what their
// replies mean. Scalars cross as arguments (cheaper than object fields).
class JsWire {
 public:
  // The endpoint object above; null or an error value.
  val init(val o) {
    val err = WireEndpointOf(o, &context_.endpoint);
    if (!err.isNull()) return err;
    auto url = wire::ResolveUrl(context_.endpoint, wire::Route::kChat);
    if (!url.ok()) return ErrorValue(url.status());
    context_.url = *url;
    context_.key_source = Str(o, "keySource");
    context_.key_hint = "createLlmHost({apiKey})";
    policy_ = WirePolicyOf(o);
    return val::null();
  }

  // An HTTP response to a chat request; `headers` "name: value" lines.
  val response(double status, std::string headers, std::string body, bool has_key, double now_unix_ms,
               uint32_t attempts, double now_ms, double deadline_ms, double budget_ms, double seed) {
    context_.has_key = has_key;
    context_.now_unix_ms = now_unix_ms;
    wire::HttpResponse r;
    r.status = static_cast<long>(status);
    size_t pos = 0;
    while (pos < headers.size()) {
      size_t nl = headers.find('\n', pos);
      if (nl == std::string::npos) nl = headers.size();
      size_t colon = headers.find(':', pos);
      if (colon != std::string::npos && colon < nl) {
        r.headers.push_back({headers.substr(pos, colon - pos), headers.substr(colon + 1, nl - colon - 1)});
      }
      pos = nl + 1;
    }
    r.body = body;
    return WireStep(policy_, wire::ReadResponse(context_, r), attempts, now_ms, deadline_ms, budget_ms, seed);
  }

  // An attempt that got no response: failure is 'unreachable' | 'cut' |
  // 'attempt-timeout' | 'too-large' | 'hopeless'.
  val transport(std::string failure, std::string why, double limit, uint32_t attempts, double now_ms,
                double deadline_ms, double budget_ms, double seed) {
    wire::TransportFailure f = wire::TransportFailure::kUnreachable;
    if (failure == "cut") f = wire::TransportFailure::kCutOff;
    if (failure == "attempt-timeout") f = wire::TransportFailure::kAttemptTimeout;
    if (failure == "too-large") f = wire::TransportFailure::kTooLarge;
    if (failure == "hopeless") f = wire::TransportFailure::kHopeless;
    return WireStep(policy_, wire::TransportAttempt(f, context_.url, why, limit), attempts, now_ms, deadline_ms,
                    budget_ms, seed);
  }

  // The JSON body of an LLM need (as takeNeeds encodes it), or an error value.
  val chatBody(val need) {
    foldback::LlmRequest r;
    val messages = need["messages"];
    size_t n = messages["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      val m = messages[i];
      r.messages.push_back({Str(m, "role"), Str(m, "content")});
    }
    if (Has(need, "temperature")) r.temperature = need["temperature"].as<double>();
    if (Has(need, "maxTokens")) r.max_tokens = need["maxTokens"].as<uint32_t>();
    r.json_schema = Str(need, "jsonSchema");
    r.json_schema_name = Str(need, "jsonSchemaName");
    auto body = wire::BuildChatBody(context_.endpoint, r);
    return body.ok() ? val(*body) : ErrorValue(body.status());
  }

 private:
  wire::RequestContext context_;
  wire::RetryPolicy policy_;
};

val WireTimedOut(std::string url, double budget_ms, double status_seen) {
  return ErrorValue(wire::NeedTimedOut(url, budget_ms, static_cast<long>(status_seen)));
}

double WireRetryDelayMs(val policy, uint32_t retry, double retry_after_ms, double u) {
  return wire::RetryDelayMs(WirePolicyOf(policy), retry, retry_after_ms, u);
}

double WireParseRetryAfterMs(std::string retry_after_ms, std::string retry_after, double now_unix_ms) {
  return wire::ParseRetryAfterMs(retry_after_ms, retry_after, now_unix_ms);
}

std::string WireHttpStatusText(double status) { return wire::HttpStatusText(static_cast<long>(status)); }

// ---------------------------------------------------------------- telemetry
// A trace's OpenTelemetry spans (foldback/telemetry.h) for index.js to hand
// to the page's @opentelemetry/api tracer: root first, parents before
// children. options: {startUnixMs, provider, requestModel, url,
// captureContent}. Each span: {spanId, parentSpanId, name, kind
// ('internal'|'client'), startNano, endNano (decimal strings),
// attributes {key: value}, error, statusMessage}; or an error value.
val OtlpSpans(std::string trace_json, val o) {
  namespace telemetry = foldback::telemetry;
  auto trace = foldback::TraceFromJson(trace_json);
  if (!trace.ok()) return ErrorValue(trace.status());
  telemetry::SpanOptions so;
  if (Has(o, "startUnixMs")) so.start_unix_ms = o["startUnixMs"].as<double>();
  so.provider = Str(o, "provider");
  so.request_model = Str(o, "requestModel");
  telemetry::ServerOfUrl(Str(o, "url"), &so.server_address, &so.server_port);
  if (Has(o, "captureContent")) so.capture_content = o["captureContent"].as<bool>();
  val out = val::array();
  for (const telemetry::Span& s : telemetry::SpansFromTrace(*trace, so)) {
    val span = val::object();
    span.set("spanId", s.span_id);
    span.set("parentSpanId", s.parent_span_id);
    span.set("name", s.name);
    span.set("kind", std::string(s.kind == telemetry::SpanKind::kClient ? "client" : "internal"));
    span.set("startNano", fmt::to_string(s.start_unix_nano));
    span.set("endNano", fmt::to_string(s.end_unix_nano));
    val attributes = val::object();
    for (const telemetry::Attribute& a : s.attributes) {
      switch (a.value.type) {
        case telemetry::AttributeValue::Type::kInt: attributes.set(a.key, static_cast<double>(a.value.i)); break;
        case telemetry::AttributeValue::Type::kDouble: attributes.set(a.key, a.value.d); break;
        case telemetry::AttributeValue::Type::kBool: attributes.set(a.key, a.value.b); break;
        case telemetry::AttributeValue::Type::kString: attributes.set(a.key, a.value.s); break;
      }
    }
    span.set("attributes", attributes);
    span.set("error", s.error);
    span.set("statusMessage", s.status_message);
    out.call<void>("push", span);
  }
  return out;
}

// ---------------------------------------------------------------- feedback

const char* LabelName(foldback::PassageLabel l) { return foldback::PassageLabelName(l); }

bool ParseLabel(const std::string& name, foldback::PassageLabel* out) {
  for (auto l : {foldback::PassageLabel::kRelevant, foldback::PassageLabel::kPartly,
                 foldback::PassageLabel::kNotRelevant}) {
    if (name == LabelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

// A record from its JS form (camelCase field names of FeedbackRecord;
// rating 'up' | 'down' | '1'..'5' | 1..5 | ''). Returns null or an error value.
val ToRecord(const val& o, foldback::FeedbackRecord* r) {
  if (Has(o, "version")) r->version = o["version"].as<uint32_t>();
  r->record_id = Str(o, "recordId");
  r->trace_id = Str(o, "traceId");
  if (Has(o, "timeMs")) r->time_ms = static_cast<int64_t>(o["timeMs"].as<double>());
  r->user = Str(o, "user");
  r->matter = Str(o, "matter");
  r->question = Str(o, "question");
  if (Has(o, "hopQueries")) r->hop_queries = Strings(o["hopQueries"]);
  if (Has(o, "results")) {
    val list = o["results"];
    size_t n = list["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      val x = list[i];
      foldback::ShownResult sr;
      sr.chunk_id = Str(x, "chunkId");
      sr.doc_id = Str(x, "docId");
      if (Has(x, "rank")) sr.rank = x["rank"].as<uint32_t>();
      if (Has(x, "score")) sr.score = x["score"].as<double>();
      sr.text_hash = Str(x, "textHash");
      sr.matter = Str(x, "matter");
      r->results.push_back(std::move(sr));
    }
  }
  r->answer = Str(o, "answer");
  if (Has(o, "rating")) {
    val v = o["rating"];
    std::string text = v.isNumber() ? fmt::to_string(v.as<int>()) : v.as<std::string>();
    if (!text.empty()) {
      auto rating = foldback::Rating::Parse(text);
      if (!rating.ok()) return ErrorValue(rating.status());
      r->rating = *rating;
    }
  }
  if (Has(o, "labels")) {
    val list = o["labels"];
    size_t n = list["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      foldback::LabelledPassage lp;
      lp.chunk_id = Str(list[i], "chunkId");
      std::string label = Str(list[i], "label");
      if (!ParseLabel(label, &lp.label)) {
        return ErrorValue(foldback::Status::InvalidArgument(
            "label must be relevant, partly or not_relevant, not '" + label.substr(0, 40) + "'"));
      }
      r->labels.push_back(std::move(lp));
    }
  }
  r->critique = Str(o, "critique");
  r->corrected_answer = Str(o, "correctedAnswer");
  r->preferred_rewrite = Str(o, "preferredRewrite");
  if (Has(o, "tags")) r->tags = Strings(o["tags"]);
  if (Has(o, "consentToTrain")) r->consent_to_train = o["consentToTrain"].as<bool>();
  if (Has(o, "privileged")) r->privileged = o["privileged"].as<bool>();
  r->program_version = Str(o, "programVersion");
  r->model = Str(o, "model");
  if (Has(o, "filters")) {
    val list = o["filters"];
    size_t n = list["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      foldback::Filter f;
      f.field = Str(list[i], "field");
      std::string op = Str(list[i], "op");
      if (!op.empty() && !foldback::ParseFilterOp(op, &f.op)) {  // none: "="
        return ErrorValue(foldback::Status::InvalidArgument(
            "a filter's op must be '=', '>=' or '<=', not '" + op.substr(0, 40) + "'"));
      }
      f.value = Str(list[i], "value");
      r->filters.push_back(std::move(f));
    }
  }
  if (Has(o, "replaces")) r->replaces = Strings(o["replaces"]);
  return val::null();
}

val RecordValue(const foldback::FeedbackRecord& r) {
  val o = val::object();
  o.set("version", r.version);
  o.set("recordId", r.record_id);
  o.set("traceId", r.trace_id);
  o.set("timeMs", static_cast<double>(r.time_ms));
  o.set("user", r.user);
  o.set("matter", r.matter);
  o.set("question", r.question);
  o.set("hopQueries", StringArray(r.hop_queries));
  val results = val::array();
  for (const auto& s : r.results) {
    val x = val::object();
    x.set("chunkId", s.chunk_id);
    x.set("docId", s.doc_id);
    x.set("rank", s.rank);
    x.set("score", s.score);
    x.set("textHash", s.text_hash);
    x.set("matter", s.matter);
    results.call<void>("push", x);
  }
  o.set("results", results);
  o.set("answer", r.answer);
  o.set("rating", r.rating.ToString());
  val labels = val::array();
  for (const auto& l : r.labels) {
    val x = val::object();
    x.set("chunkId", l.chunk_id);
    x.set("label", std::string(LabelName(l.label)));
    labels.call<void>("push", x);
  }
  o.set("labels", labels);
  o.set("critique", r.critique);
  o.set("correctedAnswer", r.corrected_answer);
  o.set("preferredRewrite", r.preferred_rewrite);
  o.set("tags", StringArray(r.tags));
  o.set("consentToTrain", r.consent_to_train);
  o.set("privileged", r.privileged);
  o.set("programVersion", r.program_version);
  o.set("model", r.model);
  val filters = val::array();
  for (const auto& f : r.filters) {
    val x = val::object();
    x.set("field", f.field);
    x.set("op", std::string(foldback::FilterOpName(f.op)));
    x.set("value", f.value);
    filters.call<void>("push", x);
  }
  o.set("filters", filters);
  o.set("replaces", StringArray(r.replaces));
  return o;
}

// What the lawyer said, from its JS form: {recordId, traceId, timeMs,
// rating ('up' | 'down' | '1'..'5' | 1..5 | ''), labels: [{chunkId,
// label}], critique, correctedAnswer, preferredRewrite, tags, user, matter,
// consentToTrain, privileged, allowedMatters}. Returns null or an error value.
val ToFeedbackInput(const val& o, foldback::FeedbackInput* in) {
  in->record_id = Str(o, "recordId");
  in->trace_id = Str(o, "traceId");
  if (Has(o, "timeMs")) in->time_ms = static_cast<int64_t>(o["timeMs"].as<double>());
  if (Has(o, "rating")) {
    val v = o["rating"];
    in->rating = v.isNumber() ? fmt::to_string(v.as<int>()) : v.as<std::string>();
  }
  if (Has(o, "labels")) {
    val list = o["labels"];
    size_t n = list["length"].as<size_t>();
    for (size_t i = 0; i < n; ++i) {
      foldback::PassageLabel l;
      std::string label = Str(list[i], "label");
      if (!ParseLabel(label, &l)) {
        return ErrorValue(foldback::Status::InvalidArgument(
            "label must be relevant, partly or not_relevant, not '" + label.substr(0, 40) + "'"));
      }
      std::string id = Str(list[i], "chunkId");
      (l == foldback::PassageLabel::kRelevant ? in->relevant
       : l == foldback::PassageLabel::kPartly ? in->partly
                                              : in->not_relevant)
          .push_back(std::move(id));
    }
  }
  in->critique = Str(o, "critique");
  in->corrected_answer = Str(o, "correctedAnswer");
  in->preferred_rewrite = Str(o, "preferredRewrite");
  if (Has(o, "tags")) in->tags = Strings(o["tags"]);
  in->user = Str(o, "user");
  in->matter = Str(o, "matter");
  if (Has(o, "consentToTrain")) in->consent_to_train = o["consentToTrain"].as<bool>();
  if (Has(o, "privileged")) in->privileged = o["privileged"].as<bool>();
  if (Has(o, "replaceEarlier")) in->replace_earlier = o["replaceEarlier"].as<bool>();
  in->allowed_matters = ToMatterSet(o, "allowedMatters");
  return val::null();
}

foldback::FoldBackOptions ToFoldBackOptions(const val& o) {
  foldback::FoldBackOptions f;
  if (o.isUndefined() || o.isNull()) return f;
  if (Has(o, "demos")) f.demos = o["demos"].as<bool>();
  if (Has(o, "rocchio")) f.rocchio = o["rocchio"].as<bool>();
  if (Has(o, "adapter")) f.adapter = o["adapter"].as<bool>();
  f.allowed_matters = ToMatterSet(o, "allowedMatters");
  if (Has(o, "minSimilarity")) f.min_similarity = o["minSimilarity"].as<double>();
  if (Has(o, "maxNeighbours")) f.max_neighbours = o["maxNeighbours"].as<size_t>();
  if (Has(o, "alpha")) f.alpha = o["alpha"].as<double>();
  if (Has(o, "beta")) f.beta = o["beta"].as<double>();
  if (Has(o, "gamma")) f.gamma = o["gamma"].as<double>();
  if (Has(o, "expansionTerms")) f.expansion_terms = o["expansionTerms"].as<size_t>();
  if (Has(o, "adapterEpochs")) f.adapter_epochs = o["adapterEpochs"].as<uint32_t>();
  if (Has(o, "adapterMinPairs")) f.adapter_min_pairs = o["adapterMinPairs"].as<size_t>();
  if (Has(o, "adapterGate")) f.adapter_gate = o["adapterGate"].as<bool>();
  if (Has(o, "seed")) f.seed = static_cast<uint64_t>(o["seed"].as<double>());
  return f;
}

foldback::ExportOptions ToExportOptions(const val& o) {
  foldback::ExportOptions e;
  if (o.isUndefined() || o.isNull()) return e;
  if (Has(o, "negativesPerPositive")) e.negatives_per_positive = o["negativesPerPositive"].as<size_t>();
  if (Has(o, "unlabelledNegatives")) e.unlabelled_negatives = o["unlabelledNegatives"].as<bool>();
  if (Has(o, "contextPassages")) e.context_passages = o["contextPassages"].as<size_t>();
  e.system_prompt = Str(o, "systemPrompt", e.system_prompt);
  e.dspy_predictor = Str(o, "dspyPredictor", e.dspy_predictor);
  e.dspy_signature = Str(o, "dspySignature", e.dspy_signature);
  e.dspy_instructions = Str(o, "dspyInstructions", e.dspy_instructions);
  e.dspy_into = Str(o, "dspyInto", e.dspy_into);
  e.allowed_matters = ToMatterSet(o, "allowedMatters");
  return e;
}

// The feedback log in memory (the host persists the bytes each append
// returns), what it means (FeedbackState), and what it teaches (FoldBack).
//
// Appending is two-phase because the host's storage is asynchronous: add()
// frames an entry and returns its bytes; the host stores them durably and
// then calls commit() — or rollback() when storing failed, which drops the
// bytes so that the next entry is framed where these would have gone.
class JsFeedback {
 public:
  JsFeedback()
      : writer_(std::make_unique<foldback::FeedbackLogWriter>(&sink_)),
        cache_(std::make_unique<foldback::FoldBackCache>()) {}

  // The live records (the learned reranker trains from them).
  const std::vector<foldback::FeedbackRecord>& liveRecords() const { return state_.records; }

  // FoldBackOptions for every fold-back built from now on.
  void configure(val fold_back_options) {
    options_ = ToFoldBackOptions(fold_back_options);
    cache_ = std::make_unique<foldback::FoldBackCache>(options_);
    foldback_.reset();
  }
  const foldback::FoldBackOptions& foldBackOptions() const { return options_; }

  // The fold-back search() folds back for `walls` (null without feedback):
  // the first stage the learned reranker reorders.
  foldback::Result<std::shared_ptr<const foldback::FoldBack>> FoldBackOf(
      JsIndex& index, double index_version, const std::optional<std::set<std::string>>& walls) {
    foldback::Status st = FoldBackFor(index, index_version, walls);
    if (!st.ok()) return st;
    return foldback_;
  }

  // Replaces the log with `bytes`: {records, tombstones, duplicates, deleted,
  // damage: [{offset, bytes, reason}], bytesDropped, tornTailBytes,
  // tornTailReason, validEnd, logBytes}. A torn tail is cut off (appends
  // continue at validEnd).
  val load(val bytes) {
    std::string data = BytesToString(bytes);
    foldback::FeedbackLogContents contents = foldback::ReadFeedbackLog(data);
    if (contents.torn_tail_bytes > 0) data.resize(contents.valid_end);
    *sink_.mutable_data() = std::move(data);
    writer_ = std::make_unique<foldback::FeedbackLogWriter>(&sink_, sink_.data().size());
    pending_ = false;
    state_ = foldback::ApplyFeedbackLog(contents);
    ++log_version_;
    val out = Info();
    val damage = val::array();
    for (const auto& d : contents.damage) {
      val x = val::object();
      x.set("offset", static_cast<double>(d.offset));
      x.set("bytes", static_cast<double>(d.bytes));
      x.set("reason", d.reason);
      damage.call<void>("push", x);
    }
    out.set("damage", damage);
    out.set("bytesDropped", static_cast<double>(contents.bytes_dropped));
    out.set("tornTailBytes", static_cast<double>(contents.torn_tail_bytes));
    out.set("tornTailReason", contents.torn_tail_reason);
    out.set("validEnd", static_cast<double>(contents.valid_end));
    return out;
  }

  // {bytes} to persist, or an error value (nothing framed then).
  val add(val record) {
    if (pending_) return ErrorValue(foldback::Status::FailedPrecondition("an append is still pending"));
    foldback::FeedbackRecord r;
    val err = ToRecord(record, &r);
    if (!err.isNull()) return err;
    size_t start = sink_.data().size();
    return Framed(writer_->Add(r), start);
  }

  // {recordId} or {matter}.
  val addTombstone(val tombstone) {
    if (pending_) return ErrorValue(foldback::Status::FailedPrecondition("an append is still pending"));
    foldback::Tombstone t;
    t.record_id = Str(tombstone, "recordId");
    t.matter = Str(tombstone, "matter");
    t.user = Str(tombstone, "user");
    if (Has(tombstone, "timeMs")) t.time_ms = static_cast<int64_t>(tombstone["timeMs"].as<double>());
    size_t start = sink_.data().size();
    return Framed(writer_->Add(t), start);
  }

  // The pending bytes are durable: the state takes them in.
  void commit() {
    if (!pending_) return;
    pending_ = false;
    state_ = foldback::ApplyFeedbackLog(foldback::ReadFeedbackLog(sink_.data()));
    ++log_version_;
  }

  // Storing the pending bytes failed: forget them.
  void rollback() {
    if (!pending_) return;
    pending_ = false;
    sink_.mutable_data()->resize(pending_start_);
    writer_ = std::make_unique<foldback::FeedbackLogWriter>(&sink_, pending_start_);
  }

  // The whole log, compacted (tombstones, then live records).
  val compact() {
    auto r = foldback::CompactFeedbackLog(state_);
    if (!r.ok()) return ErrorValue(r.status());
    return StringToBytes(*r);
  }

  val records() {
    val out = val::array();
    for (const auto& r : state_.records) out.call<void>("push", RecordValue(r));
    return out;
  }

  // The matters the log's tombstones forgot.
  const std::set<std::string>& forgottenMatters() const { return state_.forgotten_matters; }

  // The live records a tombstone of `matter` removes (RecordsTouchingMatter).
  double touching(std::string matter) const {
    return static_cast<double>(foldback::RecordsTouchingMatter(state_, matter));
  }

  // The live record with this id, or null.
  val record(std::string id) {
    const foldback::FeedbackRecord* r = state_.Find(id);
    return r ? RecordValue(*r) : val::null();
  }

  val info() { return Info(); }

  // The whole log as it stands (the native host reads the same bytes).
  val bytes() { return StringToBytes(sink_.data()); }

  // Validates a record without framing it: null or an error value.
  val validate(val record) {
    foldback::FeedbackRecord r;
    val err = ToRecord(record, &r);
    if (!err.isNull()) return err;
    foldback::Status s = foldback::ValidateFeedbackRecord(r);
    return s.ok() ? val::null() : ErrorValue(s);
  }

  // foldback::BuildFeedbackRecord against the live log: {record, retried,
  // missingPassages} or an error value. Nothing is framed.
  val buildRecord(JsIndex& index, std::string trace_json, val input) {
    foldback::FeedbackInput in;
    val err = ToFeedbackInput(input, &in);
    if (!err.isNull()) return err;
    foldback::FeedbackRecordNotes notes;
    auto r = foldback::BuildFeedbackRecord(*index.get(), trace_json, in, state_, &notes);
    if (!r.ok()) return ErrorValue(r.status());
    val out = val::object();
    out.set("record", RecordValue(*r));
    out.set("retried", notes.retried);
    out.set("missingPassages", static_cast<double>(notes.missing_passages));
    return out;
  }

  // The fold-back for `index` (at `index_version`) and a user behind
  // `walls` (null: none), from foldback::FoldBackCache; kept for the next
  // search, expand, demosFor and JsAsk::useFeedback. Its stats, null when
  // the log holds no live record, or an error value.
  val foldBack(JsIndex& index, double index_version, val walls) {
    foldback::Status st = FoldBackFor(index, index_version, ToWall(walls));
    if (!st.ok()) return ErrorValue(st);
    return foldback_ ? FoldBackStats() : val::null();
  }

  // FoldBack::Search with the fold-back for the options' wall (the index's
  // own search when there is no feedback), hits as JsIndex::search gives them.
  val search(JsIndex& index, double index_version, std::string query, val opts) {
    foldback::SearchOptions o;
    val err = ToSearchOptions(opts, &o);
    if (!err.isNull()) return err;
    val fb = foldBack(index, index_version, Has(opts, "allowedMatters") ? opts["allowedMatters"] : val::null());
    if (Has(fb, "error")) return fb;
    auto r = foldback_ ? foldback_->Search(*index.get(), query, o) : index.get()->Search(query, o);
    if (!r.ok()) return ErrorValue(r.status());
    return hits_.Encode(*r);
  }

  // search() with packed options, hits as JsIndex::searchPacked gives them.
  uint32_t searchPacked(JsIndex& index, double index_version, std::string query,
                        std::string packed) {
    return SearchPacked(index, index_version, query, packed);
  }
  // For the plain exports (fb_js_feedback_search): this object's address.
  uint32_t address() const { return reinterpret_cast<uintptr_t>(this); }
  // `known`: the hits JS holds cross as slots (HitBuffers::EncodeBlock),
  // their epoch the index version (fb_js_feedback_search), and only the
  // others' text is copied.
  uint32_t SearchPacked(JsIndex& index, double index_version, std::string_view query,
                        std::optional<std::string_view> packed, bool known = false) {
    const foldback::SearchOptions* o = nullptr;
    foldback::Status st = packed_.Read(packed, &o, /*hit_text=*/!known);
    if (st.ok()) st = FoldBackFor(index, index_version, o->allowed_matters);
    if (!st.ok()) return hits_.Fail(st);
    const double* epoch = known ? &index_version : nullptr;
    // Fold-back's search, or the index's when there is nothing to fold
    // back, into a kept vector as JsIndex::SearchPacked's.
    st = foldback_ ? foldback_->Search(*index.get(), query, *o, &found_)
                   : index.get()->Search(query, *o, &found_);
    if (!st.ok()) return hits_.Fail(st);
    return hits_.EncodeBlock(found_, epoch, known ? index.get() : nullptr);
  }

  val lastError() const { return hits_.error(); }

  // {terms: [{term, weight}], neighbours, adapterApplied, adapterGate,
  // denseMoved}; null without feedback.
  val expand(JsIndex& index, double index_version, std::string query, val opts) {
    foldback::SearchOptions o;
    val err = ToSearchOptions(opts, &o);
    if (!err.isNull()) return err;
    val fb = foldBack(index, index_version, Has(opts, "allowedMatters") ? opts["allowedMatters"] : val::null());
    if (Has(fb, "error")) return fb;
    if (!foldback_) return val::null();
    auto r = foldback_->Expand(*index.get(), query, o);
    if (!r.ok()) return ErrorValue(r.status());
    val terms = val::array();
    for (const auto& t : r->terms) {
      val x = val::object();
      x.set("term", t.term);
      x.set("weight", t.weight);
      terms.call<void>("push", x);
    }
    val out = val::object();
    out.set("terms", terms);
    out.set("neighbours", StringArray(r->neighbours));
    out.set("adapterApplied", r->adapter_applied);
    out.set("adapterGate", r->adapter_gate);
    out.set("denseMoved", r->dense_moved);
    return out;
  }

  // [{question, query, answer, recordId, traceId, similarity}]
  val demosFor(std::string question, size_t k, val allowed) {
    val out = val::array();
    if (!foldback_) return out;
    for (const auto& d : foldback_->DemosFor(question, k, ToWall(allowed))) {
      val x = val::object();
      x.set("question", d.question);
      x.set("query", d.query);
      x.set("answer", d.answer);
      x.set("recordId", d.record_id);
      x.set("traceId", d.trace_id);
      x.set("similarity", d.similarity);
      out.call<void>("push", x);
    }
    return out;
  }

  // ExportFeedback over the live records whose ids are in `record_ids`
  // (all of them when null): {text, report} or an error value.
  val exportAs(JsIndex& index, std::string format, val record_ids, val options) {
    foldback::ExportFormat f;
    if (!foldback::ParseExportFormat(format, &f)) {
      return ErrorValue(foldback::Status::InvalidArgument("export format must be one of " +
                                                          foldback::ExportFormatNames() + ", not '" +
                                                          format.substr(0, 40) + "'"));
    }
    std::vector<foldback::FeedbackRecord> chosen;
    if (record_ids.isUndefined() || record_ids.isNull()) {
      chosen = state_.records;
    } else {
      for (const std::string& id : Strings(record_ids)) {
        if (const foldback::FeedbackRecord* r = state_.Find(id)) chosen.push_back(*r);
      }
    }
    foldback::ExportReport report;
    auto r = foldback::ExportFeedback(*index.get(), chosen, f, ToExportOptions(options), &report);
    if (!r.ok()) return ErrorValue(r.status());
    val rep = val::object();
    rep.set("records", static_cast<double>(report.records));
    rep.set("exported", static_cast<double>(report.exported));
    rep.set("rows", static_cast<double>(report.rows));
    rep.set("noConsent", static_cast<double>(report.no_consent));
    rep.set("privileged", static_cast<double>(report.privileged));
    rep.set("walled", static_cast<double>(report.walled));
    rep.set("unusable", static_cast<double>(report.unusable));
    rep.set("stalePassages", static_cast<double>(report.stale_passages));
    val out = val::object();
    out.set("text", *r);
    out.set("report", rep);
    return out;
  }

  std::shared_ptr<const foldback::FoldBack> foldback() const { return foldback_; }

 private:
  // {bytes} appended since `start`, now pending; or the error (nothing
  // appended: the writer validates before it frames).
  val Framed(const foldback::Status& s, size_t start) {
    if (!s.ok()) {
      sink_.mutable_data()->resize(start);
      writer_ = std::make_unique<foldback::FeedbackLogWriter>(&sink_, start);
      return ErrorValue(s);
    }
    pending_ = true;
    pending_start_ = start;
    val out = val::object();
    out.set("bytes", StringToBytes(sink_.data().substr(start)));
    out.set("offset", static_cast<double>(start));
    return out;
  }

  val Info() {
    val out = val::object();
    out.set("records", static_cast<double>(state_.records.size()));
    out.set("tombstones", static_cast<double>(state_.tombstones.size()));
    out.set("duplicates", static_cast<double>(state_.duplicates));
    out.set("deleted", static_cast<double>(state_.deleted));
    out.set("forgottenMatters",
            StringArray(std::vector<std::string>(state_.forgotten_matters.begin(), state_.forgotten_matters.end())));
    out.set("logBytes", static_cast<double>(sink_.data().size()));
    return out;
  }

  // Sets foldback_ to the cache's fold-back for `index` at `index_version`
  // and a user behind `walls` (nullptr when the log holds no live record).
  foldback::Status FoldBackFor(JsIndex& index, double index_version,
                               const std::optional<std::set<std::string>>& walls) {
    auto r = cache_->Get(*index.get(), static_cast<uint64_t>(index_version),
                         fmt::to_string(log_version_), walls,
                         [this]() -> foldback::Result<foldback::FeedbackLogContents> {
                           return foldback::ReadFeedbackLog(sink_.data());
                         });
    if (!r.ok()) return r.status();
    foldback_ = *r;
    return foldback::Status::OK();
  }

  val FoldBackStats() {
    const foldback::FoldBackStats& s = foldback_->stats();
    val out = val::object();
    out.set("records", static_cast<double>(s.records));
    out.set("used", static_cast<double>(s.used));
    out.set("demos", static_cast<double>(s.demos));
    out.set("relevance", static_cast<double>(s.relevance));
    out.set("staleLabels", static_cast<double>(s.stale_labels));
    out.set("triplets", static_cast<double>(s.triplets));
    out.set("adapterTrained", s.adapter_trained);
    out.set("adapterLoaded", s.adapter_loaded);
    out.set("adapterNote", s.adapter_note);
    return out;
  }

  foldback::MemorySink sink_;
  std::unique_ptr<foldback::FeedbackLogWriter> writer_;
  bool pending_ = false;
  size_t pending_start_ = 0;
  foldback::FeedbackState state_;
  uint64_t log_version_ = 0;  // bumped whenever state_ changes
  foldback::FoldBackOptions options_;  // configure()'s, the cache's
  std::unique_ptr<foldback::FoldBackCache> cache_;
  std::shared_ptr<const foldback::FoldBack> foldback_;  // the last foldBack() chose
  HitBuffers hits_;
  std::vector<foldback::SearchHit> found_;  // SearchPacked's hits, reused
  LastPackedOptions packed_;
};

void JsAsk::useFeedback(const JsFeedback& feedback) { foldback_ = feedback.foldback(); }

std::string FeedbackTextHash(std::string text) { return foldback::FeedbackTextHash(text); }

std::string Version() { return foldback::Version(); }

// Outlook .msg bytes -> {documents, attachments, warnings, replaced}
// (foldback/msg.h: MsgToDocuments); attachments keep their bytes for the
// JS host's extractors.
val MetadataValue(const foldback::Metadata& m) {
  val out = val::object();
  for (const auto& [k, vs] : m) {
    val arr = val::array();
    for (const std::string& v : vs) arr.call<void>("push", v);
    out.set(k, arr);
  }
  return out;
}

val ReadMsg(val bytes, std::string name, std::string id) {
  auto r = foldback::MsgToDocuments(BytesToString(bytes), name, id);
  if (!r.ok()) return ErrorValue(r.status());
  val docs = val::array();
  for (const foldback::Document& d : r->documents) {
    val o = val::object();
    o.set("id", d.id);
    o.set("title", d.title);
    o.set("text", d.text);
    o.set("kind", std::string(foldback::DocKindName(d.kind)));
    if (!d.parent_id.empty()) o.set("parentId", d.parent_id);
    o.set("metadata", MetadataValue(d.metadata));
    docs.call<void>("push", o);
  }
  val atts = val::array();
  for (const foldback::MsgAttachmentFile& f : r->attachments) {
    val o = val::object();
    o.set("id", f.id);
    o.set("parentId", f.parent_id);
    o.set("filename", f.filename);
    o.set("mimeType", f.mime_type);
    o.set("data", StringToBytes(f.data));
    o.set("inherited", MetadataValue(f.inherited));
    atts.call<void>("push", o);
  }
  val warnings = val::array();
  for (const std::string& w : r->warnings) warnings.call<void>("push", w);
  val out = val::object();
  out.set("documents", docs);
  out.set("attachments", atts);
  out.set("warnings", warnings);
  out.set("replaced", static_cast<double>(r->replaced));
  return out;
}

}  // namespace

// foldback::EmbedderTrainer, stepped by the host (index.js) so that it can
// show progress and yield to the event loop between steps.
class JsTrainer {
 public:
  // {epochs, batchSize, maxPairs, temperature, learningRate, hardNegatives,
  //  trainWeights, warmStart, seed, interpolation, soup, sources: "heading,cloze,...",
  //  sourceWeights: "cloze=0.3,...", shareableMatters}; null or
  // an error value. The feedback source: `feedback`'s live records, those
  // touching no matter or only shareableMatters (the embedder serves every
  // search, whatever the asker's walls).
  val start(JsIndex& index, const JsFeedback& feedback, val o) {
    foldback::EmbedderTrainOptions t;
    // Without sources: every source but feedback (named, or through "all").
    t.sources.enabled[static_cast<int>(foldback::PairSource::kFeedback)] = false;
    if (!o.isUndefined() && !o.isNull()) {
      if (Has(o, "sources")) {
        const std::string list = o["sources"].as<std::string>();
        auto s = foldback::ParsePairSources(list);
        if (!s.ok()) return ErrorValue(s.status());
        t.sources = *s;
        if (s->Has(foldback::PairSource::kFeedback)) {
          auto shareable = ToMatterSet(o, "shareableMatters");
          foldback::Status used =
              foldback::UseFeedbackPairs(*index.get(), feedback.liveRecords(),
                                         shareable ? *shareable : std::set<std::string>(), &t);
          // Named, no pairs is an error; within "all", quietly none.
          if (!used.ok() && foldback::NamesPairSource(list, foldback::PairSource::kFeedback)) {
            return ErrorValue(used);
          }
          if (!used.ok())
            t.sources.enabled[static_cast<int>(foldback::PairSource::kFeedback)] = false;
        }
      }
      t.epochs = foldback::DefaultEpochs(t.sources);
      if (Has(o, "epochs")) t.epochs = o["epochs"].as<uint32_t>();
      if (Has(o, "batchSize")) t.batch_size = o["batchSize"].as<uint32_t>();
      if (Has(o, "maxPairs")) t.max_pairs = o["maxPairs"].as<uint32_t>();
      if (Has(o, "temperature")) t.temperature = o["temperature"].as<float>();
      if (Has(o, "learningRate")) t.learning_rate = o["learningRate"].as<float>();
      if (Has(o, "hardNegatives")) t.hard_negatives = o["hardNegatives"].as<bool>();
      if (Has(o, "trainWeights")) t.train_weights = o["trainWeights"].as<bool>();
      if (Has(o, "warmStart")) t.warm_start = o["warmStart"].as<bool>();
      if (Has(o, "interpolation")) t.interpolation = o["interpolation"].as<float>();
      if (Has(o, "soup")) t.soup = o["soup"].as<uint32_t>();
      if (!Str(o, "sourceWeights").empty()) {
        auto w = foldback::ParseSourceWeights(Str(o, "sourceWeights"));
        if (!w.ok()) return ErrorValue(w.status());
        t.source_weights = *w;
      }
      if (Has(o, "seed")) t.seed = static_cast<uint64_t>(o["seed"].as<double>());
      // LLM-written question pairs (JSONL, as generateQuestions' pairsJsonl,
      // `foldback jobs results` or `train --pairs-out`): the llm source.
      if (!Str(o, "pairs").empty()) {
        auto pairs = foldback::ParseQuestionPairs(Str(o, "pairs"));
        if (!pairs.ok()) return ErrorValue(pairs.status());
        foldback::Status used = foldback::UseQuestionPairs(*index.get(), *pairs, &t);
        if (!used.ok()) return ErrorValue(used);
      }
    }
    auto r = foldback::EmbedderTrainer::Start(*index.get(), t);
    if (!r.ok()) return ErrorValue(r.status());
    trainer_ = std::move(r.value());
    return val::null();
  }
  // {epoch, epochs, step, steps, loss, epochLoss} or an error value.
  val step() {
    if (!trainer_) return ErrorValue(foldback::Status::FailedPrecondition("trainer not started"));
    auto r = trainer_->Step();
    if (!r.ok()) return ErrorValue(r.status());
    val out = val::object();
    out.set("epoch", r->epoch);
    out.set("epochs", r->epochs);
    out.set("step", static_cast<double>(r->step));
    out.set("steps", static_cast<double>(r->steps));
    out.set("loss", r->loss);
    out.set("epochLoss", r->epoch_loss);
    return out;
  }
  bool done() const { return trainer_ && trainer_->done(); }
  // {total, bySource: {heading: n, ...}}
  val pairs() const {
    val out = val::object();
    val by = val::object();
    size_t total = 0;
    if (trainer_) {
      std::vector<size_t> n = trainer_->PairsPerSource();
      for (int i = 0; i < foldback::kPairSourceCount && i < static_cast<int>(n.size()); ++i) {
        by.set(foldback::PairSourceName(static_cast<foldback::PairSource>(i)),
               static_cast<double>(n[i]));
      }
      total = trainer_->pairs().size();
    }
    out.set("total", static_cast<double>(total));
    out.set("bySource", by);
    return out;
  }
  double meanLoss() const { return trainer_ ? trainer_->MeanLoss() : 0.0; }
  val install(JsIndex& index) {
    if (!trainer_) return ErrorValue(foldback::Status::FailedPrecondition("trainer not started"));
    foldback::Status s = trainer_->Install(index.get());
    return s.ok() ? val::null() : ErrorValue(s);
  }

 private:
  std::unique_ptr<foldback::EmbedderTrainer> trainer_;
};

val RestorePreviousEmbedder(JsIndex& index) {
  foldback::Status s = foldback::RestorePreviousEmbedder(index.get());
  return s.ok() ? val::null() : ErrorValue(s);
}

// ForgetMatterInEmbedder: {action} ("" when nothing learned from the
// matter) or an error value.
val ForgetMatterInEmbedder(JsIndex& index, std::string matter) {
  std::string action;
  foldback::Status s = foldback::ForgetMatterInEmbedder(index.get(), matter, &action);
  if (!s.ok()) return ErrorValue(s);
  val out = val::object();
  out.set("action", action);
  return out;
}

// ForgetMattersInEmbedder over the log's forgotten matters (a snapshot
// saved before a tombstone): {action} ("" when nothing learned from them).
val ForgetMattersInEmbedder(JsIndex& index, JsFeedback& feedback) {
  std::string action;
  foldback::Status s =
      foldback::ForgetMattersInEmbedder(index.get(), feedback.forgottenMatters(), &action);
  if (!s.ok()) return ErrorValue(s);
  val out = val::object();
  out.set("action", action);
  return out;
}

// {present, version, training, dimension, vocabulary, hasPrevious,
//  previousVersion, feedbackMatters, previousFeedbackMatters}
val DescribeEmbedder(JsIndex& index) {
  foldback::EmbedderInfo e = foldback::DescribeEmbedder(*index.get());
  val out = val::object();
  out.set("present", e.present);
  out.set("version", e.version);
  out.set("training", e.training);
  out.set("dimension", e.dimension);
  out.set("vocabulary", static_cast<double>(e.vocabulary));
  out.set("hasPrevious", e.has_previous);
  out.set("previousVersion", e.previous_version);
  out.set("feedbackMatters", StringArray(e.feedback_matters));
  out.set("previousFeedbackMatters", StringArray(e.previous_feedback_matters));
  return out;
}

// foldback::LearnedReranker, trained from a Feedback log's live records.
class JsReranker {
 public:
  // {l2, memory, labelPrior, minLabels, minRelevant, minQuestions,
  //  allowedMatters (the asker's walls: the training wall), shareableMatters,
  //  rerankDepth, mode, useFeedback}; stats or an error value. Trained as
  // every host's reranker is (foldback::TrainSearchReranker): each record
  // within the list search() gives its question held out — in `mode`, with
  // the feedback's fold-back as the first stage unless useFeedback is
  // false (search() then reranks the same first stage), in the scope the
  // question was asked in, its first rerankDepth hits.
  val train(JsIndex& index, const JsFeedback& feedback, val o) {
    foldback::SearchRerankTraining training;
    training.reranker = Options(o);
    training.fold_back = UseFeedback(o);
    training.fold_back_options = feedback.foldBackOptions();
    if (!o.isUndefined() && !o.isNull()) {
      if (Has(o, "rerankDepth")) training.depth = o["rerankDepth"].as<size_t>();
      if (Has(o, "mode")) {
        std::string mode = o["mode"].as<std::string>();
        if (!foldback::ParseSearchMode(mode, &training.search.mode)) {
          return ErrorValue(foldback::Status::InvalidArgument(
              "mode must be bm25, dense or hybrid, not '" + mode.substr(0, 40) + "'"));
        }
      }
    }
    foldback::RerankTrainStats st;
    auto r = foldback::TrainSearchReranker(*index.get(), feedback.liveRecords(),
                                           training.reranker.allowed_matters, training, &st);
    if (!r.ok()) return ErrorValue(r.status());
    model_ = std::move(r.value());
    fold_back_ = training.fold_back;
    val out = val::object();
    out.set("records", static_cast<double>(st.records));
    out.set("used", static_cast<double>(st.used));
    out.set("noConsent", static_cast<double>(st.no_consent));
    out.set("privileged", static_cast<double>(st.privileged));
    out.set("walled", static_cast<double>(st.walled));
    out.set("noLabels", static_cast<double>(st.no_labels));
    out.set("staleLabels", static_cast<double>(st.stale_labels));
    out.set("unlabelledShown", static_cast<double>(st.unlabelled_shown));
    out.set("trained", static_cast<double>(st.trained));
    return out;
  }
  // The first stage the model was trained for (the feedback's fold-back
  // for the options' walls, or the index's search), then the reranker over
  // its first `depth` hits (0: 50), behind the options' walls; hits as
  // Index.search encodes them. A search asking for the other first stage
  // (useFeedback given and different) is refused: the model's features
  // would mean something else there.
  val search(JsIndex& index, JsFeedback& feedback, double index_version, std::string query,
             val opts, double depth) {
    if (Has(opts, "useFeedback") && UseFeedback(opts) != fold_back_) {
      return ErrorValue(foldback::Status::FailedPrecondition(
          fold_back_ ? "the learned reranker was trained over searches with feedback folded back; "
                       "trainReranker({useFeedback: false}) for searches without it"
                     : "the learned reranker was trained over searches without feedback; "
                       "trainReranker() for searches with it"));
    }
    foldback::SearchOptions so;
    val err = ToSearchOptions(opts, &so);
    if (!err.isNull()) return err;
    std::shared_ptr<const foldback::FoldBack> fb;
    if (fold_back_) {
      auto f = feedback.FoldBackOf(index, index_version, so.allowed_matters);
      if (!f.ok()) return ErrorValue(f.status());
      fb = *f;
    }
    foldback::RerankOptions ro;
    if (depth > 0) ro.depth = static_cast<size_t>(depth);
    auto r = foldback::SearchAndRerank(*index.get(), fb.get(), query, so, model_.get(), ro);
    if (!r.ok()) return ErrorValue(r.status());
    return hits_.Encode(*r);
  }
  // [{scope, version, gateOpen, note, records, relevant, notRelevant,
  //   questions, validationGain}]
  val models() const {
    val out = val::array();
    if (!model_) return out;
    for (const auto& m : model_->Models()) {
      val x = val::object();
      x.set("scope", m.scope_key);
      x.set("version", m.version);
      x.set("gateOpen", m.gate_open);
      x.set("note", m.note);
      x.set("records", static_cast<double>(m.records));
      x.set("relevant", static_cast<double>(m.relevant));
      x.set("notRelevant", static_cast<double>(m.not_relevant));
      x.set("questions", static_cast<double>(m.questions));
      x.set("validationGain", m.validation_gain);
      out.call<void>("push", x);
    }
    return out;
  }
  // {bytes: string} or an error value.
  val serialize() const {
    if (!model_) return ErrorValue(foldback::Status::FailedPrecondition("no reranker trained"));
    auto r = model_->Serialize();
    if (!r.ok()) return ErrorValue(r.status());
    val out = val::object();
    out.set("bytes", *r);
    return out;
  }
  // `o` as train()'s: its useFeedback says which first stage the bytes'
  // model was trained for (default: with feedback, as train's).
  val load(std::string bytes, val o) {
    auto r = foldback::LearnedReranker::Deserialize(bytes, Options(o));
    if (!r.ok()) return ErrorValue(r.status());
    model_ = std::move(r.value());
    fold_back_ = UseFeedback(o);
    return val::null();
  }

 private:
  static bool UseFeedback(const val& o) {
    return !Has(o, "useFeedback") || o["useFeedback"].as<bool>();
  }
  static foldback::LearnedRerankerOptions Options(const val& o) {
    foldback::LearnedRerankerOptions lo;
    if (o.isUndefined() || o.isNull()) return lo;
    if (Has(o, "l2")) lo.l2 = o["l2"].as<double>();
    if (Has(o, "memory")) lo.memory = o["memory"].as<bool>();
    if (Has(o, "labelPrior")) lo.label_prior = o["labelPrior"].as<bool>();
    if (Has(o, "minLabels")) lo.min_labels = o["minLabels"].as<size_t>();
    if (Has(o, "minRelevant")) lo.min_relevant = o["minRelevant"].as<size_t>();
    if (Has(o, "minQuestions")) lo.min_questions = o["minQuestions"].as<size_t>();
    lo.allowed_matters = ToMatterSet(o, "allowedMatters");
    if (auto sh = ToMatterSet(o, "shareableMatters")) lo.shareable_matters = *sh;
    return lo;
  }
  std::unique_ptr<foldback::LearnedReranker> model_;
  bool fold_back_ = true;  // the first stage model_ was trained for: fold-back
  HitBuffers hits_;
};

// engine.search's call as plain exports, without embind (docs/benchmarks.md,
// issue 13 item 7): the package is built without eval, so an embind call
// goes through embind's generic invoker, and each std::string argument is
// measured, allocated, encoded by a JS loop and freed. JS writes the query
// and the packed options (FromPackedOptions) one after the other with
// TextEncoder.encodeInto where fb_js_input says, then calls
// fb_js_index_search or fb_js_feedback_search with the objects' addresses
// (address()), the engine's index generation and the two lengths; the
// result is searchPacked's, except that the hits JS already holds for this
// generation cross as slots (HitBuffers::EncodeBlock). `packed_bytes`
// kSamePacked: the options of the object's last search, not written again
// (an add-in asks question after question in one scope).
namespace {
std::string& JsInput() {
  static std::string* input = new std::string();
  return *input;
}
constexpr uint32_t kSamePacked = 0xFFFFFFFFu;
// Whether the input holds the query and the packed options it is said to.
bool InputFits(std::string_view in, uint32_t query_bytes, uint32_t packed_bytes) {
  const uint64_t packed = packed_bytes == kSamePacked ? 0 : packed_bytes;
  return uint64_t{query_bytes} + packed <= in.size();
}
// The packed options after the query, or none for kSamePacked.
std::optional<std::string_view> PackedInput(std::string_view in, uint32_t query_bytes,
                                            uint32_t packed_bytes) {
  if (packed_bytes == kSamePacked) return std::nullopt;
  return in.substr(query_bytes, packed_bytes);
}
}  // namespace

extern "C" {

// The address of `bytes` bytes for the searches' input, valid until a call
// asks for more (JS keeps it and asks again only to grow it).
EMSCRIPTEN_KEEPALIVE uint32_t fb_js_input(uint32_t bytes) {
  JsInput().resize(bytes);
  return reinterpret_cast<uintptr_t>(JsInput().data());
}

EMSCRIPTEN_KEEPALIVE uint32_t fb_js_index_search(uint32_t index, double index_version,
                                                 uint32_t query_bytes, uint32_t packed_bytes) {
  auto* js = reinterpret_cast<JsIndex*>(static_cast<uintptr_t>(index));
  const std::string_view in = JsInput();
  if (!InputFits(in, query_bytes, packed_bytes)) {
    return js->SearchPacked("", "malformed");  // the packed options' error
  }
  return js->SearchPacked(in.substr(0, query_bytes), PackedInput(in, query_bytes, packed_bytes),
                          &index_version);
}

EMSCRIPTEN_KEEPALIVE uint32_t fb_js_feedback_search(uint32_t feedback, uint32_t index,
                                                    double index_version, uint32_t query_bytes,
                                                    uint32_t packed_bytes) {
  auto* fb = reinterpret_cast<JsFeedback*>(static_cast<uintptr_t>(feedback));
  auto& js = *reinterpret_cast<JsIndex*>(static_cast<uintptr_t>(index));
  const std::string_view in = JsInput();
  if (!InputFits(in, query_bytes, packed_bytes)) {
    return fb->SearchPacked(js, index_version, "", "malformed");
  }
  return fb->SearchPacked(js, index_version, in.substr(0, query_bytes),
                          PackedInput(in, query_bytes, packed_bytes), /*known=*/true);
}

}  // extern "C"

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
      .function("searchPacked", &JsIndex::searchPacked)
      .function("address", &JsIndex::address)
      .function("lastError", &JsIndex::lastError)
      .function("chunks", &JsIndex::chunks)
      .function("passages", &JsIndex::passages)
      .function("chunksMissingVectors", &JsIndex::chunksMissingVectors)
      .function("setChunkVector", &JsIndex::setChunkVector)
      .function("options", &JsIndex::options)
      .function("snapshot", &JsIndex::snapshot)
      .function("stats", &JsIndex::stats);
  emscripten::function("feedbackTextHash", &FeedbackTextHash);
  emscripten::function("readMsg", &ReadMsg);
  emscripten::class_<JsProgram>("Program")
      .constructor<>()
      .function("load", &JsProgram::load)
      .function("version", &JsProgram::version);
  emscripten::class_<JsAsk>("Ask")
      .constructor<>()
      .function("useProgram", &JsAsk::useProgram)
      .function("useFeedback", &JsAsk::useFeedback)
      .function("start", &JsAsk::start)
      .function("takeNeeds", &JsAsk::takeNeeds)
      .function("provide", &JsAsk::provide)
      .function("tick", &JsAsk::tick)
      .function("takeEvents", &JsAsk::takeEvents)
      .function("done", &JsAsk::done)
      .function("result", &JsAsk::result);
  emscripten::class_<JsExternalRerank>("ExternalRerank")
      .constructor<>()
      .function("start", &JsExternalRerank::start)
      .function("apply", &JsExternalRerank::apply);
  emscripten::class_<JsQuestions>("Questions")
      .constructor<>()
      .function("start", &JsQuestions::start)
      .function("takeNeeds", AsMemberOf<JsQuestions>(&JsQuestions::takeNeeds))
      .function("provide", AsMemberOf<JsQuestions>(&JsQuestions::provide))
      .function("tick", AsMemberOf<JsQuestions>(&JsQuestions::tick))
      .function("done", AsMemberOf<JsQuestions>(&JsQuestions::done))
      .function("result", &JsQuestions::result);
  emscripten::class_<JsLlmRerank>("LlmRerank")
      .constructor<>()
      .function("start", &JsLlmRerank::start)
      .function("takeNeeds", AsMemberOf<JsLlmRerank>(&JsLlmRerank::takeNeeds))
      .function("provide", AsMemberOf<JsLlmRerank>(&JsLlmRerank::provide))
      .function("tick", AsMemberOf<JsLlmRerank>(&JsLlmRerank::tick))
      .function("done", AsMemberOf<JsLlmRerank>(&JsLlmRerank::done))
      .function("result", &JsLlmRerank::result);
  emscripten::function("wireEndpoint", &WireEndpoint);
  emscripten::class_<JsWire>("Wire")
      .constructor<>()
      .function("init", &JsWire::init)
      .function("chatBody", &JsWire::chatBody)
      .function("response", &JsWire::response)
      .function("transport", &JsWire::transport);
  emscripten::function("wireTimedOut", &WireTimedOut);
  emscripten::function("wireRetryDelayMs", &WireRetryDelayMs);
  emscripten::function("wireParseRetryAfterMs", &WireParseRetryAfterMs);
  emscripten::function("wireHttpStatusText", &WireHttpStatusText);
  emscripten::function("otlpSpans", &OtlpSpans);
  emscripten::class_<JsFeedback>("Feedback")
      .constructor<>()
      .function("load", &JsFeedback::load)
      .function("add", &JsFeedback::add)
      .function("addTombstone", &JsFeedback::addTombstone)
      .function("commit", &JsFeedback::commit)
      .function("rollback", &JsFeedback::rollback)
      .function("compact", &JsFeedback::compact)
      .function("records", &JsFeedback::records)
      .function("touching", &JsFeedback::touching)
      .function("record", &JsFeedback::record)
      .function("info", &JsFeedback::info)
      .function("bytes", &JsFeedback::bytes)
      .function("validate", &JsFeedback::validate)
      .function("buildRecord", &JsFeedback::buildRecord)
      .function("configure", &JsFeedback::configure)
      .function("foldBack", &JsFeedback::foldBack)
      .function("search", &JsFeedback::search)
      .function("searchPacked", &JsFeedback::searchPacked)
      .function("address", &JsFeedback::address)
      .function("lastError", &JsFeedback::lastError)
      .function("expand", &JsFeedback::expand)
      .function("demosFor", &JsFeedback::demosFor)
      .function("exportAs", &JsFeedback::exportAs);
  emscripten::class_<JsTrainer>("Trainer")
      .constructor<>()
      .function("start", &JsTrainer::start)
      .function("step", &JsTrainer::step)
      .function("done", &JsTrainer::done)
      .function("pairs", &JsTrainer::pairs)
      .function("meanLoss", &JsTrainer::meanLoss)
      .function("install", &JsTrainer::install);
  emscripten::function("restorePreviousEmbedder", &RestorePreviousEmbedder);
  emscripten::function("describeEmbedder", &DescribeEmbedder);
  emscripten::function("forgetMatterInEmbedder", &ForgetMatterInEmbedder);
  emscripten::function("forgetMattersInEmbedder", &ForgetMattersInEmbedder);
  emscripten::class_<JsReranker>("Reranker")
      .constructor<>()
      .function("train", &JsReranker::train)
      .function("search", &JsReranker::search)
      .function("models", &JsReranker::models)
      .function("serialize", &JsReranker::serialize)
      .function("load", &JsReranker::load);
  emscripten::class_<JsWordPiece>("WordPiece")
      .constructor<>()
      .function("init", &JsWordPiece::init)
      .function("basicTokenize", &JsWordPiece::basicTokenize)
      .function("tokenize", &JsWordPiece::tokenize)
      .function("encode", &JsWordPiece::encode)
      .function("encodeBatch", &JsWordPiece::encodeBatch)
      .function("encodePairBatch", &JsWordPiece::encodePairBatch)
      .function("idOf", &JsWordPiece::idOf)
      .function("tokenOf", &JsWordPiece::tokenOf)
      .function("vocabularySize", &JsWordPiece::vocabularySize)
      .function("options", &JsWordPiece::options);
}
