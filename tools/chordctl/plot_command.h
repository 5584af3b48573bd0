#pragma once

// `chordctl plot`: a job's training curves as a PNG (training_plot.h).
//
//   chordctl plot ID --out FILE.png [--width PX] [--height PX] [--gnuplot FILE]
//                 [--address HOST:PORT] [--token TOKEN]
//
// Reads the job's events from the learner (as `chordctl logs`: the stored history of a running
// job, all of an ended one), draws reward, held-out accuracy, mu and loss against step in a 2x2
// grid with the stage boundaries marked, and prints the path written. Exit 3 for an unknown job,
// 1 when gnuplot is missing or fails.

#include "CLI/CLI.hpp"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Adds `plot` to `app`. `context` must outlive the parse.
void AddPlotCommand(CLI::App& app, CliContext& context);

}  // namespace chord::chordctl
