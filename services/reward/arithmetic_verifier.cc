#include "services/reward/arithmetic_verifier.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/reward/latex_normalize.h"
#include "services/reward/reason_text.h"

namespace chord::reward {
namespace {

// Longest number token considered (digits, separators, sign); longer runs are cut.
constexpr size_t kMaxNumberBytes = 512;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

struct NumberToken {
  absl::string_view text;  // as written ("+1,234", "42.5")
  std::string integer;     // canonical integer when integral ("1234"), else empty
  bool is_integer = false;
};

// Reads the number starting at text[i] (a sign, or a digit). Thousands groups are accepted only
// as complete ",ddd" groups after a first group of 1-3 digits.
std::optional<NumberToken> ReadNumber(absl::string_view text, size_t i) {
  size_t start = i;
  std::string digits;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    if (text[i] == '-') digits.push_back('-');
    ++i;
  }
  size_t lead = 0;
  while (i < text.size() && IsDigit(text[i]) && i - start < kMaxNumberBytes) {
    digits.push_back(text[i]);
    ++i;
    ++lead;
  }
  if (lead == 0) return std::nullopt;
  if (lead <= 3) {
    while (i + 3 < text.size() && text[i] == ',' && IsDigit(text[i + 1]) && IsDigit(text[i + 2]) &&
           IsDigit(text[i + 3]) && (i + 4 >= text.size() || !IsDigit(text[i + 4])) &&
           i - start < kMaxNumberBytes) {
      digits.append(text.data() + i + 1, 3);
      i += 4;
    }
  }
  NumberToken token;
  token.is_integer = true;
  if (i + 1 < text.size() && text[i] == '.' && IsDigit(text[i + 1])) {
    token.is_integer = false;
    ++i;
    while (i < text.size() && IsDigit(text[i]) && i - start < kMaxNumberBytes) ++i;
  }
  token.text = text.substr(start, i - start);
  if (token.is_integer) token.integer = CanonicalInteger(digits);
  return token;
}

// True when text[i] ('+' or '-') is a sign rather than an operator: nothing alphanumeric or
// closing before it.
bool IsSignPosition(absl::string_view text, size_t i) {
  if (i == 0) return true;
  char before = text[i - 1];
  return !(absl::ascii_isalnum(static_cast<unsigned char>(before)) || before == ')' ||
           before == ']' || before == '}');
}

// The first number in text[i..], skipping spaces and markup ('*', '$', ':', '=', '\(').
std::optional<NumberToken> NumberAfter(absl::string_view text, size_t i) {
  while (i < text.size() && (absl::ascii_isspace(static_cast<unsigned char>(text[i])) ||
                             text[i] == '*' || text[i] == '$' || text[i] == ':' || text[i] == '=' ||
                             text[i] == '\\' || text[i] == '(')) {
    ++i;
  }
  if (i >= text.size()) return std::nullopt;
  if (IsDigit(text[i]) ||
      ((text[i] == '-' || text[i] == '+') && i + 1 < text.size() && IsDigit(text[i + 1]))) {
    return ReadNumber(text, i);
  }
  return std::nullopt;
}

// The last number anywhere in `text`, and where it starts.
std::optional<NumberToken> LastNumber(absl::string_view text, size_t* start_out) {
  std::optional<NumberToken> last;
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    bool signed_start = (c == '-' || c == '+') && i + 1 < text.size() && IsDigit(text[i + 1]) &&
                        IsSignPosition(text, i);
    if (IsDigit(c) || signed_start) {
      std::optional<NumberToken> token = ReadNumber(text, i);
      if (token) {
        last = token;
        *start_out = i;
        i += token->text.size();
        continue;
      }
    }
    ++i;
  }
  return last;
}

// Position just after the last case-insensitive occurrence of `needle`, or npos.
size_t AfterLast(absl::string_view lower_text, absl::string_view needle) {
  size_t pos = lower_text.rfind(needle);
  return pos == absl::string_view::npos ? pos : pos + needle.size();
}

struct Extraction {
  std::optional<NumberToken> number;
  std::string from;     // where it came from, for the reason
  std::string problem;  // why nothing usable was extracted
  std::string raw;      // the extracted text when it is not a number token
};

