#include "common/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"

namespace chord::model {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100ULL << 20;  // as the reference implementation
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";

struct DtypeEntry {
  const char* name;
  torch::Dtype dtype;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", torch::kFloat64},   {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
    {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

bool DtypeFromName(const std::string& name, torch::Dtype* out) {
  for (const auto& e : kDtypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

std::string ErrnoText() { return std::strerror(errno); }

absl::Status DataLoss(absl::string_view path, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(path, ": ", what));
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    // Linux writes at most ~2 GiB per call.
    const size_t chunk = std::min<size_t>(size, 1ULL << 30);
    const ssize_t n = ::write(fd, data, chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat(path, ": write failed: ", ErrnoText()));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

bool IsShardName(const std::string& name) {
  // model-00001-of-00002.safetensors
  return absl::StartsWith(name, "model-") && absl::EndsWith(name, ".safetensors") &&
         name.find("-of-") != std::string::npos;
}

}  // namespace

struct SafetensorsFile::Mapping {
  void* addr = nullptr;
  size_t size = 0;
  ~Mapping() {
    if (addr != nullptr) ::munmap(addr, size);
  }
};

absl::StatusOr<std::string> SafetensorsDtypeName(torch::Dtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return std::string(e.name);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("dtype ", c10::toString(dtype), " cannot be stored in safetensors"));
}

SafetensorsFile::~SafetensorsFile() = default;

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", ErrnoText()));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const std::string err = ErrnoText();
    ::close(fd);
    return absl::InternalError(absl::StrCat(path, ": fstat failed: ", err));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    return DataLoss(path, absl::StrCat("truncated: ", file_size,
                                       " bytes is too short for a safetensors header"));
  }
  auto mapping = std::make_shared<Mapping>();
  // Private and writable: tensors viewing the file may be modified in memory (copy-on-write)
  // without touching the file.
  void* addr = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const std::string mmap_err = ErrnoText();
  ::close(fd);
  if (addr == MAP_FAILED) {
    return absl::InternalError(absl::StrCat(path, ": mmap failed: ", mmap_err));
  }
  mapping->addr = addr;
  mapping->size = file_size;
  const auto* bytes = static_cast<const uint8_t*>(addr);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeaderBytes) {
    return DataLoss(path, absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                       kMaxHeaderBytes, " bytes (not a safetensors file?)"));
  }
  if (header_len > file_size - 8) {
    return DataLoss(path, absl::StrCat("truncated: header length ", header_len,
                                       " exceeds the file size ", file_size));
  }

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->mapping_ = mapping;
  file->data_start_ = 8 + header_len;
  const uint64_t data_size = file_size - file->data_start_;

  json header;
  try {
    const char* h = reinterpret_cast<const char*>(bytes + 8);
    header = json::parse(h, h + header_len);
  } catch (const json::exception& e) {
    return DataLoss(path, absl::StrCat("invalid JSON header: ", e.what()));
  }
  if (!header.is_object()) return DataLoss(path, "header is not a JSON object");

  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      const std::string& name = it.key();
      const json& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) return DataLoss(path, "__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) {
            return DataLoss(path, absl::StrCat("__metadata__.", m.key(), " is not a string"));
          }
          file->metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      auto bad = [&](absl::string_view why) {
        return DataLoss(path, absl::StrCat("tensor ", name, ": ", why));
      };
      if (!v.is_object()) return bad("entry is not an object");
      TensorInfo info;
      info.name = name;
      auto dt = v.find("dtype");
      if (dt == v.end() || !dt->is_string()) return bad("missing string \"dtype\"");
      info.dtype_name = dt->get<std::string>();
      if (!DtypeFromName(info.dtype_name, &info.dtype)) {
        return bad(absl::StrCat("unsupported dtype \"", info.dtype_name, "\""));
      }
      auto sh = v.find("shape");
      if (sh == v.end() || !sh->is_array()) return bad("missing array \"shape\"");
      uint64_t numel = 1;
      bool overflow = false;
      for (const json& d : *sh) {
        if (!d.is_number_unsigned()) return bad(absl::StrCat("bad shape entry ", d.dump()));
        const uint64_t dim = d.get<uint64_t>();
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
        if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
        numel *= dim;
        info.shape.push_back(static_cast<int64_t>(dim));
      }
      auto off = v.find("data_offsets");
      if (off == v.end() || !off->is_array() || off->size() != 2 ||
          !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
        return bad("missing \"data_offsets\": [begin, end]");
      }
      info.begin = (*off)[0].get<uint64_t>();
      info.end = (*off)[1].get<uint64_t>();
      if (info.begin > info.end) return bad("data_offsets begin > end");
      const uint64_t elem = c10::elementSize(info.dtype);
      if (overflow || numel > std::numeric_limits<uint64_t>::max() / elem ||
          numel * elem != info.end - info.begin) {
        return bad(absl::StrCat("data_offsets [", info.begin, ", ", info.end, ") hold ",
                                info.end - info.begin, " bytes but ", info.dtype_name, " ",
                                sh->dump(), " needs ", numel * elem));
      }
      if (info.end > data_size) {
        return bad(absl::StrCat("truncated: data_offsets end ", info.end, " exceeds the data size ",
                                data_size));
      }
      file->tensors_.emplace(name, std::move(info));
    }
  } catch (const json::exception& e) {
    return DataLoss(path, absl::StrCat("malformed header: ", e.what()));
  }

  // Ranges must not overlap.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& [name, info] : file->tensors_) by_offset.push_back(&info);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      return DataLoss(path, absl::StrCat("tensor ", by_offset[i]->name, ": data overlaps tensor ",
                                         by_offset[i - 1]->name));
    }
  }
  return file;
}

