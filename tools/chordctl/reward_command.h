#pragma once

// `chordctl reward ...`: score a response with a verifier and list the verifiers, through the
// reward service when an address is given (--address or $CHORD_REWARD_ADDRESS), else in-process
// with the reward library.
//
//   chordctl reward score --verifier NAME (--response TEXT|- | --response-file PATH)
//                         [--reference TEXT] [--prompt TEXT] [--meta JSON] [--think-penalty]
//                         [--address HOST:PORT] [--json]
//   chordctl reward verifiers [--address HOST:PORT] [--json]

#include "CLI/CLI.hpp"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Adds the `reward` command group to `app`. `context` must outlive the parse.
void AddRewardCommands(CLI::App& app, CliContext& context);

// "1.0", "0.9", "-0.1": the shortest form with at least one decimal.
std::string FormatScore(double score);

}  // namespace chord::chordctl
