#include "common/model/kv_cache.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace chord::model {

absl::StatusOr<std::unique_ptr<KVCache>> KVCache::Create(const ModelConfig& config,
                                                         int64_t batch_size, int64_t capacity,
                                                         torch::Dtype dtype, torch::Device device) {
  if (batch_size <= 0 || capacity < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KVCache: batch_size ", batch_size, " and capacity ", capacity, " must be positive"));
  }
  std::unique_ptr<KVCache> cache(new KVCache());
  cache->batch_size_ = batch_size;
  cache->capacity_ = capacity;
  try {
    const auto options = torch::TensorOptions().dtype(dtype).device(device);
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      cache->keys_.push_back(
          torch::empty({batch_size, config.KvHeads(), capacity, config.HeadDim()}, options));
      cache->values_.push_back(
          torch::empty({batch_size, config.KvHeads(), capacity, config.HeadDim()}, options));
    }
    cache->key_mask_ = torch::zeros({batch_size, capacity},
                                    torch::TensorOptions().dtype(torch::kBool).device(device));
    cache->real_tokens_ =
        torch::zeros({batch_size}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  } catch (const c10::Error& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("KVCache: cannot allocate ", batch_size, " x ", capacity, " positions (",
                     BytesPerPosition(config, dtype) * batch_size * capacity,
                     " bytes): ", e.what_without_backtrace()));
  }
  return cache;
}

int64_t KVCache::BytesPerPosition(const ModelConfig& config, torch::Dtype dtype) {
  return 2 * config.num_hidden_layers * config.KvHeads() * config.HeadDim() *
         static_cast<int64_t>(c10::elementSize(dtype));
}

int64_t KVCache::BytesAllocated() const {
  int64_t total = key_mask_.defined() ? key_mask_.nbytes() : 0;
  for (const auto& t : keys_) total += t.nbytes();
  for (const auto& t : values_) total += t.nbytes();
  return total;
}

torch::Tensor KVCache::KeyMask() const { return key_mask_.narrow(1, 0, length_); }

void KVCache::Reset() {
  length_ = 0;
  key_mask_.zero_();
  real_tokens_.zero_();
}

absl::Status KVCache::SelectRows(const torch::Tensor& rows) {
  try {
    torch::Tensor index = rows.to(key_mask_.device(), torch::kInt64).reshape({-1});
    if (index.numel() == 0) return absl::InvalidArgumentError("KVCache::SelectRows: no rows");
    const int64_t lo = index.min().item<int64_t>();
    const int64_t hi = index.max().item<int64_t>();
    if (lo < 0 || hi >= batch_size_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "KVCache::SelectRows: row index ", lo < 0 ? lo : hi, " outside [0, ", batch_size_, ")"));
    }
    for (auto& t : keys_) t = t.index_select(0, index);
    for (auto& t : values_) t = t.index_select(0, index);
    key_mask_ = key_mask_.index_select(0, index);
    real_tokens_ = real_tokens_.index_select(0, index);
    batch_size_ = index.numel();
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("KVCache::SelectRows: ", e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

void KVCache::Grow(int64_t needed) {
  const int64_t new_capacity = std::max(needed, capacity_ + std::max<int64_t>(capacity_, 256));
  auto grow = [&](torch::Tensor& t, int64_t dim) {
    std::vector<int64_t> shape = t.sizes().vec();
    shape[dim] = new_capacity;
    torch::Tensor bigger = torch::zeros(shape, t.options());
    bigger.narrow(dim, 0, length_).copy_(t.narrow(dim, 0, length_));
    t = bigger;
  };
  for (auto& t : keys_) grow(t, 2);
  for (auto& t : values_) grow(t, 2);
  grow(key_mask_, 1);
  capacity_ = new_capacity;
}

torch::Tensor KVCache::BeginStep(const torch::Tensor& mask) {
  const int64_t steps = mask.size(1);
  if (length_ + steps > capacity_) Grow(length_ + steps);
  key_mask_.narrow(1, length_, steps).copy_(mask.to(torch::kBool));
  return key_mask_.narrow(1, 0, length_ + steps);
}

std::pair<torch::Tensor, torch::Tensor> KVCache::Update(int64_t layer, const torch::Tensor& keys,
                                                        const torch::Tensor& values) {
  const int64_t steps = keys.size(2);
  torch::Tensor& k = keys_[layer];
  torch::Tensor& v = values_[layer];
  k.narrow(2, length_, steps).copy_(keys);
  v.narrow(2, length_, steps).copy_(values);
  return {k.narrow(2, 0, length_ + steps), v.narrow(2, 0, length_ + steps)};
}

void KVCache::EndStep(const torch::Tensor& mask) {
  real_tokens_ += mask.to(torch::kInt64).sum(1);
  length_ += mask.size(1);
}

}  // namespace chord::model
