// trainer_state.json of a checkpoint (services/learner/checkpoint.h, DecodeTrainerState): any
// text decodes or is refused with DATA_LOSS naming the file; a decoded state encodes again and
// decodes to the same state and generator bytes.

#include "services/learner/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(trainer_state) {
  absl::StatusOr<chord::learner::DecodedTrainerState> decoded =
      chord::learner::DecodeTrainerState(chord::fuzz::AsText(data, size), "trainer_state.json");
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kDataLoss &&
                   absl::StartsWith(decoded.status().message(), "trainer_state.json: "),
               decoded.status().ToString());
    return;
  }
  FUZZ_CHECK(decoded->state.step >= 0, "negative step");
  absl::StatusOr<std::string> encoded =
      chord::learner::EncodeTrainerState(decoded->state, decoded->rng_state);
  FUZZ_CHECK(encoded.ok(), encoded.status().ToString());
  absl::StatusOr<chord::learner::DecodedTrainerState> again =
      chord::learner::DecodeTrainerState(*encoded, "trainer_state.json");
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(again->state.step == decoded->state.step &&
                 again->state.values == decoded->state.values &&
                 again->rng_state == decoded->rng_state,
             "encode + decode changed the state");
}
