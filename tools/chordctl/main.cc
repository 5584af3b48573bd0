// chordctl: the user's command-line client of Chord. See docs/chordctl.md.

#include <iostream>

#include "tools/chordctl/chordctl_app.h"

int main(int argc, char** argv) {
  chord::chordctl::CliContext context;
  context.out = &std::cout;
  context.err = &std::cerr;
  context.in = &std::cin;
  return chord::chordctl::RunChordctl(argc, argv, context);
}
