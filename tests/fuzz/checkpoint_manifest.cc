// Checkpoint manifests (services/learner/checkpoint.h): the input is written as MANIFEST.json of
// a checkpoint folder that also holds trainer_state.json, optimizer.pt and model/config.json.
// ReadManifest accepts it or refuses with DATA_LOSS naming MANIFEST.json; an accepted manifest
// lists safe relative paths, once each, sorted; VerifyCheckpoint never reads outside the folder
// and refuses with DATA_LOSS unless every listed file matches.

#include <filesystem>

#include "services/learner/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(checkpoint_manifest) {
  static const std::string dir = [] {
    const std::string d = chord::fuzz::ScratchDir() + "/checkpoint/step-00000001";
    std::filesystem::create_directories(d + "/model");
    chord::fuzz::WriteFileOrDie(d + "/trainer_state.json", "{}\n");
    chord::fuzz::WriteFileOrDie(d + "/optimizer.pt", "optimizer");
    chord::fuzz::WriteFileOrDie(d + "/model/config.json", "{}\n");
    return d;
  }();
  const std::string manifest_path = dir + "/" + chord::learner::kManifestFile;
  chord::fuzz::WriteFileOrDie(manifest_path, chord::fuzz::AsText(data, size));
  absl::StatusOr<chord::learner::Manifest> manifest = chord::learner::ReadManifest(dir);
  if (!manifest.ok()) {
    FUZZ_CHECK(manifest.status().code() == absl::StatusCode::kDataLoss,
               manifest.status().ToString());
    FUZZ_CHECK(absl::StartsWith(manifest.status().message(), manifest_path),
               manifest.status().ToString());
    return;
  }
  FUZZ_CHECK(manifest->step >= 0, "negative step");
  for (size_t i = 0; i < manifest->files.size(); ++i) {
    const std::string& path = manifest->files[i].path;
    FUZZ_CHECK(!path.empty() && path[0] != '/' && path != chord::learner::kManifestFile, path);
    for (absl::string_view part : absl::StrSplit(path, '/')) {
      FUZZ_CHECK(!part.empty() && part != "." && part != "..", path);
    }
    if (i > 0) FUZZ_CHECK(manifest->files[i - 1].path < path, "not sorted or listed twice");
  }
  const absl::Status verified = chord::learner::VerifyCheckpoint(dir);
  if (!verified.ok()) {
    FUZZ_CHECK(verified.code() == absl::StatusCode::kDataLoss, verified.ToString());
    FUZZ_CHECK(absl::StartsWith(verified.message(), dir + "/"), verified.ToString());
  }
}
