#pragma once

// Text helpers for what verifiers report: quoted, length-capped snippets for reasons, and UTF-8
// safety (results travel in proto3 `string` fields, which must hold valid UTF-8).

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace chord::reward {

// `text` in double quotes for a reason: newlines, tabs and quotes escaped (\n, \t, \"; LaTeX
// backslashes stay as they are), cut (at a UTF-8 character boundary) to about `max_bytes` with
// "..." when longer.
std::string Quote(absl::string_view text, size_t max_bytes = 80);

// `text` cut to at most `max_bytes` at a UTF-8 character boundary (no "..." added).
absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes);

// The last (at most) `max_bytes` of `text`, starting at a UTF-8 character boundary.
absl::string_view Utf8Suffix(absl::string_view text, size_t max_bytes);

// True when `text` is valid UTF-8.
bool IsValidUtf8(absl::string_view text);

// `text` with every byte that is not part of a valid UTF-8 sequence replaced by '?'.
std::string SanitizeUtf8(absl::string_view text);

// `text` without leading and trailing ASCII whitespace.
absl::string_view TrimWhitespace(absl::string_view text);

}  // namespace chord::reward