const TensorInfo* SafetensorsFile::Find(absl::string_view name) const {
  auto it = tensors_.find(std::string(name));
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::StatusOr<torch::Tensor> SafetensorsFile::View(absl::string_view name) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no tensor ", name));
  }
  try {
    const auto options = torch::TensorOptions().dtype(info->dtype);
    if (info->end == info->begin) return torch::empty(info->shape, options);
    auto* ptr = static_cast<uint8_t*>(mapping_->addr) + data_start_ + info->begin;
    std::shared_ptr<Mapping> keep = mapping_;
    torch::Tensor view = torch::from_blob(
        ptr, info->shape, [keep](void*) mutable { keep.reset(); }, options);
    if (reinterpret_cast<uintptr_t>(ptr) % c10::elementSize(info->dtype) != 0) {
      return view.clone();
    }
    return view;
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(path_, ": tensor ", name, ": ", e.what_without_backtrace()));
  }
}

absl::StatusOr<torch::Tensor> SafetensorsFile::Load(absl::string_view name,
                                                    torch::Dtype dtype) const {
  ASSIGN_OR_RETURN(torch::Tensor view, View(name));
  try {
    return view.to(dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat(path_, ": tensor ", name, ": ", e.what_without_backtrace()));
  }
}

void SafetensorsFile::ReleasePages(absl::string_view name) const {
  const TensorInfo* info = Find(name);
  if (info == nullptr) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t begin = (data_start_ + info->begin + page - 1) / page * page;
  const uint64_t end = (data_start_ + info->end) / page * page;
  if (end <= begin) return;
  ::madvise(static_cast<uint8_t*>(mapping_->addr) + begin, end - begin, MADV_DONTNEED);
}

absl::Status WriteSafetensors(const std::string& path, const NamedTensors& tensors,
                              const std::map<std::string, std::string>& metadata) {
  struct Entry {
    std::string name;
    torch::Tensor data;  // CPU, contiguous
    std::string dtype_name;
    size_t elem = 0;
  };
  std::vector<Entry> entries;
  std::set<std::string> seen;
  try {
    for (const auto& [name, tensor] : tensors) {
      if (name.empty() || name == "__metadata__") {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": invalid tensor name \"", name, "\""));
      }
      if (!seen.insert(name).second) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": duplicate tensor ", name));
      }
      if (!tensor.defined()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": tensor ", name, " is undefined"));
      }
      auto dtype_name = SafetensorsDtypeName(tensor.scalar_type());
      if (!dtype_name.ok()) return Annotate(dtype_name.status(), absl::StrCat(path, ": ", name));
      Entry e;
      e.name = name;
      e.data = tensor.detach().to(torch::kCPU).contiguous();
      e.dtype_name = *dtype_name;
      e.elem = e.data.element_size();
      entries.push_back(std::move(e));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat(path, ": ", e.what_without_backtrace()));
  }
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.elem != b.elem) return a.elem > b.elem;
    return a.name < b.name;
  });

  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Entry& e : entries) {
    const uint64_t n = e.data.nbytes();
    header[e.name] = {{"dtype", e.dtype_name},
                      {"shape", e.data.sizes().vec()},
                      {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  char len_bytes[8];
  uint64_t len = header_text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>((len >> (8 * i)) & 0xff);

  const std::string dir = DirName(path);
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot create temp file: ", ErrnoText()));
  }
  absl::Status status = WriteAll(fd, len_bytes, 8, tmp);
  if (status.ok()) status = WriteAll(fd, header_text.data(), header_text.size(), tmp);
  for (const Entry& e : entries) {
    if (!status.ok()) break;
    status = WriteAll(fd, static_cast<const char*>(e.data.data_ptr()), e.data.nbytes(), tmp);
  }
  if (status.ok() && ::fchmod(fd, 0644) != 0) {
    status = absl::InternalError(absl::StrCat(tmp, ": fchmod failed: ", ErrnoText()));
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = absl::InternalError(absl::StrCat(tmp, ": fsync failed: ", ErrnoText()));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = absl::InternalError(absl::StrCat(tmp, ": close failed: ", ErrnoText()));
  }
  if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::InternalError(absl::StrCat(path, ": rename failed: ", ErrnoText()));
  }
  if (!status.ok()) {
    ::unlink(tmp.c_str());
    return status;
  }
  return files::SyncDirectory(dir);
}

