#include "tools/model_tool/eval_command.h"

#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "nlohmann/json.hpp"

namespace chord::model_tool {
namespace {

struct EvalArgs {
  ModelEvalOptions options;
  bool json = false;
};

// One line, at most `width` characters, newlines shown as "\n".
std::string Clip(const std::string& text, size_t width) {
  std::string flat = absl::StrReplaceAll(text, {{"\n", "\\n"}});
  if (flat.size() <= width) return flat;
  return flat.substr(0, width - 3) + "...";
}

void RunEval(const EvalArgs& args, cli::CommandContext& context) {
  auto progress = [&context](int64_t done, int64_t total) {
    if (done == total && !context.err_is_tty) return;  // the report follows at once
    if (context.err_is_tty) {
      *context.err << "\revaluating: " << done << "/" << total << " problems"
                   << (done == total ? "\x1b[K\r" : "") << std::flush;
    } else {
      *context.err << "evaluating: " << done << "/" << total << " problems" << std::endl;
    }
  };
  absl::StatusOr<ModelEvalReport> report = EvaluateModel(args.options, progress);
  if (!report.ok()) return context.Fail(report.status());
  if (args.json) {
    nlohmann::json examples = nlohmann::json::array();
    for (const EvalExample& e : report->examples) {
      examples.push_back({{"id", e.id},
                          {"prompt", e.prompt},
                          {"response", e.response},
                          {"reference", e.reference},
                          {"score", e.score},
                          {"correct", e.correct},
                          {"reason", e.reason}});
    }
    nlohmann::json line = {{"model", args.options.model_dir},
                           {"data", args.options.data_path},
                           {"samples", report->samples},
                           {"correct", report->correct},
                           {"accuracy", report->accuracy},
                           {"reward_mean", report->reward_mean},
                           {"mean_response_tokens", report->mean_response_tokens},
                           {"seconds", report->seconds},
                           {"examples", examples}};
    *context.out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                 << std::endl;
    return;
  }
  *context.out << FormatEvalReport(args.options, *report) << std::flush;
}

}  // namespace

std::string FormatEvalReport(const ModelEvalOptions& options, const ModelEvalReport& report) {
  std::string out = absl::StrFormat(
      "accuracy %.3f (%d/%d)  mean reward %.3f  mean length %.1f tokens  %.2fs\n"
      "model %s\ndata  %s\n",
      report.accuracy, report.correct, report.samples, report.reward_mean,
      report.mean_response_tokens, report.seconds, options.model_dir, options.data_path);
  if (!report.examples.empty()) absl::StrAppend(&out, "examples:\n");
  for (const EvalExample& e : report.examples) {
    absl::StrAppend(&out, "  ", e.correct ? "correct" : "wrong  ", "  ", e.id, "  ",
                    Clip(e.prompt, 40), "  ->  ", Clip(e.response, 60), "  (reference ",
                    Clip(e.reference, 20), ")\n");
  }
  return out;
}

void AddEvalCommand(CLI::App& app, cli::CommandContext& context) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* command = app.add_subcommand(
      "eval", "Score a model folder on an evaluation set (greedy decoding, in-process)");
  command->add_option("--model", args->options.model_dir, "Hugging Face model folder")->required();
  command->add_option("--data", args->options.data_path, "Evaluation tasks (JSONL)")->required();
  command
      ->add_option("--verifier", args->options.verifier,
                   "Verifier for tasks whose record names none")
      ->capture_default_str();
  command
      ->add_option("--max-samples", args->options.max_samples,
                   "Score only the first N tasks (0: all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40))
      ->capture_default_str();
  command
      ->add_option("--max-new-tokens", args->options.max_new_tokens,
                   "Generated tokens per response at most")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  command->add_option("--batch-size", args->options.batch_size, "Prompts per generation batch")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  command->add_option("--examples", args->options.num_examples, "Examples to print")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  command
      ->add_option("--torch-threads", args->options.torch_threads,
                   "LibTorch threads (0: LibTorch's default)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  command->add_flag("--think-penalty", args->options.think_penalty,
                    "Apply the -0.1 penalty for a malformed <think>...</think> block");
  command->add_flag("--json", args->json, "Print one JSON object");
  command->callback([args, &context] { RunEval(*args, context); });
}

}  // namespace chord::model_tool
