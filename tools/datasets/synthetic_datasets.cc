#include "tools/datasets/synthetic_datasets.h"

#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::datasets {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One in kHeldOutEvery problems is held out for evaluation.
constexpr uint64_t kHeldOutEvery = 10;

std::vector<int> Digits(int64_t v) {  // least significant first
  std::vector<int> d;
  do {
    d.push_back(static_cast<int>(v % 10));
    v /= 10;
  } while (v > 0);
  return d;
}

int64_t Pow10(int n) {
  int64_t p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create directory ", dir));
  }
  return absl::OkStatus();
}

std::string ChatRecord(const std::string& prompt, const std::string& response) {
  nlohmann::json record = {
      {"messages",
       {{{"role", "user"}, {"content", prompt}}, {{"role", "assistant"}, {"content", response}}}}};
  return record.dump();
}

// Draws `count` distinct items with `draw` (returns false for an item outside the wanted pool)
// keyed by `key`; fails naming `option` when the pool runs dry.
template <typename T, typename Draw, typename Key>
absl::StatusOr<std::vector<T>> DrawDistinct(int count, absl::string_view option, Draw&& draw,
                                            Key&& key) {
  std::vector<T> items;
  std::set<std::string> seen;
  int64_t attempts = 0;
  const int64_t max_attempts = 200LL * count + 100000;
  while (static_cast<int>(items.size()) < count) {
    if (++attempts > max_attempts) {
      return absl::InvalidArgumentError(absl::StrCat(
          option, ": only ", items.size(), " distinct problems of this kind are available (asked ",
          count, "); widen the digit range or operators, or ask for fewer"));
    }
    T item;
    if (!draw(&item)) continue;
    if (!seen.insert(key(item)).second) continue;
    items.push_back(item);
  }
  return items;
}

}  // namespace

std::string ArithmeticPrompt(const ArithmeticProblem& p) {
  return absl::StrCat(p.a, std::string(1, p.op), p.b, "=?");
}

int64_t ArithmeticAnswer(const ArithmeticProblem& p) {
  switch (p.op) {
    case '-':
      return p.a - p.b;
    case '*':
      return p.a * p.b;
    default:
      return p.a + p.b;
  }
}

std::string ArithmeticWorkedSolution(const ArithmeticProblem& p) {
  std::vector<int> a = Digits(p.a);
  std::vector<int> b = Digits(p.b);
  std::vector<std::string> lines;
  if (p.op == '*') {
    int carry = 0;
    for (int da : a) {
      int product = da * static_cast<int>(p.b) + carry;
      lines.push_back(carry > 0 ? absl::StrCat(da, "*", p.b, "+", carry, "=", product)
                                : absl::StrCat(da, "*", p.b, "=", product));
      carry = product / 10;
    }
  } else {
    size_t n = std::max(a.size(), b.size());
    a.resize(n, 0);
    b.resize(n, 0);
    int carry = 0;  // carry (addition) or borrow (subtraction) into this column
    for (size_t i = 0; i < n; ++i) {
      if (p.op == '+') {
        int sum = a[i] + b[i] + carry;
        lines.push_back(carry > 0 ? absl::StrCat(a[i], "+", b[i], "+1=", sum)
                                  : absl::StrCat(a[i], "+", b[i], "=", sum));
        carry = sum / 10;
      } else {
        int diff = a[i] - b[i] - carry;
        int top = diff < 0 ? a[i] + 10 : a[i];
        lines.push_back(carry > 0 ? absl::StrCat(top, "-", b[i], "-1=", top - b[i] - 1)
                                  : absl::StrCat(top, "-", b[i], "=", top - b[i]));
        carry = diff < 0 ? 1 : 0;
      }
    }
  }
  lines.push_back(absl::StrCat("\\boxed{", ArithmeticAnswer(p), "}"));
  return absl::StrJoin(lines, "\n");
}

bool IsHeldOut(const ArithmeticProblem& p) {
  uint64_t h =
      SplitMix64(static_cast<uint64_t>(p.a) * 1000003u ^
                 SplitMix64(static_cast<uint64_t>(p.b) * 31u + static_cast<uint64_t>(p.op)));
  return h % kHeldOutEvery == 0;
}

