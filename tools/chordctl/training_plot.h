#pragma once

// Training curves of one job as a picture (`chordctl plot`): reward, held-out accuracy, mu and
// loss against step, a 2x2 grid with the stage boundaries marked, drawn by gnuplot (Debian's
// gnuplot-nox, run as a program with its pngcairo terminal). The curves come from the job's
// events (the STEP, EVAL and LOG events `chordctl watch` and `logs` show).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "chord/v1/learner.pb.h"

namespace chord::chordctl {

// The series of one job. Each point is (step, value); steps increase.
struct TrainingCurves {
  std::string job_id;
  std::string title;  // the job's name, or its id
  int64_t total_steps = 0;
  // reward_mean of the steps that had rollouts (SFT steps report none).
  std::vector<std::pair<int64_t, double>> reward;
  // eval_accuracy of each held-out evaluation, at the step it followed (0: before training).
  std::vector<std::pair<int64_t, double>> eval_accuracy;
  std::vector<std::pair<int64_t, double>> mu;
  // loss, pg_loss and sft_loss.
  std::vector<std::pair<int64_t, double>> loss;
  std::vector<std::pair<int64_t, double>> pg_loss;
  std::vector<std::pair<int64_t, double>> sft_loss;
  // Where each stage starts: (first step, stage name), from the LOG events
  // "stage <name> starts at step <n> (...)".
  std::vector<std::pair<int64_t, std::string>> stages;
};

// Collects the curves from a job's events in sequence order. A step seen twice (a job resumed from
// a checkpoint repeats the steps after it) keeps its latest values.
TrainingCurves CurvesFromEvents(const std::vector<chord::v1::JobEvent>& events);

struct PlotOptions {
  // Picture size in pixels. Default 1200 x 900.
  int width = 1200;
  int height = 900;
};

// The gnuplot program that draws `curves` into `png_path` (pngcairo terminal), data inline.
// A panel without points says so instead of a curve.
std::string GnuplotScript(const TrainingCurves& curves, const std::string& png_path,
                          const PlotOptions& options);

// Runs `gnuplot_binary` on `script` (written to a temporary file) and waits for it.
// NOT_FOUND when the binary is missing (install Debian's gnuplot-nox); INTERNAL with gnuplot's
// messages when it fails or writes no picture to `png_path`.
absl::Status RunGnuplot(const std::string& gnuplot_binary, const std::string& script,
                        const std::string& png_path);

}  // namespace chord::chordctl
