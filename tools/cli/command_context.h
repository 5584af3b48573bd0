#pragma once

// What every command of Chord's command-line tools (chordctl, chord-model-tool) shares: the
// output streams, the exit code the command leaves, and one way to report an error.
//
// Exit codes (docs/chordctl.md):
//   0  ok
//   1  runtime or server error (unreachable service, deadline, internal error)
//   2  usage error: bad flags or arguments, including arguments a service rejects as
//      INVALID_ARGUMENT
//   3  not found (a file, a job, ...)
//   4  the watched job ended CANCELLED (`watch`, `submit --watch`)
// Errors are printed as one line on stderr: "<program>: error: <what>".

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace chord::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitRuntimeError = 1,
  kExitUsageError = 2,
  kExitNotFound = 3,
  kExitJobCancelled = 4,
};

// The exit code for a failed status: INVALID_ARGUMENT -> 2, NOT_FOUND -> 3, others -> 1.
int ExitCodeFor(const absl::Status& status);

struct CommandContext {
  // The name errors and usage lines give the program. Default "chordctl" (chord-model-tool runs
  // as a part of it: chordctl starts it under that name).
  std::string program = "chordctl";
  // Where results go (stdout in the binary).
  std::ostream* out = nullptr;
  // Where the one-line errors go (stderr in the binary).
  std::ostream* err = nullptr;
  // Where `-` arguments read from (stdin in the binary).
  std::istream* in = nullptr;
  // True when `out` / `err` are terminals (progress bars, `\r` updates). Default false: plain
  // lines, as for files and pipes.
  bool out_is_tty = false;
  bool err_is_tty = false;
  // Set by the command that ran.
  int exit_code = kExitOk;

  // Prints "<program>: error: <status message>" on `err` and sets exit_code from the status.
  void Fail(const absl::Status& status);
  // Prints "<program>: error: <message>" and sets exit_code to `code`.
  void Fail(int code, absl::string_view message);
};

}  // namespace chord::cli
