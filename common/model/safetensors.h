#pragma once

// The safetensors format (https://github.com/huggingface/safetensors), read through a memory
// mapping and written atomically, plus Hugging Face model folders (one `model.safetensors`, or
// shards listed by `model.safetensors.index.json`).
//
// File layout: 8 bytes little-endian u64 N, N bytes of JSON header (padded with spaces so the data
// starts 8-byte aligned), then the data buffer. The header maps each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end)} (offsets relative to the data buffer) and may
// hold "__metadata__": {string: string}. Tensors are little-endian, row-major.
//
// Supported dtypes: F32, F16, BF16 (weights), F64, I64, I32, I16, I8, U8, BOOL (read and written
// as themselves). Anything else is refused naming the file, the tensor and the dtype.

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace chord::model {

// A list of named tensors in a fixed order (HF tensor names).
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// "F32" etc. for a torch dtype; INVALID_ARGUMENT for dtypes the format cannot hold.
absl::StatusOr<std::string> SafetensorsDtypeName(torch::Dtype dtype);

// One tensor entry of a safetensors header.
struct TensorInfo {
  std::string name;
  torch::Dtype dtype = torch::kFloat32;
  std::string dtype_name;  // as written in the header, e.g. "BF16"
  std::vector<int64_t> shape;
  // Byte range inside the data buffer.
  uint64_t begin = 0;
  uint64_t end = 0;
};

// A read-only safetensors file, memory-mapped. Opening validates the whole header against the
// file size: a file too short for a tensor's data_offsets is DATA_LOSS naming the file and the
// tensor; a malformed header (bad JSON, missing fields, offsets that disagree with dtype x shape,
// overlapping ranges, unsupported dtype) is DATA_LOSS naming the file (and tensor when there is
// one). Thread-safe after Open (all methods are const).
class SafetensorsFile {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // The "__metadata__" entries (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // All tensors, sorted by name.
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // nullptr when the file has no tensor `name`.
  const TensorInfo* Find(absl::string_view name) const;

  // A tensor over the mapped bytes, in the file's dtype, without copying. The tensor keeps the
  // mapping alive (it outlives this object if needed). The mapping is private copy-on-write:
  // writing to the tensor never changes the file. If the data is not aligned to its element size
  // a copy is returned instead. NOT_FOUND naming the file when `name` is absent.
  absl::StatusOr<torch::Tensor> View(absl::string_view name) const;
  // A contiguous copy converted to `dtype` (owning its memory).
  absl::StatusOr<torch::Tensor> Load(absl::string_view name, torch::Dtype dtype) const;
  // Hints the kernel that the mapped pages of tensor `name` are no longer needed (they are read
  // back from the file if touched again). Lowers peak RSS while copying a checkpoint into memory.
  void ReleasePages(absl::string_view name) const;

 private:
  struct Mapping;
  SafetensorsFile() = default;

  std::string path_;
  std::shared_ptr<Mapping> mapping_;
  uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorInfo> tensors_;
};

// Writes `tensors` as one safetensors file at `path`, atomically (temp file in the same folder,
// fsync, rename, fsync of the folder). Each tensor is written in its own dtype (convert first if
// you want another) from CPU memory (other devices are copied). Names must be unique and not
// "__metadata__". Tensors are laid out by decreasing element size, then by name, so every tensor
// is aligned to its element size, as the reference implementation does.
absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata = {});

struct WriteFolderOptions {
  // Above this many data bytes the tensors are split into shards
  // (model-00001-of-0000N.safetensors) listed by model.safetensors.index.json. Default 2 GB.
  uint64_t max_shard_bytes = 2'000'000'000ULL;
  // Stored in every file's "__metadata__". Default {"format": "pt"} as transformers writes.
  std::map<std::string, std::string> metadata = {{"format", "pt"}};
};

// Writes the weight files of a Hugging Face model folder (the folder is created if missing):
// model.safetensors, or shards + model.safetensors.index.json ({"metadata": {"total_size"},
// "weight_map": {name: file}}). Weight files of an earlier layout left in the folder (a stale
// index, shards or single file) are removed after the new files are in place, so the folder
// always loads as what was written last.
absl::Status WriteModelFolder(const std::string& dir, const NamedTensors& tensors,
                              const WriteFolderOptions& options = {});

// The weights of a Hugging Face model folder: model.safetensors.index.json (sharded) when present,
// else model.safetensors. Open fails with NOT_FOUND naming the folder when it holds neither, and
// with DATA_LOSS naming the file when the index is malformed, lists a shard that is missing, or
// maps a tensor to a shard that does not contain it.
class SafetensorsFolder {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsFolder>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // The file weights are described by (the index file or model.safetensors), for messages.
  const std::string& description_file() const { return description_file_; }
  // All tensor names, sorted.
  std::vector<std::string> TensorNames() const;
  // The file holding `name`, or nullptr.
  const SafetensorsFile* FileOf(absl::string_view name) const;
  const TensorInfo* Find(absl::string_view name) const;
  absl::StatusOr<torch::Tensor> Load(absl::string_view name, torch::Dtype dtype) const;

 private:
  SafetensorsFolder() = default;
  std::string dir_;
  std::string description_file_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*, std::less<>> owner_;
};

}  // namespace chord::model
