#include "services/reward/latex_parser.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "services/reward/latex_normalize.h"

namespace chord::reward {
namespace {

// Longest number literal (digits) and largest written power of ten ("1e400") accepted.
constexpr size_t kMaxNumberDigits = 400;
constexpr int kMaxDecimalExponent = 1000;

bool IsAlpha(char c) { return absl::ascii_isalpha(static_cast<unsigned char>(c)); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return absl::ascii_isspace(static_cast<unsigned char>(c)); }

bool OneOf(absl::string_view name, std::initializer_list<absl::string_view> names) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

enum class TokenKind {
  kNumber,     // text: digits; exponent10, decimal
  kLetter,     // text: one letter
  kCommand,    // text: the command name without '\' (after aliasing)
  kText,       // text: the content of \text{...} and similar
  kSeparator,  // between answers: ';' or the words "and"/"or"
  kBegin,      // \begin{text}
  kEnd,        // \end{text}
  kDegree,     // ^\circ, \degree, °
  kPunct,      // text: + - * / ^ _ ( ) [ ] { } | , = < > ! % & and "\{" "\}" "\\"
  kEndOfInput,
};

struct Token {
  TokenKind kind;
  std::string text;
  size_t offset = 0;
  int exponent10 = 0;
  bool decimal = false;
};

// Index of the '}' closing the '{' at s[open] (escapes skipped); npos when unbalanced.
size_t MatchingBrace(absl::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '{') {
      ++depth;
    } else if (s[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return absl::string_view::npos;
}

// Commands that only change spacing or size: dropped.
bool IsIgnoredCommand(absl::string_view name) {
  return OneOf(
      name, {"left",         "right",     "big",    "Big",    "bigg",    "Bigg",      "bigl",
             "bigr",         "Bigl",      "Bigr",   "biggl",  "biggr",   "Biggl",     "Biggr",
             "displaystyle", "textstyle", "quad",   "qquad",  "limits",  "nolimits",  "mathstrut",
             "boldsymbol",   "bm",        "mathbf", "mathit", "mathsf",  "mathtt",    "mathnormal",
             "rm",           "bf",        "it",     "mathbb", "mathcal", "ensuremath"});
}

// Commands whose braced argument is text (a unit, a word, "or").
bool IsTextCommand(absl::string_view name) {
  return OneOf(name, {"text", "textbf", "textit", "textrm", "textnormal", "textsf", "texttt",
                      "mathrm", "mbox", "hbox", "textup", "emph"});
}

bool IsGreek(absl::string_view name) {
  return OneOf(name, {"alpha",  "beta",  "gamma",    "delta", "epsilon", "varepsilon", "zeta",
                      "eta",    "theta", "vartheta", "iota",  "kappa",   "lambda",     "mu",
                      "nu",     "xi",    "rho",      "sigma", "tau",     "upsilon",    "phi",
                      "varphi", "chi",   "psi",      "omega", "Gamma",   "Delta",      "Theta",
                      "Lambda", "Xi",    "Sigma",    "Phi",   "Psi",     "Omega",      "ell"});
}

// The canonical name of a function command, or "" when `name` is not one.
absl::string_view FunctionName(absl::string_view name) {
  static constexpr std::pair<absl::string_view, absl::string_view> kFunctions[] = {
      {"sin", "sin"},     {"cos", "cos"},     {"tan", "tan"},     {"sec", "sec"},
      {"csc", "csc"},     {"cot", "cot"},     {"arcsin", "asin"}, {"arccos", "acos"},
      {"arctan", "atan"}, {"asin", "asin"},   {"acos", "acos"},   {"atan", "atan"},
      {"sinh", "sinh"},   {"cosh", "cosh"},   {"tanh", "tanh"},   {"log", "log"},
      {"ln", "log"},      {"exp", "exp"},     {"abs", "abs"},     {"lg", "log10"},
      {"arcsec", "asec"}, {"arccsc", "acsc"}, {"arccot", "acot"}, {"cosec", "csc"},
  };
  for (const auto& [written, canonical] : kFunctions) {
    if (name == written) return canonical;
  }
  return "";
}

// Command spellings that mean the same thing.
absl::string_view AliasCommand(absl::string_view name) {
  static constexpr std::pair<absl::string_view, absl::string_view> kAliases[] = {
      {"dfrac", "frac"},
      {"tfrac", "frac"},
      {"cfrac", "frac"},
      {"le", "leq"},
      {"leqslant", "leq"},
      {"ge", "geq"},
      {"geqslant", "geq"},
      {"ne", "neq"},
      {"infinity", "infty"},
      {"lvert", "|"},
      {"rvert", "|"},
      {"vert", "|"},
      {"mid", "|"},
      {"lt", "<"},
      {"gt", ">"},
      {"cdot", "*"},
      {"times", "*"},
      {"ast", "*"},
      {"div", "/"},
      {"varnothing", "emptyset"},
      {"dbinom", "binom"},
      {"tbinom", "binom"},
      {"thickapprox", "approx"},
      {"simeq", "approx"},
      {"colon", ":"},
  };
  for (const auto& [written, canonical] : kAliases) {
    if (name == written) return canonical;
  }
  return name;
}

class Tokenizer {
 public:
  explicit Tokenizer(absl::string_view s) : s_(s) {}

  absl::StatusOr<std::vector<Token>> Run() {
    while (i_ < s_.size()) {
      absl::Status status = Next();
      if (!status.ok()) return status;
    }
    tokens_.push_back({TokenKind::kEndOfInput, "", s_.size()});
    return std::move(tokens_);
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(what, " at offset ", i_));
  }

  void Push(TokenKind kind, std::string text, size_t offset) {
    tokens_.push_back({kind, std::move(text), offset});
  }

  // True (and consumed) when s_[i_..] is "^\circ" or "^{\circ}".
  bool ConsumeDegree() {
    size_t j = i_ + 1;
    while (j < s_.size() && IsSpace(s_[j])) ++j;
    bool braced = j < s_.size() && s_[j] == '{';
    if (braced) ++j;
    while (j < s_.size() && IsSpace(s_[j])) ++j;
    if (s_.substr(j, 5) != "\\circ" || (j + 5 < s_.size() && IsAlpha(s_[j + 5]))) return false;
    j += 5;
    if (braced) {
      while (j < s_.size() && IsSpace(s_[j])) ++j;
      if (j >= s_.size() || s_[j] != '}') return false;
      ++j;
    }
    i_ = j;
    return true;
  }

  absl::Status Number() {
    size_t start = i_;
    std::string digits;
    int exponent10 = 0;
    bool decimal = false;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (IsDigit(c)) {
        digits.push_back(c);
        if (decimal) --exponent10;
        ++i_;
      } else if (c == '.' && !decimal && i_ + 1 < s_.size() && IsDigit(s_[i_ + 1])) {
        decimal = true;
        ++i_;
      } else if (c == '\\' && i_ + 2 < s_.size() && (s_[i_ + 1] == ',' || s_[i_ + 1] == '!') &&
                 IsDigit(s_[i_ + 2]) && !decimal) {
        i_ += 2;  // "1\,000": a thin space between digit groups
      } else {
        break;
      }
      if (digits.size() > kMaxNumberDigits) return Error("number too long");
    }
    // Scientific notation: 1.5e3, 2E-4 (an 'e' followed by digits, not Euler's e).
    if (i_ + 1 < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t j = i_ + 1;
      bool negative = false;
      if (s_[j] == '+' || s_[j] == '-') {
        negative = s_[j] == '-';
        ++j;
      }
      size_t digits_start = j;
      int value = 0;
      while (j < s_.size() && IsDigit(s_[j]) && j - digits_start < 5) {
        value = value * 10 + (s_[j] - '0');
        ++j;
      }
      if (j > digits_start && (j >= s_.size() || !IsAlpha(s_[j]))) {
        if (value > kMaxDecimalExponent) return Error("power of ten too large");
        exponent10 += negative ? -value : value;
        i_ = j;
      }
    }
    Token token{TokenKind::kNumber, std::move(digits), start, exponent10, decimal};
    tokens_.push_back(std::move(token));
    return absl::OkStatus();
  }

