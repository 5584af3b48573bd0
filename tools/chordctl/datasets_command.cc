#include "tools/chordctl/datasets_command.h"

#include <filesystem>
#include <memory>
#include <ostream>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "tools/datasets/synthetic_datasets.h"

namespace chord::chordctl {
namespace {

struct MakeArgs {
  std::string out;
  int tasks = 2000;
  int expert = 2000;
  int eval = 200;
  uint64_t seed = 1;
  bool json = false;
  // arithmetic
  std::string digits = "2-2";
  std::string ops = "+";
  // countdown
  int numbers = 3;
  int max_number = 20;
};

void PrintFiles(const std::string& kind, const datasets::DatasetFiles& files, bool json,
                CliContext& context) {
  if (json) {
    nlohmann::json line = {{"dataset", kind},
                           {"tasks", files.tasks},
                           {"expert", files.expert},
                           {"eval", files.eval},
                           {"num_tasks", files.num_tasks},
                           {"num_expert", files.num_expert},
                           {"num_eval", files.num_eval}};
    *context.out << line.dump() << std::endl;
    return;
  }
  *context.out << "wrote the " << kind << " dataset\n"
               << absl::StrFormat("  tasks   %-6d %s\n", files.num_tasks, files.tasks)
               << absl::StrFormat("  expert  %-6d %s\n", files.num_expert, files.expert)
               << absl::StrFormat(
                      "  eval    %-6d %s (held out: no problem of it is in tasks or "
                      "expert)\n",
                      files.num_eval, files.eval)
               << std::flush;
}

void RunArithmetic(const MakeArgs& args, CliContext& context) {
  absl::StatusOr<std::pair<int, int>> digits = ParseDigitRange(args.digits);
  if (!digits.ok()) return context.Fail(digits.status());
  datasets::ArithmeticOptions options;
  options.num_tasks = args.tasks;
  options.num_expert = args.expert;
  options.num_eval = args.eval;
  options.min_digits = digits->first;
  options.max_digits = digits->second;
  options.ops = args.ops;
  options.seed = args.seed;
  absl::StatusOr<datasets::DatasetFiles> files =
      datasets::WriteArithmeticDatasets(args.out, options);
  if (!files.ok()) return context.Fail(files.status());
  PrintFiles("arithmetic", *files, args.json, context);
}

void RunCountdown(const MakeArgs& args, CliContext& context) {
  datasets::CountdownOptions options;
  options.num_tasks = args.tasks;
  options.num_expert = args.expert;
  options.num_eval = args.eval;
  options.count = args.numbers;
  options.max_number = args.max_number;
  options.seed = args.seed;
  absl::StatusOr<datasets::DatasetFiles> files =
      datasets::WriteCountdownDatasets(args.out, options);
  if (!files.ok()) return context.Fail(files.status());
  PrintFiles("countdown", *files, args.json, context);
}

// The options every generator shares.
void AddCommonOptions(CLI::App* command, MakeArgs* args) {
  command->add_option("--out", args->out, "Folder to write tasks/expert/eval.jsonl into")
      ->required();
  command->add_option("--tasks", args->tasks, "RL tasks (tasks.jsonl)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  command->add_option("--expert", args->expert, "Expert demonstrations (expert.jsonl)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  command->add_option("--eval", args->eval, "Held-out evaluation problems (eval.jsonl)")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str();
  command->add_option("--seed", args->seed, "Seed (the same options give the same files)")
      ->capture_default_str();
  command->add_flag("--json", args->json, "Print one JSON object");
}

}  // namespace

absl::StatusOr<std::pair<int, int>> ParseDigitRange(const std::string& text) {
  int low = 0, high = 0;
  size_t dash = text.find('-');
  bool ok = dash == std::string::npos ? absl::SimpleAtoi(text, &low) && (high = low, true)
                                      : absl::SimpleAtoi(text.substr(0, dash), &low) &&
                                            absl::SimpleAtoi(text.substr(dash + 1), &high);
  if (!ok || low < 1 || high < low || high > 9) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--digits ", text, ": expected N or MIN-MAX with 1 <= MIN <= MAX <= 9 (e.g. 2-3)"));
  }
  return std::make_pair(low, high);
}

void AddDatasetsCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand("datasets", "Synthetic datasets for CHORD jobs");
  group->require_subcommand(1);
  CLI::App* make = group->add_subcommand(
      "make", "Write tasks.jsonl, expert.jsonl (worked solutions) and a held-out eval.jsonl");
  make->require_subcommand(1);

  auto arithmetic_args = std::make_shared<MakeArgs>();
  CLI::App* arithmetic = make->add_subcommand(
      "arithmetic",
      "Multi-digit + - x problems (verifier `arithmetic`); experts show a digit-by-digit "
      "solution ending in \\boxed{answer}");
  AddCommonOptions(arithmetic, arithmetic_args.get());
  arithmetic
      ->add_option("--digits", arithmetic_args->digits,
                   "Operand digits: N or MIN-MAX (the multiplier of x has one digit)")
      ->capture_default_str();
  arithmetic->add_option("--ops", arithmetic_args->ops, "Operators to draw from: any of +-*")
      ->capture_default_str();
  arithmetic->callback([arithmetic_args, &context] { RunArithmetic(*arithmetic_args, context); });

  auto countdown_args = std::make_shared<MakeArgs>();
  CLI::App* countdown = make->add_subcommand(
      "countdown", "Reach a target from a few numbers with + - * / (verifier `countdown`)");
  AddCommonOptions(countdown, countdown_args.get());
  countdown->add_option("--numbers", countdown_args->numbers, "Numbers per problem (3 or 4)")
      ->check(CLI::Range(3, 4))
      ->capture_default_str();
  countdown->add_option("--max-number", countdown_args->max_number, "Largest number given")
      ->check(CLI::Range(2, 1000000))
      ->capture_default_str();
  countdown->callback([countdown_args, &context] { RunCountdown(*countdown_args, context); });
}

}  // namespace chord::chordctl
