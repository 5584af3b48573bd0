#pragma once

// The tokenizer half of Chord's tiny default model: a deterministic character-level WordLevel
// vocabulary written in Hugging Face's folder format (tokenizer.json + tokenizer_config.json), so
// the real loading path is exercised and HF tooling can load the folder too.
//
// Vocabulary (100 ids, fixed order):
//   0 <|endoftext|>  (special; also the pad token)
//   1 <|im_start|>   (special)
//   2 <|im_end|>     (special; the eos token)
//   3 <|unk|>        (special; any character not listed here)
//   4 '\n'
//   5..99            the printable ASCII characters 0x20 (space) .. 0x7E ('~') in code order:
//                    id = character code - 0x20 + 5, so digits, operators, letters, '\\', '{', '}'
// Pre-tokenizer: Split on every single character (regex [\s\S], Isolated); decoder: Fuse.

#include <cstdint>
#include <string>

namespace chord::tokenizer {

inline constexpr int32_t kTinyEndOfTextId = 0;
inline constexpr int32_t kTinyImStartId = 1;
inline constexpr int32_t kTinyImEndId = 2;
inline constexpr int32_t kTinyUnkId = 3;
inline constexpr int32_t kTinyNewlineId = 4;
inline constexpr int32_t kTinyFirstPrintableId = 5;  // ' ' (0x20)
inline constexpr int32_t kTinyVocabSize = 100;

// tokenizer.json of the tiny default (byte-identical on every call and build).
std::string TinyTokenizerJson();

// tokenizer_config.json of the tiny default: the ChatML chat_template (no default system prompt),
// eos_token "<|im_end|>", pad_token "<|endoftext|>", unk_token "<|unk|>", no bos token.
std::string TinyTokenizerConfigJson();

}  // namespace chord::tokenizer
