// chord-bench-reward: how fast chord-reward scores math_boxed responses.
//
// Generates --responses realistic math responses (a few hundred characters of reasoning before
// the \boxed{} answer; about 60% correct) from one of two mixes:
//   --mix=typical   integers, fractions, decimals, roots, tuples, units: the cheap comparisons
//                   decide them all;
//   --mix=symbolic  polynomials, rational expressions, trigonometric identities, equations,
//                   inequalities, sets, \pm and `f(x) =` answers: every one goes to the computer
//                   algebra comparison;
// then scores them in batches of --batch
//   - through the core (RewardScorer) on its worker pool with 1 and 2 workers, and
//   - through the gRPC service (an in-process server on 127.0.0.1, 2 workers) with
//     GrpcRewardClient,
// and prints a table of responses per second (the median of --rounds runs).
// Goal: >= 20000 responses/s for math_boxed on 2 cores.
//
//   build/bin/chord-bench-reward [--mix=typical|symbolic] [--responses=50000] [--batch=1024]
//                                [--rounds=5] [--grpc=false]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/rpc/server_runner.h"
#include "services/reward/grpc_client.h"
#include "services/reward/grpc_service.h"
#include "services/reward/reward_scorer.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(int, responses, 50000, "Responses to score per run");
ABSL_FLAG(int, batch, 1024, "Items per Score call");
ABSL_FLAG(int, rounds, 5, "Runs per row; the table shows the median");
ABSL_FLAG(int, seed, 1, "Seed of the response generator");
ABSL_FLAG(bool, grpc, true, "Also measure the gRPC path over loopback");
ABSL_FLAG(std::string, mix, "typical",
          "Answer mix: typical (numbers, fractions, tuples...) or symbolic (algebra, equations, "
          "inequalities, sets: all decided by the computer algebra comparison)");

