// Metadata extraction with small hand-written scanners.
//
// Every scanner walks the text once; at each candidate position it tries a
// pattern whose length is bounded by a constant (a month name, a few
// digits, a few words), so the whole extraction is linear in the text and
// uses no recursion (std::regex is neither). Scanners work on bytes: UTF-8
// punctuation (curly quotes, €, £, §) is matched as byte sequences, and
// anything else outside ASCII is simply not part of a pattern, so invalid
// UTF-8 cannot derail them. Values are repaired before they are stored.
#include "text/metadata.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "text/utf8.h"

namespace foldback::text {
namespace {

// Parties are looked for in the preamble only.
constexpr size_t kPartyWindow = 3000;

// ---------------------------------------------------------------------------
// Character helpers (ASCII; bytes >= 0x80 are none of these).

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsUpper(c) || IsLower(c); }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsHigh(char c) { return static_cast<unsigned char>(c) >= 0x80; }
char Lower(char c) { return IsUpper(c) ? static_cast<char>(c + 32) : c; }
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char At(std::string_view s, size_t i) { return i < s.size() ? s[i] : '\0'; }

// Bytes of the whitespace character at i: 1 for ASCII, 2 for NO-BREAK SPACE
// (C2 A0), 0 when s[i] is not whitespace.
size_t SpaceLen(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  if (IsAsciiSpace(s[i])) return 1;
  if (s[i] == '\xC2' && At(s, i + 1) == '\xA0') return 2;
  return 0;
}

// Skips whitespace, at most `max` bytes of it.
size_t SkipWs(std::string_view s, size_t i, size_t max = 12) {
  size_t start = i;
  while (i - start < max) {
    size_t n = SpaceLen(s, i);
    if (n == 0) break;
    i += n;
  }
  return i;
}

bool StartsWith(std::string_view s, size_t i, std::string_view w) {
  return i <= s.size() && s.size() - i >= w.size() && s.compare(i, w.size(), w) == 0;
}

// ASCII case-insensitive prefix match; `w` must be lower case.
bool StartsWithCi(std::string_view s, size_t i, std::string_view w) {
  if (i > s.size() || s.size() - i < w.size()) return false;
  for (size_t k = 0; k < w.size(); ++k) {
    if (Lower(s[i + k]) != w[k]) return false;
  }
  return true;
}

// `w` (lower case) as a whole word at i.
bool WordCi(std::string_view s, size_t i, std::string_view w) {
  return StartsWithCi(s, i, w) && !IsAlnum(At(s, i + w.size()));
}

bool WordStart(std::string_view s, size_t i) { return i == 0 || !IsAlnum(s[i - 1]); }

// Reads a run of 1..max_digits digits at *i that is not followed by another
// digit. On success advances *i.
bool ReadInt(std::string_view s, size_t* i, size_t max_digits, int* value) {
  size_t j = *i;
  int v = 0;
  while (j < s.size() && IsDigit(s[j])) {
    if (j - *i == max_digits) return false;
    v = v * 10 + (s[j] - '0');
    ++j;
  }
  if (j == *i) return false;
  *value = v;
  *i = j;
  return true;
}

// The bytes a scanner can start at; everything else is skipped in a tight
// loop (most of a contract is letters and spaces).
struct ByteSet {
  bool has[256] = {};
};

constexpr ByteSet MakeByteSet(std::string_view chars, bool digits, bool upper) {
  ByteSet set;
  for (char c : chars) set.has[static_cast<unsigned char>(c)] = true;
  for (int c = '0'; digits && c <= '9'; ++c) set.has[c] = true;
  for (int c = 'A'; upper && c <= 'Z'; ++c) set.has[c] = true;
  return set;
}

size_t NextOf(std::string_view s, size_t i, const ByteSet& set) {
  while (i < s.size() && !set.has[static_cast<unsigned char>(s[i])]) ++i;
  return i;
}

std::string CollapseSpaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  bool space = false;
  while (i < s.size()) {
    size_t n = SpaceLen(s, i);
    if (n) {
      space = true;
      i += n;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(s[i++]);
  }
  return out;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool HasLower(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return IsLower(c); });
}

// ---------------------------------------------------------------------------
// Where extracted values go: de-duplicated against what the field already
// holds (host values included), at most kMaxValuesPerField values in all.

class FieldSink {
 public:
  FieldSink(Metadata* metadata, const char* name, bool fold_case)
      : metadata_(metadata), name_(name), fold_case_(fold_case) {
    auto it = metadata_->find(name_);
    if (it == metadata_->end()) return;
    values_ = &it->second;
    host_count_ = values_->size();
    for (size_t k = 0; k < values_->size(); ++k) seen_.emplace(Key((*values_)[k]), k);
  }

  bool full() const { return (values_ ? values_->size() : 0) >= kMaxValuesPerField; }

  bool Contains(std::string_view v) const { return seen_.count(Key(v)) != 0; }

  void Add(std::string v) {
    if (v.empty() || full()) return;
    if (!IsValidUtf8(v)) v = RepairUtf8(v);
    std::string key = Key(v);
    auto it = seen_.find(key);
    if (it != seen_.end()) {
      // Case-folded duplicates: prefer "Acme Corp." over "ACME CORP." (title
      // pages shout), but never rewrite a host-supplied value.
      std::string& old = (*values_)[it->second];
      if (fold_case_ && it->second >= host_count_ && !HasLower(old) && HasLower(v)) old = v;
      return;
    }
    if (!values_) values_ = &(*metadata_)[name_];
    seen_.emplace(std::move(key), values_->size());
    values_->push_back(std::move(v));
  }

 private:
  std::string Key(std::string_view v) const { return fold_case_ ? LowerAscii(v) : std::string(v); }

  Metadata* metadata_;
  std::string name_;
  bool fold_case_;
  std::vector<std::string>* values_ = nullptr;
  size_t host_count_ = 0;
  std::unordered_map<std::string, size_t> seen_;
};

// ---------------------------------------------------------------------------
// Dates.

struct MonthName {
  std::string_view name;
  int month;
};
constexpr MonthName kMonths[] = {
    {"january", 1},   {"jan", 1},   {"february", 2},  {"feb", 2},      {"march", 3},
    {"mar", 3},       {"april", 4}, {"apr", 4},       {"may", 5},      {"june", 6},
    {"jun", 6},       {"july", 7},  {"jul", 7},       {"august", 8},   {"aug", 8},
    {"september", 9}, {"sep", 9},   {"sept", 9},      {"october", 10}, {"oct", 10},
    {"november", 11}, {"nov", 11},  {"december", 12}, {"dec", 12},
};

// A month name (full or abbreviated, any case, abbreviations with an
// optional period) as a whole word at *i.
bool ReadMonth(std::string_view s, size_t* i, int* month) {
  char buf[10];
  size_t n = 0;
  size_t j = *i;
  while (j < s.size() && IsAlpha(s[j])) {
    if (n == 9) return false;
    buf[n++] = Lower(s[j++]);
  }
  if (n < 3 || IsDigit(At(s, j))) return false;
  switch (buf[0]) {  // month names start with one of these
    case 'j':
    case 'f':
    case 'm':
    case 'a':
    case 's':
    case 'o':
    case 'n':
    case 'd':
      break;
    default:
      return false;
  }
  std::string_view word(buf, n);
  for (const MonthName& m : kMonths) {
    if (word == m.name) {
      if (n <= 4 && At(s, j) == '.') ++j;
      *month = m.month;
      *i = j;
      return true;
    }
  }
  return false;
}

// A day of the month: 1-2 digits and an optional ordinal suffix.
bool ReadDay(std::string_view s, size_t* i, int* day) {
  size_t j = *i;
  if (!ReadInt(s, &j, 2, day) || *day < 1 || *day > 31) return false;
  static constexpr std::string_view kSuffixes[] = {"st", "nd", "rd", "th"};
  for (std::string_view suf : kSuffixes) {
    if (StartsWithCi(s, j, suf) && !IsAlnum(At(s, j + 2))) {
      j += 2;
      break;
    }
    // "20t h day": a space inside the suffix, as PDF-to-text leaves it.
    if (Lower(At(s, j)) == suf[0] && At(s, j + 1) == ' ' && Lower(At(s, j + 2)) == suf[1] &&
        !IsAlnum(At(s, j + 3))) {
      j += 3;
      break;
    }
  }
  if (IsAlnum(At(s, j))) return false;
  *i = j;
  return true;
}