absl::Status WriteModelFolder(const std::string& dir, const NamedTensors& tensors,
                              const WriteFolderOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create folder: ", ec.message()));
  if (options.max_shard_bytes == 0) {
    return absl::InvalidArgumentError("WriteFolderOptions.max_shard_bytes must be positive");
  }

  uint64_t total = 0;
  for (const auto& [name, t] : tensors) {
    if (t.defined()) total += t.nbytes();
  }
  std::set<std::string> written;
  if (total <= options.max_shard_bytes) {
    RETURN_IF_ERROR(WriteSafetensors(dir + "/" + kSingleFile, tensors, options.metadata));
    written.insert(kSingleFile);
  } else {
    // Greedy split in the given order, as transformers does.
    std::vector<NamedTensors> shards(1);
    uint64_t current = 0;
    for (const auto& nt : tensors) {
      const uint64_t n = nt.second.defined() ? nt.second.nbytes() : 0;
      if (!shards.back().empty() && current + n > options.max_shard_bytes) {
        shards.emplace_back();
        current = 0;
      }
      shards.back().push_back(nt);
      current += n;
    }
    json weight_map = json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
      const std::string name =
          absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, shards.size());
      RETURN_IF_ERROR(WriteSafetensors(dir + "/" + name, shards[i], options.metadata));
      for (const auto& nt : shards[i]) weight_map[nt.first] = name;
      written.insert(name);
    }
    json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    RETURN_IF_ERROR(files::WriteFileAtomically(dir + "/" + kIndexFile, index.dump(2) + "\n"));
    written.insert(kIndexFile);
  }
  // Remove weight files of an earlier layout so the folder loads as what was just written.
  bool removed = false;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool weight_file = name == kSingleFile || name == kIndexFile || IsShardName(name);
    if (weight_file && written.count(name) == 0) {
      std::filesystem::remove(entry.path(), ec);
      removed = true;
    }
  }
  if (removed) RETURN_IF_ERROR(files::SyncDirectory(dir));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SafetensorsFolder>> SafetensorsFolder::Open(const std::string& dir) {
  std::unique_ptr<SafetensorsFolder> folder(new SafetensorsFolder());
  folder->dir_ = dir;
  const std::string index_path = dir + "/" + kIndexFile;
  const std::string single_path = dir + "/" + kSingleFile;
  struct stat st;
  if (::stat(index_path.c_str(), &st) == 0) {
    folder->description_file_ = index_path;
    ASSIGN_OR_RETURN(std::string text, files::ReadFile(index_path));
    json index;
    try {
      index = json::parse(text);
    } catch (const json::exception& e) {
      return DataLoss(index_path, absl::StrCat("invalid JSON: ", e.what()));
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return DataLoss(index_path, "missing object \"weight_map\"");
    }
    std::map<std::string, const SafetensorsFile*> by_name;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
      if (!it.value().is_string()) {
        return DataLoss(index_path, absl::StrCat("weight_map.", it.key(), " is not a string"));
      }
      const std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos) {
        return DataLoss(index_path,
                        absl::StrCat("weight_map.", it.key(), ": invalid file \"", shard, "\""));
      }
      auto found = by_name.find(shard);
      if (found == by_name.end()) {
        auto file = SafetensorsFile::Open(dir + "/" + shard);
        if (!file.ok()) {
          return Annotate(file.status(), absl::StrCat(index_path, ": shard of ", it.key()));
        }
        folder->files_.push_back(std::move(*file));
        found = by_name.emplace(shard, folder->files_.back().get()).first;
      }
      if (found->second->Find(it.key()) == nullptr) {
        return DataLoss(index_path, absl::StrCat("tensor ", it.key(), " is mapped to ", shard,
                                                 ", which does not contain it"));
      }
      folder->owner_.emplace(it.key(), found->second);
    }
    return folder;
  }
  if (::stat(single_path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": no ", kSingleFile, " or ", kIndexFile, " in the model folder"));
  }
  folder->description_file_ = single_path;
  ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
  for (const auto& [name, info] : file->tensors()) folder->owner_.emplace(name, file.get());
  folder->files_.push_back(std::move(file));
  return folder;
}

std::vector<std::string> SafetensorsFolder::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (const auto& [name, file] : owner_) names.push_back(name);
  return names;
}

const SafetensorsFile* SafetensorsFolder::FileOf(absl::string_view name) const {
  auto it = owner_.find(std::string(name));
  return it == owner_.end() ? nullptr : it->second;
}

const TensorInfo* SafetensorsFolder::Find(absl::string_view name) const {
  const SafetensorsFile* file = FileOf(name);
  return file == nullptr ? nullptr : file->Find(name);
}

absl::StatusOr<torch::Tensor> SafetensorsFolder::Load(absl::string_view name,
                                                      torch::Dtype dtype) const {
  const SafetensorsFile* file = FileOf(name);
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(description_file_, ": no tensor ", name));
  }
  return file->Load(name, dtype);
}

}  // namespace chord::model
