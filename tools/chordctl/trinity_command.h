#pragma once

// Trinity-RFT configurations in chordctl (trinity_config.h does the mapping):
//
//   chordctl convert CONFIG.yaml [--steps N]
//       prints the Chord job spec, then comment lines with the notes and every key of CONFIG
//       that has no Chord counterpart, with the reason (the output is itself a valid spec file).
//   chordctl submit --from-trinity CONFIG.yaml [--set KEY.PATH=VALUE]...
//       converts, prints the notes and unmapped keys on stderr, then submits as `submit`
//       (job_commands.cc calls SpecFromTrinity); `--set steps=N` gives the steps a config with
//       only buffer.total_epochs lacks.
//
// Exit codes as every command: 3 when CONFIG does not exist, 2 when it cannot be converted (the
// problems are listed), 0 otherwise.

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Adds `convert` to `app`. `context` must outlive the parse.
void AddTrinityCommands(CLI::App& app, CliContext& context);

// The Chord spec of the Trinity-RFT config `text` read from `file`; the notes and unmapped keys
// go to context.err as "chordctl: <file>: ..." lines. INVALID_ARGUMENT when it cannot be
// converted.
absl::StatusOr<std::string> SpecFromTrinity(const std::string& file, const std::string& text,
                                            CliContext& context);

}  // namespace chord::chordctl
