#include "common/tokenizer/json_fields.h"

#include "absl/strings/str_cat.h"

namespace chord::tokenizer::internal {

JsonPath JsonPath::Key(absl::string_view key) const {
  JsonPath out = *this;
  out.path_ = path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  return out;
}

JsonPath JsonPath::Index(size_t index) const {
  JsonPath out = *this;
  absl::StrAppend(&out.path_, "[", index, "]");
  return out;
}

absl::Status JsonPath::Error(absl::string_view message) const {
  if (path_.empty()) return absl::InvalidArgumentError(absl::StrCat(source_, ": ", message));
  return absl::InvalidArgumentError(absl::StrCat(source_, ": ", path_, ": ", message));
}

const Json* FindField(const Json& object, absl::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  return it == object.end() ? nullptr : &*it;
}

absl::StatusOr<bool> GetBool(const Json& object, const JsonPath& at, absl::string_view key,
                             bool default_value) {
  const Json* value = FindField(object, key);
  if (value == nullptr || value->is_null()) return default_value;
  if (!value->is_boolean()) return at.Key(key).Error("expected true or false");
  return value->get<bool>();
}

absl::StatusOr<absl::optional<std::string>> GetOptionalString(const Json& object,
                                                              const JsonPath& at,
                                                              absl::string_view key) {
  const Json* value = FindField(object, key);
  if (value == nullptr || value->is_null()) return absl::optional<std::string>();
  if (!value->is_string()) return at.Key(key).Error("expected a string");
  return absl::optional<std::string>(value->get<std::string>());
}

absl::StatusOr<std::string> GetString(const Json& object, const JsonPath& at,
                                      absl::string_view key) {
  const Json* value = FindField(object, key);
  if (value == nullptr || value->is_null()) return at.Key(key).Error("missing");
  if (!value->is_string()) return at.Key(key).Error("expected a string");
  return value->get<std::string>();
}

absl::StatusOr<int32_t> GetTokenId(const Json& value, const JsonPath& at) {
  if (value.is_number_unsigned()) {
    const uint64_t id = value.get<uint64_t>();
    if (id <= static_cast<uint64_t>(kMaxTokenId)) return static_cast<int32_t>(id);
  } else if (value.is_number_integer()) {
    const int64_t id = value.get<int64_t>();
    if (id >= 0 && id <= kMaxTokenId) return static_cast<int32_t>(id);
  }
  return at.Error(absl::StrCat("expected a token id (an integer in [0, ", kMaxTokenId, "])"));
}

absl::StatusOr<std::string> GetType(const Json& object, const JsonPath& at) {
  if (!object.is_object()) return at.Error("expected an object");
  return GetString(object, at, "type");
}

absl::Status Unsupported(const JsonPath& at, absl::string_view value, absl::string_view supported) {
  return absl::InvalidArgumentError(absl::StrCat(at.source(), ": ", at.path(), ": unsupported \"",
                                                 value, "\" (supported: ", supported, ")"));
}

absl::Status SequenceTooDeep(const JsonPath& at) {
  return at.Error(absl::StrCat("Sequence nested deeper than ", kMaxSequenceDepth, " levels"));
}

}  // namespace chord::tokenizer::internal
