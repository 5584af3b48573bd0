#include "services/reward/latex_normalize.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "services/reward/math_expression.h"

namespace chord::reward {
namespace {

constexpr size_t kNpos = absl::string_view::npos;

bool IsAlpha(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

size_t SkipSpaces(absl::string_view s, size_t i) {
  while (i < s.size() && IsSpace(s[i])) ++i;
  return i;
}

// True when s[i..] is `\name` not followed by another letter.
bool CommandAt(absl::string_view s, size_t i, absl::string_view name) {
  if (i >= s.size() || s[i] != '\\') return false;
  if (s.substr(i + 1, name.size()) != name) return false;
  size_t end = i + 1 + name.size();
  return end >= s.size() || !IsAlpha(s[end]);
}

// Index of the '}' that closes the '{' at s[open], skipping escaped characters; kNpos if none.
size_t MatchingBrace(absl::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      ++i;
      continue;
    }
    if (c == '{') {
      ++depth;
    } else if (c == '}') {
      if (--depth == 0) return i;
    }
  }
  return kNpos;
}

bool IsDroppedCommand(absl::string_view name) {
  static constexpr absl::string_view kDropped[] = {
      "left", "right", "displaystyle", "textstyle", "big",    "Big",      "bigg",     "Bigg",
      "bigl", "bigr",  "Bigl",         "Bigr",      "biggl",  "biggr",    "Biggl",    "Biggr",
      "quad", "qquad", "degree",       "circ",      "limits", "nolimits", "mathstrut"};
  for (absl::string_view d : kDropped) {
    if (name == d) return true;
  }
  return false;
}

// Commands whose braced argument is plain text: replaced by their content.
bool IsTextWrapper(absl::string_view name) {
  static constexpr absl::string_view kWrappers[] = {
      "text",   "textbf", "textit",     "textrm", "textnormal",  "textsf",
      "texttt", "mathrm", "mathbf",     "mathit", "mathsf",      "mathtt",
      "mbox",   "hbox",   "boldsymbol", "bm",     "operatorname"};
  for (absl::string_view w : kWrappers) {
    if (name == w) return true;
  }
  return false;
}

// True when what follows a text group ending at s[close] is only an exponent (m^2), dollars,
// spaces or a period: the group is then a trailing unit.
bool OnlyUnitTailAfter(absl::string_view s, size_t close) {
  size_t i = close + 1;
  auto skip_filler = [&] {
    while (i < s.size() && (IsSpace(s[i]) || s[i] == '$' || s[i] == '.')) ++i;
  };
  skip_filler();
  if (i < s.size() && s[i] == '^') {
    i = SkipSpaces(s, i + 1);
    if (i < s.size() && s[i] == '{') {
      size_t end = MatchingBrace(s, i);
      if (end == kNpos) return false;
      i = end + 1;
    } else if (i < s.size()) {
      ++i;
    }
    skip_filler();
  }
  return i >= s.size();
}

// The main rewriting pass (see latex_normalize.h).
std::string Rewrite(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::vector<size_t> drop_close;  // '}' positions of text wrappers; innermost (smallest) last
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    while (!drop_close.empty() && drop_close.back() < i) drop_close.pop_back();
    if (!drop_close.empty() && drop_close.back() == i) {
      drop_close.pop_back();
      ++i;
      continue;
    }
    char c = s[i];
    if (IsSpace(c) || c == '$' || c == '~') {
      ++i;
      continue;
    }
    if (c == '^') {
      // Degrees: ^\circ and ^{\circ} disappear.
      size_t j = SkipSpaces(s, i + 1);
      if (CommandAt(s, j, "circ")) {
        i = j + 5;
        continue;
      }
      if (j < n && s[j] == '{') {
        size_t k = SkipSpaces(s, j + 1);
        if (CommandAt(s, k, "circ")) {
          size_t m = SkipSpaces(s, k + 5);
          if (m < n && s[m] == '}') {
            i = m + 1;
            continue;
          }
        }
      }
      out.push_back('^');
      ++i;
      continue;
    }
    if (c != '\\') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 >= n) {  // a lone trailing backslash
      ++i;
      continue;
    }
    char next = s[i + 1];
    if (!IsAlpha(next)) {
      switch (next) {
        case '!':
        case ',':
        case ';':
        case ':':
        case ' ':
        case '\\':
        case '$':
        case '\n':
        case '\t':
          break;
        case '%':
          out.push_back('%');
          break;
        default:  // \{ \} \( \) ...
          out.push_back('\\');
          out.push_back(next);
      }
      i += 2;
      continue;
    }
    size_t j = i + 1;
    while (j < n && IsAlpha(s[j])) ++j;
    absl::string_view name = s.substr(i + 1, j - i - 1);
    i = j;
    if (IsDroppedCommand(name)) continue;
    if (IsTextWrapper(name)) {
      size_t k = SkipSpaces(s, i);
      if (k < n && s[k] == '{') {
        size_t close = MatchingBrace(s, k);
        if (close != kNpos) {
          char last = out.empty() ? '\0' : out.back();
          bool after_number = IsDigit(last) || last == '}' || last == ')' || last == '%';
          if (after_number && OnlyUnitTailAfter(s, close)) break;  // a trailing unit
          drop_close.push_back(close);
        }
        i = k + 1;
      }
      continue;
    }
    if (name == "dfrac" || name == "tfrac" || name == "cfrac") {
      name = "frac";
    } else if (name == "cdot" || name == "times" || name == "ast") {
      out.push_back('*');
      continue;
    } else if (name == "div") {
      out.push_back('/');
      continue;
    } else if (name == "le") {
      name = "leq";
    } else if (name == "ge") {
      name = "geq";
    } else if (name == "ne") {
      name = "neq";
    } else if (name == "infinity") {
      name = "infty";
    }
    out.push_back('\\');
    out.append(name.data(), name.size());
    // Keep "\pi r" from becoming the command "\pir".
    size_t k = SkipSpaces(s, i);
    if (k < n && IsAlpha(s[k])) out.push_back(' ');
  }
  return out;
}

