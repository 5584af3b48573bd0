// The math_boxed verifier (services/reward/math_boxed_verifier.h), with its computer algebra
// comparison on: the input is prompt \x1f response \x1f reference \x1f meta_json; the
// verifier contract holds (fuzz_support.h, CheckVerifier).

#include "services/reward/math_boxed_verifier.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(math_boxed) {
  static const chord::reward::MathBoxedVerifier verifier;
  chord::fuzz::FuzzVerifier(verifier, data, size);
}
