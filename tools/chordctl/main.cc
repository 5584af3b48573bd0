// chordctl: the user's command-line client of Chord. See docs/chordctl.md.

#include <unistd.h>

#include <iostream>

#include "common/service/openmp_policy.h"
#include "tools/chordctl/chordctl_app.h"

int main(int argc, char** argv) {
  chord::service::PreferPassiveOpenMp(argc, argv);
  chord::chordctl::CliContext context;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.in = &std::cin;
  context.out_is_tty = isatty(STDOUT_FILENO) == 1;
  context.err_is_tty = isatty(STDERR_FILENO) == 1;
  return chord::chordctl::RunChordctl(argc, argv, context);
}
