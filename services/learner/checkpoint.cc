#include "services/learner/checkpoint.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/checksum/crc32c.h"
#include "common/files/fault_injection.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "spdlog/spdlog.h"

namespace chord::learner {
namespace {

namespace fs = std::filesystem;

absl::Status FsError(absl::string_view what, const std::string& path, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", ec.message()));
}

// Size and CRC-32C of a file, read in 1 MiB blocks; fsyncs it first when `sync` is set.
struct FileDigest {
  uint64_t bytes = 0;
  uint32_t crc32c = 0;
};
absl::StatusOr<FileDigest> DigestFile(const std::string& path, bool sync) {
  if (const int err = files::FaultFor(files::FileOp::kOpen, path)) {
    return files::ErrnoStatus("cannot open", path, err);
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return files::ErrnoStatus("cannot open", path, errno);
  if (int err = sync ? files::FaultFor(files::FileOp::kSync, path) : 0;
      sync && (err != 0 || fsync(fd) != 0)) {
    if (err == 0) err = errno;
    close(fd);
    return files::ErrnoStatus("cannot fsync", path, err);
  }
  FileDigest digest;
  std::vector<char> buf(1 << 20);
  while (true) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (const int err = files::FaultFor(files::FileOp::kRead, path)) {
      errno = err;
      n = -1;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      close(fd);
      return files::ErrnoStatus("cannot read", path, err);
    }
    if (n == 0) break;
    digest.crc32c = checksum::Crc32c(buf.data(), static_cast<size_t>(n), digest.crc32c);
    digest.bytes += static_cast<uint64_t>(n);
  }
  close(fd);
  return digest;
}

// A manifest path must stay inside the checkpoint: relative, '/'-separated, no empty, "." or ".."
// parts.
bool IsSafeRelativePath(absl::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

std::string Hex32(uint32_t value) { return absl::StrFormat("0x%08x", value); }

// "<parent>", "<name>" of a checkpoint folder path.
std::pair<std::string, std::string> SplitDir(const std::string& dir) {
  const size_t slash = dir.find_last_of('/');
  if (slash == std::string::npos) return {".", dir};
  if (slash == 0) return {"/", dir.substr(1)};
  return {dir.substr(0, slash), dir.substr(slash + 1)};
}

// Leftover staging names: ".step-NNNNNNNN.tmp-<pid>" and ".step-NNNNNNNN.old-<pid>".
bool IsStagingLeftover(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, ".")) return false;
  for (absl::string_view marker : {".tmp-", ".old-"}) {
    const size_t at = name.rfind(marker);
    if (at == absl::string_view::npos) continue;
    absl::string_view pid = name.substr(at + marker.size());
    uint64_t unused = 0;
    if (!pid.empty() && absl::SimpleAtoi(pid, &unused) &&
        ParseCheckpointName(name.substr(0, at)).has_value()) {
      return true;
    }
  }
  return false;
}

// Checkpoint folders of `parent` as (step, full path), newest first.
absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> ListCheckpoints(
    const std::string& parent) {
  std::vector<std::pair<int64_t, std::string>> found;
  std::error_code ec;
  fs::directory_iterator it(parent, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return found;
    return FsError("cannot list", parent, ec);
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) return FsError("cannot list", parent, ec);
    const fs::directory_entry& entry = *it;
    std::error_code type_ec;
    if (!entry.is_directory(type_ec)) continue;
    const std::optional<int64_t> step = ParseCheckpointName(entry.path().filename().string());
    if (step.has_value()) found.emplace_back(*step, entry.path().string());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a > b; });
  return found;
}

