#include "common/tokenizer/pre_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/utf8.h"

namespace chord::tokenizer::internal {
namespace {

using Range = std::pair<size_t, size_t>;

// Frees a match data block at scope exit.
class MatchData {
 public:
  explicit MatchData(const pcre2_code* code)
      : data_(pcre2_match_data_create_from_pattern(code, nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data_); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
  pcre2_match_data* get() const { return data_; }

 private:
  pcre2_match_data* data_;
};

// Applies HF's SplitDelimiterBehavior to `pieces` ((range, is_delimiter) in order) and appends
// the resulting non-empty words.
void ApplyBehavior(absl::string_view text, const std::vector<std::pair<Range, bool>>& pieces,
                   SplitBehavior behavior, std::vector<absl::string_view>* out) {
  std::vector<Range> merged;
  merged.reserve(pieces.size());
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const auto& [range, is_match] : pieces) {
        if (!is_match) merged.push_back(range);
      }
      break;
    case SplitBehavior::kIsolated:
      for (const auto& piece : pieces) merged.push_back(piece.first);
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const auto& [range, is_match] : pieces) {
        if (is_match && !previous_match && !merged.empty()) {
          merged.back().second = range.second;
        } else {
          merged.push_back(range);
        }
        previous_match = is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        const auto& [range, is_match] = *it;
        if (is_match && !previous_match && !merged.empty()) {
          merged.back().first = range.first;
        } else {
          merged.push_back(range);
        }
        previous_match = is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const auto& [range, is_match] : pieces) {
        if (is_match == previous_match && !merged.empty()) {
          merged.back().second = range.second;
        } else {
          merged.push_back(range);
        }
        previous_match = is_match;
      }
      break;
    }
  }
  for (const Range& r : merged) {
    if (r.second > r.first) out->push_back(text.substr(r.first, r.second - r.first));
  }
}

absl::StatusOr<SplitBehavior> ParseBehavior(const Json& spec, const JsonPath& at) {
  ASSIGN_OR_RETURN(std::string name, GetString(spec, at, "behavior"));
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return Unsupported(at.Key("behavior"), name,
                     "Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(absl::string_view pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error_code,
                                   &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat("regex does not compile at offset ",
                                                   error_offset, ": ",
                                                   reinterpret_cast<const char*>(message)));
  }
  // JIT is an optimisation: when it is unavailable the interpreter gives the same matches.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(code));
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::FindAll(absl::string_view text, std::vector<Range>* matches) const {
  MatchData match_data(code_);
  if (match_data.get() == nullptr) return;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    int rc = pcre2_match(code_, subject, text.size(), offset, 0, match_data.get(), nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      // The JIT's small machine stack ran out (very long runs); the interpreter keeps its
      // backtracking state on the heap.
      rc =
          pcre2_match(code_, subject, text.size(), offset, PCRE2_NO_JIT, match_data.get(), nullptr);
    }
    if (rc < 0) return;  // no more matches (or a resource limit: the rest stays unmatched)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end > begin) {
      matches->emplace_back(begin, end);
      offset = end;
    } else {
      // An empty match adds nothing (HF drops empty pieces); step over one character.
      offset = begin + CharLength(text, begin);
    }
  }
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(const Json& spec,
                                                                     const JsonPath& at) {
  std::unique_ptr<PreTokenizer> pre(new PreTokenizer());
  if (!spec.is_null()) RETURN_IF_ERROR(pre->AddComponent(spec, at, /*last=*/true, /*depth=*/0));
  return pre;
}

