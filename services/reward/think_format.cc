#include "services/reward/think_format.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace chord::reward {
namespace {

constexpr absl::string_view kOpen = "<think>";
constexpr absl::string_view kClose = "</think>";

// Occurrences of `needle` in `text` and the position of the first (npos when none).
size_t CountOccurrences(absl::string_view text, absl::string_view needle, size_t* first) {
  size_t count = 0;
  *first = absl::string_view::npos;
  for (size_t pos = text.find(needle); pos != absl::string_view::npos;
       pos = text.find(needle, pos + needle.size())) {
    if (count == 0) *first = pos;
    ++count;
  }
  return count;
}

ThinkFormatCheck Fail(std::string problem) { return ThinkFormatCheck{false, std::move(problem)}; }

}  // namespace

ThinkFormatCheck CheckThinkFormat(absl::string_view response, bool require_tags) {
  size_t first_open, first_close;
  size_t opens = CountOccurrences(response, kOpen, &first_open);
  size_t closes = CountOccurrences(response, kClose, &first_close);
  if (opens == 0 && closes == 0) {
    if (require_tags) return Fail("no <think>...</think> block (required)");
    return ThinkFormatCheck{};
  }
  if (opens != 1)
    return Fail(opens == 0 ? "<think> is missing" : absl::StrCat(opens, " <think> tags"));
  if (closes != 1) {
    return Fail(closes == 0 ? "</think> is missing" : absl::StrCat(closes, " </think> tags"));
  }
  size_t start = 0;
  while (start < response.size() &&
         absl::ascii_isspace(static_cast<unsigned char>(response[start]))) {
    ++start;
  }
  if (first_open != start) return Fail("<think> does not open the response");
  if (first_close < first_open) return Fail("</think> comes before <think>");
  return ThinkFormatCheck{};
}

}  // namespace chord::reward
