#include "services/reward/countdown_verifier.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/reward/exact_rational.h"
#include "services/reward/latex_normalize.h"
#include "services/reward/reason_text.h"

namespace chord::reward {
namespace {

constexpr size_t kMaxExpressionBytes = 512;
constexpr int kMaxDepth = 32;
constexpr size_t kMaxNumbers = 64;
constexpr size_t kMaxLiteralDigits = 18;
// Deepest nesting of arrays and objects meta_json may have. nlohmann's parser is not recursive,
// but it keeps every level in memory (about 180 bytes each: 1 MiB of "[" is 180 MB).
constexpr int kMaxMetaDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- the task ----

absl::Status ReadJsonInteger(const nlohmann::json& value, absl::string_view field, int64_t* out) {
  if (value.is_number_integer()) {
    *out = value.get<int64_t>();
    return absl::OkStatus();
  }
  if (value.is_number_float()) {
    // The range first: converting a double outside int64_t's range (or NaN) is undefined.
    const double d = value.get<double>();
    if (std::abs(d) < 1e15 && d == std::trunc(d)) {
      *out = static_cast<int64_t>(d);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(field, " must be an integer"));
}

// True when the arrays and objects of `json` nest at most `max_depth` levels (brackets inside
// strings do not count). Malformed text is left for the parser to report.
bool NestingWithin(absl::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// Fills `numbers` / `target` (when not yet set) from meta_json.
absl::Status FromMeta(absl::string_view meta_json, std::optional<std::vector<int64_t>>* numbers,
                      std::optional<int64_t>* target) {
  if (TrimWhitespace(meta_json).empty()) return absl::OkStatus();
  if (!NestingWithin(meta_json, kMaxMetaDepth)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "meta_json: arrays and objects nested deeper than ", kMaxMetaDepth, " levels"));
  }
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_json.begin(), meta_json.end());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("meta_json: invalid JSON: ", e.what()));
  }
  if (!meta.is_object()) return absl::InvalidArgumentError("meta_json: not a JSON object");
  for (const char* key : {"numbers", "nums"}) {
    auto it = meta.find(key);
    if (it == meta.end()) continue;
    if (!it->is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("meta_json: \"", key, "\" must be an array of integers"));
    }
    if (it->size() > kMaxNumbers) {
      return absl::InvalidArgumentError(
          absl::StrCat("meta_json: \"", key, "\" has more than ", kMaxNumbers, " numbers"));
    }
    std::vector<int64_t> list;
    for (const nlohmann::json& element : *it) {
      int64_t value;
      RETURN_IF_ERROR(ReadJsonInteger(element, absl::StrCat("meta_json: \"", key, "\"[]"), &value));
      list.push_back(value);
    }
    *numbers = std::move(list);
    break;
  }
  auto it = meta.find("target");
  if (it != meta.end()) {
    int64_t value;
    RETURN_IF_ERROR(ReadJsonInteger(*it, "meta_json: \"target\"", &value));
    *target = value;
  }
  return absl::OkStatus();
}

// Integers in `text` separated by commas/spaces, optionally inside [ ].
std::optional<std::vector<int64_t>> ParseIntegerList(absl::string_view text) {
  text = TrimWhitespace(text);
  if (absl::ConsumePrefix(&text, "[")) {
    if (!absl::ConsumeSuffix(&text, "]")) return std::nullopt;
  }
  std::vector<int64_t> list;
  for (absl::string_view piece : absl::StrSplit(text, absl::ByAnyChar(", "), absl::SkipEmpty())) {
    int64_t value;
    if (!absl::SimpleAtoi(piece, &value) || list.size() >= kMaxNumbers) return std::nullopt;
    list.push_back(value);
  }
  if (list.empty()) return std::nullopt;
  return list;
}

