// The arithmetic verifier (services/reward/arithmetic_verifier.h): the input is prompt \x1f
// response \x1f reference \x1f meta_json; the verifier contract holds (fuzz_support.h).

#include "services/reward/arithmetic_verifier.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(arithmetic) {
  static const chord::reward::ArithmeticVerifier verifier;
  chord::fuzz::FuzzVerifier(verifier, data, size);
}
