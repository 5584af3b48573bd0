// The CAS comparison's own contract: verdicts with reasons, the blow-up guards, the time budget,
// thread safety, and a fuzz run of random and adversarial answers that must all finish in time.

#include "services/reward/symbolic_equivalence.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/reward/math_boxed_verifier.h"

namespace chord::reward {
namespace {

SymbolicVerdict Compare(absl::string_view answer, absl::string_view reference,
                        SymbolicOptions options = {}) {
  absl::StatusOr<ParsedAnswer> a = ParseLatexAnswer(answer);
  absl::StatusOr<ParsedAnswer> b = ParseLatexAnswer(reference);
  if (!a.ok() || !b.ok()) return {false, "parse error"};
  return CompareSymbolically(*a, *b, options);
}

TEST(SymbolicEquivalenceTest, SaysHowItDecided) {
  EXPECT_EQ(Compare("(r+5)^2", "(r+5)(r+5)").how, "difference simplifies to 0");
  EXPECT_EQ(Compare("\\csc x \\sin x", "1").how, "difference simplifies to 0");
  SymbolicVerdict trig = Compare("\\sec^2 y", "\\tan^2 y + 1");
  EXPECT_TRUE(trig.equal);
  EXPECT_EQ(trig.how, "equal at 6 random points");
  SymbolicVerdict identity = Compare("2\\sin x\\cos x", "\\sin 2x");
  EXPECT_TRUE(identity.equal);
  EXPECT_EQ(identity.how, "equal at 6 random points");
  SymbolicVerdict equation = Compare("2x+4y-3=0", "y=-\\frac12 x+\\frac34");
  EXPECT_TRUE(equation.equal);
  EXPECT_EQ(equation.how, "equation is 4 x the reference's");
  EXPECT_EQ(Compare("x+1", "x+2").how, "differ by a constant");
  EXPECT_EQ(Compare("x^2+1", "x+2").how, "differ at a random point");
  EXPECT_EQ(Compare("\\frac{2}{3}", "\\frac{3}{4}").how, "different exact values");
}

// GiNaC throws for pow(0, 0), pow(0, I) and a negative power of 0, and leaks the power it was
// building when it does (LeakSanitizer, make test-asan): they are refused before.
TEST(SymbolicEquivalenceTest, RefusesZeroToANonPositivePowerBeforeGinacThrows) {
  const std::string refused = "the answer: 0 to a power whose real part is not positive";
  EXPECT_EQ(Compare("0^{0}", "x+1").how, refused);
  EXPECT_EQ(Compare("0^{-2}", "1").how, refused);
  EXPECT_EQ(Compare("0^{i}", "1").how, refused);
  EXPECT_EQ(Compare("0^{2}", "0").how, "difference simplifies to 0");
}

// At random points GiNaC evaluates this answer in floating point: exp of a tower of powers whose
// digits would take about 5e17 bytes (ASan aborts on the request; glibc's malloc refuses it, but
// smaller towers get gigabytes). Numbers are capped at kMaxCasNumberBytes: those points count as
// undefined and the comparison ends with a verdict.
TEST(SymbolicEquivalenceTest, NumbersAtRandomPointsAreBoundedInSize) {
  const std::string tower =
      "((\\frac{\\sin(y-(0.5))}{|x-(3x)|})^{(e^{\\sin(\\pi)-(\\ln(e))})})^{(e^{((\\sqrt{"
      "\\pi})^{(\\tan(y)^{2})})^{(((e)^{39})^{(y+3x)})}})}";
  SymbolicVerdict verdict = Compare(tower, "x+1");
  EXPECT_FALSE(verdict.equal);
  EXPECT_FALSE(verdict.how.empty());
}

TEST(SymbolicEquivalenceTest, RefusesBlowUpsBeforeTheCasSeesThem) {
  EXPECT_EQ(Compare("10^{10^{10}}", "10").how, "the answer: exponent too large");
  EXPECT_EQ(Compare("(x+1)^{100000}", "x").how, "the answer: exponent too large");
  EXPECT_EQ(Compare("(x+y+z+1)^{900}", "x").how, "expression too large to expand");
  EXPECT_EQ(Compare("(10^{50})^{999}", "1").how, "the answer: power too large");
  EXPECT_EQ(Compare("9^{999}", "1").how, "different exact values");
  EXPECT_EQ(Compare("3000!", "1").how, "the answer: factorial of a large or non-integer number");
  EXPECT_EQ(Compare("e^{10^{9}}", "1").how, "the answer: exponent too large");
  // Within the limits the CAS works exactly.
  EXPECT_TRUE(Compare("2^{1000} - 2^{999}", "2^{999}").equal);
  EXPECT_TRUE(Compare("(x+1)^{20}", "(1+x)^{20}").equal);
  // Expansions are estimated by their monomials: (x+y)^12 has 13, not 2^12.
  EXPECT_EQ(Compare("(x+y)^{12}(x-y)^{12}", "(x^2-y^2)^{12}").how, "difference simplifies to 0");
  // Above the degree limit normal() is skipped and the random points decide.
  SymbolicVerdict high_degree = Compare("\\frac{x^{48}-y^{48}}{x^{24}-y^{24}}", "x^{24}+y^{24}");
  EXPECT_TRUE(high_degree.equal);
  EXPECT_EQ(high_degree.how, "equal at 6 random points");
}

TEST(SymbolicEquivalenceTest, StopsWhenTheTimeBudgetIsSpent) {
  SymbolicOptions options;
  options.time_budget = absl::ZeroDuration();
  SymbolicVerdict verdict = Compare("x+1", "1+x", options);
  EXPECT_FALSE(verdict.equal);
  EXPECT_EQ(verdict.how, "time budget of 0 spent");
}

TEST(SymbolicEquivalenceTest, UndefinedPointsAreSkippedNotCounted) {
  // sqrt(x - 5) is real only for x > 5, outside the sampled range: too few points, not "equal".
  EXPECT_FALSE(Compare("\\frac{1}{\\ln(x-x)}", "0").equal);
  // log(x) is defined (complex) for negative x too: the two sides agree there as well.
  EXPECT_TRUE(Compare("\\ln(x^2)", "2\\ln|x|").equal);
}

TEST(SymbolicEquivalenceTest, ConcurrentComparisonsAgree) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 50; ++i) {
        if (!Compare("(x+1)^2", "x^2+2x+1").equal) ++wrong[t];
        if (Compare("\\sec^2 y", "\\tan^2 y - 1").equal) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

// A random well-formed expression in x and y, up to `depth` levels, with large exponents now
// and then.
std::string RandomExpression(std::mt19937& rng, int depth) {
  static const char* kLeaves[] = {"x", "y", "2", "10", "0.5", "\\pi", "e", "3x", "i"};
  std::uniform_int_distribution<int> leaf(0, 8);
  std::uniform_int_distribution<int> op(0, 11);
  std::uniform_int_distribution<int> exponent(2, 40);
  if (depth == 0) return kLeaves[leaf(rng)];
  std::string a = RandomExpression(rng, depth - 1);
  std::string b = RandomExpression(rng, depth - 1);
  switch (op(rng)) {
    case 0:
      return absl::StrCat(a, "+", b);
    case 1:
      return absl::StrCat(a, "-(", b, ")");
    case 2:
      return absl::StrCat("(", a, ")\\cdot(", b, ")");
    case 3:
      return absl::StrCat("\\frac{", a, "}{", b, "}");
    case 4:
      return absl::StrCat("(", a, ")^{", exponent(rng), "}");
    case 5:
      return absl::StrCat("\\sqrt{", a, "}");
    case 6:
      return absl::StrCat("\\sin(", a, ")");
    case 7:
      return absl::StrCat("\\ln(", a, ")");
    case 8:
      return absl::StrCat("|", a, "|");
    case 9:
      return absl::StrCat("e^{", a, "}");
    case 10:
      return absl::StrCat("(", a, ")^{(", b, ")}");
    default:
      return absl::StrCat("\\tan(", a, ")^{2}");
  }
}

// Adversarial and random answers through the whole verifier: no crash, no exception, and every
// call returns within the budget plus one CAS step.
TEST(SymbolicEquivalenceFuzzTest, AdversarialAndRandomAnswersFinishInTime) {
  std::vector<std::string> answers = {
      "10^{10^{10}}",
      "10^{10^{10^{10}}}",
      "2^{2^{2^{2^{2^{2}}}}}",
      "x^{x^{x^{x^{x^{x}}}}}",
      "(x+1)^{100000}",
      "(x+y)^{999}",
      "(a+b+c+d+e+f+g+h)^{12}",
      // normal()'s gcds on these ran for seconds to minutes before the degree limit.
      "\\frac{x^{500}-y^{500}}{x^{100}-y^{100}}",
      "\\frac{x^{1000}-y^{1000}}{x^{999}-y^{999}}",
      "\\frac{1}{x^{999}+1}+\\frac{1}{x^{998}+1}+\\frac{1}{x^{997}+1}",
      "\\frac{(a+b)^{20}}{(a-b)^{20}}+\\frac{c+d}{c-d}",
      "\\frac{(x+y+z)^{10}}{(x-y+z)^{6}}",
      "e^{e^{e^{e^{e^{10}}}}}",
      "\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(\\sin(x)))))))",
      "1000!",
      "(1000!)!",
      "\\binom{1000}{500}",
      "\\sqrt[1000]{2}",
      "\\sqrt[100000]{2}",
      "0^{0}",
      "\\frac{1}{0}",
      "\\frac{x}{x-x}",
      "\\ln 0",
      "\\log_0 5",
      "\\tan\\frac{\\pi}{2}",
      "1.5e999",
      "x^{1.5e999}",
      "|||x|||",
      "\\left|\\left|x\\right|\\right|",
      std::string(200, '(') + "x" + std::string(200, ')'),
      std::string(1000, '{') + "x",
  };
  std::string frac_chain = "1";
  for (int i = 0; i < 60; ++i) frac_chain = absl::StrCat("\\frac{", frac_chain, "}{x+", i, "}");
  answers.push_back(frac_chain);
  std::string flat_chain;
  for (int i = 0; i < 40; ++i) absl::StrAppend(&flat_chain, "\\frac{x^{", i, "}}{x+", i, "}+");
  flat_chain += "1";
  answers.push_back(flat_chain);
  std::string product;
  for (int i = 0; i < 30; ++i) absl::StrAppend(&product, "(x_", i, "+1)");
  answers.push_back(product);
  std::string sum;
  for (int i = 0; i < 30; ++i) absl::StrAppend(&sum, "(x+", i, ")^{30}+");
  sum += "1";
  answers.push_back(sum);

  // Random strings from the parser's vocabulary.
  const std::vector<std::string> pieces = {"x",
                                           "y",
                                           "2",
                                           "10",
                                           "^",
                                           "^{",
                                           "}",
                                           "{",
                                           "(",
                                           ")",
                                           "+",
                                           "-",
                                           "*",
                                           "/",
                                           "\\frac",
                                           "\\sqrt",
                                           "\\sin",
                                           "\\ln",
                                           "\\pi",
                                           "e",
                                           "i",
                                           "=",
                                           "<",
                                           "\\le",
                                           ",",
                                           "\\pm",
                                           "\\{",
                                           "\\}",
                                           "[",
                                           "]",
                                           "|",
                                           "!",
                                           "\\%",
                                           "^\\circ",
                                           "\\cup",
                                           "&",
                                           "\\\\",
                                           "\\begin{pmatrix}",
                                           "\\end{pmatrix}",
                                           "\\text{ cm}",
                                           "0.5",
                                           "\\infty",
                                           "\\approx",
                                           "99999",
                                           "\\cdot"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(1, 40);
  for (int i = 0; i < 1500; ++i) {
    std::string answer;
    for (int k = length(rng); k > 0; --k) answer += pieces[pick(rng)];
    answers.push_back(std::move(answer));
  }
  std::uniform_int_distribution<int> depth(1, 5);
  for (int i = 0; i < 600; ++i) answers.push_back(RandomExpression(rng, depth(rng)));

  MathBoxedOptions options;
  MathBoxedVerifier verifier(options);
  const std::vector<std::string> references = {"x+1", "10", "(1,2)", "x \\le 2", "y=2x"};
  // One CAS step (normal, expand, one evalf) of a guarded input is far below this.
  const double allowed_ms = absl::ToDoubleMilliseconds(options.symbolic_time_budget) + 300.0;
  double slowest_ms = 0;
  std::string slowest;
  int answers_run = 0;
  int reached_cas = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    const std::string& reference = references[i % references.size()];
    std::string response = absl::StrCat("\\boxed{", answers[i], "}");
    auto start = std::chrono::steady_clock::now();
    VerifierResult result = verifier.Score({"", response, reference, ""});
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(result.score == 0.0 || result.score == 1.0);
    EXPECT_FALSE(result.reason.empty());
    if (ms > slowest_ms) {
      slowest_ms = ms;
      slowest = answers[i];
    }
    EXPECT_LE(ms, allowed_ms) << answers[i] << " vs " << reference << ": " << result.reason;
    ++answers_run;
    if (result.reason.find("symbolic: ") != std::string::npos) ++reached_cas;
  }
  // The random strings are not all rejected by the parser: many exercise the CAS.
  EXPECT_GE(reached_cas, 500);
  std::printf("%d answers, %d compared by the CAS; slowest %.1f ms: %s\n", answers_run, reached_cas,
              slowest_ms, slowest.substr(0, 80).c_str());
}

}  // namespace
}  // namespace chord::reward