absl::Status FromReference(absl::string_view reference,
                           std::optional<std::vector<int64_t>>* numbers,
                           std::optional<int64_t>* target) {
  reference = TrimWhitespace(reference);
  if (reference.empty()) return absl::OkStatus();
  int64_t bare;
  if (absl::SimpleAtoi(reference, &bare)) {
    if (!*target) *target = bare;
    return absl::OkStatus();
  }
  if (!absl::StrContains(reference, "=")) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference: ", Quote(reference),
                     " is neither an integer target nor \"numbers=...;target=...\""));
  }
  for (absl::string_view part : absl::StrSplit(reference, ';', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, '=');
    absl::string_view key = TrimWhitespace(kv.first);
    absl::string_view value = TrimWhitespace(kv.second);
    if (key == "numbers" || key == "nums") {
      std::optional<std::vector<int64_t>> list = ParseIntegerList(value);
      if (!list) {
        return absl::InvalidArgumentError(
            absl::StrCat("reference: numbers ", Quote(value), " is not a list of integers"));
      }
      if (!*numbers) *numbers = std::move(list);
    } else if (key == "target") {
      int64_t value_int;
      if (!absl::SimpleAtoi(value, &value_int)) {
        return absl::InvalidArgumentError(
            absl::StrCat("reference: target ", Quote(value), " is not an integer"));
      }
      if (!*target) *target = value_int;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("reference: unknown key ", Quote(key),
                                                     " (expected numbers=...;target=...)"));
    }
  }
  return absl::OkStatus();
}

// The integer right after `pos` (skipping spaces, ':', '=', "is"), if any.
std::optional<int64_t> IntegerAfter(absl::string_view text, size_t pos) {
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == ':' || text[pos] == '=')) ++pos;
  if (text.substr(pos, 3) == "is ") pos += 3;
  while (pos < text.size() && text[pos] == ' ') ++pos;
  size_t end = pos;
  if (end < text.size() && text[end] == '-') ++end;
  while (end < text.size() && IsDigit(text[end]) && end - pos <= kMaxLiteralDigits) ++end;
  int64_t value;
  if (end == pos || !absl::SimpleAtoi(text.substr(pos, end - pos), &value)) return std::nullopt;
  return value;
}

void FromPrompt(absl::string_view prompt, std::optional<std::vector<int64_t>>* numbers,
                std::optional<int64_t>* target) {
  std::string lower = absl::AsciiStrToLower(prompt);
  if (!*numbers) {
    size_t word = lower.find("numbers");
    if (word != std::string::npos) {
      size_t open = lower.find('[', word);
      size_t close = open == std::string::npos ? open : lower.find(']', open);
      if (close != std::string::npos) {
        *numbers = ParseIntegerList(absl::string_view(lower).substr(open, close - open + 1));
      }
    }
  }
  if (!*target) {
    for (absl::string_view marker : {"equals", "equal to", "target"}) {
      size_t at = absl::string_view(lower).find(marker);
      if (at == absl::string_view::npos) continue;
      std::optional<int64_t> value = IntegerAfter(lower, at + marker.size());
      if (value) {
        *target = value;
        break;
      }
    }
  }
}

// ---- the expression ----

// Exact evaluation of a countdown expression, recording the literals it uses.
class ExpressionParser {
 public:
  explicit ExpressionParser(absl::string_view text) : text_(text) {}

  absl::StatusOr<Rational> Parse() {
    absl::StatusOr<Rational> value = Expr();
    if (!value.ok()) return value;
    SkipSpaces();
    if (pos_ < text_.size()) return Error("unexpected character");
    return value;
  }

  const std::vector<int64_t>& literals() const { return literals_; }

