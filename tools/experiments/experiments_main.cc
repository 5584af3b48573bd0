// chord-experiments: the two steps of `make experiments` (docs/experiments.md) that are not
// chordctl commands.
//
//   chord-experiments datasets --out DIR [--tasks N] [--expert N] [--eval N] [--digits MIN-MAX]
//                              [--seed S]
//       writes the target task (tools/datasets/long_form_addition.h): tasks.jsonl, expert.jsonl
//       with long-form demonstrations, and a held-out eval.jsonl.
//   chord-experiments report --runs DIR --base DIR --arms FILE --out DIR
//                            [--doc FILE --doc-images DIR] [--run-info FILE] [--gnuplot FILE]
//       reads what tools/experiments/run-experiments.sh recorded and writes the table and the
//       curves (experiment_report.h).
//
// Exit codes: 0 ok, 1 failure (the error on stderr, one line), 2 usage error.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/datasets/long_form_addition.h"
#include "tools/experiments/experiment_report.h"

namespace {

int Fail(const absl::Status& status) {
  std::cerr << "chord-experiments: error: " << status.message() << std::endl;
  return 1;
}

// `gnuplot` on $PATH ("gnuplot" when there is none: the report then says it is missing).
std::string GnuplotOnPath() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "", ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/gnuplot");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "gnuplot";
}

// "2-3" or "3" -> (min, max).
bool ParseDigits(const std::string& text, int* low, int* high) {
  std::vector<std::string> parts = absl::StrSplit(text, '-');
  if (parts.size() == 1) parts.push_back(parts[0]);
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], low) && absl::SimpleAtoi(parts[1], high);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chord-experiments: the target task's datasets and the report of make experiments"};
  app.require_subcommand(1);

  chord::datasets::LongFormAdditionOptions data;
  std::string data_out;
  std::string digits = "2-3";
  CLI::App* datasets = app.add_subcommand(
      "datasets",
      "Write the target task: addition tasks, long-form expert demonstrations, and "
      "held-out evaluation problems");
  datasets->add_option("--out", data_out, "Folder to write tasks/expert/eval.jsonl into")
      ->required();
  datasets->add_option("--tasks", data.num_tasks, "RL tasks")->capture_default_str();
  datasets->add_option("--expert", data.num_expert, "Expert demonstrations (long form)")
      ->capture_default_str();
  datasets->add_option("--eval", data.num_eval, "Held-out evaluation problems")
      ->capture_default_str();
  datasets->add_option("--digits", digits, "Operand digits: N or MIN-MAX")->capture_default_str();
  datasets->add_option("--seed", data.seed, "Seed (the same options give the same files)")
      ->capture_default_str();

  chord::experiments::ReportOptions report;
  CLI::App* report_command = app.add_subcommand(
      "report", "Tabulate and plot the runs recorded by tools/experiments/run-experiments.sh");
  report_command->add_option("--runs", report.runs_dir, "The harness's runs folder")->required();
  report_command->add_option("--base", report.base_dir, "The harness's base-model folder")
      ->required();
  report_command->add_option("--arms", report.arms_file, "The arms file (arms.txt)")->required();
  report_command->add_option("--out", report.out_dir, "Folder for results.md, .json and PNGs")
      ->required();
  report_command->add_option(
      "--doc", report.doc_file,
      "A Markdown page whose results block is replaced (docs/experiments.md)");
  report_command->add_option("--doc-images", report.doc_images_dir,
                             "With --doc: folder the PNGs are copied into, linked from the page");
  report_command->add_option("--run-info", report.run_info_file,
                             "A file of `key: value` lines about the run (machine, load, elapsed)");
  std::string gnuplot;
  report_command->add_option("--gnuplot", gnuplot,
                             "The gnuplot executable (default: gnuplot on $PATH)");

  CLI11_PARSE(app, argc, argv);

  if (datasets->parsed()) {
    if (!ParseDigits(digits, &data.min_digits, &data.max_digits)) {
      std::cerr << "chord-experiments: usage error: --digits " << digits
                << ": expected N or MIN-MAX" << std::endl;
      return 2;
    }
    absl::StatusOr<chord::datasets::DatasetFiles> files =
        chord::datasets::WriteLongFormAdditionDatasets(data_out, data);
    if (!files.ok()) return Fail(files.status());
    std::cout << "wrote the long-form addition dataset\n"
              << "  tasks   " << files->num_tasks << "  " << files->tasks << "\n"
              << "  expert  " << files->num_expert << "  " << files->expert << "\n"
              << "  eval    " << files->num_eval << "  " << files->eval << std::endl;
    return 0;
  }
  report.gnuplot = gnuplot.empty() ? GnuplotOnPath() : gnuplot;
  absl::StatusOr<chord::experiments::ReportSummary> summary =
      chord::experiments::WriteReport(report);
  if (!summary.ok()) return Fail(summary.status());
  std::cout << summary->text << std::flush;
  return 0;
}
