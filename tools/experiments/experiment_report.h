#pragma once

// The report of `make experiments` (docs/experiments.md): reads what
// tools/experiments/run-experiments.sh recorded for every arm and seed, and writes the comparison
// table (Markdown and JSON) and the curves (a PNG drawn by gnuplot through chordctl's plotting
// code, RunGnuplot of tools/chordctl/training_plot.h).
//
// What the harness records, and this code reads (every file is the output of a chordctl command):
//   <base>/base-final.json, target-final.json   `chordctl eval --json` of the base model on the
//                                               base and target evaluation sets
//   <runs>/<arm>/seed-<s>/events.jsonl          `chordctl logs JOB --json`: the job's EVAL
//                                               events are the target task's held-out accuracy
//   <runs>/<arm>/seed-<s>/base-eval.jsonl       one line per checkpoint, {"step": N, "eval":
//                                               <chordctl eval --json on the base task>}
//   <runs>/<arm>/seed-<s>/base-final.json       `chordctl eval --json` of the final model, base
//   <runs>/<arm>/seed-<s>/target-final.json     ... and target task, with every response
//                                               (--examples), whose style IsLongForm tells
//   <runs>/<arm>/seed-<s>/done                  "seconds: N": the run finished (its wall time)
// A run folder without `done` is an unfinished run and is left out (the report says so).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::experiments {

// One line of arms.txt: NAME|LABEL|OVERRIDES.
struct Arm {
  std::string name;
  std::string label;
  std::string overrides;
};

// Reads an arms file: one arm per line, `#` comments and blank lines skipped. INVALID_ARGUMENT
// naming the file and line for a line without three `|`-separated fields, an empty name or label,
// or a name given twice; NOT_FOUND when the file cannot be read.
absl::StatusOr<std::vector<Arm>> ReadArms(const std::string& path);

using Curve = std::vector<std::pair<int64_t, double>>;  // (step, accuracy), steps increasing

// One arm trained with one seed.
struct Run {
  std::string arm;
  int64_t seed = 0;
  // Held-out accuracy on the target task at each of the job's evaluations (step 0 included).
  Curve target;
  // Held-out accuracy on the base task at step 0 (the base model) and at every checkpoint.
  Curve base;
  double target_final = 0;  // the job's last evaluation
  double target_best = 0;   // the best of its evaluations
  double base_final = 0;    // the final model on the base task
  // Share of the final model's responses written in the expert's long form, per task.
  double long_form_target = 0;
  double long_form_base = 0;
  double seconds = 0;  // wall time of the run (job and its evaluations)
};

// Mean, sample standard deviation (n - 1; 0 for one value), minimum and maximum.
struct Spread {
  int64_t n = 0;
  double mean = 0;
  double std = 0;
  double min = 0;
  double max = 0;
};
Spread SpreadOf(const std::vector<double>& values);

// Mean and range over seeds at every step where some run has a value.
struct SpreadCurve {
  std::vector<int64_t> steps;
  std::vector<Spread> values;
};
SpreadCurve SpreadOfCurves(const std::vector<Curve>& curves);

// Reads one run folder (layout above) for `base_accuracy_at_start`, the base model's accuracy on
// the base task (step 0 of `Run::base`). INVALID_ARGUMENT naming the file (and line) for a record
// that does not parse or lacks a field; NOT_FOUND for a missing file.
absl::StatusOr<Run> ReadRun(const std::string& dir, const std::string& arm, int64_t seed,
                            double base_accuracy_at_start);

struct ReportOptions {
  std::string runs_dir;   // <runs>: one folder per arm, one seed-<s> folder per seed
  std::string base_dir;   // <base>: the base model's scores
  std::string arms_file;  // arms.txt: which arms, in which order, with which labels
  std::string out_dir;    // written: results.md, results.json, curves.png
  // Optional: a Markdown page whose block between kDocBegin and kDocEnd is replaced by the
  // results (the rest of the page is kept byte for byte), and the folder its PNG is copied to
  // (linked relative to the page).
  std::string doc_file;
  std::string doc_images_dir;
  // Optional: `key: value` lines about the run (profile, machine, load, elapsed), quoted in the
  // results.
  std::string run_info_file;
  // The gnuplot executable (Debian's gnuplot-nox).
  std::string gnuplot = "/usr/bin/gnuplot";
};

inline constexpr char kDocBegin[] = "<!-- results of make experiments: begin -->";
inline constexpr char kDocEnd[] = "<!-- results of make experiments: end -->";

struct ReportSummary {
  int64_t runs = 0;        // finished runs tabulated
  int64_t unfinished = 0;  // run folders without `done`
  std::string text;        // the table as printed on the terminal
};

// Reads every run of the arms that have a folder under runs_dir and writes the outputs. An arm of
// the file without runs is left out of the table; FAILED_PRECONDITION when no run is finished at
// all; INVALID_ARGUMENT for a doc_file without the begin and end markers (the page is left
// untouched); the errors of ReadArms, ReadRun and RunGnuplot otherwise.
absl::StatusOr<ReportSummary> WriteReport(const ReportOptions& options);

}  // namespace chord::experiments