Extraction ExtractAnswer(absl::string_view response) {
  Extraction e;
  std::optional<absl::string_view> boxed = ExtractLastBoxed(response);
  if (boxed) {
    e.from = "the last \\boxed{}";
    e.raw = std::string(Utf8Prefix(TrimWhitespace(*boxed), kMaxAnswerBytes));
    std::string normalized = NormalizeLatexAnswer(*boxed);
    if (normalized.size() <= kMaxNumberBytes) {
      std::optional<NumberToken> token = ReadNumber(normalized, 0);
      if (token && token->text.size() == normalized.size()) {
        // `token` views `normalized`, which dies here: keep only its value; e.raw is shown.
        token->text = absl::string_view();
        e.number = std::move(token);
        return e;
      }
    }
    e.problem = "is not a number";
    return e;
  }
  size_t hashes = response.rfind("####");
  if (hashes != absl::string_view::npos) {
    e.from = "the last ####";
    e.number = NumberAfter(response, hashes + 4);
    if (!e.number) e.problem = "is not followed by a number";
    return e;
  }
  std::string lower = absl::AsciiStrToLower(response);
  size_t best = absl::string_view::npos;
  for (absl::string_view marker : {"answer:", "answer is", "answer ="}) {
    size_t after = AfterLast(lower, marker);
    if (after != absl::string_view::npos && (best == absl::string_view::npos || after > best)) {
      best = after;
    }
  }
  if (best != absl::string_view::npos) {
    std::optional<NumberToken> token = NumberAfter(response, best);
    if (token) {
      e.from = "the last \"answer\"";
      e.number = token;
      return e;
    }
  }
  size_t start = 0;
  std::optional<NumberToken> last = LastNumber(response, &start);
  if (!last) {
    e.problem = "no number found";
    return e;
  }
  // A final "= N" (only markup and punctuation after it) names the answer explicitly.
  absl::string_view tail = response.substr(start + last->text.size());
  bool at_end = true;
  for (char c : tail) {
    if (!(absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '.' || c == '*' || c == '$' ||
          c == '!' || c == ')' || c == '\\')) {
      at_end = false;
      break;
    }
  }
  size_t before = start;
  while (before > 0 && (response[before - 1] == ' ' || response[before - 1] == '$')) --before;
  e.from =
      at_end && before > 0 && response[before - 1] == '=' ? "the final \"= N\"" : "the last number";
  e.number = last;
  return e;
}

// The reference integer in canonical form, or nullopt.
std::optional<std::string> ReferenceInteger(absl::string_view reference) {
  size_t hashes = reference.rfind("####");
  absl::string_view text =
      TrimWhitespace(hashes == absl::string_view::npos ? reference : reference.substr(hashes + 4));
  while (!text.empty() && text.back() == '.') text.remove_suffix(1);
  if (text.empty() || text.size() > kMaxNumberBytes) return std::nullopt;
  std::optional<NumberToken> token = ReadNumber(text, 0);
  if (!token || token->text.size() != text.size() || !token->is_integer) return std::nullopt;
  return token->integer;
}

}  // namespace

absl::Status ArithmeticVerifier::ValidateTask(const ScoreInput& input) const {
  if (!ReferenceInteger(input.reference)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference: ", Quote(input.reference), " is not an integer"));
  }
  return absl::OkStatus();
}

VerifierResult ArithmeticVerifier::Score(const ScoreInput& input) const {
  VerifierResult result;
  std::optional<std::string> reference = ReferenceInteger(input.reference);
  if (!reference) {
    result.reason = absl::StrCat("reference ", Quote(input.reference), " is not an integer");
    return result;
  }
  Extraction e = ExtractAnswer(input.response);
  if (!e.number) {
    result.extracted = e.raw;
    result.reason =
        e.from.empty()
            ? e.problem
            : absl::StrCat(e.from, " ", e.raw.empty() ? "" : Quote(e.raw) + " ", e.problem);
    return result;
  }
  // The number as written in the response (the whole box content for a boxed answer).
  std::string shown = e.number->text.empty() ? e.raw : std::string(e.number->text);
  result.extracted = shown;
  if (!e.number->is_integer) {
    result.reason =
        absl::StrCat("extracted ", Quote(shown), " from ", e.from, ": a decimal, not an integer");
    return result;
  }
  result.correct = e.number->integer == *reference;
  result.score = result.correct ? 1.0 : 0.0;
  result.reason =
      absl::StrCat("extracted ", Quote(shown), " from ", e.from,
                   result.correct ? " equals" : " does not equal", " reference ", *reference);
  return result;
}

}  // namespace chord::reward