namespace chord::reward {
namespace {

constexpr double kGoal = 20000.0;

struct Sample {
  std::string response;
  std::string reference;
  bool correct = false;  // as generated
};

// A few hundred characters of plausible reasoning.
std::string Reasoning(std::mt19937& rng) {
  static const char* kSentences[] = {
      "First, we set up the equation from the problem statement. ",
      "Let $x$ be the unknown quantity; then $3x + 7 = 2x + 12$, so $x = 5$. ",
      "Using Vieta's formulas, the sum of the roots is $-\\frac{b}{a}$. ",
      "We can simplify the fraction by dividing numerator and denominator by their gcd. ",
      "Squaring both sides gives $a^2 + 2ab + b^2 = 49$, and we know $ab = 6$. ",
      "The area of the triangle is $\\frac{1}{2} \\cdot 6 \\cdot 8 = 24$. ",
      "Checking the boundary cases, neither endpoint satisfies the inequality. ",
      "By the Pythagorean theorem, the hypotenuse is $\\sqrt{3^2 + 4^2} = 5$. ",
      "There are $\\binom{5}{2} = 10$ ways to choose the pair. ",
      "Substituting back into the original expression confirms the value. ",
  };
  std::uniform_int_distribution<int> pick(0, 9);
  std::uniform_int_distribution<int> count(4, 7);
  std::string text = "<think>\n";
  for (int i = count(rng); i > 0; --i) text += kSentences[pick(rng)];
  text += "\n</think>\n";
  return text;
}

Sample MakeSample(std::mt19937& rng) {
  std::uniform_int_distribution<int> form(0, 8);
  std::uniform_int_distribution<int> small(1, 99);
  std::bernoulli_distribution correct(0.6);
  bool right = correct(rng);
  int a = small(rng), b = small(rng) + 1;
  int off = right ? 0 : 1 + small(rng) % 5;
  std::string answer, reference;
  switch (form(rng)) {
    case 0:  // integers
      answer = absl::StrCat(a + off);
      reference = absl::StrCat(a);
      break;
    case 1:  // \frac vs a/b
      answer = absl::StrFormat("\\frac{%d}{%d}", a + off, b);
      reference = absl::StrFormat("%d/%d", a, b);
      break;
    case 2:  // decimal vs fraction
      answer = absl::StrFormat("%.3f", (a + off) / 8.0);
      reference = absl::StrFormat("\\frac{%d}{8}", a);
      break;
    case 3:  // \dfrac with \left( \right) tuple
      answer = absl::StrFormat("\\left( \\dfrac{%d}{2}, %d \\right)", a + off, b);
      reference = absl::StrFormat("(%g, %d)", a / 2.0, b);
      break;
    case 4:  // roots
      answer = absl::StrFormat("%d\\sqrt{2}", a + off);
      reference = absl::StrFormat("\\sqrt{%d}", 2 * a * a);
      break;
    case 5:  // units and text
      answer = absl::StrFormat("%d\\text{ cm}", a + off);
      reference = absl::StrCat(a);
      break;
    case 6:  // thousands separators
      answer = absl::StrFormat("%d,%03d", a + off, b);
      reference = absl::StrCat(a * 1000 + b);
      break;
    case 7:  // intervals
      answer = absl::StrFormat("[%d, %d)", a + off, a + b);
      reference = absl::StrFormat("[%d,%d)", a, a + b);
      break;
    default:  // assignments with a trailing period
      answer = absl::StrFormat("x = %d.", a + off);
      reference = absl::StrCat(a);
      break;
  }
  Sample sample;
  sample.response =
      absl::StrCat(Reasoning(rng), "Therefore, the final answer is $\\boxed{", answer, "}$.");
  sample.reference = reference;
  sample.correct = right;
  return sample;
}

// An answer that needs algebra: the cheap comparisons cannot decide it.
Sample MakeSymbolicSample(std::mt19937& rng) {
  std::uniform_int_distribution<int> form(0, 8);
  std::uniform_int_distribution<int> small(1, 9);
  std::bernoulli_distribution correct(0.6);
  bool right = correct(rng);
  int a = small(rng), b = small(rng) + 1;
  int off = right ? 0 : small(rng);
  std::string answer, reference;
  switch (form(rng)) {
    case 0:  // an expanded square vs a product
      answer = absl::StrFormat("x^2 + %d x + %d", 2 * a, a * a + off);
      reference = absl::StrFormat("(x+%d)(x+%d)", a, a);
      break;
    case 1:  // a rational expression
      answer = absl::StrFormat("\\frac{x^2-%d}{x-%d}", a * a, a);
      reference = absl::StrFormat("x+%d", a + off);
      break;
    case 2:  // a trigonometric identity
      answer = absl::StrFormat("%d\\sec^2 y", a);
      reference = absl::StrFormat("%d\\tan^2 y + %d", a, a + off);
      break;
    case 3:  // a rescaled, rearranged line
      answer = absl::StrFormat("%dx + %dy - %d = 0", 2 * a, 2 * b, 2 * (a + b) + off);
      reference = absl::StrFormat("y = -\\frac{%d}{%d}x + \\frac{%d}{%d}", a, b, a + b, b);
      break;
    case 4:  // an inequality the other way round
      answer = absl::StrFormat("%d \\geq x", a + off);
      reference = absl::StrFormat("x \\leq %d", a);
      break;
    case 5:  // a set in another order
      // A wrong element is over 10, so never one of the reference's by chance.
      answer = absl::StrFormat("\\{%d, %d, %d\\}", b, right ? a : a + 10 + off, a + b);
      reference = absl::StrFormat("\\{%d, %d, %d\\}", a, a + b, b);
      break;
    case 6:  // \pm against the two roots
      answer = absl::StrFormat("%d \\pm \\sqrt{%d}", a, b + off);
      reference = absl::StrFormat("%d+\\sqrt{%d}, %d-\\sqrt{%d}", a, b, a, b);
      break;
    case 7:  // f(x) = ... against the expression
      answer = absl::StrFormat("f(x) = %d x^2 + x", a + off);
      reference = absl::StrFormat("x(%dx + 1)", a);
      break;
    default:  // an interval written as an inequality chain
      answer = absl::StrFormat("-%d \\le x < %d", a, b + off);
      reference = absl::StrFormat("[-%d, %d)", a, b);
      break;
  }
  Sample sample;
  sample.response =
      absl::StrCat(Reasoning(rng), "Therefore, the final answer is $\\boxed{", answer, "}$.");
  sample.reference = reference;
  sample.correct = right;
  return sample;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Seconds to score all samples through `score_batch` (called once per batch).
template <typename ScoreBatch>
double TimeRun(const std::vector<Sample>& samples, int batch, ScoreBatch score_batch,
               int* correct) {
  auto start = std::chrono::steady_clock::now();
  *correct = 0;
  for (size_t begin = 0; begin < samples.size(); begin += batch) {
    size_t end = std::min(samples.size(), begin + static_cast<size_t>(batch));
    *correct += score_batch(begin, end);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// `has_goal`: the mix the 20000/s goal is for (typical).
void PrintRow(const std::string& path, int workers, size_t responses, double seconds,
              bool has_goal) {
  double rate = responses / seconds;
  std::string goal = "-";
  if (workers == 2 && has_goal) goal = rate >= kGoal ? "met" : "NOT met";
  std::printf("| %-22s | %7d | %9zu | %7.3f | %11.0f | %-7s |\n", path.c_str(), workers, responses,
              seconds, rate, goal.c_str());
}

int Main() {
  int n = std::max(1, absl::GetFlag(FLAGS_responses));
  int batch = std::clamp(absl::GetFlag(FLAGS_batch), 1, 65536);
  int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  std::string mix = absl::GetFlag(FLAGS_mix);
  if (mix != "typical" && mix != "symbolic") {
    std::fprintf(stderr, "error: --mix must be typical or symbolic, not \"%s\"\n", mix.c_str());
    return 2;
  }
  std::mt19937 rng(absl::GetFlag(FLAGS_seed));
  std::vector<Sample> samples;
  samples.reserve(n);
  size_t bytes = 0;
  for (int i = 0; i < n; ++i) {
    samples.push_back(mix == "typical" ? MakeSample(rng) : MakeSymbolicSample(rng));
    bytes += samples.back().response.size();
  }
  std::printf(
      "chord-bench-reward: math_boxed, %s mix, %d responses (avg %zu bytes), batches of %d, "
      "median of %d runs, %u hardware threads\n",
      mix.c_str(), n, bytes / n, batch, rounds, std::thread::hardware_concurrency());
  bool has_goal = mix == "typical";
  if (has_goal) {
    std::printf("goal: >= %.0f responses/s on 2 cores\n\n", kGoal);
  } else {
    std::printf("goal: none (the goal is for the typical mix)\n\n");
  }
  std::printf("| %-22s | %7s | %9s | %7s | %11s | %-7s |\n", "path", "workers", "responses",
              "seconds", "responses/s", "goal");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(24, '-').c_str(), std::string(9, '-').c_str(),
              std::string(11, '-').c_str(), std::string(9, '-').c_str(),
              std::string(13, '-').c_str(), std::string(9, '-').c_str());

  int reference_correct = -1;
  for (int workers : {1, 2}) {
    RewardScorerOptions options;
    options.workers = workers;
    auto scorer = RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr);
    if (!scorer.ok()) {
      std::fprintf(stderr, "error: %s\n", scorer.status().ToString().c_str());
      return 1;
    }
    std::vector<double> times;
    for (int r = 0; r < rounds; ++r) {
      int correct = 0;
      times.push_back(TimeRun(
          samples, batch,
          [&](size_t begin, size_t end) {
            std::vector<ScoreItem> items;
            items.reserve(end - begin);
            for (size_t i = begin; i < end; ++i) {
              items.push_back(
                  ScoreItem{"", "math_boxed", "", samples[i].response, samples[i].reference, ""});
            }
            auto results = (*scorer)->Score(items, true);
            int ok = 0;
            if (results.ok()) {
              for (const ScoreResult& result : *results) ok += result.correct ? 1 : 0;
            }
            return ok;
          },
          &correct));
      reference_correct = correct;
    }
    PrintRow("core (RewardScorer)", workers, samples.size(), Median(times), has_goal);
  }

  if (absl::GetFlag(FLAGS_grpc)) {
    RewardScorerOptions options;
    options.workers = 2;
    auto scorer = RewardScorer::Create(options, VerifierRegistry::CreateDefault(), nullptr);
    RewardGrpcService service(scorer->get());
    rpc::ServerOptions server_options;
    server_options.host = "127.0.0.1";
    auto runner = rpc::ServerRunner::Start(server_options, {&service});
    if (!runner.ok()) {
      std::fprintf(stderr, "error: %s\n", runner.status().ToString().c_str());
      return 1;
    }
    auto client = GrpcRewardClient::Create((*runner)->address());
    std::vector<double> times;
    for (int r = 0; r < rounds; ++r) {
      int correct = 0;
      times.push_back(TimeRun(
          samples, batch,
          [&](size_t begin, size_t end) {
            chord::v1::ScoreRequest request;
            request.set_think_format_penalty(true);
            request.mutable_items()->Reserve(static_cast<int>(end - begin));
            for (size_t i = begin; i < end; ++i) {
              chord::v1::ScoreItem* item = request.add_items();
              item->set_verifier("math_boxed");
              item->set_response(samples[i].response);
              item->set_reference(samples[i].reference);
            }
            auto results = (*client)->Score(request);
            int ok = 0;
            if (results.ok()) {
              for (const chord::v1::ScoreResult& result : results->results()) {
                ok += result.correct() ? 1 : 0;
              }
            } else {
              std::fprintf(stderr, "Score failed: %s\n", results.status().ToString().c_str());
            }
            return ok;
          },
          &correct));
      if (correct != reference_correct) {
        std::fprintf(stderr, "warning: gRPC path judged %d correct, the core %d\n", correct,
                     reference_correct);
      }
    }
    PrintRow("gRPC loopback (client)", 2, samples.size(), Median(times), has_goal);
    (*runner)->Shutdown();
  }
  int generated_correct = 0;
  for (const Sample& sample : samples) generated_correct += sample.correct ? 1 : 0;
  std::printf("\n%d of %d responses judged correct (%.0f%%); %d were generated correct\n",
              reference_correct, n, 100.0 * reference_correct / n, generated_correct);
  return 0;
}

}  // namespace
}  // namespace chord::reward

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  spdlog::set_level(spdlog::level::warn);  // keep the server's log lines out of the table
  return chord::reward::Main();
}
