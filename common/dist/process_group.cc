#include "common/dist/process_group.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CHORD_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CHORD_WITH_CUDA
#include <c10/cuda/CUDAFunctions.h>

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace chord::dist {
namespace {

bool IsLoopback(const std::string& addr) {
  return addr == "localhost" || absl::StartsWith(addr, "127.") || addr == "::1";
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
#ifdef CHORD_HAVE_GLOO
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#endif
#ifdef CHORD_WITH_CUDA
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  std::chrono::milliseconds timeout{300000};
};

ProcessGroup::ProcessGroup(DistOptions options, std::unique_ptr<Impl> impl)
    : options_(std::move(options)), impl_(std::move(impl)) {}

ProcessGroup::~ProcessGroup() = default;

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Create(const DistOptions& options) {
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", options.rank, " outside world of size ", options.world_size));
  }
  auto impl = std::make_unique<Impl>();
  impl->timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(options.timeout));
  if (options.world_size == 1 && !options.single_rank_backend) {
    return std::unique_ptr<ProcessGroup>(new ProcessGroup(options, std::move(impl)));
  }
#ifndef CHORD_WITH_CUDA
  if (options.backend == Backend::kNccl) {
    return absl::FailedPreconditionError(
        "backend nccl needs a CUDA build (-DCHORD_WITH_CUDA=ON against a CUDA LibTorch)");
  }
#endif
#ifndef CHORD_HAVE_GLOO
  if (options.backend == Backend::kGloo) {
    return absl::FailedPreconditionError(
        "backend gloo is not available: this LibTorch ships no Gloo headers");
  }
#endif
  std::string where =
      absl::StrCat("rank ", options.rank, "/", options.world_size, ": rendezvous at ",
                   options.master_addr, ":", options.master_port);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<size_t>(options.world_size);
    store_options.waitWorkers = true;
    store_options.timeout = impl->timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
#ifdef CHORD_HAVE_GLOO
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(impl->timeout);
    std::string hostname = options.gloo_hostname;
    if (hostname.empty() && IsLoopback(options.master_addr)) hostname = "127.0.0.1";
    gloo_options->devices.push_back(
        hostname.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                         : c10d::ProcessGroupGloo::createDeviceForHostname(hostname));
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", impl->store), options.rank,
        options.world_size, gloo_options);
#endif
#ifdef CHORD_WITH_CUDA
    if (options.backend == Backend::kNccl) {
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(options.local_rank));
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = impl->timeout;
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(
          c10::make_intrusive<c10d::PrefixStore>("nccl", impl->store), options.rank,
          options.world_size, nccl_options);
    }
#endif
  } catch (const std::exception& e) {
    std::string what = e.what();
    auto code = absl::StrContains(what, "imeout") || absl::StrContains(what, "imed out")
                    ? absl::StatusCode::kDeadlineExceeded
                    : absl::StatusCode::kUnavailable;
    return absl::Status(code, absl::StrCat(where, ": ", what.substr(0, 500)));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(options, std::move(impl)));
}

namespace {

// Turns a c10d/Gloo/NCCL failure into a Status that names the operation and the rank.
absl::Status CollectiveError(const std::exception& e, absl::string_view op, int rank, int world) {
  std::string what = e.what();
  // c10::Error messages carry a long backtrace after the first line.
  size_t newline = what.find('\n');
  if (newline != std::string::npos) what = what.substr(0, newline);
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (absl::StrContains(what, "Timed out") || absl::StrContains(what, "timed out") ||
      absl::StrContains(what, "Timeout")) {
    code = absl::StatusCode::kDeadlineExceeded;
  } else if (absl::StrContains(what, "closed") || absl::StrContains(what, "reset") ||
             absl::StrContains(what, "refused") || absl::StrContains(what, "Broken pipe")) {
    code = absl::StatusCode::kUnavailable;
  }
  return absl::Status(code, absl::StrCat("rank ", rank, "/", world, ": ", op,
                                         " failed (a peer rank died or hung?): ", what));
}

}  // namespace

absl::Status ProcessGroup::AllReduceSum(std::vector<at::Tensor>& tensors) {
  if ((options_.world_size == 1 && !options_.single_rank_backend) || tensors.empty()) {
    return absl::OkStatus();
  }
  try {
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    c10::intrusive_ptr<c10d::Work> work;
#ifdef CHORD_WITH_CUDA
    if (tensors.front().is_cuda()) {
      if (!impl_->nccl) {
        return absl::FailedPreconditionError("CUDA tensors need the nccl backend");
      }
      work = impl_->nccl->allreduce(tensors, opts);
    }
#endif
#ifdef CHORD_HAVE_GLOO
    if (!work) work = impl_->gloo->allreduce(tensors, opts);
#endif
    if (!work) return absl::FailedPreconditionError("no backend for these tensors");
    work->wait(impl_->timeout);
  } catch (const std::exception& e) {
    return CollectiveError(e, "all_reduce", options_.rank, options_.world_size);
  }
  return absl::OkStatus();
}

absl::Status ProcessGroup::Broadcast(std::vector<at::Tensor>& tensors, int root) {
  if ((options_.world_size == 1 && !options_.single_rank_backend) || tensors.empty()) {
    return absl::OkStatus();
  }
  try {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    c10::intrusive_ptr<c10d::Work> work;
#ifdef CHORD_WITH_CUDA
    if (tensors.front().is_cuda()) {
      if (!impl_->nccl) {
        return absl::FailedPreconditionError("CUDA tensors need the nccl backend");
      }
      work = impl_->nccl->broadcast(tensors, opts);
    }
#endif
#ifdef CHORD_HAVE_GLOO
    if (!work) work = impl_->gloo->broadcast(tensors, opts);
#endif
    if (!work) return absl::FailedPreconditionError("no backend for these tensors");
    work->wait(impl_->timeout);
  } catch (const std::exception& e) {
    return CollectiveError(e, "broadcast", options_.rank, options_.world_size);
  }
  return absl::OkStatus();
}

absl::Status ProcessGroup::BroadcastBytes(std::string* bytes, int root) {
  if (options_.world_size == 1) return absl::OkStatus();
  std::vector<at::Tensor> length{
      at::full({1}, static_cast<int64_t>(options_.rank == root ? bytes->size() : 0), at::kLong)};
  absl::Status status = Broadcast(length, root);
  if (!status.ok()) return status;
  int64_t n = length[0].item<int64_t>();
  if (n == 0) {
    bytes->clear();
    return absl::OkStatus();
  }
  std::vector<at::Tensor> data{at::empty({n}, at::kByte)};
  if (options_.rank == root) std::memcpy(data[0].data_ptr(), bytes->data(), bytes->size());
  status = Broadcast(data, root);
  if (!status.ok()) return status;
  if (options_.rank != root) {
    bytes->assign(static_cast<const char*>(data[0].data_ptr()), static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::Status ProcessGroup::Barrier() {
  // An all-reduce of one element doubles as a barrier and honours the timeout on every backend.
  std::vector<at::Tensor> token{at::zeros({1}, at::kFloat)};
  return AllReduceSum(token);
}

}  // namespace chord::dist