  // A run of plain letters: a function name ("sin"), a separator word, or single letters.
  void Letters() {
    size_t start = i_;
    while (i_ < s_.size() && IsAlpha(s_[i_])) ++i_;
    absl::string_view word = s_.substr(start, i_ - start);
    if (word == "and" || word == "or") {
      Push(TokenKind::kSeparator, std::string(word), start);
      return;
    }
    absl::string_view function = FunctionName(word);
    if (!function.empty() && word != "abs") {
      Push(TokenKind::kCommand, std::string(word), start);
      return;
    }
    if (word == "sqrt" || word == "pi" || word == "infty" || word == "inf") {
      Push(TokenKind::kCommand, word == "inf" ? "infty" : std::string(word), start);
      return;
    }
    for (size_t k = 0; k < word.size(); ++k) {
      Push(TokenKind::kLetter, std::string(1, word[k]), start + k);
    }
  }

  absl::Status Command() {
    size_t start = i_;
    if (i_ + 1 >= s_.size()) {
      ++i_;
      return absl::OkStatus();
    }
    char next = s_[i_ + 1];
    if (!IsAlpha(next)) {
      i_ += 2;
      switch (next) {
        case ',':
        case ';':
        case ':':
        case '!':
        case ' ':
        case '\n':
        case '\t':
        case '$':
        case '.':
          return absl::OkStatus();
        case '%':
          Push(TokenKind::kPunct, "%", start);
          return absl::OkStatus();
        case '{':
        case '}':
        case '\\':
          Push(TokenKind::kPunct, absl::StrCat("\\", std::string(1, next)), start);
          return absl::OkStatus();
        case '|':
          Push(TokenKind::kPunct, "|", start);
          return absl::OkStatus();
        default:
          i_ = start;
          return Error("unknown escape");
      }
    }
    size_t j = i_ + 1;
    while (j < s_.size() && IsAlpha(s_[j])) ++j;
    absl::string_view name = AliasCommand(s_.substr(i_ + 1, j - i_ - 1));
    i_ = j;
    if (name == "left" || name == "right") {
      // "\left." and "\right." are invisible delimiters.
      while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
      if (i_ < s_.size() && s_[i_] == '.') ++i_;
      return absl::OkStatus();
    }
    if (IsIgnoredCommand(name)) return absl::OkStatus();
    if (name == "circ" || name == "degree") {
      Push(TokenKind::kDegree, "", start);
      return absl::OkStatus();
    }
    if (name == "|" || name == "*" || name == "/" || name == "<" || name == ">" || name == ":") {
      Push(TokenKind::kPunct, std::string(name), start);
      return absl::OkStatus();
    }
    if (IsTextCommand(name) || name == "operatorname" || name == "begin" || name == "end") {
      while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
      if (i_ >= s_.size() || s_[i_] != '{') return Error("expected '{' after a command");
      size_t close = MatchingBrace(s_, i_);
      if (close == absl::string_view::npos) return Error("unbalanced '{'");
      std::string content(absl::StripAsciiWhitespace(s_.substr(i_ + 1, close - i_ - 1)));
      i_ = close + 1;
      if (name == "operatorname") {
        Push(TokenKind::kCommand, std::move(content), start);
      } else if (name == "begin") {
        Push(TokenKind::kBegin, content, start);
        // \begin{array}{cc}: the column specification is not content.
        if (content == "array" && i_ < s_.size() && s_[i_] == '{') {
          size_t spec_close = MatchingBrace(s_, i_);
          if (spec_close == absl::string_view::npos) return Error("unbalanced '{'");
          i_ = spec_close + 1;
        }
      } else if (name == "end") {
        Push(TokenKind::kEnd, std::move(content), start);
      } else if (content == "and" || content == "or" || content == "," || content == ";") {
        Push(TokenKind::kSeparator, std::move(content), start);
      } else if (!content.empty()) {
        Push(TokenKind::kText, std::move(content), start);
      }
      return absl::OkStatus();
    }
    Push(TokenKind::kCommand, std::string(name), start);
    return absl::OkStatus();
  }