constexpr std::string_view kOrdinalWords[] = {
    "first",     "second",    "third",       "fourth",     "fifth",      "sixth",      "seventh",
    "eighth",    "ninth",     "tenth",       "eleventh",   "twelfth",    "thirteenth", "fourteenth",
    "fifteenth", "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth"};

// "first" .. "thirty-first" (also "twenty first").
bool ReadOrdinalWord(std::string_view s, size_t* i, int* day) {
  auto read_word = [&](size_t j, std::string* w) {
    w->clear();
    while (j < s.size() && IsAlpha(s[j]) && w->size() < 12) w->push_back(Lower(s[j++]));
    if (IsAlpha(At(s, j))) w->clear();
    return j;
  };
  switch (Lower(At(s, *i))) {  // first, second, ..., twenty-first, thirtieth
    case 'f':
    case 's':
    case 't':
    case 'e':
    case 'n':
      break;
    default:
      return false;
  }
  std::string w;
  size_t j = read_word(*i, &w);
  if (w.empty()) return false;
  int base = 0;
  if (w == "twenty") base = 20;
  if (w == "thirty") base = 30;
  if (w == "thirtieth") {
    *day = 30, *i = j;
    return true;
  }
  if (base) {
    if (At(s, j) != '-' && At(s, j) != ' ') return false;
    j = read_word(j + 1, &w);
  }
  for (int k = 0; k < 20; ++k) {
    if (w == kOrdinalWords[k]) {
      int d = base + k + 1;
      if ((base && k >= 9) || d > 31) return false;
      *day = d, *i = j;
      return true;
    }
  }
  return false;
}

// A four-digit year, not glued to further digits or letters.
bool ReadYear(std::string_view s, size_t* i, int* year) {
  size_t j = *i;
  if (!ReadInt(s, &j, 4, year) || j - *i != 4 || IsAlpha(At(s, j))) return false;
  *i = j;
  return true;
}

bool ValidDate(int y, int m, int d) {
  if (y < 1700 || y > 2199 || m < 1 || m > 12 || d < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int max = kDays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
  return d <= max;
}

std::string IsoDate(int y, int m, int d) {
  return fmt::format(FMT_STRING("{:04}-{:02}-{:02}"), y, m, d);
}

// ", 2018" / " 2018" / ",2018" after a day or month.
bool ReadYearAfter(std::string_view s, size_t* i, int* year) {
  size_t j = SkipWs(s, *i, 4);
  if (At(s, j) == ',' || At(s, j) == '.') j = SkipWs(s, j + 1);
  if (j == *i) return false;  // "May 82018" is no date
  if (!ReadYear(s, &j, year)) return false;
  *i = j;
  return true;
}

// "December 31, 2018", "Dec. 31st 2018". At a word start.
bool DateMonthFirst(std::string_view s, size_t* i, int* y, int* m, int* d) {
  size_t j = *i;
  if (!ReadMonth(s, &j, m)) return false;
  size_t k = SkipWs(s, j, 4);
  if (k == j || !ReadDay(s, &k, d)) return false;
  if (!ReadYearAfter(s, &k, y)) return false;
  *i = k;
  return true;
}

// "31 December 2018", "the 8th day of May, 2014", "(1st) day of January,
// 1996", "first day of June 2020". At a word start.
bool DateDayFirst(std::string_view s, size_t* i, int* y, int* m, int* d) {
  size_t j = *i;
  bool paren = At(s, j) == '(';
  if (paren) ++j;
  bool word = false;
  if (!ReadDay(s, &j, d)) {
    if (paren || !ReadOrdinalWord(s, &j, d)) return false;
    word = true;
  }
  if (paren) {
    if (At(s, j) != ')') return false;
    ++j;
  }
  size_t k = SkipWs(s, j, 4);
  if (k == j) return false;
  bool day_of = false;
  if (WordCi(s, k, "day")) {
    k = SkipWs(s, k + 3, 4);
    day_of = true;
  }
  if (WordCi(s, k, "of")) k = SkipWs(s, k + 2, 4);
  if (word && !day_of) return false;  // "first May 2014" is not how dates are written
  if (!ReadMonth(s, &k, m)) return false;
  if (!ReadYearAfter(s, &k, y)) return false;
  *i = k;
  return true;
}

// "12/31/2018", "12-31-2018", "05/05/98", "3-14-18" (US order: month first;
// two-digit years are 1950-2049) and
// "2018-12-31", "2018/12/31". At a digit not preceded by a digit or a
// separator.
bool DateNumeric(std::string_view s, size_t* i, int* y, int* m, int* d) {
  size_t j = *i;
  int a;
  if (!ReadInt(s, &j, 4, &a)) return false;
  size_t first_len = j - *i;
  char sep = At(s, j);
  if (sep != '/' && sep != '-') return false;
  int b, c;
  size_t k = j + 1;
  if (!ReadInt(s, &k, 2, &b) || At(s, k) != sep) return false;
  size_t l = k + 1;
  size_t before_c = l;
  if (!ReadInt(s, &l, 4, &c)) return false;
  size_t last_len = l - before_c;
  char after = At(s, l);
  if (IsAlnum(after) || after == '/' || after == '-' || (after == '.' && IsDigit(At(s, l + 1)))) {
    return false;
  }
  if (first_len == 4) {
    if (last_len > 2) return false;
    *y = a, *m = b, *d = c;
  } else if (first_len <= 2) {
    if (last_len == 4) {
      *y = c;
    } else if (last_len == 2) {
      *y = c < 50 ? 2000 + c : 1900 + c;
    } else {
      return false;
    }
    *m = a, *d = b;
  } else {
    return false;
  }
  *i = l;
  return true;
}

// Cheap test at a word start: could this word begin a date? Month names
// and ordinal words ("first" .. "thirty-first") are told apart from other
// words by their first three letters.
constexpr char kDatePrefixes[][4] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                     "sep", "oct", "nov", "dec", "fir", "sec", "thi", "fou",
                                     "fif", "six", "sev", "eig", "nin", "ten", "ele", "twe"};

struct PrefixSet {
  uint64_t bits[26 * 26 * 26 / 64 + 1] = {};
};

constexpr PrefixSet MakeDatePrefixSet() {
  PrefixSet set;
  for (const auto& p : kDatePrefixes) {
    int key = (p[0] - 'a') * 676 + (p[1] - 'a') * 26 + (p[2] - 'a');
    set.bits[key / 64] |= uint64_t{1} << (key % 64);
  }
  return set;
}

constexpr PrefixSet kDatePrefixSet = MakeDatePrefixSet();

bool MaybeDateWord(std::string_view s, size_t i) {
  if (i + 3 > s.size()) return false;
  char a = Lower(s[i]), b = Lower(s[i + 1]), c = Lower(s[i + 2]);
  if (!IsLower(a) || !IsLower(b) || !IsLower(c)) return false;
  int key = (a - 'a') * 676 + (b - 'a') * 26 + (c - 'a');
  return (kDatePrefixSet.bits[key / 64] >> (key % 64)) & 1;
}

void ScanDates(std::string_view s, FieldSink* sink) {
  size_t i = 0;
  while (i < s.size() && !sink->full()) {
    char c = s[i];
    if (!(IsAlnum(c) || c == '(') || !WordStart(s, i)) {
      ++i;
      continue;
    }
    int y = 0, m = 0, d = 0;
    size_t j = i;
    bool ok = false;
    if (IsAlpha(c)) {
      ok = MaybeDateWord(s, i) &&
           (DateMonthFirst(s, &j, &y, &m, &d) || DateDayFirst(s, &j, &y, &m, &d));
    } else if (c == '(') {
      ok = DateDayFirst(s, &j, &y, &m, &d);
    } else {
      char prev = i ? s[i - 1] : ' ';
      if (prev != '/' && prev != '-' && prev != '.') ok = DateNumeric(s, &j, &y, &m, &d);
      if (!ok) {
        j = i;
        ok = DateDayFirst(s, &j, &y, &m, &d);
      }
    }
    if (ok && ValidDate(y, m, d)) {
      sink->Add(IsoDate(y, m, d));
      i = j;
      continue;
    }
    // Skip the rest of this word: no pattern starts inside one.
    ++i;
    while (i < s.size() && IsAlnum(s[i])) ++i;
  }
}

