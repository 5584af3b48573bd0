#pragma once

// The shape of a Chord fuzz target (one file per target under tests/fuzz/, docs/testing.md):
//
//   CHORD_FUZZ_TARGET(json_line) {      // `data`, `size`: one input
//     ...parse, check properties with FUZZ_CHECK...
//   }
//
// In a fuzz build (CHORD_FUZZ_LIBFUZZER, `make fuzz`) the body becomes the target's
// LLVMFuzzerTestOneInput and the file is linked alone with libFuzzer. Otherwise every target is
// linked into the fuzz_corpus_test program, which runs each target over its committed corpus
// (tests/fuzz/corpus/<name>/: the seeds and every input a fuzzer found) so that ordinary builds
// keep the findings fixed.
//
// A target must do bounded work for any input, must not leak state from one input to the next
// (results may not depend on the inputs before), and reports a broken property with FUZZ_CHECK,
// which prints the message and aborts: libFuzzer then saves the input as a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"

namespace chord::fuzz {

using TargetFunction = void (*)(const uint8_t* data, size_t size);

// Adds a target to the corpus runner's registry (not used in fuzz builds). Returns true.
bool RegisterTarget(const char* name, TargetFunction function);

// The input as text.
inline absl::string_view AsText(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     const std::string& message) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, condition,
               message.c_str());
  std::abort();
}

}  // namespace chord::fuzz

// Aborts with `message` (a std::string expression, evaluated only on failure) unless
// `condition` holds.
#define FUZZ_CHECK(condition, message)                                       \
  do {                                                                       \
    if (!(condition)) {                                                      \
      ::chord::fuzz::CheckFailed(__FILE__, __LINE__, #condition, (message)); \
    }                                                                        \
  } while (false)

#ifdef CHORD_FUZZ_LIBFUZZER
#define CHORD_FUZZ_TARGET(name)                                             \
  static void ChordFuzzTarget_##name(const uint8_t* data, size_t size);     \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    ChordFuzzTarget_##name(data, size);                                     \
    return 0;                                                               \
  }                                                                         \
  static void ChordFuzzTarget_##name(const uint8_t* data, size_t size)
#else
#define CHORD_FUZZ_TARGET(name)                                         \
  static void ChordFuzzTarget_##name(const uint8_t* data, size_t size); \
  static const bool chord_fuzz_registered_##name =                      \
      ::chord::fuzz::RegisterTarget(#name, &ChordFuzzTarget_##name);    \
  static void ChordFuzzTarget_##name(const uint8_t* data, size_t size)
#endif