// "x=..." / "\theta=..." / "x_1=..." / "x_{12}=...": the length of the assignment prefix (up to
// and including '='), or 0 when `s` does not start with one or has another '='.
size_t AssignmentPrefixLength(absl::string_view s) {
  size_t i = 0;
  if (s.empty()) return 0;
  if (IsAlpha(s[0])) {
    i = 1;
  } else if (s[0] == '\\') {
    i = 1;
    while (i < s.size() && IsAlpha(s[i])) ++i;
    if (i == 1) return 0;
  } else {
    return 0;
  }
  if (i < s.size() && s[i] == '_') {
    ++i;
    if (i < s.size() && s[i] == '{') {
      size_t close = MatchingBrace(s, i);
      if (close == kNpos) return 0;
      i = close + 1;
    } else if (i < s.size() && absl::ascii_isalnum(static_cast<unsigned char>(s[i]))) {
      ++i;
    } else {
      return 0;
    }
  }
  if (i >= s.size() || s[i] != '=' || i + 1 >= s.size()) return 0;
  if (s.find('=', i + 1) != kNpos) return 0;
  return i + 1;
}

// ---- comparison ----

bool IsOpenBracket(absl::string_view s, size_t i, size_t* width) {
  *width = 1;
  if (s[i] == '(' || s[i] == '[' || s[i] == '{') return true;
  if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '{') {
    *width = 2;
    return true;
  }
  return false;
}

bool IsCloseBracket(absl::string_view s, size_t i, size_t* width) {
  *width = 1;
  if (s[i] == ')' || s[i] == ']' || s[i] == '}') return true;
  if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '}') {
    *width = 2;
    return true;
  }
  return false;
}

// Splits `s` at top-level (bracket depth 0) occurrences of `sep`.
std::vector<absl::string_view> SplitTopLevel(absl::string_view s, absl::string_view sep) {
  std::vector<absl::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    size_t width;
    if (depth == 0 && s.substr(i, sep.size()) == sep &&
        (sep[0] != '\\' || i + sep.size() >= s.size() || !IsAlpha(s[i + sep.size()]))) {
      parts.push_back(s.substr(start, i - start));
      i += sep.size();
      start = i;
    } else if (IsOpenBracket(s, i, &width)) {
      ++depth;
      i += width;
    } else if (IsCloseBracket(s, i, &width)) {
      --depth;
      i += width;
    } else if (s[i] == '\\') {
      i += 2;
    } else {
      ++i;
    }
  }
  parts.push_back(s.substr(std::min(start, s.size())));
  return parts;
}

struct Structured {
  absl::string_view open;
  absl::string_view close;
  std::vector<absl::string_view> elements;
};

// A tuple/interval/set "(a,b)" "[a,b)" "\{a,b\}", a bare list "a,b", or a single value.
Structured Structure(absl::string_view s) {
  Structured result;
  if (s.size() >= 2) {
    size_t open_width, close_width;
    if (IsOpenBracket(s, 0, &open_width) && s[0] != '{') {
      size_t last =
          s.back() == '}' && s.size() >= 2 && s[s.size() - 2] == '\\' ? s.size() - 2 : s.size() - 1;
      if (IsCloseBracket(s, last, &close_width) && s[last] != '}' &&
          last + close_width == s.size() && last >= open_width) {
        // The first bracket must stay open until the last character.
        int depth = 0;
        bool closes_early = false;
        for (size_t i = 0; i < last;) {
          size_t width;
          if (IsOpenBracket(s, i, &width)) {
            ++depth;
          } else if (IsCloseBracket(s, i, &width)) {
            if (--depth == 0) closes_early = true;
          } else {
            width = s[i] == '\\' ? 2 : 1;
          }
          i += width;
        }
        absl::string_view inner = s.substr(open_width, last - open_width);
        std::vector<absl::string_view> elements = SplitTopLevel(inner, ",");
        if (!closes_early && elements.size() >= 2) {
          result.open = s.substr(0, open_width);
          result.close = s.substr(last);
          result.elements = std::move(elements);
          return result;
        }
      }
    }
  }
  result.elements = SplitTopLevel(s, ",");
  return result;
}

