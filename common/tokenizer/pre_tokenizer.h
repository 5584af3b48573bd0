#pragma once

// The pre-tokenizer stage of tokenizer.json: splits text into the words the model encodes.
// Supported: `Split` (Regex via PCRE2, or String; behaviours Removed, Isolated,
// MergedWithPrevious, MergedWithNext, Contiguous; `invert`), `ByteLevel` (add_prefix_space,
// use_regex with GPT-2's pattern; it must come last) and `Sequence` of those. Everything else is
// refused at load with the JSON path.
//
// Thread safety: all const methods may be called concurrently.

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/json_fields.h"

struct pcre2_real_code_8;

namespace chord::tokenizer::internal {

// GPT-2's pre-tokenizer pattern, the default of HF's ByteLevel pre-tokenizer.
inline constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A compiled PCRE2 pattern (UTF, UCP, MATCH_INVALID_UTF; JIT when available). HF patterns are
// Oniguruma syntax; the ones in the GPT-2 / Qwen2 / Llama-3 families mean the same in PCRE2.
class Regex {
 public:
  // INVALID_ARGUMENT with PCRE2's message and offset when the pattern does not compile.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(absl::string_view pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Appends the byte ranges [begin, end) of the successive non-overlapping, non-empty matches in
  // `text`. Invalid UTF-8 bytes never match (they fall between matches). Should PCRE2 hit one of
  // its resource limits, the rest of `text` is left unmatched rather than failing.
  void FindAll(absl::string_view text, std::vector<std::pair<size_t, size_t>>* matches) const;

 private:
  explicit Regex(pcre2_real_code_8* code) : code_(code) {}
  pcre2_real_code_8* code_;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

class PreTokenizer {
 public:
  // Builds from the `pre_tokenizer` value (`spec` may be null: no splitting).
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(const Json& spec,
                                                                const JsonPath& at);

  // Appends the words of `text`, in order, to *words. They view `text` or strings appended to
  // *storage (which must outlive them). Empty words are dropped.
  void Split(absl::string_view text, std::vector<absl::string_view>* words,
             std::deque<std::string>* storage) const;

  // True when a ByteLevel pre-tokenizer ends the chain: the words are to be mapped to GPT-2's
  // byte-level alphabet before the model sees them.
  bool byte_level() const { return byte_level_; }

 private:
  struct Step {
    enum class Kind { kSplit, kPrefixSpace };
    Kind kind = Kind::kSplit;
    std::unique_ptr<Regex> regex;  // kSplit with a regex pattern
    std::string literal;           // kSplit with a string pattern
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
  };

  PreTokenizer() = default;
  // `depth`: the Sequences `spec` is inside of (at most kMaxSequenceDepth).
  absl::Status AddComponent(const Json& spec, const JsonPath& at, bool last, int depth);
  void ApplySplit(const Step& step, absl::string_view piece,
                  std::vector<absl::string_view>* out) const;

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace chord::tokenizer::internal