// VerifyCheckpoint plus: the manifest's step must match the folder name's.
absl::Status VerifyNamedCheckpoint(const std::string& path, int64_t step_from_name) {
  RETURN_IF_ERROR(VerifyCheckpoint(path));
  ASSIGN_OR_RETURN(const Manifest manifest, ReadManifest(path));
  if (manifest.step != step_from_name) {
    return absl::DataLossError(absl::StrCat(path, "/", kManifestFile, ": step ", manifest.step,
                                            " does not match the folder name"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string CheckpointName(int64_t step) { return absl::StrFormat("step-%08d", step); }

std::optional<int64_t> ParseCheckpointName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "step-") || name.size() < 8) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t step = 0;
  if (!absl::SimpleAtoi(name, &step)) return std::nullopt;
  return step;
}

absl::StatusOr<std::string> EncodeTrainerState(const TrainerState& state,
                                               absl::string_view rng_state) {
  if (state.step < 0) {
    return absl::InvalidArgumentError(absl::StrCat("step: must be >= 0, got ", state.step));
  }
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [key, value] : state.values) {
    // nlohmann refuses invalid UTF-8 only when dumping: check each entry so the error names it.
    try {
      (void)nlohmann::json(key).dump();
      (void)nlohmann::json(value).dump();
    } catch (const std::exception&) {
      return absl::InvalidArgumentError(
          absl::StrCat("values[\"", absl::CHexEscape(key), "\"]: not valid UTF-8 text"));
    }
    values[key] = value;
  }
  nlohmann::json json = {{"format", kTrainerStateFormat},
                         {"step", state.step},
                         {"values", std::move(values)},
                         {"rng", absl::Base64Escape(rng_state)}};
  return json.dump(2) + "\n";
}

absl::StatusOr<DecodedTrainerState> DecodeTrainerState(absl::string_view text,
                                                       absl::string_view source) {
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(source, ": ", what));
  };
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return bad(absl::StrCat("malformed JSON: ", e.what()));
  }
  if (!json.is_object()) return bad("expected a JSON object");
  auto format = json.find("format");
  if (format == json.end() || !format->is_string() ||
      format->get<std::string>() != kTrainerStateFormat) {
    return bad(absl::StrCat("format: expected \"", kTrainerStateFormat, "\""));
  }
  DecodedTrainerState out;
  auto step = json.find("step");
  if (step == json.end() || !step->is_number_integer() || step->get<int64_t>() < 0) {
    return bad("step: expected an integer >= 0");
  }
  out.state.step = step->get<int64_t>();
  auto values = json.find("values");
  if (values != json.end()) {
    if (!values->is_object()) return bad("values: expected an object of strings");
    for (auto it = values->begin(); it != values->end(); ++it) {
      if (!it.value().is_string()) {
        return bad(absl::StrCat("values.", it.key(), ": expected a string"));
      }
      out.state.values[it.key()] = it.value().get<std::string>();
    }
  }
  auto rng = json.find("rng");
  if (rng != json.end()) {
    if (!rng->is_string() || !absl::Base64Unescape(rng->get<std::string>(), &out.rng_state)) {
      return bad("rng: expected base64 text");
    }
  }
  return out;
}

