// The JSON-line parser of the dataset format (common/dataset/json_line.h): any input is parsed
// or refused with "invalid JSON: <what> at column <n>"; what it accepts nlohmann accepts too; the
// compact form of an accepted value parses to the same compact form; string values are valid
// UTF-8.

#include "common/dataset/json_line.h"

#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_support.h"

namespace {

using chord::dataset::JsonValue;

void CheckStrings(const JsonValue& value) {
  if (value.is_string()) {
    FUZZ_CHECK(chord::fuzz::IsValidUtf8(value.string()), "a string value is not valid UTF-8");
  }
  for (const JsonValue& item : value.items()) CheckStrings(item);
  for (const JsonValue::Member& member : value.members()) {
    FUZZ_CHECK(chord::fuzz::IsValidUtf8(member.first), "a key is not valid UTF-8");
    CheckStrings(member.second);
  }
}

}  // namespace

CHORD_FUZZ_TARGET(json_line) {
  const absl::string_view text = chord::fuzz::AsText(data, size);
  absl::StatusOr<JsonValue> value = chord::dataset::ParseJsonLine(text);
  if (!value.ok()) {
    FUZZ_CHECK(value.status().code() == absl::StatusCode::kInvalidArgument,
               value.status().ToString());
    FUZZ_CHECK(absl::StartsWith(value.status().message(), "invalid JSON: ") &&
                   absl::StrContains(value.status().message(), " at column "),
               value.status().ToString());
    return;
  }
  CheckStrings(*value);
  FUZZ_CHECK(nlohmann::json::accept(text.begin(), text.end()),
             "accepted text that nlohmann refuses");
  std::string compact;
  chord::dataset::AppendCompactJson(*value, &compact);
  absl::StatusOr<JsonValue> again = chord::dataset::ParseJsonLine(compact);
  FUZZ_CHECK(again.ok(), absl::StrCat("compact form does not parse: ", again.status().ToString(),
                                      ": ", compact));
  std::string compact_again;
  chord::dataset::AppendCompactJson(*again, &compact_again);
  FUZZ_CHECK(compact_again == compact, absl::StrCat(compact, " became ", compact_again));
  // The compact form means the same as the source.
  FUZZ_CHECK(nlohmann::json::parse(compact) == nlohmann::json::parse(text.begin(), text.end()),
             absl::StrCat("compact form changed the value: ", compact));
}