// ---------------------------------------------------------------------------
// Monetary amounts.

struct Amount {
  std::string int_digits;
  std::string frac_digits;
  int exp10 = 0;
};

// "1,000,000.50", "2.5", "300000". Commas group exactly three digits.
bool ReadNumber(std::string_view s, size_t* i, Amount* a) {
  size_t j = *i;
  if (!IsDigit(At(s, j))) return false;
  a->int_digits.clear();
  a->frac_digits.clear();
  a->exp10 = 0;
  while (j < s.size() && IsDigit(s[j])) {
    if (a->int_digits.size() == 18) return false;
    a->int_digits.push_back(s[j++]);
  }
  if (a->int_digits.size() <= 3) {
    while (At(s, j) == ',' && IsDigit(At(s, j + 1)) && IsDigit(At(s, j + 2)) &&
           IsDigit(At(s, j + 3)) && !IsDigit(At(s, j + 4))) {
      if (a->int_digits.size() > 15) return false;
      a->int_digits.append(s.substr(j + 1, 3));
      j += 4;
    }
  }
  if (At(s, j) == '.' && IsDigit(At(s, j + 1))) {
    ++j;
    while (j < s.size() && IsDigit(s[j])) {
      if (a->frac_digits.size() == 6) return false;
      a->frac_digits.push_back(s[j++]);
    }
  }
  *i = j;
  return true;
}

// " million", " billion", "M", "bn", ... after a number.
void ReadScale(std::string_view s, size_t* i, Amount* a) {
  size_t j = *i;
  struct Scale {
    std::string_view word;
    int exp;
    bool attached_only;
  };
  static constexpr Scale kScales[] = {
      {"thousand", 3, false}, {"million", 6, false}, {"billion", 9, false}, {"trillion", 12, false},
      {"mm", 6, true},        {"mn", 6, true},       {"bn", 9, true},       {"m", 6, true},
      {"k", 3, true},         {"b", 9, true},
  };
  size_t k = SkipWs(s, j, 3);
  for (const Scale& sc : kScales) {
    size_t at = sc.attached_only ? j : k;
    if (WordCi(s, at, sc.word)) {
      a->exp10 = sc.exp;
      *i = at + sc.word.size();
      return;
    }
  }
}

std::string FormatAmount(std::string_view currency, const Amount& a) {
  std::string digits = a.int_digits + a.frac_digits;
  size_t point = a.int_digits.size() + a.exp10;
  if (digits.size() < point) digits.append(point - digits.size(), '0');
  std::string whole = digits.substr(0, point);
  std::string frac = digits.substr(point);
  size_t nz = whole.find_first_not_of('0');
  whole = nz == std::string::npos ? "0" : whole.substr(nz);
  if (frac.size() < 2) frac.append(2 - frac.size(), '0');
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  std::string out(currency);
  out += ' ';
  out += whole;
  out += '.';
  out += frac;
  return out;
}

struct CurrencyCode {
  std::string_view code;
  const char* iso;
};
// Upper-case codes written before or after a number.
constexpr CurrencyCode kCodes[] = {
    {"USD", "USD"}, {"EUR", "EUR"}, {"GBP", "GBP"}, {"JPY", "JPY"}, {"CHF", "CHF"}, {"CAD", "CAD"},
    {"AUD", "AUD"}, {"NZD", "NZD"}, {"CNY", "CNY"}, {"RMB", "CNY"}, {"HKD", "HKD"}, {"SGD", "SGD"},
    {"INR", "INR"}, {"SEK", "SEK"}, {"NOK", "NOK"}, {"DKK", "DKK"}, {"BRL", "BRL"}, {"MXN", "MXN"},
    {"KRW", "KRW"}, {"ZAR", "ZAR"}, {"ILS", "ILS"},
};

// Letters glued before a '$' ("US$", "C$", "HK$", "U.S.$") -> ISO code.
const char* DollarPrefix(std::string_view s, size_t dollar) {
  std::string letters;
  size_t j = dollar;
  while (j > 0 && dollar - j < 6 && (IsUpper(s[j - 1]) || s[j - 1] == '.')) --j;
  if (j > 0 && IsAlnum(s[j - 1])) return "USD";
  for (size_t k = j; k < dollar; ++k) {
    if (s[k] != '.') letters.push_back(s[k]);
  }
  struct P {
    std::string_view letters;
    const char* iso;
  };
  static constexpr P kPrefixes[] = {{"C", "CAD"},  {"CA", "CAD"}, {"CAD", "CAD"}, {"CDN", "CAD"},
                                    {"A", "AUD"},  {"AU", "AUD"}, {"AUD", "AUD"}, {"HK", "HKD"},
                                    {"NZ", "NZD"}, {"S", "SGD"},  {"SG", "SGD"},  {"R", "BRL"},
                                    {"MX", "MXN"}};
  for (const P& p : kPrefixes) {
    if (letters == p.letters) return p.iso;
  }
  return "USD";
}

// After a currency sign or code: optional spaces, a number, a scale, and
// nothing glued to it.
bool ReadAmountAfterPrefix(std::string_view s, size_t* i, Amount* a) {
  size_t j = SkipWs(s, *i, 3);
  if (!ReadNumber(s, &j, a)) return false;
  ReadScale(s, &j, a);
  if (IsAlnum(At(s, j)) || At(s, j) == '%') return false;
  *i = j;
  return true;
}

// Currency names after a number ("500,000 Dollars", "5 million euros",
// "300 USD"). Returns the ISO code and advances *i, or nullptr.
const char* ReadCurrencySuffix(std::string_view s, size_t* i) {
  size_t j = SkipWs(s, *i, 3);
  if (j == *i) return nullptr;
  struct W {
    std::string_view word;
    const char* iso;
  };
  static constexpr W kWords[] = {
      {"united states dollars", "USD"},
      {"u.s. dollars", "USD"},
      {"us dollars", "USD"},
      {"dollars", "USD"},
      {"dollar", "USD"},
      {"euros", "EUR"},
      {"euro", "EUR"},
      {"pounds sterling", "GBP"},
      {"swiss francs", "CHF"},
      {"yen", "JPY"},
  };
  for (const W& w : kWords) {
    if (WordCi(s, j, w.word)) {
      *i = j + w.word.size();
      return w.iso;
    }
  }
  for (const CurrencyCode& c : kCodes) {
    if (StartsWith(s, j, c.code) && !IsAlnum(At(s, j + 3))) {
      *i = j + 3;
      return c.iso;
    }
  }
  return nullptr;
}