  absl::Status Next() {
    char c = s_[i_];
    if (IsSpace(c) || c == '$' || c == '~') {
      ++i_;
      return absl::OkStatus();
    }
    if (IsDigit(c) || (c == '.' && i_ + 1 < s_.size() && IsDigit(s_[i_ + 1]))) return Number();
    if (IsAlpha(c)) {
      Letters();
      return absl::OkStatus();
    }
    if (c == '\\') return Command();
    if (c == '^' && ConsumeDegree()) {
      Push(TokenKind::kDegree, "", i_);
      return absl::OkStatus();
    }
    if (c == ';') {
      Push(TokenKind::kSeparator, ";", i_++);
      return absl::OkStatus();
    }
    static constexpr absl::string_view kPunct = "+-*/^_()[]{}|,=<>!%&:'";
    if (kPunct.find(c) != absl::string_view::npos) {
      // Two-character relations written in plain text: <= >= != .
      if ((c == '<' || c == '>' || c == '!') && i_ + 1 < s_.size() && s_[i_ + 1] == '=') {
        Push(TokenKind::kCommand, c == '<' ? "leq" : c == '>' ? "geq" : "neq", i_);
        i_ += 2;
        return absl::OkStatus();
      }
      Push(TokenKind::kPunct, std::string(1, c), i_++);
      return absl::OkStatus();
    }
    return Error(absl::StrCat("unexpected character '", std::string(1, c), "'"));
  }

  absl::string_view s_;
  size_t i_ = 0;
  std::vector<Token> tokens_;
};

// Unicode spellings of math symbols -> LaTeX, and "{,}" thousands separators removed.
std::string ReplaceUnicode(absl::string_view answer) {
  return absl::StrReplaceAll(answer, {{"\xCF\x80", "\\pi "},          // π
                                      {"\xE2\x88\x9A", "\\sqrt"},     // √
                                      {"\xE2\x88\x92", "-"},          // −
                                      {"\xC3\x97", "*"},              // ×
                                      {"\xC3\xB7", "/"},              // ÷
                                      {"\xC2\xB7", "*"},              // ·
                                      {"\xE2\x88\x9E", "\\infty "},   // ∞
                                      {"\xE2\x89\xA4", "\\leq "},     // ≤
                                      {"\xE2\x89\xA5", "\\geq "},     // ≥
                                      {"\xE2\x89\xA0", "\\neq "},     // ≠
                                      {"\xE2\x89\x88", "\\approx "},  // ≈
                                      {"\xC2\xB1", "\\pm "},          // ±
                                      {"\xC2\xB0", "\\degree "},      // °
                                      {"{,}", ""}});
}

LatexNode MakeNode(NodeKind kind, std::vector<LatexNode> children = {}, std::string text = "") {
  LatexNode node;
  node.kind = kind;
  node.children = std::move(children);
  node.text = std::move(text);
  return node;
}

// Recursive descent over the tokens:
//   answer   := item (separator item)*                  separator: ',' ';' and or
//   item     := setexpr (relop setexpr)* unit?
//   setexpr  := expr ('\cup' expr)*
//   expr     := term (('+' | '-' | '\pm' | '\mp') term)*
//   term     := unary (('*' | '/') unary | power)*        (juxtaposition multiplies)
//   unary    := ('-' | '+' | '\pm' | '\mp') unary | power
//   power    := postfix ('^' arg)?
//   postfix  := primary ('!' | '%' | degree)*
//   primary  := number | symbol | constant | function | \frac arg arg | \sqrt[n]? arg
//             | '(' list ')' | '[' list ')' ... | '{' item '}' | '\{' list '\}' | '|' expr '|'
//             | \begin{matrix} rows \end{matrix} | text
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<ParsedAnswer> Run() {
    std::vector<LatexNode> items;
    while (true) {
      absl::StatusOr<LatexNode> item = ParseItem();
      if (!item.ok()) return item.status();
      items.push_back(*std::move(item));
      if (!IsSeparator(Peek())) break;
      ++pos_;
      if (Peek().kind == TokenKind::kEndOfInput) break;  // "1, 2," or "x=1 or"
    }
    if (Peek().kind != TokenKind::kEndOfInput) return Error("unexpected token");
    ParsedAnswer answer;
    answer.root = items.size() == 1 ? std::move(items[0]) : MakeNode(NodeKind::kList, items);
    answer.unit = std::move(unit_);
    return answer;
  }

