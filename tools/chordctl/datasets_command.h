#pragma once

// `chordctl datasets make`: writes a synthetic CHORD dataset (tools/datasets): RL tasks, expert
// demonstrations with worked solutions, and a held-out evaluation set disjoint from both.
//
//   chordctl datasets make arithmetic --out DIR [--tasks N] [--expert N] [--eval N]
//                                     [--digits MIN-MAX] [--ops +-*] [--seed S] [--json]
//   chordctl datasets make countdown  --out DIR [--tasks N] [--expert N] [--eval N]
//                                     [--numbers 3|4] [--max-number N] [--seed S] [--json]
//
// Prints the three files and their record counts. Options the generator rejects (e.g. more
// evaluation problems than the held-out pool holds) are usage errors (exit 2).

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Parses "--digits": "3" (exactly 3) or "2-4". INVALID_ARGUMENT otherwise.
absl::StatusOr<std::pair<int, int>> ParseDigitRange(const std::string& text);

// Adds the `datasets` group to `app`. `context` must outlive the parse.
void AddDatasetsCommands(CLI::App& app, CliContext& context);

}  // namespace chord::chordctl
