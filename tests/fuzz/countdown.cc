// The countdown verifier (services/reward/countdown_verifier.h): the input is prompt \x1f
// response \x1f reference \x1f meta_json; the verifier contract holds (fuzz_support.h), and a
// task that parses has at most 64 numbers.

#include "services/reward/countdown_verifier.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(countdown) {
  static const chord::reward::CountdownVerifier verifier;
  chord::fuzz::FuzzVerifier(verifier, data, size);
  const std::vector<absl::string_view> f =
      chord::fuzz::SplitFields(chord::fuzz::AsText(data, size), 4);
  absl::StatusOr<chord::reward::CountdownTask> task =
      chord::reward::ParseCountdownTask(chord::reward::ScoreInput{f[0], f[1], f[2], f[3]});
  if (task.ok()) FUZZ_CHECK(task->numbers.size() <= 64, "more than 64 numbers");
}