 private:
  class DepthGuard {
   public:
    explicit DepthGuard(int* depth) : depth_(depth) { ++*depth_; }
    ~DepthGuard() { --*depth_; }

   private:
    int* depth_;
  };

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool IsPunct(const Token& t, absl::string_view p) const {
    return t.kind == TokenKind::kPunct && t.text == p;
  }
  bool IsCommand(const Token& t, absl::string_view name) const {
    return t.kind == TokenKind::kCommand && t.text == name;
  }
  bool IsSeparator(const Token& t) const {
    return t.kind == TokenKind::kSeparator || IsPunct(t, ",");
  }
  bool ConsumePunct(absl::string_view p) {
    if (!IsPunct(Peek(), p)) return false;
    ++pos_;
    return true;
  }

  absl::Status Error(absl::string_view what) const {
    const Token& t = Peek();
    std::string near =
        t.kind == TokenKind::kEndOfInput ? " at the end" : absl::StrCat(" near '", t.text, "'");
    return absl::InvalidArgumentError(absl::StrCat(what, near, " (offset ", t.offset, ")"));
  }

  // Counts nodes and nesting; every recursive path passes through here.
  absl::Status Enter() {
    if (depth_ > kMaxLatexNesting) return Error("nested too deeply");
    if (++nodes_ > kMaxLatexNodes) return Error("answer too large");
    return absl::OkStatus();
  }

  static std::optional<RelationKind> RelationOf(const Token& t) {
    if (t.kind == TokenKind::kPunct) {
      if (t.text == "=") return RelationKind::kEq;
      if (t.text == "<") return RelationKind::kLt;
      if (t.text == ">") return RelationKind::kGt;
      return std::nullopt;
    }
    if (t.kind != TokenKind::kCommand) return std::nullopt;
    if (t.text == "neq") return RelationKind::kNe;
    if (t.text == "leq") return RelationKind::kLe;
    if (t.text == "geq") return RelationKind::kGe;
    if (t.text == "approx") return RelationKind::kApprox;
    if (t.text == "in") return RelationKind::kIn;
    return std::nullopt;
  }

  absl::StatusOr<LatexNode> ParseItem() {
    DepthGuard guard(&depth_);
    if (absl::Status s = Enter(); !s.ok()) return s;
    absl::StatusOr<LatexNode> first = ParseSetExpr();
    if (!first.ok()) return first;
    LatexNode relation = MakeNode(NodeKind::kRelation);
    relation.children.push_back(*std::move(first));
    while (std::optional<RelationKind> kind = RelationOf(Peek())) {
      ++pos_;
      absl::StatusOr<LatexNode> next = ParseSetExpr();
      if (!next.ok()) return next;
      relation.relations.push_back(*kind);
      relation.children.push_back(*std::move(next));
    }
    // A trailing unit: \text{ cm}, \mathrm{m}^2.
    while (Peek().kind == TokenKind::kText) {
      absl::StrAppend(&unit_, absl::StrReplaceAll(Peek().text, {{" ", ""}}));
      ++pos_;
      if (IsPunct(Peek(), "^") && Peek(1).kind == TokenKind::kNumber) {
        absl::StrAppend(&unit_, "^", Peek(1).text);
        pos_ += 2;
      }
    }
    if (relation.relations.empty()) return std::move(relation.children[0]);
    return relation;
  }

  absl::StatusOr<LatexNode> ParseSetExpr() {
    absl::StatusOr<LatexNode> first = ParseExpr();
    if (!first.ok() || !IsCommand(Peek(), "cup")) return first;
    LatexNode node = MakeNode(NodeKind::kUnion);
    node.children.push_back(*std::move(first));
    while (IsCommand(Peek(), "cup")) {
      ++pos_;
      absl::StatusOr<LatexNode> next = ParseExpr();
      if (!next.ok()) return next;
      node.children.push_back(*std::move(next));
    }
    return node;
  }

  absl::StatusOr<LatexNode> ParseExpr() {
    DepthGuard guard(&depth_);
    if (absl::Status s = Enter(); !s.ok()) return s;
    absl::StatusOr<LatexNode> first = ParseTerm();
    if (!first.ok()) return first;
    std::vector<LatexNode> terms;
    terms.push_back(*std::move(first));
    while (true) {
      const Token& t = Peek();
      bool minus = IsPunct(t, "-");
      bool plus_minus = IsCommand(t, "pm") || IsCommand(t, "mp");
      if (!minus && !IsPunct(t, "+") && !plus_minus) break;
      bool swap = IsCommand(t, "mp");
      ++pos_;
      absl::StatusOr<LatexNode> next = ParseTerm();
      if (!next.ok()) return next;
      if (plus_minus) {
        LatexNode left =
            terms.size() == 1 ? std::move(terms[0]) : MakeNode(NodeKind::kAdd, std::move(terms));
        LatexNode right = swap ? MakeNode(NodeKind::kNeg, {*std::move(next)}) : *std::move(next);
        terms.clear();
        terms.push_back(MakeNode(NodeKind::kPlusMinus, {std::move(left), std::move(right)}));
      } else {
        terms.push_back(minus ? MakeNode(NodeKind::kNeg, {*std::move(next)}) : *std::move(next));
      }
    }
    if (terms.size() == 1) return std::move(terms[0]);
    return MakeNode(NodeKind::kAdd, std::move(terms));
  }

