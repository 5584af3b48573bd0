#include "common/dataset/json_line.h"

#include <array>
#include <cmath>
#include <cstdint>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace chord::dataset {
namespace {

// Bytes a string can hold as-is: printable ASCII other than '"' and '\\'.
constexpr std::array<bool, 256> MakePlainTable() {
  std::array<bool, 256> table{};
  for (int c = 0x20; c < 0x80; ++c) table[c] = c != '"' && c != '\\';
  return table;
}
constexpr std::array<bool, 256> kPlain = MakePlainTable();

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// Length of the well-formed UTF-8 sequence at [p, end), or 0 if it is not one (overlong forms,
// surrogates and code points above U+10FFFF are rejected, as RFC 3629 requires).
size_t Utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
  unsigned char lead = p[0];
  size_t length;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < length) return 0;
  if (p[1] < low || p[1] > high) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  }
  return length;
}

}  // namespace

// Recursive-descent parser over one line. Errors record the first failure and unwind.
class JsonLineParser {
 public:
  explicit JsonLineParser(absl::string_view text)
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  absl::Status Parse(JsonValue* out) {
    if (!ParseValue(out, 0)) return Error();
    SkipWhitespace();
    if (p_ != end_) {
      Fail(p_, "unexpected text after the value");
      return Error();
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Error() const {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", error_, " at column ", error_column_));
  }

  bool Fail(const char* at, absl::string_view what) {
    error_ = std::string(what);
    error_column_ = static_cast<size_t>(at - begin_) + 1;
    return false;
  }

  void SkipWhitespace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool ParseValue(JsonValue* out, int depth) {
    SkipWhitespace();
    if (p_ == end_) return Fail(p_, "unexpected end of line (expected a value)");
    const char* start = p_;
    bool ok;
    switch (*p_) {
      case '{':
        ok = ParseObject(out, depth + 1);
        break;
      case '[':
        ok = ParseArray(out, depth + 1);
        break;
      case '"':
        out->type_ = JsonValue::Type::kString;
        ok = ParseString(&out->string_);
        break;
      case 't':
        ok = ParseLiteral("true", out, JsonValue::Type::kBool, true);
        break;
      case 'f':
        ok = ParseLiteral("false", out, JsonValue::Type::kBool, false);
        break;
      case 'n':
        ok = ParseLiteral("null", out, JsonValue::Type::kNull, false);
        break;
      default:
        if (*p_ == '-' || IsDigit(*p_)) {
          ok = ParseNumber(out);
        } else {
          return Fail(p_, UnexpectedCharacter(*p_));
        }
    }
    if (!ok) return false;
    out->raw_ = absl::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  static std::string UnexpectedCharacter(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F)
      return absl::StrCat("unexpected character '", std::string(1, c), "'");
    return absl::StrCat("unexpected byte 0x", absl::Hex(u, absl::kZeroPad2));
  }

  bool ParseObject(JsonValue* out, int depth) {
    if (depth > kMaxJsonDepth) return Fail(p_, absl::StrCat("nesting deeper than ", kMaxJsonDepth));
    out->type_ = JsonValue::Type::kObject;
    ++p_;  // '{'
    SkipWhitespace();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    while (true) {
      SkipWhitespace();
      if (p_ == end_) return Fail(p_, "unexpected end of line inside an object");
      if (*p_ != '"') return Fail(p_, "expected a string key");
      out->members_.emplace_back();
      JsonValue::Member& member = out->members_.back();
      if (!ParseString(&member.first)) return false;
      SkipWhitespace();
      if (p_ == end_ || *p_ != ':') return Fail(p_, "expected ':' after the key");
      ++p_;
      if (!ParseValue(&member.second, depth)) return false;
      SkipWhitespace();
      if (p_ == end_) return Fail(p_, "unexpected end of line inside an object");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == '}') {
        ++p_;
        return true;
      }
      return Fail(p_, "expected ',' or '}' in an object");
    }
  }

  bool ParseArray(JsonValue* out, int depth) {
    if (depth > kMaxJsonDepth) return Fail(p_, absl::StrCat("nesting deeper than ", kMaxJsonDepth));
    out->type_ = JsonValue::Type::kArray;
    ++p_;  // '['
    SkipWhitespace();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return true;
    }
    while (true) {
      out->items_.emplace_back();
      if (!ParseValue(&out->items_.back(), depth)) return false;
      SkipWhitespace();
      if (p_ == end_) return Fail(p_, "unexpected end of line inside an array");
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ == ']') {
        ++p_;
        return true;
      }
      return Fail(p_, "expected ',' or ']' in an array");
    }
  }

  bool ParseLiteral(absl::string_view word, JsonValue* out, JsonValue::Type type, bool value) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        absl::string_view(p_, word.size()) != word) {
      return Fail(p_, UnexpectedCharacter(*p_));
    }
    p_ += word.size();
    out->type_ = type;
    out->bool_ = value;
    return true;
  }

  bool ParseNumber(JsonValue* out) {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return Fail(start, "invalid number");
    if (*p_ == '0') {
      ++p_;
      if (p_ < end_ && IsDigit(*p_)) return Fail(start, "invalid number (leading zero)");
    } else {
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    const size_t integer_digits = static_cast<size_t>(p_ - start);
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return Fail(start, "invalid number (no digit after '.')");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    bool exponent = false;
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      exponent = true;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return Fail(start, "invalid number (no exponent digits)");
      while (p_ < end_ && IsDigit(*p_)) ++p_;
    }
    // A number beyond a double's range is refused, as every other JSON reader of Chord
    // (nlohmann's) refuses it: a dataset holding one would load here and fail later, in the
    // reward service. Only an exponent or more than 308 integer digits can get there.
    if (exponent || integer_digits > 308) {
      double value = 0;
      if (!absl::SimpleAtod(absl::string_view(start, static_cast<size_t>(p_ - start)), &value) ||
          std::isinf(value)) {
        return Fail(start, "number out of the range of a double");
      }
    }
    out->type_ = JsonValue::Type::kNumber;
    return true;
  }

  // Reads four hex digits at p_ (after "\u").
  bool ReadHex4(uint32_t* value) {
    if (end_ - p_ < 4) return Fail(p_, "truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      int digit = HexValue(p_[i]);
      if (digit < 0) return Fail(p_ + i, "invalid hex digit in \\u escape");
      v = (v << 4) | static_cast<uint32_t>(digit);
    }
    p_ += 4;
    *value = v;
    return true;
  }

  // p_ is at the opening quote. Appends the decoded text to `out`.
  bool ParseString(std::string* out) {
    const char* open = p_;
    ++p_;
    while (true) {
      const char* run = p_;
      while (p_ < end_ && kPlain[static_cast<unsigned char>(*p_)]) ++p_;
      out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == end_) return Fail(open, "unterminated string");
      auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c == '\\') {
        if (!ParseEscape(out)) return false;
        continue;
      }
      if (c < 0x20) return Fail(p_, "control character in a string (must be escaped)");
      size_t length = Utf8SequenceLength(reinterpret_cast<const unsigned char*>(p_),
                                         reinterpret_cast<const unsigned char*>(end_));
      if (length == 0) return Fail(p_, "invalid UTF-8 in a string");
      out->append(p_, length);
      p_ += length;
    }
  }

  // p_ is at the backslash.
  bool ParseEscape(std::string* out) {
    const char* at = p_;
    ++p_;
    if (p_ == end_) return Fail(at, "unterminated string");
    char c = *p_++;
    switch (c) {
      case '"':
        out->push_back('"');
        return true;
      case '\\':
        out->push_back('\\');
        return true;
      case '/':
        out->push_back('/');
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        return Fail(at, "invalid escape in a string");
    }
    uint32_t code = 0;
    if (!ReadHex4(&code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return Fail(at, "lone low surrogate in \\u escape");
    if (code >= 0xD800 && code <= 0xDBFF) {
      if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') {
        return Fail(at, "high surrogate not followed by a low surrogate");
      }
      p_ += 2;
      uint32_t low = 0;
      if (!ReadHex4(&low)) return false;
      if (low < 0xDC00 || low > 0xDFFF) {
        return Fail(at, "high surrogate not followed by a low surrogate");
      }
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    AppendUtf8(code, out);
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string error_;
  size_t error_column_ = 0;
};

absl::string_view JsonTypeName(JsonValue::Type type) {
  switch (type) {
    case JsonValue::Type::kNull:
      return "null";
    case JsonValue::Type::kBool:
      return "boolean";
    case JsonValue::Type::kNumber:
      return "number";
    case JsonValue::Type::kString:
      return "string";
    case JsonValue::Type::kArray:
      return "array";
    case JsonValue::Type::kObject:
      return "object";
  }
  return "unknown";
}

absl::StatusOr<JsonValue> ParseJsonLine(absl::string_view text) {
  JsonValue value;
  JsonLineParser parser(text);
  absl::Status status = parser.Parse(&value);
  if (!status.ok()) return status;
  return value;
}

namespace {

void AppendEscapedString(absl::string_view text, std::string* out) {
  out->push_back('"');
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        absl::StrAppend(out, "\\u", absl::Hex(c, absl::kZeroPad4));
    }
  }
  out->append(text.data() + run, text.size() - run);
  out->push_back('"');
}

}  // namespace

void AppendCompactJson(const JsonValue& value, std::string* out) {
  switch (value.type()) {
    case JsonValue::Type::kNull:
      out->append("null");
      return;
    case JsonValue::Type::kBool:
      out->append(value.boolean() ? "true" : "false");
      return;
    case JsonValue::Type::kNumber:
      out->append(value.raw().data(), value.raw().size());
      return;
    case JsonValue::Type::kString:
      AppendEscapedString(value.string(), out);
      return;
    case JsonValue::Type::kArray: {
      out->push_back('[');
      bool first = true;
      for (const JsonValue& item : value.items()) {
        if (!first) out->push_back(',');
        first = false;
        AppendCompactJson(item, out);
      }
      out->push_back(']');
      return;
    }
    case JsonValue::Type::kObject: {
      out->push_back('{');
      bool first = true;
      for (const JsonValue::Member& member : value.members()) {
        if (!first) out->push_back(',');
        first = false;
        AppendEscapedString(member.first, out);
        out->push_back(':');
        AppendCompactJson(member.second, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace chord::dataset
