// chordctl: the user's command-line client of Chord. See docs/chordctl.md.

#include <unistd.h>

#include <iostream>

#include "tools/chordctl/chordctl_app.h"

int main(int argc, char** argv) {
  chord::chordctl::CliContext context;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.in = &std::cin;
  context.out_is_tty = isatty(STDOUT_FILENO) == 1;
  context.err_is_tty = isatty(STDERR_FILENO) == 1;
  // The streams are the process's own: `init-model` and `eval` replace chordctl by
  // chord-model-tool.
  context.exec_model_tool = true;
  return chord::chordctl::RunChordctl(argc, argv, context);
}
