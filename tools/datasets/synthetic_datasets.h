#pragma once

// Synthetic CHORD datasets for the quickstart, tests and demos (`chordctl datasets make`):
//  - arithmetic: multi-digit +, - and x problems as RL tasks (verifier `arithmetic`), expert
//    demonstrations with a worked, digit-by-digit solution ending in \boxed{answer}, and a
//    held-out evaluation set;
//  - countdown: reach a target from a few numbers with + - * / (verifier `countdown`), expert
//    demonstrations with a worked solution, and a held-out evaluation set.
//
// Held-out means disjoint: every problem belongs to exactly one pool, train or eval, decided by a
// hash of the problem itself, so no evaluation problem ever appears in the tasks or the expert
// data, whatever the sizes and seeds. Output is deterministic for the options.
// Files are JSONL in the formats chord-expert-buffer loads (docs/expert-buffer.md).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::datasets {

struct ArithmeticProblem {
  int64_t a = 0;
  int64_t b = 0;
  char op = '+';  // '+', '-' (a >= b) or '*' (b has one digit)
};

struct ArithmeticOptions {
  // Records per file.
  int num_tasks = 2000;
  int num_expert = 2000;
  int num_eval = 200;
  // Operand sizes in decimal digits (inclusive range; the multiplier of '*' has one digit).
  int min_digits = 2;
  int max_digits = 2;
  // Operators to draw from, any of "+-*".
  std::string ops = "+";
  uint64_t seed = 1;
};

struct CountdownOptions {
  int num_tasks = 2000;
  int num_expert = 2000;
  int num_eval = 200;
  // How many numbers each problem gives (3 or 4) and their range.
  int count = 3;
  int max_number = 20;
  uint64_t seed = 1;
};

// Paths written and record counts.
struct DatasetFiles {
  std::string tasks;
  std::string expert;
  std::string eval;
  int64_t num_tasks = 0;
  int64_t num_expert = 0;
  int64_t num_eval = 0;
};

// The prompt text of a problem ("47+85=?") and its answer.
std::string ArithmeticPrompt(const ArithmeticProblem& problem);
int64_t ArithmeticAnswer(const ArithmeticProblem& problem);

// The worked solution of the expert demonstrations: one line per digit column, right to left,
// with the carry or borrow, then the answer boxed. 47+85:
//   7+5=12
//   4+8+1=13
//   \boxed{132}
std::string ArithmeticWorkedSolution(const ArithmeticProblem& problem);

// True when the problem is in the held-out (evaluation) pool.
bool IsHeldOut(const ArithmeticProblem& problem);

// Writes tasks.jsonl, expert.jsonl and eval.jsonl into `out_dir` (created if missing).
// INVALID_ARGUMENT naming the option when the options are inconsistent (e.g. more eval records
// than the held-out pool holds).
absl::StatusOr<DatasetFiles> WriteArithmeticDatasets(const std::string& out_dir,
                                                     const ArithmeticOptions& options);

absl::StatusOr<DatasetFiles> WriteCountdownDatasets(const std::string& out_dir,
                                                    const CountdownOptions& options);

}  // namespace chord::datasets