absl::Status PreTokenizer::AddComponent(const Json& spec, const JsonPath& at, bool last,
                                        int depth) {
  if (byte_level_) {
    return at.Error("a ByteLevel pre-tokenizer must be the last one of the sequence");
  }
  ASSIGN_OR_RETURN(std::string type, GetType(spec, at));
  if (type == "Sequence") {
    if (depth >= kMaxSequenceDepth) return SequenceTooDeep(at);
    const Json* list = FindField(spec, "pretokenizers");
    const JsonPath list_at = at.Key("pretokenizers");
    if (list == nullptr || !list->is_array()) return list_at.Error("expected an array");
    for (size_t i = 0; i < list->size(); ++i) {
      RETURN_IF_ERROR(
          AddComponent((*list)[i], list_at.Index(i), last && i + 1 == list->size(), depth + 1));
    }
    return absl::OkStatus();
  }
  if (type == "Split") {
    Step step;
    const Json* pattern = FindField(spec, "pattern");
    const JsonPath pattern_at = at.Key("pattern");
    if (pattern == nullptr || !pattern->is_object()) {
      return pattern_at.Error("expected {\"Regex\": ...} or {\"String\": ...}");
    }
    if (const Json* regex = FindField(*pattern, "Regex"); regex != nullptr) {
      if (!regex->is_string()) return pattern_at.Key("Regex").Error("expected a string");
      auto compiled = Regex::Compile(regex->get<std::string>());
      if (!compiled.ok()) return pattern_at.Key("Regex").Error(compiled.status().message());
      step.regex = std::move(compiled).value();
    } else if (const Json* literal = FindField(*pattern, "String"); literal != nullptr) {
      if (!literal->is_string()) return pattern_at.Key("String").Error("expected a string");
      step.literal = literal->get<std::string>();
      if (step.literal.empty()) return pattern_at.Key("String").Error("empty pattern");
    } else {
      return pattern_at.Error("expected {\"Regex\": ...} or {\"String\": ...}");
    }
    ASSIGN_OR_RETURN(step.behavior, ParseBehavior(spec, at));
    ASSIGN_OR_RETURN(step.invert, GetBool(spec, at, "invert", false));
    steps_.push_back(std::move(step));
    return absl::OkStatus();
  }
  if (type == "ByteLevel") {
    if (!last) return at.Error("a ByteLevel pre-tokenizer must be the last one of the sequence");
    ASSIGN_OR_RETURN(bool add_prefix_space, GetBool(spec, at, "add_prefix_space", true));
    ASSIGN_OR_RETURN(bool use_regex, GetBool(spec, at, "use_regex", true));
    if (add_prefix_space) {
      Step step;
      step.kind = Step::Kind::kPrefixSpace;
      steps_.push_back(std::move(step));
    }
    if (use_regex) {
      Step step;
      ASSIGN_OR_RETURN(step.regex, Regex::Compile(kGpt2Pattern));
      step.behavior = SplitBehavior::kIsolated;
      steps_.push_back(std::move(step));
    }
    byte_level_ = true;
    return absl::OkStatus();
  }
  return Unsupported(at.Key("type"), type, "Split, ByteLevel, Sequence");
}

void PreTokenizer::ApplySplit(const Step& step, absl::string_view piece,
                              std::vector<absl::string_view>* out) const {
  std::vector<Range> matches;
  if (step.regex != nullptr) {
    step.regex->FindAll(piece, &matches);
  } else {
    for (size_t pos = piece.find(step.literal); pos != absl::string_view::npos;
         pos = piece.find(step.literal, pos + step.literal.size())) {
      matches.emplace_back(pos, pos + step.literal.size());
    }
  }
  // Interleave matches with the text between them, as HF's Pattern::find_matches does.
  std::vector<std::pair<Range, bool>> pieces;
  pieces.reserve(matches.size() * 2 + 1);
  size_t previous = 0;
  for (const Range& m : matches) {
    if (m.first > previous) pieces.push_back({{previous, m.first}, false});
    pieces.push_back({m, true});
    previous = m.second;
  }
  if (previous < piece.size()) pieces.push_back({{previous, piece.size()}, false});
  if (step.invert) {
    for (auto& p : pieces) p.second = !p.second;
  }
  ApplyBehavior(piece, pieces, step.behavior, out);
}

void PreTokenizer::Split(absl::string_view text, std::vector<absl::string_view>* words,
                         std::deque<std::string>* storage) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    words->push_back(text);
    return;
  }
  std::vector<absl::string_view> current = {text};
  std::vector<absl::string_view> next;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const Step& step = steps_[s];
    std::vector<absl::string_view>* out = s + 1 == steps_.size() ? words : &next;
    for (absl::string_view piece : current) {
      if (step.kind == Step::Kind::kPrefixSpace) {
        if (piece.empty() || piece[0] != ' ') {
          storage->push_back(absl::StrCat(" ", piece));
          out->push_back(storage->back());
        } else {
          out->push_back(piece);
        }
      } else {
        ApplySplit(step, piece, out);
      }
    }
    if (out == &next) {
      current.swap(next);
      next.clear();
    }
  }
}

}  // namespace chord::tokenizer::internal