void ScanAmounts(std::string_view s, FieldSink* sink) {
  // '$', the lead bytes of €, ₹ (E2) and £, ¥ (C2), codes, numbers.
  static constexpr ByteSet kStarts = MakeByteSet("$\xE2\xC2", true, true);
  Amount a;
  size_t i = 0;
  while (!sink->full() && (i = NextOf(s, i, kStarts)) < s.size()) {
    char c = s[i];
    const char* iso = nullptr;
    size_t after = i;
    if (c == '$') {
      iso = DollarPrefix(s, i);
      after = i + 1;
    } else if (c == '\xE2' && StartsWith(s, i, "\xE2\x82\xAC")) {  // €
      iso = "EUR", after = i + 3;
    } else if (c == '\xE2' && StartsWith(s, i, "\xE2\x82\xB9")) {  // ₹
      iso = "INR", after = i + 3;
    } else if (c == '\xC2' && At(s, i + 1) == '\xA3') {  // £
      iso = "GBP", after = i + 2;
    } else if (c == '\xC2' && At(s, i + 1) == '\xA5') {  // ¥
      iso = "JPY", after = i + 2;
    } else if (IsUpper(c) && WordStart(s, i) && IsUpper(At(s, i + 1)) && IsUpper(At(s, i + 2)) &&
               !IsAlpha(At(s, i + 3))) {
      for (const CurrencyCode& code : kCodes) {
        if (StartsWith(s, i, code.code) && !IsAlpha(At(s, i + 3))) {
          iso = code.iso;
          after = i + 3;
          if (At(s, after) == '$') ++after;  // "USD$ 100"
          break;
        }
      }
      if (!iso) {
        while (i < s.size() && IsAlnum(s[i])) ++i;
        continue;
      }
    } else if (IsDigit(c)) {
      char prev = i ? s[i - 1] : ' ';
      if (IsAlnum(prev) || prev == '.' || prev == ',' || prev == '-' || prev == '/') {
        ++i;
        continue;
      }
      size_t j = i;
      if (ReadNumber(s, &j, &a)) {
        ReadScale(s, &j, &a);
        const char* suffix = IsAlpha(At(s, j)) ? nullptr : ReadCurrencySuffix(s, &j);
        if (suffix) {
          sink->Add(FormatAmount(suffix, a));
          i = j;
          continue;
        }
      }
      while (i < s.size() && (IsDigit(s[i]) || s[i] == ',' || s[i] == '.')) ++i;
      continue;
    }
    if (!iso) {
      ++i;
      continue;
    }
    size_t j = after;
    if (ReadAmountAfterPrefix(s, &j, &a)) {
      sink->Add(FormatAmount(iso, a));
      // "$5,000 USD": the code after the number is part of this amount.
      size_t k = j;
      if (ReadCurrencySuffix(s, &k)) j = k;
      i = j;
    } else {
      i = after;
    }
  }
}

// ---------------------------------------------------------------------------
// Defined terms.

// Opening quote at i: its byte length and the kind (0 double, 1 single).
size_t OpenQuote(std::string_view s, size_t i, int* kind) {
  char c = s[i];
  if (c == '"') return *kind = 0, 1;
  if (c == '\'') return *kind = 1, 1;
  if (c == '\xE2' && At(s, i + 1) == '\x80') {
    char d = At(s, i + 2);
    if (d == '\x9C') return *kind = 0, 3;  // “
    if (d == '\x98') return *kind = 1, 3;  // ‘
  }
  return 0;
}

// Closing quote of `kind` at i: its byte length or 0.
size_t CloseQuote(std::string_view s, size_t i, int kind) {
  char c = s[i];
  if (kind == 0) {
    if (c == '"') return 1;
    if (c == '\xE2' && At(s, i + 1) == '\x80' && (At(s, i + 2) == '\x9D' || At(s, i + 2) == '\x9C'))
      return 3;  // ” (and a second “, as sloppy typing produces)
    return 0;
  }
  // A single quote closes only when no letter follows ("Party's" is no end).
  size_t n = 0;
  if (c == '\'') n = 1;
  if (c == '\xE2' && At(s, i + 1) == '\x80' && At(s, i + 2) == '\x99') n = 3;
  if (n && IsAlpha(At(s, i + n))) return 0;
  return n;
}

// Words that may stand between "(" and the quoted term of a parenthetical
// definition: (the "Agreement"), (each a "Party" and collectively the
// "Parties"), (hereinafter referred to as "Buyer"), (d/b/a "Shop").
bool IsLeadWord(std::string_view w) {
  static constexpr std::string_view kLead[] = {
      "the",
      "a",
      "an",
      "each",
      "collectively",
      "individually",
      "together",
      "jointly",
      "separately",
      "severally",
      "and",
      "or",
      "hereinafter",
      "hereafter",
      "herein",
      "hereunder",
      "referred",
      "to",
      "as",
      "called",
      "also",
      "known",
      "sometimes",
      "being",
      "is",
      "are",
      "be",
      "may",
      "will",
      "shall",
      "defined",
      "designated",
      "named",
      "such",
      "this",
      "its",
      "their",
      "respectively",
      "any",
      "all",
      "either",
      "both",
      "d",
      "b",
      "k",
      "in",
      "agreement",
      "for",
      "purposes",
      "of",
      "simply",
      "generally",
      "formerly",
      "now",
      "below",
      "above",
      "hereto",
      "herewith",
      "thereof",
      "with",
      "including",
      "together",
      "hereinbelow",
      "hereinabove",
      "cumulatively",
      "otherwise",
  };
  for (std::string_view k : kLead) {
    if (w.size() == k.size() && StartsWithCi(w, 0, k)) return true;
  }
  return false;
}

// Looks back from the opening quote at q for "(" followed only by lead
// words (and earlier quoted terms of the same parenthetical).
bool InDefiningParenthetical(std::string_view s, size_t q) {
  size_t limit = q > 120 ? q - 120 : 0;
  size_t open = std::string_view::npos;
  for (size_t j = q; j > limit; --j) {
    char c = s[j - 1];
    if (c == '(') {
      open = j - 1;
      break;
    }
    if (c == ')' || c == '\n' || c == '.' || IsDigit(c)) return false;
  }
  if (open == std::string_view::npos) return false;
  // Before the first quoted term only lead words may stand; after it, a
  // second term may follow a few words of any kind: ("Licensing" and
  // together with Seller, "Arizona").
  bool in_quote = false;
  bool seen_term = false;
  int kind = 0;
  size_t j = open + 1;
  while (j < q) {
    size_t n = 0;
    if (in_quote) {
      n = CloseQuote(s, j, kind);
      if (n) in_quote = false;
      j += n ? n : 1;
      continue;
    }
    n = OpenQuote(s, j, &kind);
    if (n) {
      in_quote = true;
      seen_term = true;
      j += n;
      continue;
    }
    if (IsAlpha(s[j])) {
      size_t k = j;
      while (k < q && IsAlpha(s[k])) ++k;
      if (!seen_term && !IsLeadWord(s.substr(j, k - j))) return false;
      j = k;
      continue;
    }
    char c = s[j];
    if (!(IsAsciiSpace(c) || c == ',' || c == ';' || c == '/' || c == ':' || c == '-'))
      return false;
    ++j;
  }
  return !in_quote;
}

// The word (lower-cased, at most 16 letters) that ends before *pos, behind
// spaces and commas; moves *pos to its start. Empty when there is none.
std::string PrevWord(std::string_view s, size_t* pos) {
  size_t j = *pos;
  size_t limit = j > 8 ? j - 8 : 0;
  while (j > limit && (IsAsciiSpace(s[j - 1]) || s[j - 1] == ',')) --j;
  size_t end = j;
  while (j > 0 && end - j < 16 && IsAlpha(s[j - 1])) --j;
  if (j > 0 && (IsAlpha(s[j - 1]) || s[j - 1] == '-')) return {};  // "so-called"
  *pos = j;
  return LowerAscii(s.substr(j, end - j));
}

// Definitions outside parentheses: 'shall be referred to as a "Party"',
// 'each a "Party" and collectively the "Parties"', 'known as "Acme"'.
bool PrecededByNamingPhrase(std::string_view s, size_t q) {
  size_t pos = q;
  std::string w = PrevWord(s, &pos);
  if (w == "a" || w == "an" || w == "the") w = PrevWord(s, &pos);
  if (w == "each" || w == "collectively" || w == "individually" || w == "together" ||
      w == "jointly" || w == "called") {
    return true;
  }
  if (w != "as") return false;
  w = PrevWord(s, &pos);
  return w == "to" || w == "known" || w == "designated" || w == "identified" || w == "hereinafter";
}

// "means", "shall mean", "has the meaning", "shall refer to", "is defined as"
// after a closing quote (optionally behind a comma or colon).
bool FollowedByMeans(std::string_view s, size_t i) {
  size_t j = SkipWs(s, i, 4);
  if (At(s, j) == ',' || At(s, j) == ':') j = SkipWs(s, j + 1, 4);
  if (WordCi(s, j, "shall")) {
    j = SkipWs(s, j + 5, 4);
  } else if (WordCi(s, j, "will")) {
    j = SkipWs(s, j + 4, 4);
  }
  static constexpr std::string_view kVerbs[] = {
      "means",      "mean",        "has the meaning", "have the meaning", "refers to", "refer to",
      "is defined", "are defined", "be defined",      "shall include",    "includes"};
  for (std::string_view v : kVerbs) {
    if (WordCi(s, j, v)) return true;
  }
  return false;
}

