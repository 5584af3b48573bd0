#pragma once

// Helpers shared by the fuzz targets: splitting one input into fields, a scratch directory, and
// the checks every reward verifier must pass.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/tokenizer.h"
#include "services/reward/verifier.h"
#include "tests/fuzz/fuzz_target.h"

namespace chord::fuzz {

// Inputs made of several fields separate them with this byte (ASCII "unit separator"), e.g.
// prompt \x1f response \x1f reference \x1f meta_json. Missing fields are empty.
inline constexpr char kFieldSeparator = '\x1f';

inline std::vector<absl::string_view> SplitFields(absl::string_view text, size_t count) {
  std::vector<absl::string_view> fields =
      absl::StrSplit(text, absl::MaxSplits(kFieldSeparator, count - 1));
  fields.resize(count);
  return fields;
}

// A directory that lives as long as the process (created under $TMPDIR on first use; fuzz
// targets write their inputs there when the code under test reads files).
const std::string& ScratchDir();

// Writes `content` to `path` (replacing it); aborts on failure.
void WriteFileOrDie(const std::string& path, absl::string_view content);

// Tokenizers built once per process (aborting if they do not load):
// - a byte-level BPE with GPT-2's pre-tokenizer, the 256 byte tokens, a few merges and the
//   ChatML and Llama-3 markers as special added tokens (no normalizer, so Decode(Encode(text))
//   gives back any bytes);
// - the same vocabulary behind Qwen2's Split pattern and an NFC normalizer;
// - the tiny default's character-level WordLevel tokenizer plus the Llama-3 markers.
const tokenizer::Tokenizer& Gpt2StyleTokenizer();
const tokenizer::Tokenizer& Qwen2StyleTokenizer();
const tokenizer::Tokenizer& TinyTokenizer();

// True when `text` is valid UTF-8. Written here on purpose, apart from the project's own UTF-8
// code (common/tokenizer/utf8.h, services/reward/reason_text.h), which it checks.
bool IsValidUtf8(absl::string_view text);

// The contract of reward::Verifier for one input: Score never fails, is deterministic, gives 0
// or 1 with `correct` agreeing; ValidateTask accepts or gives INVALID_ARGUMENT naming a field.
inline void CheckVerifier(const reward::Verifier& verifier, const reward::ScoreInput& input) {
  const absl::Status task = verifier.ValidateTask(input);
  if (!task.ok()) {
    FUZZ_CHECK(task.code() == absl::StatusCode::kInvalidArgument, task.ToString());
    const bool names_field = absl::StartsWith(task.message(), "reference") ||
                             absl::StartsWith(task.message(), "meta_json") ||
                             absl::StartsWith(task.message(), "prompt");
    FUZZ_CHECK(names_field, task.ToString());
  }
  const reward::VerifierResult first = verifier.Score(input);
  FUZZ_CHECK(first.score == 0.0 || first.score == 1.0, absl::StrCat("score ", first.score));
  FUZZ_CHECK(first.correct == (first.score == 1.0), first.reason);
  FUZZ_CHECK(!first.reason.empty(), "empty reason");
  // A task that does not validate cannot be answered correctly.
  FUZZ_CHECK(task.ok() || !first.correct, absl::StrCat(task.ToString(), " but ", first.reason));
  const reward::VerifierResult second = verifier.Score(input);
  FUZZ_CHECK(second.score == first.score && second.reason == first.reason &&
                 second.extracted == first.extracted,
             absl::StrCat("not deterministic: ", first.reason, " / ", second.reason));
}

// Runs CheckVerifier on an input of four fields: prompt, response, reference, meta_json.
inline void FuzzVerifier(const reward::Verifier& verifier, const uint8_t* data, size_t size) {
  const std::vector<absl::string_view> f = SplitFields(AsText(data, size), 4);
  CheckVerifier(verifier, reward::ScoreInput{f[0], f[1], f[2], f[3]});
}

}  // namespace chord::fuzz
