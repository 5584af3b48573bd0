#pragma once

// Text <-> token ids for the models Chord trains, read from a Hugging Face `tokenizer.json`.
//
// Supported (anything else is refused at load with an INVALID_ARGUMENT naming the file and the
// JSON path, e.g. `tokenizer.json: model.type: unsupported "Unigram" (supported: BPE, WordLevel)`):
//   model          BPE (byte-level: behind a ByteLevel pre-tokenizer; merges as "a b" strings or
//                  ["a", "b"] pairs; ignore_merges; unk_token/fuse_unk) and WordLevel (vocab +
//                  unk_token).
//   normalizer     null, NFC, or a Sequence of NFC.
//   pre_tokenizer  null, Split (PCRE2 regex or string, every behaviour, invert), ByteLevel
//                  (add_prefix_space, use_regex; last), Sequence of those.
//   post_processor null, ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing,
//                  Sequence of those (only used by EncodeWithSpecialTokens).
//   decoder        ByteLevel, Fuse, Sequence of those, or null (tokens joined with spaces).
//   added_tokens   content, id, special, normalized, lstrip, rstrip, single_word. An id must be
//                  the one Hugging Face assigns (a token in the vocabulary keeps its id, any
//                  other takes the next id after the vocabulary and the added tokens before it).
// `truncation` and `padding` are ignored (callers truncate and pad themselves).
// docs/tokenizer.md is the user-facing description.
//
// Thread safety: a Tokenizer is immutable after creation except for an internal word cache that
// is sharded behind mutexes; every const method may be called from many threads at once.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace chord::tokenizer {

namespace internal {
class AddedTokenMatcher;
class BpeModel;
class PreTokenizer;
struct AddedToken;
class TokenizerLoader;
}  // namespace internal

class Tokenizer {
 public:
  // Reads and parses a tokenizer.json. NOT_FOUND when the file is missing; INVALID_ARGUMENT for
  // malformed JSON or unsupported content, the message starting with the path.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(
      const std::string& tokenizer_json_path);

  // Parses tokenizer.json text; `source_name` prefixes every error message (a path or a name).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(absl::string_view json,
                                                             absl::string_view source_name);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The ids of `text`, as Hugging Face's `tokenizer.encode(text, add_special_tokens=False)`:
  // added and special tokens written in the text are matched first and map to their ids; no BOS,
  // EOS or other post-processor token is added (see EncodeWithSpecialTokens). `text` may be any
  // byte string: with byte-level BPE every byte is encoded (invalid UTF-8 included), so
  // Decode(Encode(text)) == text. With WordLevel, characters outside the vocabulary become the
  // unk token.
  std::vector<int32_t> Encode(absl::string_view text) const;

  // Encode(text) wrapped by the post-processor's single-sequence template (e.g. Llama-3's
  // `<|begin_of_text|>` prefix): Hugging Face's `encode(text)` with add_special_tokens=True.
  std::vector<int32_t> EncodeWithSpecialTokens(absl::string_view text) const;

  // The text of `ids`. Byte-level models give back the exact bytes (unlike Hugging Face, invalid
  // UTF-8 is not replaced by U+FFFD, so a stream of partial tokens can be decoded and joined).
  // Ids outside the vocabulary are skipped. With skip_special_tokens, added tokens marked
  // special are left out.
  std::string Decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // Max id + 1 over the model vocabulary and the added tokens (ids may have gaps).
  int vocab_size() const { return vocab_size_; }

  // The id of a token string as written in tokenizer.json (byte-level form, e.g. "Ġhello", or an
  // added token's content). Added tokens take precedence over the model vocabulary.
  absl::optional<int32_t> TokenToId(absl::string_view token) const;

  // The token string of `id` as written in tokenizer.json; empty for an id with no token.
  std::string IdToToken(int32_t id) const;

  // True when `id` is an added token marked `"special": true`.
  bool IsSpecial(int32_t id) const;

  // What the file holds, for logs: "BPE" or "WordLevel".
  const std::string& model_type() const { return model_type_; }

 private:
  friend class internal::TokenizerLoader;
  enum class DecoderKind { kByteLevel, kFuse, kJoinWithSpace };

  Tokenizer();

  // Encodes text that holds no raw added token: normalizer, then the normalized added tokens,
  // then pre-tokenizer and model.
  void EncodePlain(absl::string_view text, std::vector<int32_t>* ids) const;
  void EncodeWords(absl::string_view normalized, std::vector<int32_t>* ids) const;

  std::string model_type_;
  // Model vocabulary: token string (as in the file) <-> id.
  absl::flat_hash_map<std::string, int32_t> vocab_;
  std::unique_ptr<internal::BpeModel> bpe_;  // set for BPE
  int32_t word_level_unk_id_ = -1;           // WordLevel's unk token
  bool nfc_ = false;
  std::unique_ptr<internal::PreTokenizer> pre_tokenizer_;
  std::vector<std::unique_ptr<internal::AddedToken>> added_tokens_;
  absl::flat_hash_map<std::string, int32_t> added_token_ids_;      // content -> id
  std::unique_ptr<internal::AddedTokenMatcher> raw_added_;         // normalized == false
  std::unique_ptr<internal::AddedTokenMatcher> normalized_added_;  // normalized == true
  std::vector<int32_t> template_prefix_;  // the post-processor's single-sequence template
  std::vector<int32_t> template_suffix_;
  DecoderKind decoder_ = DecoderKind::kJoinWithSpace;

  // Indexed by id (size vocab_size_): the token string, its decoded bytes, whether special.
  std::vector<std::string> id_to_token_;
  std::vector<std::string> id_to_text_;
  std::vector<bool> id_known_;
  std::vector<bool> special_;
  int vocab_size_ = 0;
};

}  // namespace chord::tokenizer