// Cleans a quoted term: collapsed spaces, no trailing punctuation; empty
// when it does not look like a defined term.
std::string CleanTerm(std::string_view raw) {
  std::string t = CollapseSpaces(raw);
  while (!t.empty() && (t.back() == '.' || t.back() == ',' || t.back() == ';' || t.back() == ':'))
    t.pop_back();
  while (!t.empty() && t.back() == ' ') t.pop_back();
  if (t.empty() || t.size() > 80) return {};
  if (!(IsAlnum(t[0]) || IsHigh(t[0]))) return {};
  size_t words = 1 + std::count(t.begin(), t.end(), ' ');
  if (words > 8) return {};
  return t;
}

// Collects defined terms; `aliases` (lower-cased) receives the terms that
// were defined in parentheses, for the party scanner to tell a name from
// its alias.
void ScanDefinedTerms(std::string_view s, FieldSink* sink, std::vector<std::string>* aliases) {
  static constexpr ByteSet kQuotes = MakeByteSet("\"'\xE2", false, false);
  size_t i = 0;
  while (!sink->full() && (i = NextOf(s, i, kQuotes)) < s.size()) {
    int kind;
    size_t open_len = OpenQuote(s, i, &kind);
    if (!open_len) {
      ++i;
      continue;
    }
    if (kind == 1 && !InDefiningParenthetical(s, i)) {  // apostrophes are everywhere
      i += open_len;
      continue;
    }
    size_t start = i + open_len;
    size_t end = std::string_view::npos;
    size_t close_len = 0;
    for (size_t j = start; j < s.size() && j - start <= 100; ++j) {
      if (s[j] == '\n' && At(s, j + 1) == '\n') break;
      close_len = CloseQuote(s, j, kind);
      if (close_len) {
        end = j;
        break;
      }
    }
    if (end == std::string_view::npos) {
      i = start;
      continue;
    }
    std::string term = CleanTerm(s.substr(start, end - start));
    size_t after = end + close_len;
    if (!term.empty()) {
      bool paren = InDefiningParenthetical(s, i);
      if (paren || FollowedByMeans(s, after) || (kind == 0 && PrecededByNamingPhrase(s, i))) {
        if (paren && aliases->size() < 4 * kMaxValuesPerField) aliases->push_back(LowerAscii(term));
        sink->Add(term);
      }
    }
    i = after;
  }
}

// ---------------------------------------------------------------------------
// Parties from a contract preamble.

std::string StripPunct(std::string_view tok) {
  std::string t(tok);
  while (!t.empty() && (t.back() == ',' || t.back() == ';' || t.back() == ':')) t.pop_back();
  return t;
}

bool IsCompanySuffix(std::string_view tok) {
  std::string t = LowerAscii(StripPunct(tok));
  static constexpr std::string_view kSuffixes[] = {
      "inc",    "inc.", "incorporated", "corp",   "corp.",  "corporation", "co",       "co.",
      "ltd",    "ltd.", "limited",      "llc",    "l.l.c.", "lp",          "l.p.",     "llp",
      "l.l.p.", "lllp", "plc",          "p.l.c.", "pllc",   "pc",          "p.c.",     "n.a.",
      "s.a.",   "sa",   "s.a.s.",       "s.p.a.", "spa",    "s.r.l.",      "srl",      "s.l.",
      "ag",     "gmbh", "kg",           "kgaa",   "bv",     "b.v.",        "nv",       "n.v.",
      "ab",     "a/s",  "as",           "oy",     "pty",    "pty.",        "pte",      "pte.",
      "bhd",    "bhd.", "sdn",          "se",     "ulc",    "l.p",         "s.a.r.l.", "sarl",
      "s.à",    "r.l.", "company",      "lc",     "l.c.",   "n.a",         "ltda",     "ltda.",
  };
  for (std::string_view k : kSuffixes) {
    if (t == k) return true;
  }
  return false;
}

// A token ending in '.' that does not end a sentence.
bool IsAbbreviation(std::string_view tok) {
  std::string t = StripPunct(tok);
  if (t.empty() || t.back() != '.') return false;
  if (IsCompanySuffix(t)) return true;
  std::string core = t.substr(0, t.size() - 1);
  if (core.size() == 1 && IsUpper(core[0])) return true;  // "K."
  if (core.find('.') != std::string::npos) return true;   // "U.S.", "N.V."
  static constexpr std::string_view kAbbr[] = {"mr",   "mrs",  "ms",   "dr",  "st",
                                               "jr",   "sr",   "no",   "mt",  "ft",
                                               "bros", "assn", "intl", "mfg", "natl"};
  std::string l = LowerAscii(core);
  for (std::string_view a : kAbbr) {
    if (l == a) return true;
  }
  return false;
}

bool IsNameConnector(std::string_view tok) {
  static constexpr std::string_view kConnectors[] = {"of",  "the", "de",  "du",  "des",
                                                     "van", "von", "der", "den", "la",
                                                     "le",  "y",   "da",  "di",  "del"};
  for (std::string_view k : kConnectors) {
    if (tok == k) return true;
  }
  return false;
}

// Reads the space-separated token at *i of the normalized window.
// The window keeps line breaks as '\n' (a name never spans lines) and any
// other whitespace run as one ' '.
bool IsGap(char c) { return c == ' ' || c == '\n'; }

// `*newline` (if given) tells whether a line break came before the token.
std::string_view NextToken(std::string_view w, size_t* i, bool* newline = nullptr) {
  size_t j = *i;
  bool nl = false;
  while (j < w.size() && IsGap(w[j])) nl |= w[j++] == '\n';
  size_t start = j;
  while (j < w.size() && !IsGap(w[j])) ++j;
  *i = j;
  if (newline) *newline = nl;
  return w.substr(start, j - start);
}

// Tokens with digits are addresses, zip codes or clause numbers ("94608",
// "L8P", "4.1.3"), except a leading number glued to letters ("3M", "21st").
bool DigitsOk(std::string_view tok) {
  size_t k = 0;
  while (k < tok.size() && IsDigit(tok[k])) ++k;
  for (; k < tok.size(); ++k) {
    if (IsDigit(tok[k])) return false;
  }
  return tok.empty() || !IsDigit(tok[0]) ||
         std::any_of(tok.begin(), tok.end(), [](char c) { return IsAlpha(c); });
}

bool Capitalized(std::string_view tok) {
  return !tok.empty() && (IsUpper(tok[0]) || IsDigit(tok[0]) || IsHigh(tok[0]));
}