  // True when `t` can begin a factor multiplied by juxtaposition ("2x", "3\sqrt2", "x(x+1)").
  bool StartsImplicitFactor(const Token& t) const {
    switch (t.kind) {
      case TokenKind::kNumber:
      case TokenKind::kLetter:
      case TokenKind::kBegin:
        return true;
      case TokenKind::kCommand:
        return !RelationOf(t) && t.text != "pm" && t.text != "mp" && t.text != "cup" &&
               t.text != "cap";
      case TokenKind::kPunct:
        return t.text == "(" || t.text == "{" || (t.text == "|" && abs_depth_ == 0);
      default:
        return false;
    }
  }

  absl::StatusOr<LatexNode> ParseTerm() {
    absl::StatusOr<LatexNode> first = ParseUnary();
    if (!first.ok()) return first;
    LatexNode acc = *std::move(first);
    while (true) {
      const Token& t = Peek();
      if (IsPunct(t, "*")) {
        ++pos_;
        absl::StatusOr<LatexNode> next = ParseUnary();
        if (!next.ok()) return next;
        acc = Multiply(std::move(acc), *std::move(next));
      } else if (IsPunct(t, "/")) {
        ++pos_;
        absl::StatusOr<LatexNode> next = ParseUnary();
        if (!next.ok()) return next;
        acc = MakeNode(NodeKind::kDiv, {std::move(acc), *std::move(next)});
      } else if (StartsImplicitFactor(t)) {
        absl::StatusOr<LatexNode> next = ParsePower();
        if (!next.ok()) return next;
        acc = Multiply(std::move(acc), *std::move(next));
      } else {
        return acc;
      }
    }
  }

  static LatexNode Multiply(LatexNode left, LatexNode right) {
    if (left.kind == NodeKind::kMul) {
      left.children.push_back(std::move(right));
      return left;
    }
    return MakeNode(NodeKind::kMul, {std::move(left), std::move(right)});
  }

  absl::StatusOr<LatexNode> ParseUnary() {
    DepthGuard guard(&depth_);
    if (absl::Status s = Enter(); !s.ok()) return s;
    const Token& t = Peek();
    if (IsPunct(t, "-") || IsPunct(t, "+") || IsCommand(t, "pm") || IsCommand(t, "mp")) {
      bool minus = IsPunct(t, "-");
      bool plus_minus = t.kind == TokenKind::kCommand;
      ++pos_;
      absl::StatusOr<LatexNode> operand = ParseUnary();
      if (!operand.ok()) return operand;
      if (plus_minus) return MakeNode(NodeKind::kPlusMinus, {Zero(), *std::move(operand)});
      if (minus) return MakeNode(NodeKind::kNeg, {*std::move(operand)});
      return operand;
    }
    return ParsePower();
  }

  static LatexNode Zero() {
    LatexNode zero = MakeNode(NodeKind::kNumber, {}, "0");
    return zero;
  }

  absl::StatusOr<LatexNode> ParsePower() {
    absl::StatusOr<LatexNode> base = ParsePostfix();
    if (!base.ok() || !IsPunct(Peek(), "^")) return base;
    ++pos_;
    absl::StatusOr<LatexNode> exponent = ParseArg(/*allow_sign=*/true);
    if (!exponent.ok()) return exponent;
    LatexNode power = MakeNode(NodeKind::kPow, {*std::move(base), *std::move(exponent)});
    return ParsePostfixOps(std::move(power));
  }

  absl::StatusOr<LatexNode> ParsePostfix() {
    absl::StatusOr<LatexNode> primary = ParsePrimary();
    if (!primary.ok()) return primary;
    return ParsePostfixOps(*std::move(primary));
  }

  absl::StatusOr<LatexNode> ParsePostfixOps(LatexNode node) {
    while (true) {
      const Token& t = Peek();
      if (IsPunct(t, "!") && !IsPunct(Peek(1), "=")) {
        ++pos_;
        LatexNode factorial = MakeNode(NodeKind::kFunction, {std::move(node)}, "factorial");
        node = std::move(factorial);
      } else if (IsPunct(t, "%")) {
        ++pos_;
        LatexNode hundred = MakeNode(NodeKind::kNumber, {}, "100");
        node = MakeNode(NodeKind::kDiv, {std::move(node), std::move(hundred)});
      } else if (t.kind == TokenKind::kDegree) {
        ++pos_;
        node = MakeNode(NodeKind::kDegrees, {std::move(node)});
      } else {
        return node;
      }
      if (absl::Status s = Enter(); !s.ok()) return s;
    }
  }

