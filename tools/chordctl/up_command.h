#pragma once

// `chordctl up` / `chordctl down`: run all four services locally (local_cluster.h).
//
//   chordctl up [--state-dir DIR] [--model DIR] [--rollout-workers N] [--learner-ranks N]
//               [--torch-threads N] [--bin-dir DIR] [--detach] [--max-restarts N]
//               [--start-timeout S] [--grace S] [--learner-arg ARG]... [--worker-arg ARG]...
//               [--prometheus [--prometheus-binary FILE] [--prometheus-rules FILE]
//                [--scrape-interval S]]
//   chordctl down [--state-dir DIR] [--grace S]
//
// `up` prints a table of the services (pid, address, metrics port, log) and the
// `export CHORD_LEARNER_ADDRESS=...` line. In the foreground it then waits for Ctrl-C / SIGTERM
// (or `chordctl down`), restarting a child that dies; `--detach` returns at once and leaves the
// children running. `--prometheus` also starts a local Prometheus (local_prometheus.h) and prints
// its URL. `down` stops what cluster.json records. The state directory defaults to
// $CHORD_STATE_DIR, else ./.chord.

#include "CLI/CLI.hpp"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Adds `up` and `down` to `app`. `context` must outlive the parse.
void AddUpDownCommands(CLI::App& app, CliContext& context);

}  // namespace chord::chordctl