// A party name at *i: capitalized words, company suffixes after commas
// ("Armstrong Flooring, Inc."), lower-case connectors inside ("Bank of
// America"). Stops at "(", ", a ...", "and", a quote or a sentence end.
bool ReadPartyName(std::string_view w, size_t* i, std::string* name) {
  std::vector<std::string_view> toks;
  size_t j = *i;
  size_t end = j;
  bool prev_comma = false, prev_stop = false, prev_suffix = false;
  while (toks.size() < 10) {
    bool newline = false;
    std::string_view tok = NextToken(w, &j, &newline);
    if (tok.empty() || (newline && !toks.empty())) break;
    if (!DigitsOk(tok)) return false;
    char first = tok[0];
    if (first == '(' || first == '"' || first == '\'' || first == '[' ||
        tok.find('"') != std::string_view::npos) {
      break;
    }
    bool suffix = IsCompanySuffix(tok);
    if (toks.empty()) {
      // A name starts with a capital; "3M" yes, "94608" (a zip code) no.
      if (!Capitalized(tok) || first == '&') return false;
      if (!std::any_of(tok.begin(), tok.end(), [](char c) { return IsAlpha(c) || IsHigh(c); }))
        return false;
    } else {
      if (prev_stop) break;
      if (prev_comma && !suffix) break;
      if (prev_suffix && !suffix && !prev_comma) break;
      if (tok == "and" || tok == "AND" || tok == "And") break;
      if (tok == "A" || tok == "AN") {
        if (prev_comma) break;
      }
      if (!Capitalized(tok) && tok != "&" && tok != "&amp;") {
        if (!IsNameConnector(tok)) break;
        size_t peek = j;
        std::string_view next = NextToken(w, &peek);
        if (!Capitalized(next) || next == "A" || next == "AN") break;
      }
    }
    toks.push_back(tok);
    end = j;
    char last = tok.back();
    prev_comma = last == ',';
    prev_stop = last == ';' || last == ':' || (last == '.' && !IsAbbreviation(tok));
    prev_suffix = suffix;
  }
  // One word alone is an alias ("Sponsor"), a place ("Wales") or a heading;
  // a real party carries a second word or a company suffix.
  if (toks.size() < 2) return false;
  std::string out;
  for (size_t k = 0; k < toks.size(); ++k) {
    if (k) out += ' ';
    out.append(toks[k]);
  }
  out = StripPunct(out);
  if (!out.empty() && out.back() == '.' && !IsAbbreviation(toks.back())) out.pop_back();
  if (out.size() < 2 || out.size() > 120) return false;
  if (!std::any_of(out.begin(), out.end(), [](char c) { return IsUpper(c); })) return false;
  static constexpr std::string_view kNotNames[] = {
      "this",    "the parties", "parties",    "party",     "each",        "both",
      "such",    "any",         "all",        "agreement", "the company", "effective date",
      "whereas", "now",         "witnesseth", "it",        "we",          "you",
      "i",       "in",          "on",         "for",       "by",          "if",
      "as",      "at",          "to",         "exhibit",   "schedule"};
  std::string lower = LowerAscii(out);
  for (std::string_view n : kNotNames) {
    if (lower == n) return false;
  }
  // Words no company or person name contains, but the all-capital notices
  // and headings of a filing do ("FOR WHICH CONFIDENTIAL TREATMENT HAS BEEN
  // REQUESTED", "THIS AGREEMENT").
  static constexpr std::string_view kNotNameWords[] = {
      "is",        "has",       "have",    "been",     "was",      "be",        "are",
      "for",       "which",     "that",    "this",     "with",     "by",        "to",
      "agrees",    "agree",     "will",    "shall",    "relating", "regarding", "whereas",
      "subject",   "hereby",    "herein",  "hereto",   "between",  "among",     "each",
      "other",     "both",      "such",    "any",      "all",      "not",       "no",
      "on",        "in",        "at",      "as",       "party",    "parties",   "agreement",
      "amendment", "contract",  "exhibit", "schedule", "section",  "article",   "page",
      "dated",     "effective", "made",    "entered",  "into",     "its",       "commission",
      "contents",  "address",   "fee"};
  for (std::string_view tok : toks) {
    std::string t = LowerAscii(StripPunct(tok));
    while (!t.empty() && t.back() == '.') t.pop_back();
    for (std::string_view n : kNotNameWords) {
      if (t == n) return false;
    }
  }
  *name = std::move(out);
  *i = end;
  return true;
}

// Skips "(1)", "(a)", "1." enumerators and ":" before a party.
size_t SkipEnumerator(std::string_view w, size_t i) {
  for (int round = 0; round < 2; ++round) {
    while (i < w.size() && (IsGap(w[i]) || w[i] == ':')) ++i;
    if (At(w, i) == '(') {
      size_t j = i + 1;
      while (j < w.size() && j - i <= 5 && IsAlnum(w[j])) ++j;
      if (At(w, j) == ')' && j > i + 1) i = j + 1;
    } else if (IsDigit(At(w, i)) && (At(w, i + 1) == '.' || At(w, i + 1) == ')') &&
               IsGap(At(w, i + 2))) {
      i += 2;
    }
  }
  while (i < w.size() && IsGap(w[i])) ++i;
  return i;
}

// After a party name at i: an alias parenthetical ("Seller") or a
// descriptor (", a Delaware corporation", ", with offices at"). The name
// reader may have taken the comma already.
bool FollowedByAliasOrDescriptor(std::string_view w, size_t i) {
  bool comma = i > 0 && w[i - 1] == ',';
  size_t q = i;
  while (q < w.size() && IsGap(w[q])) ++q;
  if (At(w, q) == ',') {
    comma = true;
    ++q;
    while (q < w.size() && IsGap(w[q])) ++q;
  }
  if (At(w, q) == '(') {  // an alias, not an enumerator "(a)"
    size_t close = w.find(')', q);
    return close != std::string_view::npos && close - q < 120 &&
           w.substr(q, close - q).find_first_of("\"'") != std::string_view::npos;
  }
  if (!comma) return false;
  static constexpr std::string_view kDescriptors[] = {
      "a", "an", "with", "having", "located", "whose", "organized", "incorporated"};
  for (std::string_view d : kDescriptors) {
    if (WordCi(w, q, d)) return true;
  }
  return false;
}

// The party list after "between" / "among" at *i of the normalized window.
// `strict` (no such word before): the first name must be followed by an
// alias or a descriptor, as in "Aduro Biotech, Inc., with a place of
// business at ... ("Aduro") and IREYA B.V ...".
void ReadPartyList(std::string_view w, size_t i, bool strict, std::vector<std::string>* out) {
  for (int party = 0; party < 8; ++party) {
    i = SkipEnumerator(w, i);
    std::string name;
    if (!ReadPartyName(w, &i, &name)) return;
    if (strict && party == 0 && !FollowedByAliasOrDescriptor(w, i)) return;
    out->push_back(name);
    // The rest of this party's clause: descriptors, addresses, aliases.
    bool alias = false;
    bool next = false;
    size_t limit = std::min(w.size(), i + 500);
    while (i < limit) {
      char c = w[i];
      if (c == '(') {
        size_t close = w.find(')', i);
        if (close == std::string_view::npos || close - i > 200) return;
        std::string_view inside = w.substr(i, close - i);
        if (inside.find('"') != std::string_view::npos ||
            inside.find('\'') != std::string_view::npos)
          alias = true;
        i = close + 1;
        if (alias) {
          // After an alias only a separator may follow; anything else ends
          // the list ("... ("HGF") FOR THE DEVELOPMENT OF ...").
          size_t k = i;
          while (k < w.size() && IsGap(w[k])) ++k;
          char d = At(w, k);
          if (!(d == ',' || d == ';' || d == '.' || d == '(' || WordCi(w, k, "and"))) return;
        }
        continue;
      }
      if (c == '.' && (i + 1 >= w.size() || IsGap(w[i + 1]))) {
        size_t tok_start = w.find_last_of(" \n", i);
        tok_start = tok_start == std::string_view::npos ? 0 : tok_start + 1;
        if (!IsAbbreviation(w.substr(tok_start, i + 1 - tok_start))) return;  // sentence end
      }
      bool sep_and = IsGap(c) && WordCi(w, i + 1, "and");
      bool sep_punct = alias && (c == ',' || c == ';');
      if (sep_and || sep_punct) {
        size_t k = sep_and ? i + 4 : i + 1;
        if (!sep_and && WordCi(w, SkipWs(w, k), "and")) k = SkipWs(w, k) + 3;
        size_t probe = SkipEnumerator(w, k);
        std::string peek;
        if (ReadPartyName(w, &probe, &peek)) {
          // A comma alone separates parties in a list ("among A ("a"), B
          // ("b") and C ("c")") but also the parts of an address: the next
          // party must show itself by an alias or a descriptor.
          bool accept = sep_and || k != i + 1 || FollowedByAliasOrDescriptor(w, probe);
          if (accept) {
            i = k;
            next = true;
            break;
          }
        }
      }
      ++i;
    }
    if (!next) return;
  }
}