bool IsWordsOnly(absl::string_view s) {
  for (char c : s) {
    if (!IsAlpha(c)) return false;
  }
  return !s.empty();
}

std::string FormatValue(const MathValue& v) {
  if (v.exact) return v.exact->ToString();
  return absl::StrFormat("%.10g", v.approx);
}

// The values `s` may stand for: itself and, with a trailing '%', also without it (50% ~ 50).
std::vector<MathValue> CandidateValues(absl::string_view s) {
  std::vector<MathValue> values;
  absl::StatusOr<MathValue> full = EvaluateMathExpression(s);
  if (full.ok()) values.push_back(*full);
  if (!s.empty() && s.back() == '%') {
    absl::StatusOr<MathValue> bare = EvaluateMathExpression(s.substr(0, s.size() - 1));
    if (bare.ok()) values.push_back(*bare);
  }
  return values;
}

AnswerComparison CompareScalar(absl::string_view a, absl::string_view b, double tol) {
  if (a == b) return {true, "same text after normalisation"};
  if (IsIntegerLiteral(a) && IsIntegerLiteral(b)) {
    if (CanonicalInteger(a) == CanonicalInteger(b)) return {true, "equal integers"};
    return {false, "different integers"};
  }
  std::vector<MathValue> left = CandidateValues(a);
  std::vector<MathValue> right = CandidateValues(b);
  if (!left.empty() && !right.empty()) {
    bool unknown = false;
    for (const MathValue& x : left) {
      for (const MathValue& y : right) {
        switch (CompareMathValues(x, y, tol)) {
          case ValueMatch::kExactEqual:
            return {true, "equal exact values"};
          case ValueMatch::kNumericEqual:
            return {true, absl::StrFormat("equal within relative tolerance %g", tol)};
          case ValueMatch::kUnknown:
            unknown = true;
            break;
          case ValueMatch::kNotEqual:
            break;
        }
      }
    }
    if (unknown) return {false, "values too large for exact int64 arithmetic", false};
    return {false,
            absl::StrCat("values differ: ", FormatValue(left[0]), " vs ", FormatValue(right[0]))};
  }
  if (IsWordsOnly(a) && IsWordsOnly(b) && absl::EqualsIgnoreCase(a, b)) {
    return {true, "same words ignoring case"};
  }
  if (left.empty() != right.empty()) return {false, "only one side is a number", false};
  return {false, "different text", false};
}

AnswerComparison CompareStructured(absl::string_view a, absl::string_view b, double tol) {
  Structured x = Structure(a);
  Structured y = Structure(b);
  if (x.elements.size() == 1 && y.elements.size() == 1 && x.open.empty() && y.open.empty()) {
    return CompareScalar(a, b, tol);
  }
  if (x.elements.size() != y.elements.size()) {
    return {false,
            absl::StrCat(x.elements.size(), " element(s) vs the reference's ", y.elements.size()),
            false};
  }
  if (x.open != y.open || x.close != y.close) {
    return {false,
            absl::StrCat("brackets ", x.open.empty() ? "none" : x.open, "..", x.close,
                         " vs the reference's ", y.open.empty() ? "none" : y.open, "..", y.close),
            false};
  }
  // Tuples and intervals are ordered; bare lists (several answers) and sets are not.
  bool ordered = !x.open.empty() && x.open != "\\{";
  for (size_t k = 0; k < x.elements.size(); ++k) {
    AnswerComparison element = CompareScalar(x.elements[k], y.elements[k], tol);
    if (!element.equal) {
      return {false,
              absl::StrCat("element ", k + 1, " of ", x.elements.size(), " differs (", element.how,
                           ")"),
              ordered && element.decided};
    }
  }
  return {true, absl::StrCat("all ", x.elements.size(), " elements equal in order")};
}

}  // namespace

bool IsThousandsSeparatedNumber(absl::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t lead = 0;
  while (i < s.size() && IsDigit(s[i])) {
    ++i;
    ++lead;
  }
  if (lead < 1 || lead > 3) return false;
  int groups = 0;
  while (i < s.size() && s[i] == ',') {
    for (int k = 1; k <= 3; ++k) {
      if (i + k >= s.size() || !IsDigit(s[i + k])) return false;
    }
    i += 4;
    ++groups;
  }
  if (groups == 0) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t frac = 0;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
      ++frac;
    }
    if (frac == 0) return false;
  }
  return i == s.size();
}

