// Encoding and decoding (common/tokenizer/tokenizer.h) of any text with fixed tokenizers: a
// GPT-2-style byte-level BPE gives back every byte (Decode(Encode(text)) == text, invalid UTF-8
// included); a Qwen2-style one (Split pattern, NFC) and the tiny character-level tokenizer give
// ids they know; the tiny one gives back printable ASCII text exactly.

#include "tests/fuzz/fuzz_support.h"

namespace {

void CheckIds(const chord::tokenizer::Tokenizer& t, const std::vector<int32_t>& ids) {
  for (int32_t id : ids) {
    FUZZ_CHECK(id >= 0 && id < t.vocab_size() && !t.IdToToken(id).empty(),
               absl::StrCat("unknown id ", id));
  }
}

bool IsPrintableAscii(absl::string_view text) {
  for (char c : text) {
    if (c != '\n' && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

}  // namespace

CHORD_FUZZ_TARGET(tokenizer_encode) {
  const absl::string_view text = chord::fuzz::AsText(data, size);

  const chord::tokenizer::Tokenizer& gpt2 = chord::fuzz::Gpt2StyleTokenizer();
  const std::vector<int32_t> ids = gpt2.Encode(text);
  CheckIds(gpt2, ids);
  FUZZ_CHECK(gpt2.Decode(ids) == text, "byte-level BPE does not round-trip");
  FUZZ_CHECK(ids.size() <= text.size(), "more tokens than bytes");

  const chord::tokenizer::Tokenizer& qwen2 = chord::fuzz::Qwen2StyleTokenizer();
  const std::vector<int32_t> qwen2_ids = qwen2.Encode(text);
  CheckIds(qwen2, qwen2_ids);
  if (chord::fuzz::IsValidUtf8(text)) {
    // Valid UTF-8 stays valid UTF-8 through NFC and back.
    FUZZ_CHECK(chord::fuzz::IsValidUtf8(qwen2.Decode(qwen2_ids)), "decoded text is not UTF-8");
  }

  const chord::tokenizer::Tokenizer& tiny = chord::fuzz::TinyTokenizer();
  const std::vector<int32_t> tiny_ids = tiny.Encode(text);
  CheckIds(tiny, tiny_ids);
  if (IsPrintableAscii(text)) {
    FUZZ_CHECK(tiny.Decode(tiny_ids) == text, "the tiny tokenizer does not round-trip ASCII");
  }
}