absl::StatusOr<Manifest> ReadManifest(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such checkpoint folder"));
  }
  const std::string path = absl::StrCat(dir, "/", kManifestFile);
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  if (!fs::exists(path, ec)) return bad("missing: not a complete checkpoint");
  absl::StatusOr<std::string> text = files::ReadFile(path);
  if (absl::IsNotFound(text.status())) return bad(text.status().message());
  RETURN_IF_ERROR(text.status());  // could not read it: says nothing about the content
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(*text);
  } catch (const std::exception& e) {
    return bad(absl::StrCat("malformed JSON: ", e.what()));
  }
  if (!json.is_object()) return bad("expected a JSON object");
  auto format = json.find("format");
  if (format == json.end() || !format->is_string() ||
      format->get<std::string>() != kCheckpointFormat) {
    return bad(absl::StrCat("format: expected \"", kCheckpointFormat, "\""));
  }
  Manifest manifest;
  auto step = json.find("step");
  if (step == json.end() || !step->is_number_integer() || step->get<int64_t>() < 0) {
    return bad("step: expected an integer >= 0");
  }
  manifest.step = step->get<int64_t>();
  auto files = json.find("files");
  if (files == json.end() || !files->is_array()) return bad("files: expected an array");
  std::set<std::string> seen;
  for (size_t i = 0; i < files->size(); ++i) {
    const nlohmann::json& entry = (*files)[i];
    const std::string where = absl::StrCat("files[", i, "]");
    if (!entry.is_object()) return bad(absl::StrCat(where, ": expected an object"));
    auto p = entry.find("path");
    auto bytes = entry.find("bytes");
    auto crc = entry.find("crc32c");
    if (p == entry.end() || !p->is_string() || !IsSafeRelativePath(p->get<std::string>()) ||
        p->get<std::string>() == kManifestFile) {
      return bad(absl::StrCat(where, ".path: expected a relative path inside the checkpoint"));
    }
    if (bytes == entry.end() || !bytes->is_number_unsigned()) {
      return bad(absl::StrCat(where, ".bytes: expected an integer >= 0"));
    }
    if (crc == entry.end() || !crc->is_number_unsigned() || crc->get<uint64_t>() > 0xffffffffu) {
      return bad(absl::StrCat(where, ".crc32c: expected a 32-bit unsigned integer"));
    }
    ManifestEntry file;
    file.path = p->get<std::string>();
    file.bytes = bytes->get<uint64_t>();
    file.crc32c = static_cast<uint32_t>(crc->get<uint64_t>());
    if (!seen.insert(file.path).second) {
      return bad(absl::StrCat(where, ".path: \"", file.path, "\" listed twice"));
    }
    manifest.files.push_back(std::move(file));
  }
  for (const std::string& required : {std::string(kTrainerStateFile), std::string(kOptimizerFile),
                                      absl::StrCat(kModelFolder, "/config.json")}) {
    if (seen.count(required) == 0) {
      return bad(absl::StrCat("files: does not list ", required));
    }
  }
  std::sort(manifest.files.begin(), manifest.files.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  return manifest;
}