  // The argument of \frac, \sqrt, ^ and _: a braced group, one digit of a number ("\frac34",
  // "x^23"), one letter, a command, or (outside LaTeX) a parenthesised group; `allow_sign` lets an
  // exponent start with a sign ("x^-1").
  absl::StatusOr<LatexNode> ParseArg(bool allow_sign) {
    DepthGuard guard(&depth_);
    if (absl::Status s = Enter(); !s.ok()) return s;
    const Token& t = Peek();
    if (allow_sign && (IsPunct(t, "-") || IsPunct(t, "+"))) {
      bool minus = IsPunct(t, "-");
      ++pos_;
      absl::StatusOr<LatexNode> operand = ParseArg(false);
      if (!operand.ok() || !minus) return operand;
      return MakeNode(NodeKind::kNeg, {*std::move(operand)});
    }
    if (IsPunct(t, "{")) {
      ++pos_;
      absl::StatusOr<LatexNode> inner = ParseExpr();
      if (!inner.ok()) return inner;
      if (!ConsumePunct("}")) return Error("expected '}'");
      return inner;
    }
    if (IsPunct(t, "(")) return ParsePrimary();
    if (t.kind == TokenKind::kNumber) {
      if (t.decimal || t.exponent10 != 0 || t.text.size() == 1) return ParsePrimary();
      // Split the first digit off: the rest stays as the next token.
      LatexNode digit = MakeNode(NodeKind::kNumber, {}, t.text.substr(0, 1));
      Token& mutable_token = tokens_[pos_];
      mutable_token.text.erase(0, 1);
      ++mutable_token.offset;
      return digit;
    }
    if (t.kind == TokenKind::kLetter) {
      LatexNode symbol = MakeNode(NodeKind::kSymbol, {}, t.text);
      ++pos_;
      if (symbol.text == "e") symbol.kind = NodeKind::kConstant;
      if (symbol.text == "i") symbol.kind = NodeKind::kConstant;
      return symbol;
    }
    if (t.kind == TokenKind::kCommand) return ParsePrimary();
    return Error("expected an argument");
  }

  // "_1", "_{12}", "_n": appended to a symbol's name.
  absl::Status ParseSubscript(std::string* name) {
    if (!ConsumePunct("_")) return absl::OkStatus();
    std::string subscript;
    if (ConsumePunct("{")) {
      int depth = 1;
      while (Peek().kind != TokenKind::kEndOfInput) {
        if (IsPunct(Peek(), "{")) ++depth;
        if (IsPunct(Peek(), "}") && --depth == 0) break;
        absl::StrAppend(&subscript, Peek().text);
        ++pos_;
      }
      if (!ConsumePunct("}")) return Error("expected '}'");
    } else if (Peek().kind == TokenKind::kNumber || Peek().kind == TokenKind::kLetter ||
               Peek().kind == TokenKind::kCommand) {
      if (Peek().kind == TokenKind::kNumber && Peek().text.size() > 1) {
        subscript = Peek().text.substr(0, 1);
        tokens_[pos_].text.erase(0, 1);
      } else {
        subscript = Peek().text;
        ++pos_;
      }
    } else {
      return Error("expected a subscript");
    }
    absl::StrAppend(name, "_", subscript);
    return absl::OkStatus();
  }

  absl::StatusOr<LatexNode> ParsePrimary() {
    DepthGuard guard(&depth_);
    if (absl::Status s = Enter(); !s.ok()) return s;
    const Token t = Peek();
    switch (t.kind) {
      case TokenKind::kNumber: {
        ++pos_;
        LatexNode number = MakeNode(NodeKind::kNumber, {}, t.text);
        number.exponent10 = t.exponent10;
        number.decimal = t.decimal;
        return number;
      }
      case TokenKind::kLetter:
        return ParseLetter();
      case TokenKind::kCommand:
        return ParseCommand();
      case TokenKind::kText:
        ++pos_;
        return MakeNode(NodeKind::kText, {}, t.text);
      case TokenKind::kBegin:
        return ParseMatrix();
      case TokenKind::kPunct:
        if (t.text == "(" || t.text == "[") return ParseBracketed();
        if (t.text == "{") {
          ++pos_;
          absl::StatusOr<LatexNode> inner = ParseGroupItems("}");
          if (!inner.ok()) return inner;
          return inner;
        }
        if (t.text == "\\{") {
          ++pos_;
          LatexNode set = MakeNode(NodeKind::kSet);
          if (ConsumePunct("\\}")) return set;
          absl::StatusOr<LatexNode> items = ParseGroupItems("\\}");
          if (!items.ok()) return items;
          if (items->kind == NodeKind::kList) {
            set.children = std::move(items->children);
          } else {
            set.children.push_back(*std::move(items));
          }
          return set;
        }
        if (t.text == "|") {
          ++pos_;
          ++abs_depth_;
          absl::StatusOr<LatexNode> inner = ParseExpr();
          --abs_depth_;
          if (!inner.ok()) return inner;
          if (!ConsumePunct("|")) return Error("expected a closing '|'");
          return MakeNode(NodeKind::kFunction, {*std::move(inner)}, "abs");
        }
        return Error("unexpected symbol");
      case TokenKind::kEndOfInput:
        return Error("unexpected end");
      default:
        return Error("unexpected token");
    }
  }

  // Items separated by commas up to `close`: one item, or a kList.
  absl::StatusOr<LatexNode> ParseGroupItems(absl::string_view close) {
    std::vector<LatexNode> items;
    while (true) {
      absl::StatusOr<LatexNode> item = ParseItem();
      if (!item.ok()) return item;
      items.push_back(*std::move(item));
      if (!ConsumePunct(",")) break;
    }
    if (!ConsumePunct(close)) return Error(absl::StrCat("expected '", close, "'"));
    if (items.size() == 1) return std::move(items[0]);
    return MakeNode(NodeKind::kList, std::move(items));
  }

  // '(' or '[' ... ')' or ']': a parenthesised expression, or a tuple / interval.
  absl::StatusOr<LatexNode> ParseBracketed() {
    std::string open = Peek().text;
    ++pos_;
    std::vector<LatexNode> items;
    while (true) {
      absl::StatusOr<LatexNode> item = ParseItem();
      if (!item.ok()) return item;
      items.push_back(*std::move(item));
      if (!ConsumePunct(",")) break;
    }
    std::string close = Peek().text;
    if (!IsPunct(Peek(), ")") && !IsPunct(Peek(), "]")) return Error("expected ')' or ']'");
    ++pos_;
    if (items.size() == 1) {
      if ((open == "(") != (close == ")")) return Error("mismatched brackets");
      return std::move(items[0]);
    }
    LatexNode node = MakeNode(NodeKind::kBracketed, std::move(items), open + close);
    return node;
  }