void ScanParties(std::string_view text, const std::vector<std::string>& aliases, FieldSink* sink) {
  std::string_view head = text.substr(0, std::min(text.size(), kPartyWindow));
  // Normalized copy: one space for any whitespace run, straight quotes.
  std::string w;
  w.reserve(head.size());
  for (size_t i = 0; i < head.size();) {
    if (size_t n = SpaceLen(head, i)) {
      if (!w.empty() && !IsGap(w.back())) w.push_back(' ');
      if (head[i] == '\n' && !w.empty()) w.back() = '\n';
      i += n;
      continue;
    }
    if (StartsWith(head, i, "\xE2\x80\x9C") || StartsWith(head, i, "\xE2\x80\x9D")) {
      w.push_back('"');
      i += 3;
      continue;
    }
    if (StartsWith(head, i, "\xE2\x80\x98") || StartsWith(head, i, "\xE2\x80\x99")) {
      w.push_back('\'');
      i += 3;
      continue;
    }
    w.push_back(head[i++]);
  }
  std::vector<std::string> found;
  int anchors = 0;
  int line_starts = 0;
  for (size_t i = 0; i < w.size() && anchors < 12; ++i) {
    if (line_starts < 40 && (i == 0 || w[i - 1] == '\n')) {
      ++line_starts;
      ReadPartyList(w, i, /*strict=*/true, &found);
    }
    if (!WordStart(w, i)) continue;
    size_t len = 0;
    if (WordCi(w, i, "between")) len = 7;
    if (WordCi(w, i, "among")) len = 5;
    // "is entered into by X", "is made by X"
    if (WordCi(w, i, "by") && i >= 5 &&
        (StartsWithCi(w, i - 5, "into ") || StartsWithCi(w, i - 5, "made ") ||
         (i >= 9 && StartsWithCi(w, i - 9, "executed ")))) {
      len = 2;
    }
    if (!len) continue;
    ++anchors;
    size_t j = i + len;
    if (StartsWithCi(w, j + 1, "and among") || StartsWithCi(w, j + 1, "and between")) {
      j = w.find_first_of(" \n", j + 5);
      if (j == std::string::npos) continue;
    }
    ReadPartyList(w, j, /*strict=*/false, &found);
  }
  for (const std::string& name : found) {
    std::string lower = LowerAscii(name);
    if (std::find(aliases.begin(), aliases.end(), lower) != aliases.end()) continue;
    sink->Add(name);
  }
}

// ---------------------------------------------------------------------------
// Legal citations.

// Case reporters; matched with spaces optional ("F.3d" = "F. 3d").
constexpr std::string_view kReporters[] = {
    "U.S.",
    "S. Ct.",
    "L. Ed.",
    "L. Ed. 2d",
    "F.",
    "F.2d",
    "F.3d",
    "F.4th",
    "F. Supp.",
    "F. Supp. 2d",
    "F. Supp. 3d",
    "F. App'x",
    "Fed. Appx.",
    "Fed. Cl.",
    "F.R.D.",
    "B.R.",
    "T.C.",
    "A.2d",
    "A.3d",
    "P.2d",
    "P.3d",
    "N.E.",
    "N.E.2d",
    "N.E.3d",
    "N.W.",
    "N.W.2d",
    "S.E.",
    "S.E.2d",
    "S.W.",
    "S.W.2d",
    "S.W.3d",
    "So. 2d",
    "So. 3d",
    "Cal.",
    "Cal. 2d",
    "Cal. 3d",
    "Cal. 4th",
    "Cal. 5th",
    "Cal. App.",
    "Cal. App. 2d",
    "Cal. App. 3d",
    "Cal. App. 4th",
    "Cal. App. 5th",
    "Cal. Rptr.",
    "Cal. Rptr. 2d",
    "Cal. Rptr. 3d",
    "N.Y.",
    "N.Y.2d",
    "N.Y.3d",
    "A.D.",
    "A.D.2d",
    "A.D.3d",
    "N.Y.S.",
    "N.Y.S.2d",
    "N.Y.S.3d",
    "Misc. 2d",
    "Misc. 3d",
    "Ill. 2d",
    "Ill. App. 3d",
    "Ill. Dec.",
    "Mass.",
    "Mass. App. Ct.",
    "Del. Ch.",
    "Wash. 2d",
    "Wash. App.",
    "N.J.",
    "N.J. Super.",
    "Pa. Super.",
    "Ohio St. 3d",
    "Mich. App.",
    "Wis. 2d",
    "Ga. App.",
    "WL",
    "U.S. Dist. LEXIS",
    "U.S. App. LEXIS",
    "Del. Ch. LEXIS",
    "Bankr. LEXIS",
    "Stat.",
    "Fed. Reg.",
};

// Matches `display` at *i ignoring spaces on both sides; the text must
// continue with whitespace. Advances *i past the match.
bool MatchLoose(std::string_view s, size_t* i, std::string_view display) {
  size_t j = *i;
  for (char c : display) {
    if (c == ' ') continue;
    j = SkipWs(s, j, 2);
    if (At(s, j) != c) return false;
    ++j;
  }
  if (!SpaceLen(s, j)) return false;
  *i = j;
  return true;
}

// A statute's section: "78j", "78j(b)", "240.10b-5", "1681s-2(a)(1)".
bool ReadSection(std::string_view s, size_t* i, std::string* out) {
  size_t j = *i;
  if (!IsDigit(At(s, j))) return false;
  size_t start = j;
  while (j < s.size() && j - start < 40) {
    char c = s[j];
    if (IsAlnum(c)) {
      ++j;
    } else if ((c == '.' || c == '-' || c == ':') && IsAlnum(At(s, j + 1))) {
      j += 2;
    } else if (c == '(') {
      size_t k = j + 1;
      while (k < s.size() && k - j <= 5 && IsAlnum(s[k])) ++k;
      if (At(s, k) != ')' || k == j + 1) break;
      j = k + 1;
    } else {
      break;
    }
  }
  *out = std::string(s.substr(start, j - start));
  *i = j;
  return true;
}

// "§", "§§", "Section", "Sections", "Sec.", "Secs." at *i; sets *plural.
bool ReadSectionMark(std::string_view s, size_t* i, bool* plural) {
  size_t j = *i;
  if (StartsWith(s, j, "\xC2\xA7\xC2\xA7")) {
    *plural = true, *i = j + 4;
    return true;
  }
  if (StartsWith(s, j, "\xC2\xA7")) {
    *plural = false, *i = j + 2;
    return true;
  }
  struct M {
    std::string_view word;
    bool plural;
  };
  static constexpr M kMarks[] = {
      {"sections", true}, {"section", false}, {"secs.", true}, {"sec.", false}};
  for (const M& m : kMarks) {
    size_t n = m.word.size();
    if (StartsWithCi(s, j, m.word) && !IsAlpha(At(s, j + n))) {
      *plural = m.plural, *i = j + n;
      return true;
    }
  }
  return false;
}

// At a number: "123 F.3d 456", "2019 WL 1234567", "15 U.S.C. § 78j",
// "17 C.F.R. 240.10b-5".
bool CitationAtNumber(std::string_view s, size_t* i, std::string* out) {
  size_t j = *i;
  int volume;
  if (!ReadInt(s, &j, 4, &volume)) return false;
  std::string vol(s.substr(*i, j - *i));
  size_t k = SkipWs(s, j, 3);
  if (k == j || !IsUpper(At(s, k))) return false;
  // Federal statutes and regulations.
  struct Code {
    std::string_view written;
    const char* display;
  };
  static constexpr Code kCodes[] = {{"U.S.C.A.", "U.S.C.A."},
                                    {"U.S.C.", "U.S.C."},
                                    {"USC", "U.S.C."},
                                    {"C.F.R.", "C.F.R."},
                                    {"CFR", "C.F.R."}};
  for (const Code& c : kCodes) {
    size_t n = c.written.size();
    if (!StartsWith(s, k, c.written) || IsAlpha(At(s, k + n))) continue;
    size_t m = SkipWs(s, k + n, 3);
    bool plural = false;
    if (ReadSectionMark(s, &m, &plural)) m = SkipWs(s, m, 3);
    std::string section;
    if (vol.size() > 3 || !ReadSection(s, &m, &section)) return false;
    *out = vol + " " + c.display + (plural ? " \xC2\xA7\xC2\xA7 " : " \xC2\xA7 ") + section;
    size_t e = SkipWs(s, m, 2);
    if (StartsWith(s, e, "et seq")) {
      *out += " et seq.";
      m = e + 6 + (At(s, e + 6) == '.' ? 1 : 0);
    }
    *i = m;
    return true;
  }
  // Case reporters: the longest entry followed by a page number.
  std::string_view best;
  size_t best_end = 0;
  for (std::string_view r : kReporters) {
    size_t m = k;
    if (!MatchLoose(s, &m, r)) continue;
    if (!best.empty() && r.size() <= best.size()) continue;
    size_t p = SkipWs(s, m, 3);
    int page;
    size_t q = p;
    if (!ReadInt(s, &q, 7, &page) || IsAlpha(At(s, q))) continue;
    best = r;
    best_end = q;
    *out = vol + " " + std::string(r) + " " + std::string(s.substr(p, q - p));
  }
  if (best.empty()) return false;
  *i = best_end;
  return true;
}