 private:
  absl::Status Error(absl::string_view what) const {
    std::string near = pos_ < text_.size() ? absl::StrCat(" '", text_.substr(pos_, 1), "'") : "";
    return absl::InvalidArgumentError(absl::StrCat(what, near, " at offset ", pos_));
  }
  void SkipSpaces() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  char Peek() {
    SkipSpaces();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  absl::StatusOr<Rational> Expr() {
    if (++depth_ > kMaxDepth) return Error("nested too deeply");
    absl::StatusOr<Rational> left = Term();
    while (left.ok() && (Peek() == '+' || Peek() == '-')) {
      char op = text_[pos_++];
      absl::StatusOr<Rational> right = Term();
      if (!right.ok()) return right;
      std::optional<Rational> r = op == '+' ? left->Add(*right) : left->Sub(*right);
      if (!r) return Error("arithmetic overflow");
      left = *r;
    }
    --depth_;
    return left;
  }

  absl::StatusOr<Rational> Term() {
    absl::StatusOr<Rational> left = Factor();
    while (left.ok() && (Peek() == '*' || Peek() == '/')) {
      char op = text_[pos_++];
      absl::StatusOr<Rational> right = Factor();
      if (!right.ok()) return right;
      if (op == '/' && right->num() == 0) return Error("division by zero");
      std::optional<Rational> r = op == '*' ? left->Mul(*right) : left->Div(*right);
      if (!r) return Error("arithmetic overflow");
      left = *r;
    }
    return left;
  }

  absl::StatusOr<Rational> Factor() {
    if (++depth_ > kMaxDepth) return Error("nested too deeply");
    char c = Peek();
    absl::StatusOr<Rational> value;
    if (c == '-' || c == '+') {
      ++pos_;
      value = Factor();
      if (value.ok() && c == '-') {
        std::optional<Rational> negated = value->Negate();
        if (!negated) return Error("arithmetic overflow");
        value = *negated;
      }
    } else if (c == '(') {
      ++pos_;
      value = Expr();
      if (value.ok()) {
        if (Peek() != ')') return Error("expected ')'");
        ++pos_;
      }
    } else if (IsDigit(c)) {
      size_t start = pos_;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.') return Error("only integers may be used");
      if (pos_ - start > kMaxLiteralDigits) return Error("number too long");
      int64_t literal = 0;
      absl::SimpleAtoi(text_.substr(start, pos_ - start), &literal);
      literals_.push_back(literal);
      value = *Rational::Make(literal);
    } else {
      value = Error(c == '\0' ? "unexpected end" : "expected a number or '('");
    }
    --depth_;
    return value;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::vector<int64_t> literals_;
};

// The expression text in the response (see countdown_verifier.h), cleaned of markup.
std::string ExtractExpression(absl::string_view response, std::string* from) {
  absl::string_view raw;
  size_t open = response.rfind("<answer>");
  size_t close = open == absl::string_view::npos ? open : response.find("</answer>", open);
  std::optional<absl::string_view> boxed;
  if (close != absl::string_view::npos) {
    raw = response.substr(open + 8, close - open - 8);
    *from = "<answer>";
  } else if ((boxed = ExtractLastBoxed(response))) {
    raw = *boxed;
    *from = "\\boxed{}";
  } else {
    absl::string_view rest = TrimWhitespace(response);
    size_t newline = rest.rfind('\n');
    raw = newline == absl::string_view::npos ? rest : rest.substr(newline + 1);
    *from = "the last line";
  }
  raw = TrimWhitespace(raw);
  if (raw.size() > kMaxExpressionBytes) return std::string(raw);
  std::string text = absl::StrReplaceAll(raw, {{"\\times", "*"},
                                               {"\\cdot", "*"},
                                               {"\\div", "/"},
                                               {"\xC3\x97", "*"},
                                               {"\xC3\xB7", "/"},
                                               {"\xE2\x88\x92", "-"},
                                               {"\\left", ""},
                                               {"\\right", ""},
                                               {"\\(", ""},
                                               {"\\)", ""},
                                               {"$", ""},
                                               {"\\[", ""},
                                               {"\\]", ""},
                                               {"\n", " "},
                                               {"\t", " "},
                                               {"{", "("},
                                               {"}", ")"},
                                               {"[", "("},
                                               {"]", ")"}});
  while (!text.empty() && (text.back() == '.' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string FormatList(const std::vector<int64_t>& list) {
  return absl::StrCat("[", absl::StrJoin(list, ", "), "]");
}

}  // namespace

absl::StatusOr<CountdownTask> ParseCountdownTask(const ScoreInput& input) {
  std::optional<std::vector<int64_t>> numbers;
  std::optional<int64_t> target;
  RETURN_IF_ERROR(FromMeta(input.meta_json, &numbers, &target));
  if (!numbers || !target) RETURN_IF_ERROR(FromReference(input.reference, &numbers, &target));
  if (!numbers || !target) FromPrompt(input.prompt, &numbers, &target);
  if (!numbers) {
    return absl::InvalidArgumentError(
        "meta_json: no countdown numbers (give {\"numbers\": [...]} in meta_json, "
        "\"numbers=...;target=...\" in reference, or \"numbers [..]\" in the prompt)");
  }
  if (!target) {
    return absl::InvalidArgumentError(
        "meta_json: no countdown target (give {\"target\": N} in meta_json, \"target=N\" in "
        "reference, or \"equals N\" in the prompt)");
  }
  return CountdownTask{std::move(*numbers), *target};
}

absl::Status CountdownVerifier::ValidateTask(const ScoreInput& input) const {
  return ParseCountdownTask(input).status();
}

VerifierResult CountdownVerifier::Score(const ScoreInput& input) const {
  VerifierResult result;
  absl::StatusOr<CountdownTask> task = ParseCountdownTask(input);
  if (!task.ok()) {
    result.reason = absl::StrCat("task: ", task.status().message());
    return result;
  }
  std::string from;
  std::string text = ExtractExpression(input.response, &from);
  result.extracted = std::string(Utf8Prefix(text, kMaxExpressionBytes));
  if (text.empty()) {
    result.reason = absl::StrCat("no expression found (", from, " is empty)");
    return result;
  }
  if (text.size() > kMaxExpressionBytes) {
    result.reason = absl::StrCat("the expression in ", from, " is ", text.size(),
                                 " bytes, over the limit of ", kMaxExpressionBytes);
    return result;
  }
  // "expr = target" or "target = expr": keep the side with operators.
  absl::string_view expression = text;
  std::vector<absl::string_view> sides = absl::StrSplit(text, '=');
  if (sides.size() == 2) {
    absl::string_view left = TrimWhitespace(sides[0]);
    absl::string_view right = TrimWhitespace(sides[1]);
    int64_t unused;
    expression =
        absl::SimpleAtoi(left, &unused) && !absl::SimpleAtoi(right, &unused) ? right : left;
  } else if (sides.size() > 2) {
    result.reason = absl::StrCat("expression ", Quote(text), " has more than one '='");
    return result;
  }
  ExpressionParser parser(expression);
  absl::StatusOr<Rational> value = parser.Parse();
  if (!value.ok()) {
    result.reason =
        absl::StrCat("cannot parse ", Quote(expression), ": ", value.status().message());
    return result;
  }
  std::vector<int64_t> available = task->numbers;
  for (int64_t literal : parser.literals()) {
    auto it = std::find(available.begin(), available.end(), literal);
    if (it == available.end()) {
      result.reason = absl::StrCat("expression ", Quote(expression), " uses ", literal,
                                   ", which is not among the numbers ", FormatList(task->numbers),
                                   " or is used more than once");
      return result;
    }
    available.erase(it);
  }
  std::optional<Rational> target = Rational::Make(task->target);
  result.correct = target && *value == *target;
  result.score = result.correct ? 1.0 : 0.0;
  result.reason = absl::StrCat("expression ", Quote(expression), " = ", value->ToString(),
                               result.correct ? " equals" : " does not equal", " the target ",
                               task->target, " (numbers ", FormatList(task->numbers), ")");
  return result;
}

}  // namespace chord::reward
