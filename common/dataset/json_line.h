#pragma once

// A small, strict and fast JSON parser for one JSONL record (RFC 8259).
//
// Dataset loading spends nearly all its time here, so the parser is built for that job: one pass,
// string values decoded straight into std::string (ready to move into a proto), raw source text
// kept for numbers (an answer of 42 stays "42", 3.50 stays "3.50") and for any value (so `meta`
// can be re-emitted compactly). Strict: invalid UTF-8, lone surrogates, control characters in
// strings, trailing commas, leading zeros, numbers beyond a double's range (as nlohmann refuses
// them) and text after the value are errors; nesting is limited to kMaxJsonDepth levels so
// hostile input cannot exhaust the stack.
//
// Not a general JSON library: no serialization beyond AppendCompactJson, no lookups by path.
// Thread-compatible (no shared state).

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::dataset {

// Deepest nesting of arrays/objects ParseJsonLine accepts.
inline constexpr int kMaxJsonDepth = 128;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // The value's exact source text (valid while the parsed text lives).
  absl::string_view raw() const { return raw_; }
  // kBool only.
  bool boolean() const { return bool_; }
  // kString only: the decoded text (valid UTF-8). Mutable so that callers can move it out.
  const std::string& string() const { return string_; }
  std::string* mutable_string() { return &string_; }
  // kArray only.
  const std::vector<JsonValue>& items() const { return items_; }
  std::vector<JsonValue>* mutable_items() { return &items_; }
  // kObject only, in source order (duplicate keys are kept; callers decide).
  const std::vector<Member>& members() const { return members_; }
  std::vector<Member>* mutable_members() { return &members_; }

 private:
  friend class JsonLineParser;

  Type type_ = Type::kNull;
  bool bool_ = false;
  absl::string_view raw_;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

// "null", "boolean", "number", "string", "array", "object".
absl::string_view JsonTypeName(JsonValue::Type type);

// Parses `text` as exactly one JSON value (surrounding whitespace allowed). The result refers to
// `text` (raw()), so `text` must outlive it. INVALID_ARGUMENT "invalid JSON: <what> at column <n>"
// (1-based byte column) on any syntax error.
absl::StatusOr<JsonValue> ParseJsonLine(absl::string_view text);

// Appends `value` as compact JSON (no insignificant whitespace; numbers as written in the source;
// strings re-escaped minimally, non-ASCII kept as UTF-8).
void AppendCompactJson(const JsonValue& value, std::string* out);

}  // namespace chord::dataset