// State codes end with one of these tokens before the section mark.
bool IsCodeWord(std::string_view t) {
  static constexpr std::string_view kWords[] = {"Code", "Law",    "Laws",     "Stat.", "Ann.",
                                                "C.",   "Stats.", "Statutes", "I.R.C."};
  for (std::string_view k : kWords) {
    if (t == k) return true;
  }
  return false;
}

bool IsJurisdiction(std::string_view t) {
  static constexpr std::string_view kJur[] = {
      "Cal.",        "N.Y.",          "Del.",         "Tex.",       "Fla.",    "Ill.",
      "Mass.",       "Pa.",           "N.J.",         "Wash.",      "Ga.",     "Ohio",
      "Mich.",       "Va.",           "Md.",          "Conn.",      "Colo.",   "Ariz.",
      "Minn.",       "Mo.",           "Ind.",         "Wis.",       "Or.",     "Nev.",
      "N.C.",        "S.C.",          "La.",          "Ky.",        "Tenn.",   "Ala.",
      "Okla.",       "Iowa",          "Kan.",         "Neb.",       "Utah",    "Haw.",
      "Alaska",      "Me.",           "Vt.",          "N.H.",       "R.I.",    "D.C.",
      "N.M.",        "Idaho",         "Mont.",        "Wyo.",       "N.D.",    "S.D.",
      "Ark.",        "Miss.",         "California",   "Delaware",   "Texas",   "Florida",
      "Illinois",    "Massachusetts", "Pennsylvania", "Washington", "Georgia", "Michigan",
      "Virginia",    "Maryland",      "Connecticut",  "Colorado",   "Arizona", "Minnesota",
      "Missouri",    "Indiana",       "Wisconsin",    "Oregon",     "Nevada",  "Louisiana",
      "Kentucky",    "Tennessee",     "Alabama",      "Oklahoma",   "Kansas",  "Nebraska",
      "Hawaii",      "Maine",         "Vermont",      "Montana",    "Wyoming", "Arkansas",
      "Mississippi", "York",          "Jersey",       "Hampshire",  "Mexico",  "Carolina",
      "Dakota",      "Island",        "Internal",     "I.R.C."};
  for (std::string_view k : kJur) {
    if (t == k) return true;
  }
  return false;
}

// The first word of a two-word jurisdiction ("New York", "W. Va.").
bool IsJurisdictionPrefix(std::string_view t) {
  return t == "New" || t == "North" || t == "South" || t == "Rhode" || t == "West" || t == "W." ||
         t == "N." || t == "S.";
}

// At a section mark: looks back for a state code name ("Cal. Civ. Code",
// "N.Y. Gen. Oblig. Law", "6 Del. C.", "Del. Code Ann. tit. 6,",
// "California Civil Code") and forward for the section.
bool StateCitationAtMark(std::string_view s, size_t mark, size_t* end, std::string* out) {
  // Up to 9 tokens before the mark, nearest first, each behind 1-3 spaces.
  std::vector<std::string_view> toks;
  size_t limit = mark > 100 ? mark - 100 : 0;
  size_t j = mark;
  while (toks.size() < 9) {
    size_t e = j;
    while (e > limit && j - e < 3 && IsAsciiSpace(s[e - 1])) --e;
    if (e == j || e == limit) break;
    size_t b = e;
    while (b > limit && !IsAsciiSpace(s[b - 1])) --b;
    toks.push_back(s.substr(b, e - b));
    j = b;
  }
  // The furthest jurisdiction such that every token between it and the mark
  // belongs to a code name containing a code word.
  int jur = -1;
  bool code_word = false;
  for (size_t k = 0; k < toks.size(); ++k) {
    std::string_view t = toks[k];
    if (IsCodeWord(t)) code_word = true;
    if (!(Capitalized(t) || t == "&" || t == "and" || t == "of" || t == "tit." || t == "ch."))
      break;
    if (IsJurisdiction(t) && code_word) {
      jur = static_cast<int>(k);
      break;
    }
  }
  if (jur < 0) return false;
  size_t first = static_cast<size_t>(jur);
  if (first + 1 < toks.size() && IsJurisdictionPrefix(toks[first + 1])) ++first;
  // "6 Del. C.": a title number before the jurisdiction.
  if (first + 1 < toks.size() && std::all_of(toks[first + 1].begin(), toks[first + 1].end(),
                                             [](char c) { return IsDigit(c); })) {
    ++first;
  }
  size_t m = mark;
  bool plural = false;
  if (!ReadSectionMark(s, &m, &plural)) return false;
  m = SkipWs(s, m, 3);
  std::string section;
  if (!ReadSection(s, &m, &section)) return false;
  std::string name;
  for (size_t k = first + 1; k-- > 0;) {
    if (!name.empty()) name += ' ';
    name.append(toks[k]);
  }
  *out = name + (plural ? " \xC2\xA7\xC2\xA7 " : " \xC2\xA7 ") + section;
  *end = m;
  return true;
}

void ScanCitations(std::string_view s, FieldSink* sink) {
  static constexpr ByteSet kStarts = MakeByteSet("\xC2S", true, false);  // numbers, §, Section
  size_t i = 0;
  std::string cite;
  while (!sink->full() && (i = NextOf(s, i, kStarts)) < s.size()) {
    char c = s[i];
    if (IsDigit(c)) {
      char prev = i ? s[i - 1] : ' ';
      size_t j = i;
      if (!(IsAlnum(prev) || prev == '.' || prev == ',' || prev == '-' || prev == '/' ||
            prev == '$') &&
          CitationAtNumber(s, &j, &cite)) {
        sink->Add(cite);
        i = j;
        continue;
      }
      while (i < s.size() && IsDigit(s[i])) ++i;
      continue;
    }
    if ((c == '\xC2' && At(s, i + 1) == '\xA7') || (c == 'S' && WordStart(s, i))) {
      size_t end;
      bool plural;
      size_t m = i;
      if (ReadSectionMark(s, &m, &plural) && StateCitationAtMark(s, i, &end, &cite)) {
        sink->Add(cite);
        i = end;
        continue;
      }
      i += c == 'S' ? 1 : 2;
      continue;
    }
    ++i;
  }
}

}  // namespace

void ExtractMetadata(std::string_view text, DocKind kind, Metadata* metadata) {
  if (!metadata || text.empty()) return;
  {
    FieldSink dates(metadata, kFieldDate, false);
    ScanDates(text, &dates);
  }
  {
    FieldSink amounts(metadata, kFieldAmount, false);
    ScanAmounts(text, &amounts);
  }
  std::vector<std::string> aliases;
  {
    FieldSink terms(metadata, kFieldDefinedTerm, false);
    ScanDefinedTerms(text, &terms, &aliases);
  }
  if (kind != DocKind::kEmail) {
    FieldSink parties(metadata, kFieldParty, true);
    ScanParties(text, aliases, &parties);
  }
  {
    FieldSink citations(metadata, kFieldCitation, false);
    ScanCitations(text, &citations);
  }
}

}  // namespace foldback::text