absl::StatusOr<DatasetFiles> WriteArithmeticDatasets(const std::string& out_dir,
                                                     const ArithmeticOptions& options) {
  if (options.min_digits < 1 || options.max_digits < options.min_digits || options.max_digits > 9) {
    return absl::InvalidArgumentError("digits: need 1 <= min_digits <= max_digits <= 9");
  }
  if (options.ops.empty() || options.ops.find_first_not_of("+-*") != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("ops: use any of \"+-*\", got \"", options.ops, "\""));
  }
  for (auto [name, value] : {std::pair<const char*, int>{"num_tasks", options.num_tasks},
                             {"num_expert", options.num_expert},
                             {"num_eval", options.num_eval}}) {
    if (value < 1) return absl::InvalidArgumentError(absl::StrCat(name, ": must be >= 1"));
  }
  std::mt19937_64 rng(SplitMix64(options.seed));
  auto operand = [&](int digits_lo, int digits_hi) {
    int digits = std::uniform_int_distribution<int>(digits_lo, digits_hi)(rng);
    int64_t lo = digits == 1 ? 0 : Pow10(digits - 1);
    return std::uniform_int_distribution<int64_t>(lo, Pow10(digits) - 1)(rng);
  };
  auto draw_from = [&](bool held_out) {
    return [&, held_out](ArithmeticProblem* p) {
      p->op = options.ops[std::uniform_int_distribution<size_t>(0, options.ops.size() - 1)(rng)];
      p->a = operand(options.min_digits, options.max_digits);
      p->b = p->op == '*' ? operand(1, 1) : operand(options.min_digits, options.max_digits);
      if (p->op == '-' && p->a < p->b) std::swap(p->a, p->b);
      return IsHeldOut(*p) == held_out;
    };
  };
  auto key = [](const ArithmeticProblem& p) { return ArithmeticPrompt(p); };
  ASSIGN_OR_RETURN(auto tasks, DrawDistinct<ArithmeticProblem>(options.num_tasks, "num_tasks",
                                                               draw_from(false), key));
  ASSIGN_OR_RETURN(auto expert, DrawDistinct<ArithmeticProblem>(options.num_expert, "num_expert",
                                                                draw_from(false), key));
  ASSIGN_OR_RETURN(auto eval, DrawDistinct<ArithmeticProblem>(options.num_eval, "num_eval",
                                                              draw_from(true), key));
  RETURN_IF_ERROR(MakeDir(out_dir));
  auto task_lines = [](const std::vector<ArithmeticProblem>& problems) {
    std::string text;
    for (const ArithmeticProblem& p : problems) {
      nlohmann::json record = {{"prompt", ArithmeticPrompt(p)},
                               {"answer", std::to_string(ArithmeticAnswer(p))},
                               {"kind", "arithmetic"}};
      absl::StrAppend(&text, record.dump(), "\n");
    }
    return text;
  };
  std::string expert_text;
  for (const ArithmeticProblem& p : expert) {
    absl::StrAppend(&expert_text, ChatRecord(ArithmeticPrompt(p), ArithmeticWorkedSolution(p)),
                    "\n");
  }
  DatasetFiles files{out_dir + "/tasks.jsonl", out_dir + "/expert.jsonl", out_dir + "/eval.jsonl",
                     options.num_tasks,        options.num_expert,        options.num_eval};
  RETURN_IF_ERROR(files::WriteFileAtomically(files.tasks, task_lines(tasks)));
  RETURN_IF_ERROR(files::WriteFileAtomically(files.expert, expert_text));
  RETURN_IF_ERROR(files::WriteFileAtomically(files.eval, task_lines(eval)));
  return files;
}