absl::Status VerifyCheckpoint(const std::string& dir) {
  ASSIGN_OR_RETURN(const Manifest manifest, ReadManifest(dir));
  // Cheap checks (presence and size) of every file first, then the checksums.
  for (const ManifestEntry& file : manifest.files) {
    const std::string path = absl::StrCat(dir, "/", file.path);
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      if (errno != ENOENT && errno != ENOTDIR)
        return files::ErrnoStatus("cannot stat", path, errno);
      return absl::DataLossError(absl::StrCat(path, ": listed in ", kManifestFile, " but missing (",
                                              std::strerror(errno), ")"));
    }
    if (!S_ISREG(st.st_mode)) {
      return absl::DataLossError(absl::StrCat(path, ": not a regular file"));
    }
    if (static_cast<uint64_t>(st.st_size) != file.bytes) {
      return absl::DataLossError(absl::StrCat(path, ": ", st.st_size, " bytes, ", kManifestFile,
                                              " says ", file.bytes, " (truncated or replaced)"));
    }
  }
  for (const ManifestEntry& file : manifest.files) {
    const std::string path = absl::StrCat(dir, "/", file.path);
    absl::StatusOr<FileDigest> digest = DigestFile(path, /*sync=*/false);
    if (absl::IsNotFound(digest.status())) return absl::DataLossError(digest.status().message());
    // Any other error says nothing about the content (an I/O error, too many open files).
    RETURN_IF_ERROR(digest.status());
    if (digest->bytes != file.bytes) {
      return absl::DataLossError(absl::StrCat(path, ": changed size while being verified"));
    }
    if (digest->crc32c != file.crc32c) {
      return absl::DataLossError(absl::StrCat(path, ": CRC-32C ", Hex32(digest->crc32c),
                                              " does not match ", Hex32(file.crc32c), " in ",
                                              kManifestFile, " (corrupt)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FindLatestCheckpoint(const std::string& parent) {
  ASSIGN_OR_RETURN(const auto candidates, ListCheckpoints(parent));
  for (const auto& [step, path] : candidates) {
    absl::Status status = VerifyNamedCheckpoint(path, step);
    if (status.ok()) return path;
    // A read error is not corruption: resuming from an older checkpoint would train steps twice.
    if (!absl::IsDataLoss(status)) return status;
    spdlog::warn("skipping checkpoint {}: {}", path, status.ToString());
  }
  return absl::NotFoundError(
      absl::StrCat(parent, ": no valid checkpoint (", candidates.size(), " candidate folders)"));
}

absl::Status PruneCheckpoints(const std::string& parent, int keep) {
  if (keep < 1) return absl::InvalidArgumentError(absl::StrCat("keep: must be >= 1, got ", keep));
  ASSIGN_OR_RETURN(const auto candidates, ListCheckpoints(parent));
  std::vector<std::string> doomed;
  int kept = 0;
  for (const auto& [step, path] : candidates) {
    if (kept < keep) {
      absl::Status status = VerifyNamedCheckpoint(path, step);
      if (status.ok()) {
        ++kept;
        continue;
      }
      if (!absl::IsDataLoss(status)) {
        // Not known to be corrupt, only not checked (a read error, too many open files): delete
        // nothing this time; the next checkpoint prunes again.
        spdlog::warn("not pruning {}: cannot verify {}: {}", parent, path, status.ToString());
        return absl::OkStatus();
      }
      spdlog::warn("deleting invalid checkpoint {}: {}", path, status.ToString());
    }
    doomed.push_back(path);
  }
  std::error_code ec;
  fs::directory_iterator it(parent, ec);
  if (!ec) {
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
      if (IsStagingLeftover(it->path().filename().string())) doomed.push_back(it->path().string());
    }
  }
  for (const std::string& path : doomed) {
    std::error_code rm_ec;
    fs::remove_all(path, rm_ec);
    if (rm_ec) return FsError("cannot delete", path, rm_ec);
    spdlog::info("deleted {}", path);
  }
  if (!doomed.empty()) RETURN_IF_ERROR(files::SyncDirectory(parent));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<CheckpointWriter>> CheckpointWriter::Begin(const std::string& dir) {
  if (dir.empty() || dir.back() == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint folder: expected a path not ending in '/', got \"", dir, "\""));
  }
  const auto [parent, name] = SplitDir(dir);
  const std::string staging = absl::StrCat(parent, "/.", name, ".tmp-", getpid());
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return FsError("cannot create folder", parent, ec);
  fs::remove_all(staging, ec);
  if (ec) return FsError("cannot remove stale staging folder", staging, ec);
  fs::create_directory(staging, ec);
  if (ec) return FsError("cannot create staging folder", staging, ec);
  return std::unique_ptr<CheckpointWriter>(new CheckpointWriter(dir, staging));
}

CheckpointWriter::~CheckpointWriter() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

std::string CheckpointWriter::StagingPath(absl::string_view relative) const {
  return absl::StrCat(staging_, "/", relative);
}

absl::Status CheckpointWriter::WriteFile(absl::string_view relative, absl::string_view content) {
  if (!IsSafeRelativePath(relative)) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint file: bad path \"", relative, "\""));
  }
  const std::string path = StagingPath(relative);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return FsError("cannot create folder", fs::path(path).parent_path().string(), ec);
  return files::WriteFileAtomically(path, content);
}

absl::Status CheckpointWriter::CopyFile(const std::string& source, absl::string_view relative) {
  ASSIGN_OR_RETURN(const std::string content, files::ReadFile(source));
  return WriteFile(relative, content);
}