  absl::StatusOr<LatexNode> ParseLetter() {
    std::string name = Peek().text;
    ++pos_;
    if (absl::Status s = ParseSubscript(&name); !s.ok()) return s;
    if (name == "e" || name == "i") return MakeNode(NodeKind::kConstant, {}, name);
    // f(x), g(t), h(n): a function the answer defines ("f(x) = 2x" names its value).
    if ((name == "f" || name == "g" || name == "h") && IsPunct(Peek(), "(")) {
      ++pos_;
      absl::StatusOr<LatexNode> args = ParseGroupItems(")");
      if (!args.ok()) return args;
      LatexNode call = MakeNode(NodeKind::kFunction, {}, name);
      if (args->kind == NodeKind::kList) {
        call.children = std::move(args->children);
      } else {
        call.children.push_back(*std::move(args));
      }
      return call;
    }
    return MakeNode(NodeKind::kSymbol, {}, name);
  }

  absl::StatusOr<LatexNode> ParseCommand() {
    std::string name = Peek().text;
    ++pos_;
    if (name == "frac" || name == "binom") {
      absl::StatusOr<LatexNode> top = ParseArg(false);
      if (!top.ok()) return top;
      absl::StatusOr<LatexNode> bottom = ParseArg(false);
      if (!bottom.ok()) return bottom;
      if (name == "binom") {
        return MakeNode(NodeKind::kFunction, {*std::move(top), *std::move(bottom)}, "binom");
      }
      return MakeNode(NodeKind::kDiv, {*std::move(top), *std::move(bottom)});
    }
    if (name == "sqrt") {
      std::optional<LatexNode> index;
      if (ConsumePunct("[")) {
        absl::StatusOr<LatexNode> parsed = ParseExpr();
        if (!parsed.ok()) return parsed;
        if (!ConsumePunct("]")) return Error("expected ']'");
        index = *std::move(parsed);
      }
      absl::StatusOr<LatexNode> radicand = ParseArg(false);
      if (!radicand.ok()) return radicand;
      LatexNode root = MakeNode(NodeKind::kFunction, {*std::move(radicand)}, "root");
      root.children.push_back(index ? *std::move(index) : MakeNode(NodeKind::kNumber, {}, "2"));
      return root;
    }
    if (name == "pi" || name == "infty") return MakeNode(NodeKind::kConstant, {}, name);
    if (name == "emptyset") return MakeNode(NodeKind::kSet);
    if (IsGreek(name)) {
      if (absl::Status s = ParseSubscript(&name); !s.ok()) return s;
      return MakeNode(NodeKind::kSymbol, {}, name);
    }
    absl::string_view function = FunctionName(name);
    if (!function.empty()) return ParseFunction(std::string(function));
    return absl::InvalidArgumentError(absl::StrCat("unknown command \\", name));
  }

  // \sin x, \sin(2x), \sin^2 x, \sin^{-1} x, \log_2 8, \ln|x|.
  absl::StatusOr<LatexNode> ParseFunction(std::string name) {
    std::optional<LatexNode> power;
    std::optional<LatexNode> base;
    for (int k = 0; k < 2; ++k) {
      if (!power && ConsumePunct("^")) {
        absl::StatusOr<LatexNode> parsed = ParseArg(true);
        if (!parsed.ok()) return parsed;
        power = *std::move(parsed);
      } else if (!base && name == "log" && ConsumePunct("_")) {
        absl::StatusOr<LatexNode> parsed = ParseArg(false);
        if (!parsed.ok()) return parsed;
        base = *std::move(parsed);
      }
    }
    // \sin^{-1}: the inverse function.
    if (power && power->kind == NodeKind::kNeg && power->children[0].kind == NodeKind::kNumber &&
        power->children[0].text == "1" && !power->children[0].decimal &&
        OneOf(name, {"sin", "cos", "tan", "sec", "csc", "cot"})) {
      name = absl::StrCat("a", name);
      power.reset();
    }
    absl::StatusOr<LatexNode> argument = ParseFunctionArgument();
    if (!argument.ok()) return argument;
    LatexNode call = MakeNode(NodeKind::kFunction, {*std::move(argument)}, name);
    if (base) call.children.push_back(*std::move(base));
    // \sin(x)^2 is (\sin x)^2.
    if (!power && ConsumePunct("^")) {
      absl::StatusOr<LatexNode> parsed = ParseArg(true);
      if (!parsed.ok()) return parsed;
      power = *std::move(parsed);
    }
    if (power) return MakeNode(NodeKind::kPow, {std::move(call), *std::move(power)});
    return call;
  }

  // A function's argument: a parenthesised or braced group, or the product of the factors that
  // follow up to the next + - or function ("\sin 2x \cos x" is sin(2x) cos(x)).
  absl::StatusOr<LatexNode> ParseFunctionArgument() {
    if (IsPunct(Peek(), "(") || IsPunct(Peek(), "{")) return ParsePrimary();
    absl::StatusOr<LatexNode> first = ParsePower();
    if (!first.ok()) return first;
    LatexNode acc = *std::move(first);
    while (StartsImplicitFactor(Peek()) && !IsFunctionStart(Peek()) && !IsPunct(Peek(), "(")) {
      absl::StatusOr<LatexNode> next = ParsePower();
      if (!next.ok()) return next;
      acc = Multiply(std::move(acc), *std::move(next));
    }
    return acc;
  }

