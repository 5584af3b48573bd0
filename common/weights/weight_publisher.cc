#include "common/weights/weight_publisher.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include <chrono>
#include <cstring>
#include <new>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/checksum/crc32c.h"

namespace chord::weights {

absl::StatusOr<std::shared_ptr<const WeightSnapshot>> WeightSnapshot::Create(
    const WeightSet& weights) {
  if (weights.version < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight set version must be >= 0, got ", weights.version));
  }
  if (weights.tensors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight set version ", weights.version, " has no tensors"));
  }
  auto snapshot = std::shared_ptr<WeightSnapshot>(new WeightSnapshot());
  chord::v1::WeightManifest& manifest = snapshot->manifest_;
  manifest.set_version(weights.version);
  absl::flat_hash_set<absl::string_view> names;
  uint64_t total = 0;
  for (size_t i = 0; i < weights.tensors.size(); ++i) {
    const auto& [name, tensor] = weights.tensors[i];
    std::string where = absl::StrCat("tensor ", i, " '", name, "'");
    if (name.empty()) return absl::InvalidArgumentError(absl::StrCat("tensor ", i, ": empty name"));
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": duplicate name"));
    }
    if (!tensor.defined()) return absl::InvalidArgumentError(absl::StrCat(where, ": undefined"));
    if (tensor.layout() != c10::kStrided) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": only dense tensors can be published"));
    }
    absl::StatusOr<chord::v1::DType> dtype = ToWireDType(tensor.scalar_type());
    if (!dtype.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", dtype.status().message()));
    chord::v1::TensorInfo* info = manifest.add_tensors();
    info->set_name(name);
    for (int64_t d : tensor.sizes()) info->add_shape(d);
    info->set_dtype(*dtype);
    uint64_t bytes = static_cast<uint64_t>(tensor.numel()) * WireDTypeSize(*dtype);
    info->set_byte_size(bytes);
    info->set_offset(total);
    total += bytes;
  }
  manifest.set_total_bytes(total);

  snapshot->bytes_.reset(new (std::nothrow) uint8_t[total == 0 ? 1 : total]);
  if (snapshot->bytes_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("weight set version ", weights.version,
                                                     ": cannot allocate ", total, " bytes"));
  }
  uint32_t whole_crc = 0;
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < weights.tensors.size(); ++i) {
    const at::Tensor& tensor = weights.tensors[i].second;
    chord::v1::TensorInfo* info = manifest.mutable_tensors(static_cast<int>(i));
    uint8_t* dst = snapshot->bytes_.get() + info->offset();
    uint64_t bytes = info->byte_size();
    uint32_t crc = 0;
    if (tensor.device().is_cpu() && tensor.is_contiguous()) {
      crc = checksum::Crc32cCopy(dst, tensor.data_ptr(), bytes);
    } else {
      // Strided or device tensors: let LibTorch copy straight into the buffer.
      try {
        at::from_blob(dst, tensor.sizes(), at::TensorOptions().dtype(tensor.scalar_type()))
            .copy_(tensor);
      } catch (const std::exception& e) {
        return absl::InternalError(
            absl::StrCat("tensor ", i, " '", info->name(), "': copy to host failed: ", e.what()));
      }
      crc = checksum::Crc32c(dst, bytes);
    }
    info->set_crc32c(crc);
    whole_crc = checksum::Crc32cCombine(whole_crc, crc, bytes);
  }
  manifest.set_crc32c(whole_crc);
  return std::shared_ptr<const WeightSnapshot>(std::move(snapshot));
}

WeightPublisher::WeightPublisher(const PublisherOptions& options)
    : keep_versions_(options.keep_versions) {
  if (options.registry != nullptr) metrics_ = std::make_unique<WeightMetrics>(*options.registry);
}

absl::StatusOr<std::unique_ptr<WeightPublisher>> WeightPublisher::Create(
    const PublisherOptions& options) {
  if (options.keep_versions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep_versions must be >= 1, got ", options.keep_versions));
  }
  return std::unique_ptr<WeightPublisher>(new WeightPublisher(options));
}

absl::Status WeightPublisher::Publish(const WeightSet& weights) {
  auto start = std::chrono::steady_clock::now();
  auto check_version = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::Status {
    if (!snapshots_.empty() && weights.version <= snapshots_.back()->version()) {
      return absl::FailedPreconditionError(
          absl::StrCat("weight version ", weights.version, " is not newer than the published ",
                       snapshots_.back()->version(), " (versions must increase)"));
    }
    return absl::OkStatus();
  };
  {
    // Fail fast, before copying the set.
    absl::MutexLock lock(&mu_);
    absl::Status status = check_version();
    if (!status.ok()) return status;
  }
  absl::StatusOr<std::shared_ptr<const WeightSnapshot>> snapshot = WeightSnapshot::Create(weights);
  if (!snapshot.ok()) return snapshot.status();
  {
    absl::MutexLock lock(&mu_);
    // Checked again: another Publish() may have won while this one was copying.
    absl::Status status = check_version();
    if (!status.ok()) return status;
    snapshots_.push_back(*std::move(snapshot));
    while (snapshots_.size() > static_cast<size_t>(keep_versions_)) snapshots_.pop_front();
    changed_.SignalAll();
  }
  if (metrics_ != nullptr) {
    metrics_->SetPublishedVersion(weights.version);
    metrics_->ObservePublishSeconds(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return absl::OkStatus();
}

std::shared_ptr<const WeightSnapshot> WeightPublisher::Latest() const {
  absl::MutexLock lock(&mu_);
  return snapshots_.empty() ? nullptr : snapshots_.back();
}

absl::StatusOr<std::shared_ptr<const WeightSnapshot>> WeightPublisher::Get(int64_t version) const {
  absl::MutexLock lock(&mu_);
  if (snapshots_.empty()) return absl::NotFoundError("no weight version has been published yet");
  if (version == -1) return snapshots_.back();
  for (const auto& snapshot : snapshots_) {
    if (snapshot->version() == version) return snapshot;
  }
  return absl::NotFoundError(absl::StrCat(
      "weight version ", version, " is not held (held: ", snapshots_.front()->version(), "..",
      snapshots_.back()->version(), "); fetch the latest instead"));
}

int64_t WeightPublisher::latest_version() const {
  absl::MutexLock lock(&mu_);
  return snapshots_.empty() ? -1 : snapshots_.back()->version();
}

std::vector<int64_t> WeightPublisher::held_versions() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> versions;
  for (const auto& snapshot : snapshots_) versions.push_back(snapshot->version());
  return versions;
}

int64_t WeightPublisher::WaitForNewerThan(int64_t version, absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto latest = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return snapshots_.empty() ? int64_t{-1} : snapshots_.back()->version();
  };
  while (latest() <= version && !closed_) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  }
  return latest();
}

void WeightPublisher::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  changed_.SignalAll();
}

bool WeightPublisher::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

}  // namespace chord::weights
