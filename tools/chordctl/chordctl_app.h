#pragma once

// The chordctl application: builds the command tree (one group per service or task, each added
// by its own Add*Commands function) and runs it. main.cc only wires the standard streams; tests
// call RunChordctl directly.

#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// Parses `argv` (argv[0] is the program name) and runs the selected command with the streams
// of `context`. Returns the exit code (see cli_context.h): usage errors print one line on
// context.err and return 2; --help prints on context.out and returns 0.
int RunChordctl(int argc, const char* const* argv, CliContext context);

}  // namespace chord::chordctl