  bool IsFunctionStart(const Token& t) const {
    return t.kind == TokenKind::kCommand && !FunctionName(t.text).empty();
  }

  // \begin{pmatrix} a & b \\ c & d \end{pmatrix}
  absl::StatusOr<LatexNode> ParseMatrix() {
    std::string environment = Peek().text;
    if (!OneOf(environment, {"pmatrix", "bmatrix", "Bmatrix", "matrix", "smallmatrix", "array"})) {
      return Error(absl::StrCat("unsupported environment ", environment));
    }
    ++pos_;
    LatexNode matrix = MakeNode(NodeKind::kMatrix);
    int cols_in_row = 0;
    while (true) {
      if (Peek().kind == TokenKind::kEnd) {
        if (Peek().text != environment) return Error("mismatched \\end");
        ++pos_;
        break;
      }
      absl::StatusOr<LatexNode> cell = ParseExpr();
      if (!cell.ok()) return cell;
      matrix.children.push_back(*std::move(cell));
      ++cols_in_row;
      if (ConsumePunct("&")) continue;
      bool row_end = ConsumePunct("\\\\");
      if (row_end || Peek().kind == TokenKind::kEnd) {
        if (matrix.rows == 0) matrix.cols = cols_in_row;
        if (cols_in_row != matrix.cols) return Error("matrix rows of different lengths");
        ++matrix.rows;
        cols_in_row = 0;
        continue;
      }
      return Error("expected '&', '\\\\' or \\end");
    }
    if (matrix.rows == 0) return Error("empty matrix");
    return matrix;
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int nodes_ = 0;
  int abs_depth_ = 0;
  std::string unit_;
};

const char* RelationSymbol(RelationKind kind) {
  switch (kind) {
    case RelationKind::kEq:
      return "=";
    case RelationKind::kNe:
      return "!=";
    case RelationKind::kLt:
      return "<";
    case RelationKind::kLe:
      return "<=";
    case RelationKind::kGt:
      return ">";
    case RelationKind::kGe:
      return ">=";
    case RelationKind::kApprox:
      return "~";
    case RelationKind::kIn:
      return "in";
  }
  return "?";
}

}  // namespace

absl::StatusOr<ParsedAnswer> ParseLatexAnswer(absl::string_view answer) {
  if (answer.size() > kMaxLatexAnswerBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "answer of ", answer.size(), " bytes is over the limit of ", kMaxLatexAnswerBytes));
  }
  std::string text = ReplaceUnicode(answer);
  absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  while (!trimmed.empty() && trimmed.back() == '.') trimmed.remove_suffix(1);
  std::string cleaned(trimmed);
  if (IsThousandsSeparatedNumber(cleaned)) {
    cleaned.erase(std::remove(cleaned.begin(), cleaned.end(), ','), cleaned.end());
  }
  absl::StatusOr<std::vector<Token>> tokens = Tokenizer(cleaned).Run();
  if (!tokens.ok()) return tokens.status();
  if (tokens->size() == 1) return absl::InvalidArgumentError("empty answer");
  return Parser(*std::move(tokens)).Run();
}

std::string DescribeLatexNode(const LatexNode& node) {
  std::vector<std::string> parts;
  for (const LatexNode& child : node.children) parts.push_back(DescribeLatexNode(child));
  std::string children = absl::StrJoin(parts, " ");
  switch (node.kind) {
    case NodeKind::kNumber: {
      std::string number = node.text;
      if (node.exponent10 != 0) absl::StrAppend(&number, "e", node.exponent10);
      return number;
    }
    case NodeKind::kSymbol:
    case NodeKind::kConstant:
      return node.text;
    case NodeKind::kText:
      return absl::StrCat("\"", node.text, "\"");
    case NodeKind::kAdd:
      return absl::StrCat("(+ ", children, ")");
    case NodeKind::kMul:
      return absl::StrCat("(* ", children, ")");
    case NodeKind::kDiv:
      return absl::StrCat("(/ ", children, ")");
    case NodeKind::kPow:
      return absl::StrCat("(^ ", children, ")");
    case NodeKind::kNeg:
      return absl::StrCat("(- ", children, ")");
    case NodeKind::kFunction:
      return absl::StrCat("(", node.text, " ", children, ")");
    case NodeKind::kDegrees:
      return absl::StrCat("(deg ", children, ")");
    case NodeKind::kPlusMinus:
      return absl::StrCat("(pm ", children, ")");
    case NodeKind::kBracketed:
      return absl::StrCat("(", node.text, " ", children, ")");
    case NodeKind::kSet:
      return absl::StrCat("(set ", children, ")");
    case NodeKind::kUnion:
      return absl::StrCat("(cup ", children, ")");
    case NodeKind::kMatrix:
      return absl::StrCat("(matrix ", node.rows, "x", node.cols, " ", children, ")");
    case NodeKind::kList:
      return absl::StrCat("(list ", children, ")");
    case NodeKind::kRelation: {
      std::string out = absl::StrCat("(rel ", parts[0]);
      for (size_t k = 0; k < node.relations.size(); ++k) {
        absl::StrAppend(&out, " ", RelationSymbol(node.relations[k]), " ", parts[k + 1]);
      }
      return out + ")";
    }
  }
  return "?";
}

}  // namespace chord::reward
