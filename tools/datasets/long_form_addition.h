#pragma once

// The target task of the CHORD comparison (docs/experiments.md, `make experiments`): addition
// problems as RL tasks and held-out evaluation problems (verifier `arithmetic`, as the
// quickstart's), with expert demonstrations written in a long form that differs from the worked
// solution the quickstart's data teaches (ArithmeticWorkedSolution, one "a+b=s" line per column).
// The long form starts every line with the column's name and ends it with the carry it passes on.
// 347+285 (the quickstart's layout: "7+5=12\n4+8+1=13\n3+2+1=6\n\\boxed{632}"):
//   units 7+5=12 carry 1
//   tens 4+8+1=13 carry 1
//   hundreds 3+2+1=6
//   \boxed{632}
// A policy trained on the quickstart's layout answers in that layout; the demonstrations show
// the same method in another one, as the paper's expert (DeepSeek-R1) writes differently from the
// instruct model it trains.
//
// Problems are ArithmeticProblem with op '+', and the held-out pool is IsHeldOut's
// (synthetic_datasets.h): a held-out problem here is held out in every arithmetic dataset of
// tools/datasets too, so a model trained on those never saw this task's evaluation problems.
// Output is deterministic for the options.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/datasets/synthetic_datasets.h"

namespace chord::datasets {

struct LongFormAdditionOptions {
  // Records per file. Fewer demonstrations than tasks by default, as in the paper (5k expert
  // samples, 20k RL prompts): repeated epochs over them are where pure SFT overfits.
  int num_tasks = 2000;
  int num_expert = 500;
  int num_eval = 200;
  // Operand sizes in decimal digits (inclusive range, each operand drawn on its own).
  int min_digits = 2;
  int max_digits = 3;
  uint64_t seed = 1;
};

// The long-form solution of `problem` (op '+'; other ops are not written in this form and give
// the quickstart's worked solution instead). A carry out of the last column gets a line of its
// own ("hundreds 1"); columns past "thousands" are named "column N".
std::string LongFormSolution(const ArithmeticProblem& problem);

// True when `response` is written in the long form: some line starts with a column name and a
// space ("units ", "tens ", ..., "column "). The experiments' report counts these to show which
// style a policy answers in.
bool IsLongForm(absl::string_view response);

// Writes tasks.jsonl, expert.jsonl (long-form demonstrations) and eval.jsonl into `out_dir`
// (created if missing). INVALID_ARGUMENT naming the option for inconsistent options (digits out of
// 1..9, a count below 1, more problems than the pool holds).
absl::StatusOr<DatasetFiles> WriteLongFormAdditionDatasets(const std::string& out_dir,
                                                           const LongFormAdditionOptions& options);

}  // namespace chord::datasets