std::optional<absl::string_view> ExtractLastBoxed(absl::string_view text) {
  struct Open {
    size_t content_start;
    bool is_box;
  };
  std::vector<Open> stack;
  std::optional<absl::string_view> last;
  size_t last_start = 0;
  size_t pending_box = kNpos;  // index of the '{' that opens a box, once seen
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    char c = text[i];
    if (c == '\\') {
      size_t name_length = CommandAt(text, i, "boxed") ? 5 : CommandAt(text, i, "fbox") ? 4 : 0;
      if (name_length == 0) {
        ++i;  // skip the escaped character (\{ \} \\ ...)
        continue;
      }
      size_t j = i + 1 + name_length;
      size_t k = SkipSpaces(text, j);
      if (k < n && text[k] == '{') {
        pending_box = k;
        i = k - 1;
      } else if (k > j && k < n) {
        // "\boxed 42": the token up to the next space or '$'.
        size_t end = k;
        while (end < n && !IsSpace(text[end]) && text[end] != '$') ++end;
        last = text.substr(k, end - k);
        last_start = k;
        i = end - 1;
      } else {
        i = j - 1;
      }
      continue;
    }
    if (c == '{') {
      stack.push_back({i + 1, i == pending_box});
    } else if (c == '}' && !stack.empty()) {
      Open open = stack.back();
      stack.pop_back();
      if (open.is_box && (!last || open.content_start > last_start)) {
        last = text.substr(open.content_start, i - open.content_start);
        last_start = open.content_start;
      }
    }
  }
  return last;
}

bool IsIntegerLiteral(absl::string_view s) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i >= s.size()) return false;
  for (; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

std::string CanonicalInteger(absl::string_view s) {
  bool negative = s[0] == '-';
  if (s[0] == '+' || s[0] == '-') s.remove_prefix(1);
  while (s.size() > 1 && s[0] == '0') s.remove_prefix(1);
  if (s == "0") negative = false;
  return absl::StrCat(negative ? "-" : "", s);
}

std::string NormalizeLatexAnswer(absl::string_view answer) {
  if (answer.size() > kMaxAnswerBytes) answer = answer.substr(0, kMaxAnswerBytes);
  std::string text = absl::StrReplaceAll(answer, {{"\xCF\x80", "\\pi "},         // π
                                                  {"\xE2\x88\x9A", "\\sqrt"},    // √
                                                  {"\xE2\x88\x92", "-"},         // −
                                                  {"\xC3\x97", "*"},             // ×
                                                  {"\xC3\xB7", "/"},             // ÷
                                                  {"\xC2\xB7", "*"},             // ·
                                                  {"\xE2\x88\x9E", "\\infty "},  // ∞
                                                  {"\xE2\x89\xA4", "\\leq "},    // ≤
                                                  {"\xE2\x89\xA5", "\\geq "},    // ≥
                                                  {"\xE2\x89\xA0", "\\neq "},    // ≠
                                                  {"\xC2\xB0", ""},              // °
                                                  {"{,}", ","}});
  std::string s = Rewrite(text);
  while (!s.empty() && s.back() == '.') s.pop_back();
  size_t assignment = AssignmentPrefixLength(s);
  if (assignment > 0) s.erase(0, assignment);
  while (s.size() >= 2 && s.front() == '{' && MatchingBrace(s, 0) == s.size() - 1) {
    s = s.substr(1, s.size() - 2);
  }
  if (IsThousandsSeparatedNumber(s)) s.erase(std::remove(s.begin(), s.end(), ','), s.end());
  return s;
}

AnswerComparison CompareNormalizedAnswers(absl::string_view response, absl::string_view reference,
                                          double rel_tolerance) {
  if (response == reference) return {true, "same text after normalisation"};
  if (response.empty() || reference.empty()) return {false, "one side is empty"};
  std::vector<absl::string_view> x = SplitTopLevel(response, "\\cup");
  std::vector<absl::string_view> y = SplitTopLevel(reference, "\\cup");
  if (x.size() != y.size()) {
    return {false, absl::StrCat("a union of ", x.size(), " part(s) vs the reference's ", y.size()),
            false};
  }
  if (x.size() == 1) return CompareStructured(response, reference, rel_tolerance);
  for (size_t k = 0; k < x.size(); ++k) {
    AnswerComparison part = CompareStructured(x[k], y[k], rel_tolerance);
    if (!part.equal) {
      return {false, absl::StrCat("union part ", k + 1, " differs (", part.how, ")"), false};
    }
  }
  return {true, absl::StrCat("all ", x.size(), " union parts equal")};
}

}  // namespace chord::reward