namespace {

struct CountdownProblem {
  std::vector<int64_t> numbers;  // in the order the prompt lists them
  int64_t target = 0;
  std::string expression;          // a solution
  std::vector<std::string> steps;  // worked solution lines
};

bool CountdownHeldOut(const CountdownProblem& p) {
  std::vector<int64_t> sorted = p.numbers;
  std::sort(sorted.begin(), sorted.end());
  uint64_t h = SplitMix64(static_cast<uint64_t>(p.target));
  for (int64_t n : sorted) h = SplitMix64(h ^ static_cast<uint64_t>(n));
  return h % kHeldOutEvery == 0;
}

std::string CountdownPrompt(const CountdownProblem& p) {
  return absl::StrCat("Using the numbers [", absl::StrJoin(p.numbers, ", "),
                      "], create an equation that equals ", p.target, ".");
}

// Combines the numbers left to right in a random order with random operators, keeping every
// intermediate value a positive integer; the result is the target.
bool DrawCountdown(std::mt19937_64& rng, const CountdownOptions& o, CountdownProblem* p) {
  p->numbers.clear();
  p->steps.clear();
  for (int i = 0; i < o.count; ++i) {
    p->numbers.push_back(std::uniform_int_distribution<int64_t>(1, o.max_number)(rng));
  }
  std::vector<int64_t> order = p->numbers;
  std::shuffle(order.begin(), order.end(), rng);
  int64_t value = order[0];
  std::string expr = std::to_string(order[0]);
  for (size_t i = 1; i < order.size(); ++i) {
    const char ops[] = {'+', '-', '*'};
    char op = ops[std::uniform_int_distribution<int>(0, 2)(rng)];
    int64_t next = op == '+' ? value + order[i] : op == '-' ? value - order[i] : value * order[i];
    if (next <= 0 || next > 999) return false;
    p->steps.push_back(absl::StrCat(value, std::string(1, op), order[i], "=", next));
    expr = op == '*' && i > 1 ? absl::StrCat("(", expr, ")*", order[i])
                              : absl::StrCat(expr, std::string(1, op), order[i]);
    value = next;
  }
  p->target = value;
  p->expression = expr;
  return true;
}

}  // namespace

absl::StatusOr<DatasetFiles> WriteCountdownDatasets(const std::string& out_dir,
                                                    const CountdownOptions& options) {
  if (options.count < 2 || options.count > 6) {
    return absl::InvalidArgumentError("count: must be in 2..6");
  }
  if (options.max_number < 2) return absl::InvalidArgumentError("max_number: must be >= 2");
  std::mt19937_64 rng(SplitMix64(options.seed ^ 0xC0C0));
  auto draw_from = [&](bool held_out) {
    return [&, held_out](CountdownProblem* p) {
      return DrawCountdown(rng, options, p) && CountdownHeldOut(*p) == held_out;
    };
  };
  auto key = [](const CountdownProblem& p) { return CountdownPrompt(p); };
  ASSIGN_OR_RETURN(auto tasks, DrawDistinct<CountdownProblem>(options.num_tasks, "num_tasks",
                                                              draw_from(false), key));
  ASSIGN_OR_RETURN(auto expert, DrawDistinct<CountdownProblem>(options.num_expert, "num_expert",
                                                               draw_from(false), key));
  ASSIGN_OR_RETURN(auto eval, DrawDistinct<CountdownProblem>(options.num_eval, "num_eval",
                                                             draw_from(true), key));
  RETURN_IF_ERROR(MakeDir(out_dir));
  auto task_lines = [](const std::vector<CountdownProblem>& problems) {
    std::string text;
    for (const CountdownProblem& p : problems) {
      nlohmann::json record = {{"prompt", CountdownPrompt(p)},
                               {"answer", std::to_string(p.target)},
                               {"kind", "countdown"},
                               {"meta", {{"numbers", p.numbers}, {"target", p.target}}}};
      absl::StrAppend(&text, record.dump(), "\n");
    }
    return text;
  };
  std::string expert_text;
  for (const CountdownProblem& p : expert) {
    std::string response =
        absl::StrCat(absl::StrJoin(p.steps, "\n"), "\n\\boxed{", p.expression, "}");
    absl::StrAppend(&expert_text, ChatRecord(CountdownPrompt(p), response), "\n");
  }
  DatasetFiles files{out_dir + "/tasks.jsonl", out_dir + "/expert.jsonl", out_dir + "/eval.jsonl",
                     options.num_tasks,        options.num_expert,        options.num_eval};
  RETURN_IF_ERROR(files::WriteFileAtomically(files.tasks, task_lines(tasks)));
  RETURN_IF_ERROR(files::WriteFileAtomically(files.expert, expert_text));
  RETURN_IF_ERROR(files::WriteFileAtomically(files.eval, task_lines(eval)));
  return files;
}

}  // namespace chord::datasets
