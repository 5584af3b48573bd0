// The safetensors header parser and loader (common/model/safetensors.h): the input is written as
// a file and opened. A refusal is DATA_LOSS naming the file; an accepted file's tensors all fit
// the file, do not overlap, and load (as themselves and converted to float32).

#include <algorithm>
#include <filesystem>

#include "common/model/safetensors.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(safetensors_file) {
  static const std::string path = chord::fuzz::ScratchDir() + "/fuzz.safetensors";
  chord::fuzz::WriteFileOrDie(path, chord::fuzz::AsText(data, size));
  absl::StatusOr<std::unique_ptr<chord::model::SafetensorsFile>> file =
      chord::model::SafetensorsFile::Open(path);
  if (!file.ok()) {
    FUZZ_CHECK(file.status().code() == absl::StatusCode::kDataLoss, file.status().ToString());
    FUZZ_CHECK(absl::StartsWith(file.status().message(), path), file.status().ToString());
    return;
  }
  uint64_t previous_end = 0;
  std::vector<const chord::model::TensorInfo*> by_offset;
  for (const auto& [name, info] : (*file)->tensors()) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (const chord::model::TensorInfo* info : by_offset) {
    FUZZ_CHECK(info->begin >= previous_end && info->begin <= info->end && info->end <= size,
               absl::StrCat("tensor ", info->name, " [", info->begin, ", ", info->end, ")"));
    previous_end = info->end;
    absl::StatusOr<torch::Tensor> view = (*file)->View(info->name);
    FUZZ_CHECK(view.ok(), view.status().ToString());
    FUZZ_CHECK(
        static_cast<uint64_t>(view->numel()) * view->element_size() == info->end - info->begin,
        absl::StrCat("tensor ", info->name, " views the wrong number of bytes"));
    // Converting every element of a huge all-zero-size-dtype tensor is not the point: keep the
    // conversion to what the file holds (bounded by the input size).
    absl::StatusOr<torch::Tensor> loaded = (*file)->Load(info->name, torch::kFloat32);
    FUZZ_CHECK(loaded.ok(), loaded.status().ToString());
    FUZZ_CHECK(loaded->numel() == view->numel() && loaded->is_contiguous(),
               absl::StrCat("tensor ", info->name, " loads with another shape"));
  }
  FUZZ_CHECK((*file)->View("no such tensor").status().code() == absl::StatusCode::kNotFound,
             "a missing tensor is not NOT_FOUND");
}
