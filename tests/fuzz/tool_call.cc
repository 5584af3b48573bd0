// The tool_call verifier (services/reward/tool_call_verifier.h): the input is prompt \x1f
// response \x1f reference \x1f meta_json; the verifier contract holds (fuzz_support.h), and a
// reference scored against itself as the response is correct.

#include "services/reward/tool_call_verifier.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(tool_call) {
  static const chord::reward::ToolCallVerifier verifier;
  chord::fuzz::FuzzVerifier(verifier, data, size);
  const std::vector<absl::string_view> f =
      chord::fuzz::SplitFields(chord::fuzz::AsText(data, size), 4);
  const chord::reward::ScoreInput self{f[0], f[2], f[2], f[3]};
  if (verifier.ValidateTask(self).ok()) {
    const chord::reward::VerifierResult result = verifier.Score(self);
    FUZZ_CHECK(result.correct,
               absl::StrCat("the reference does not match itself: ", result.reason));
  }
}