absl::Status CheckpointWriter::Commit(int64_t step) {
  if (committed_) return absl::FailedPreconditionError(absl::StrCat(dir_, ": already committed"));
  if (step < 0) return absl::InvalidArgumentError(absl::StrCat("step: must be >= 0, got ", step));
  // 1. Every file durable and checksummed; every folder noted for fsync.
  std::vector<ManifestEntry> entries;
  std::vector<std::string> folders;
  std::error_code ec;
  fs::recursive_directory_iterator it(staging_, ec);
  if (ec) return FsError("cannot list", staging_, ec);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return FsError("cannot list", staging_, ec);
    const fs::directory_entry& entry = *it;
    const std::string relative = entry.path().lexically_relative(staging_).generic_string();
    std::error_code type_ec;
    const fs::file_status status = entry.symlink_status(type_ec);
    if (type_ec) return FsError("cannot stat", entry.path().string(), type_ec);
    if (fs::is_symlink(status)) {
      return absl::FailedPreconditionError(
          absl::StrCat(entry.path().string(), ": symbolic links cannot be checkpointed"));
    }
    if (fs::is_directory(status)) {
      folders.push_back(entry.path().string());
      continue;
    }
    if (!fs::is_regular_file(status) || relative == kManifestFile) continue;
    ASSIGN_OR_RETURN(const FileDigest digest, DigestFile(entry.path().string(), /*sync=*/true));
    entries.push_back({relative, digest.bytes, digest.crc32c});
  }
  if (ec) return FsError("cannot list", staging_, ec);
  std::sort(entries.begin(), entries.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  for (const std::string& required : {std::string(kTrainerStateFile), std::string(kOptimizerFile),
                                      absl::StrCat(kModelFolder, "/config.json")}) {
    if (std::none_of(entries.begin(), entries.end(),
                     [&](const ManifestEntry& e) { return e.path == required; })) {
      return absl::FailedPreconditionError(
          absl::StrCat(staging_, ": a checkpoint needs ", required));
    }
  }
  // 2. Folders durable (deepest first), then the manifest, last.
  std::sort(folders.begin(), folders.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& folder : folders) RETURN_IF_ERROR(files::SyncDirectory(folder));
  nlohmann::json files = nlohmann::json::array();
  for (const ManifestEntry& e : entries) {
    files.push_back({{"path", e.path}, {"bytes", e.bytes}, {"crc32c", e.crc32c}});
  }
  const nlohmann::json manifest = {
      {"format", kCheckpointFormat}, {"step", step}, {"files", std::move(files)}};
  // WriteFileAtomically fsyncs the manifest and the staging folder.
  RETURN_IF_ERROR(files::WriteFileAtomically(StagingPath(kManifestFile), manifest.dump(2) + "\n"));

  // 3. Into place.
  const auto [parent, name] = SplitDir(dir_);
  if (fs::exists(dir_, ec)) {
    if (renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, dir_.c_str(), RENAME_EXCHANGE) == 0) {
      // The old checkpoint now sits at the staging path.
      fs::remove_all(staging_, ec);
      if (ec) spdlog::warn("cannot delete replaced checkpoint {}: {}", staging_, ec.message());
    } else if (errno == EINVAL || errno == ENOSYS) {
      const std::string aside = absl::StrCat(parent, "/.", name, ".old-", getpid());
      fs::remove_all(aside, ec);
      if (rename(dir_.c_str(), aside.c_str()) != 0) {
        return files::ErrnoStatus(absl::StrCat("cannot move aside to ", aside), dir_, errno);
      }
      if (rename(staging_.c_str(), dir_.c_str()) != 0) {
        return files::ErrnoStatus(absl::StrCat("cannot rename ", staging_, " to"), dir_, errno);
      }
      fs::remove_all(aside, ec);
      if (ec) spdlog::warn("cannot delete replaced checkpoint {}: {}", aside, ec.message());
    } else {
      return files::ErrnoStatus(absl::StrCat("cannot exchange with ", staging_), dir_, errno);
    }
  } else if (rename(staging_.c_str(), dir_.c_str()) != 0) {
    return files::ErrnoStatus(absl::StrCat("cannot rename ", staging_, " to"), dir_, errno);
  }
  committed_ = true;
  return files::SyncDirectory(parent);
}

}  // namespace chord::learner
