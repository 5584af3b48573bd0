// The think-format check (services/reward/think_format.h): for any response, a failed check
// names its problem and a passed one names none; a response without tags passes unless tags are
// required; a well-formed <think>...</think> block in front of the response passes both ways.

#include "services/reward/think_format.h"

#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(think_format) {
  const absl::string_view response = chord::fuzz::AsText(data, size);
  for (bool required : {false, true}) {
    const chord::reward::ThinkFormatCheck check =
        chord::reward::CheckThinkFormat(response, required);
    FUZZ_CHECK(check.ok == check.problem.empty(), check.problem);
    const bool has_tags =
        absl::StrContains(response, "<think>") || absl::StrContains(response, "</think>");
    if (!has_tags) FUZZ_CHECK(check.ok == !required, check.problem);
    if (!has_tags) {
      const std::string wrapped = absl::StrCat("<think>", response, "</think>answer");
      const chord::reward::ThinkFormatCheck good =
          chord::reward::CheckThinkFormat(wrapped, required);
      FUZZ_CHECK(good.ok, good.problem);
    }
  }
}
