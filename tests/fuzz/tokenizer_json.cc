// tokenizer.json loading (common/tokenizer/tokenizer.h): the input is a tokenizer.json, then
// \x1f, then a text to encode. A refusal is INVALID_ARGUMENT starting with the file name; a
// tokenizer that loads encodes the text (and a few fixed ones) into ids inside its vocabulary, and
// decodes them without failing.

#include "common/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckEncoding(const chord::tokenizer::Tokenizer& t, absl::string_view text) {
  for (const std::vector<int32_t>& ids : {t.Encode(text), t.EncodeWithSpecialTokens(text)}) {
    for (int32_t id : ids) {
      FUZZ_CHECK(id >= 0 && id < t.vocab_size(),
                 absl::StrCat("id ", id, " outside [0, ", t.vocab_size(), ")"));
    }
    (void)t.Decode(ids);
    (void)t.Decode(ids, /*skip_special_tokens=*/true);
  }
  FUZZ_CHECK(t.Encode(text) == t.Encode(text), "Encode is not deterministic");
}

}  // namespace

CHORD_FUZZ_TARGET(tokenizer_json) {
  const std::vector<absl::string_view> parts =
      chord::fuzz::SplitFields(chord::fuzz::AsText(data, size), 2);
  auto tokenizer = chord::tokenizer::Tokenizer::FromJson(parts[0], "fuzz/tokenizer.json");
  if (!tokenizer.ok()) {
    FUZZ_CHECK(tokenizer.status().code() == absl::StatusCode::kInvalidArgument,
               tokenizer.status().ToString());
    FUZZ_CHECK(absl::StartsWith(tokenizer.status().message(), "fuzz/tokenizer.json: "),
               tokenizer.status().ToString());
    return;
  }
  const chord::tokenizer::Tokenizer& t = **tokenizer;
  FUZZ_CHECK(t.model_type() == "BPE" || t.model_type() == "WordLevel", t.model_type());
  for (absl::string_view text : {parts[1], absl::string_view("Hello, world! 12+7=19\n"),
                                 absl::string_view("<|im_start|>user\nhi<|im_end|>")}) {
    CheckEncoding(t, text);
  }
  // Every id's token maps back to an id with the same token (added tokens win over the
  // vocabulary, so the id itself may differ).
  for (int32_t id = 0; id < std::min(t.vocab_size(), 4096); ++id) {
    const std::string token = t.IdToToken(id);
    if (token.empty()) continue;
    absl::optional<int32_t> back = t.TokenToId(token);
    FUZZ_CHECK(back.has_value() && t.IdToToken(*back) == token, token);
  }
}
