// A Hugging Face model folder's weights (common/model/safetensors.h, SafetensorsFolder): the
// input is model.safetensors.index.json, then \x1f, then the bytes of the one shard
// model-00001-of-00001.safetensors. A refusal is DATA_LOSS or NOT_FOUND naming a file of the
// folder; an accepted folder finds and loads every tensor the index maps.

#include <algorithm>
#include <filesystem>

#include "common/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(safetensors_folder) {
  static const std::string dir = [] {
    std::string d = chord::fuzz::ScratchDir() + "/folder";
    std::filesystem::create_directories(d);
    return d;
  }();
  const std::vector<absl::string_view> parts =
      chord::fuzz::SplitFields(chord::fuzz::AsText(data, size), 2);
  chord::fuzz::WriteFileOrDie(dir + "/model.safetensors.index.json", parts[0]);
  chord::fuzz::WriteFileOrDie(dir + "/model-00001-of-00001.safetensors", parts[1]);
  absl::StatusOr<std::unique_ptr<chord::model::SafetensorsFolder>> folder =
      chord::model::SafetensorsFolder::Open(dir);
  if (!folder.ok()) {
    FUZZ_CHECK(folder.status().code() == absl::StatusCode::kDataLoss ||
                   folder.status().code() == absl::StatusCode::kNotFound,
               folder.status().ToString());
    FUZZ_CHECK(absl::StartsWith(folder.status().message(), dir), folder.status().ToString());
    return;
  }
  for (const std::string& name : (*folder)->TensorNames()) {
    FUZZ_CHECK((*folder)->Find(name) != nullptr && (*folder)->FileOf(name) != nullptr, name);
    absl::StatusOr<torch::Tensor> tensor = (*folder)->Load(name, torch::kFloat32);
    FUZZ_CHECK(tensor.ok(), tensor.status().ToString());
  }
}
