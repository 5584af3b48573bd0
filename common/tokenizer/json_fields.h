#pragma once

// Typed, never-throwing access to the fields of a parsed tokenizer.json, with errors that name the
// file and the JSON path: `tokenizer.json: model.merges[12]: expected a string`.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "nlohmann/json.hpp"

namespace chord::tokenizer::internal {

using Json = nlohmann::json;

// Where a value sits: the source (file path or name) and the dotted JSON path inside it.
class JsonPath {
 public:
  explicit JsonPath(std::string source) : source_(std::move(source)) {}

  JsonPath Key(absl::string_view key) const;
  JsonPath Index(size_t index) const;

  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }

  // INVALID_ARGUMENT "<source>: <path>: <message>".
  absl::Status Error(absl::string_view message) const;

 private:
  std::string source_;
  std::string path_;
};

// The member `key` of `object`, or nullptr when `object` is not an object or lacks `key`.
const Json* FindField(const Json& object, absl::string_view key);

// `object[key]` as a bool; `default_value` when absent or null; an error for another type.
absl::StatusOr<bool> GetBool(const Json& object, const JsonPath& at, absl::string_view key,
                             bool default_value);

// `object[key]` as a string; nullopt when absent or null; an error for another type.
absl::StatusOr<absl::optional<std::string>> GetOptionalString(const Json& object,
                                                              const JsonPath& at,
                                                              absl::string_view key);

// `object[key]` as a string; an error when absent, null or another type.
absl::StatusOr<std::string> GetString(const Json& object, const JsonPath& at,
                                      absl::string_view key);

// Token ids above this are refused: the per-id tables are sized by the largest id, and no real
// vocabulary comes near it.
inline constexpr int32_t kMaxTokenId = (1 << 24) - 1;

// Deepest nesting of `Sequence` components (normalizers, pre-tokenizers, post-processors,
// decoders) a tokenizer.json may have; real files nest one or two. Loading one of them recurses
// once per level, so a deeper file is refused rather than allowed to exhaust the stack.
inline constexpr int kMaxSequenceDepth = 16;

// The error for a `Sequence` at `at` nested deeper than kMaxSequenceDepth.
absl::Status SequenceTooDeep(const JsonPath& at);

// `value` as a token id: an integer in [0, kMaxTokenId].
absl::StatusOr<int32_t> GetTokenId(const Json& value, const JsonPath& at);

// The `type` string of a component object (`{"type": "BPE", ...}`).
absl::StatusOr<std::string> GetType(const Json& object, const JsonPath& at);

// An error "unsupported <what> \"<value>\"" at `at`, listing what is supported.
absl::Status Unsupported(const JsonPath& at, absl::string_view value, absl::string_view supported);

}  // namespace chord::tokenizer::internal
