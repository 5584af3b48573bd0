#include "common/weights/weight_fetcher.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checksum/crc32c.h"
#include "common/rpc/channel.h"
#include "common/rpc/grpc_status.h"
#include "common/status/status_macros.h"
#include "grpcpp/client_context.h"
#include "spdlog/spdlog.h"

namespace chord::weights {
namespace internal {

// Lets another thread cancel whatever RPC a fetch or poll has in flight, now and from then on.
class CallCanceller {
 public:
  // False when already cancelled: the caller must not start its call.
  bool Register(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return false;
    context_ = context;
    return true;
  }
  void Unregister() {
    absl::MutexLock lock(&mu_);
    context_ = nullptr;
  }
  void Cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }

 private:
  absl::Mutex mu_;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace internal

namespace {

absl::Status DataLoss(absl::string_view what) { return absl::DataLossError(what); }

std::string Hex(uint32_t crc) { return absl::StrFormat("0x%08x", crc); }

// Rebuilds a weight set from a stream's messages, verifying everything the manifest promises
// (see weight_fetcher.h). Each data byte is checksummed while it is copied into its tensor.
class StreamAssembler {
 public:
  explicit StreamAssembler(int64_t requested_version) : requested_version_(requested_version) {}

  absl::Status Add(const chord::v1::WeightChunk& message) {
    if (!have_manifest_) {
      if (!message.has_manifest()) return DataLoss("the stream did not start with a manifest");
      have_manifest_ = true;
      return SetManifest(message.manifest());
    }
    return AddChunk(message);
  }

  absl::StatusOr<WeightSet> Finish() {
    if (!have_manifest_) return DataLoss("the stream ended before its manifest");
    if (received_ != manifest_.total_bytes()) {
      return DataLoss(absl::StrCat("the stream ended after ", next_index_, " chunks with ",
                                   received_, " of ", manifest_.total_bytes(),
                                   " bytes (truncated)"));
    }
    for (const Slot& slot : slots_) {
      if (slot.crc != slot.info->crc32c()) {
        return DataLoss(absl::StrCat("tensor '", slot.info->name(), "': CRC-32C ", Hex(slot.crc),
                                     " does not match the manifest's ", Hex(slot.info->crc32c())));
      }
    }
    if (crc_ != manifest_.crc32c()) {
      return DataLoss(absl::StrCat("weight set: CRC-32C ", Hex(crc_),
                                   " does not match the manifest's ", Hex(manifest_.crc32c())));
    }
    WeightSet weights;
    weights.version = manifest_.version();
    weights.tensors.reserve(slots_.size());
    for (Slot& slot : slots_)
      weights.tensors.emplace_back(slot.info->name(), std::move(slot.tensor));
    return weights;
  }

 private:
  struct Slot {
    const chord::v1::TensorInfo* info;
    at::Tensor tensor;
    uint8_t* data;
    uint64_t begin;  // offset in the stream
    uint64_t end;
    uint32_t crc;  // of the bytes received so far
  };

  absl::Status SetManifest(const chord::v1::WeightManifest& manifest) {
    manifest_ = manifest;
    if (manifest_.version() < 0) {
      return DataLoss(absl::StrCat("manifest: version ", manifest_.version(), " is negative"));
    }
    if (requested_version_ != -1 && manifest_.version() != requested_version_) {
      return DataLoss(absl::StrCat("manifest: version ", manifest_.version(), ", requested ",
                                   requested_version_));
    }
    absl::flat_hash_set<absl::string_view> names;
    uint64_t offset = 0;
    slots_.reserve(manifest_.tensors_size());
    for (int i = 0; i < manifest_.tensors_size(); ++i) {
      const chord::v1::TensorInfo& info = manifest_.tensors(i);
      std::string where = absl::StrCat("manifest: tensor ", i, " '", info.name(), "'");
      if (info.name().empty())
        return DataLoss(absl::StrCat("manifest: tensor ", i, " has no name"));
      if (!names.insert(info.name()).second) return DataLoss(absl::StrCat(where, ": duplicate"));
      absl::StatusOr<c10::ScalarType> dtype = FromWireDType(info.dtype());
      if (!dtype.ok()) return DataLoss(absl::StrCat(where, ": ", dtype.status().message()));
      // Element count with an overflow guard: no real tensor comes near 2^62 bytes.
      constexpr uint64_t kLimit = uint64_t{1} << 62;
      uint64_t bytes = WireDTypeSize(info.dtype());
      std::vector<int64_t> shape(info.shape().begin(), info.shape().end());
      for (int64_t d : shape) {
        if (d < 0) return DataLoss(absl::StrCat(where, ": negative dimension ", d));
        if (d != 0 && bytes > kLimit / static_cast<uint64_t>(d)) {
          return DataLoss(absl::StrCat(where, ": shape too large"));
        }
        bytes *= static_cast<uint64_t>(d);
      }
      if (bytes != info.byte_size()) {
        return DataLoss(absl::StrCat(where, ": byte_size ", info.byte_size(),
                                     ", but its shape and ", WireDTypeName(info.dtype()), " make ",
                                     bytes));
      }
      if (info.offset() != offset) {
        return DataLoss(absl::StrCat(where, ": offset ", info.offset(), ", expected ", offset));
      }
      Slot slot{&info, at::Tensor(), nullptr, offset, offset + bytes, 0};
      try {
        slot.tensor = at::empty(shape, at::TensorOptions().dtype(*dtype));
      } catch (const std::exception& e) {
        return absl::ResourceExhaustedError(
            absl::StrCat(where, ": cannot allocate ", bytes, " bytes: ", e.what()));
      }
      slot.data = static_cast<uint8_t*>(slot.tensor.data_ptr());
      slots_.push_back(std::move(slot));
      offset += bytes;
    }
    if (manifest_.total_bytes() != offset) {
      return DataLoss(absl::StrCat("manifest: total_bytes ", manifest_.total_bytes(),
                                   ", but the tensors add up to ", offset));
    }
    if (offset > 0 && manifest_.chunk_bytes() == 0) {
      return DataLoss("manifest: chunk_bytes is 0");
    }
    return absl::OkStatus();
  }

  absl::Status AddChunk(const chord::v1::WeightChunk& chunk) {
    const uint64_t total = manifest_.total_bytes();
    const std::string& data = chunk.data();
    std::string where = absl::StrCat("chunk ", next_index_, " (offset ", received_, ")");
    if (chunk.has_manifest()) return DataLoss(absl::StrCat(where, ": a second manifest"));
    if (chunk.index() != next_index_) {
      return DataLoss(absl::StrCat(where, ": arrived with index ", chunk.index(),
                                   " (chunks missing or out of order)"));
    }
    if (chunk.offset() != received_) {
      return DataLoss(absl::StrCat(where, ": arrived with offset ", chunk.offset(),
                                   " (chunks missing or out of order)"));
    }
    if (received_ >= total) {
      return DataLoss(absl::StrCat(where, ": data past the end of the ", total, "-byte set"));
    }
    uint64_t expected = std::min<uint64_t>(manifest_.chunk_bytes(), total - received_);
    if (data.size() != expected) {
      return DataLoss(absl::StrCat(where, ": ", data.size(), " bytes, expected ", expected));
    }
    // Copies into the tensors the chunk overlaps, checksumming each piece once; the chunk's and
    // the tensors' CRCs are joined from the pieces' CRCs.
    const auto* src = reinterpret_cast<const uint8_t*>(data.data());
    uint64_t pos = received_;
    uint64_t left = data.size();
    uint32_t chunk_crc = 0;
    while (left > 0) {
      while (slots_[slot_].end <= pos) ++slot_;  // skips finished and empty tensors
      Slot& slot = slots_[slot_];
      uint64_t n = std::min(left, slot.end - pos);
      uint32_t piece = checksum::Crc32cCopy(slot.data + (pos - slot.begin), src, n);
      slot.crc = checksum::Crc32cCombine(slot.crc, piece, n);
      chunk_crc = checksum::Crc32cCombine(chunk_crc, piece, n);
      src += n;
      pos += n;
      left -= n;
    }
    if (chunk_crc != chunk.crc32c()) {
      return DataLoss(absl::StrCat("chunk ", next_index_, " (offset ", received_, ", ", data.size(),
                                   " bytes): CRC-32C ", Hex(chunk_crc),
                                   " does not match the chunk's ", Hex(chunk.crc32c())));
    }
    crc_ = checksum::Crc32cCombine(crc_, chunk_crc, data.size());
    received_ += data.size();
    ++next_index_;
    return absl::OkStatus();
  }

  const int64_t requested_version_;
  bool have_manifest_ = false;
  chord::v1::WeightManifest manifest_;
  std::vector<Slot> slots_;
  size_t slot_ = 0;  // first tensor not yet complete
  uint64_t received_ = 0;
  uint64_t next_index_ = 0;
  uint32_t crc_ = 0;  // of all bytes received
};

absl::StatusOr<WeightSet> FetchImpl(chord::v1::WeightService::StubInterface& stub, int64_t version,
                                    const FetchOptions& options,
                                    internal::CallCanceller* canceller) {
  if (version < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("FetchWeights: version must be >= 0 or -1 (latest), got ", version));
  }
  rpc::ClientOptions client;
  client.attempt_deadline = options.deadline;
  client.total_deadline = options.deadline;
  client.max_attempts = options.max_attempts;
  client.bearer_token = options.bearer_token;
  chord::v1::FetchWeightsRequest request;
  request.set_version(version);
  request.set_chunk_bytes(options.chunk_bytes);
  std::optional<WeightSet> result;
  absl::Status status =
      rpc::CallWithRetry(client, "FetchWeights", [&](grpc::ClientContext* context) {
        if (canceller != nullptr && !canceller->Register(context)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "stopped");
        }
        absl::Cleanup unregister = [&] {
          if (canceller != nullptr) canceller->Unregister();
        };
        std::unique_ptr<grpc::ClientReaderInterface<chord::v1::WeightChunk>> reader =
            stub.FetchWeights(context, request);
        StreamAssembler assembler(version);
        chord::v1::WeightChunk message;  // reused: its data buffer keeps its capacity
        absl::Status verdict;
        while (reader->Read(&message)) {
          verdict = assembler.Add(message);
          if (!verdict.ok()) {
            context->TryCancel();
            while (reader->Read(&message)) {
            }
            break;
          }
        }
        grpc::Status finished = reader->Finish();
        if (!verdict.ok()) return rpc::ToGrpcStatus(verdict);
        if (!finished.ok()) return finished;
        absl::StatusOr<WeightSet> assembled = assembler.Finish();
        if (!assembled.ok()) return rpc::ToGrpcStatus(assembled.status());
        result = *std::move(assembled);
        return grpc::Status::OK;
      });
  if (status.code() == absl::StatusCode::kResourceExhausted && result == std::nullopt &&
      absl::StrContains(status.message(), "larger than max")) {
    return absl::ResourceExhaustedError(
        absl::StrCat(status.message(),
                     " (ask for smaller chunks with FetchOptions::chunk_bytes, or use a channel "
                     "that accepts larger messages, as rpc::MakeChannel's do)"));
  }
  if (!status.ok()) return status;
  return *std::move(result);
}

}  // namespace

absl::StatusOr<WeightSet> FetchWeights(chord::v1::WeightService::StubInterface& stub,
                                       int64_t version, const FetchOptions& options) {
  return FetchImpl(stub, version, options, nullptr);
}

absl::StatusOr<WeightSet> FetchWeights(const std::shared_ptr<grpc::Channel>& channel,
                                       int64_t version, const FetchOptions& options) {
  if (channel == nullptr) return absl::InvalidArgumentError("FetchWeights: null channel");
  auto stub = chord::v1::WeightService::NewStub(channel);
  return FetchImpl(*stub, version, options, nullptr);
}

absl::StatusOr<int64_t> GetLatestVersion(chord::v1::WeightService::StubInterface& stub,
                                         absl::Duration timeout) {
  rpc::ClientOptions client;
  client.attempt_deadline = timeout;
  client.total_deadline = timeout;
  chord::v1::GetVersionRequest request;
  chord::v1::GetVersionResponse response;
  absl::Status status = rpc::CallWithRetry(client, "GetVersion", [&](grpc::ClientContext* ctx) {
    return stub.GetVersion(ctx, request, &response);
  });
  if (!status.ok()) return status;
  return response.version();
}

absl::StatusOr<int64_t> GetLatestVersion(const std::shared_ptr<grpc::Channel>& channel,
                                         absl::Duration timeout) {
  if (channel == nullptr) return absl::InvalidArgumentError("GetVersion: null channel");
  auto stub = chord::v1::WeightService::NewStub(channel);
  return GetLatestVersion(*stub, timeout);
}

// ---------------------------------------------------------------------------------------------
// WeightFollower

absl::StatusOr<std::unique_ptr<WeightFollower>> WeightFollower::Start(
    std::shared_ptr<grpc::Channel> channel, const FollowerOptions& options, InstallFn install) {
  if (channel == nullptr) return absl::InvalidArgumentError("WeightFollower: null channel");
  if (!install) return absl::InvalidArgumentError("WeightFollower: no install callback");
  if (options.poll_interval <= absl::ZeroDuration() ||
      options.long_poll_timeout <= absl::ZeroDuration() ||
      options.max_backoff <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "WeightFollower: poll_interval, long_poll_timeout and max_backoff must be positive");
  }
  auto follower = std::unique_ptr<WeightFollower>(
      new WeightFollower(std::move(channel), options, std::move(install)));
  follower->thread_ = std::thread([f = follower.get()] { f->Run(); });
  return follower;
}

WeightFollower::WeightFollower(std::shared_ptr<grpc::Channel> channel,
                               const FollowerOptions& options, InstallFn install)
    : options_(options),
      install_(std::move(install)),
      stub_(chord::v1::WeightService::NewStub(channel)),
      canceller_(std::make_unique<internal::CallCanceller>()),
      installed_version_(options.after_version) {}

WeightFollower::~WeightFollower() { Stop(); }

void WeightFollower::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  canceller_->Cancel();
  if (thread_.joinable()) thread_.join();
}

int64_t WeightFollower::installed_version() const {
  absl::MutexLock lock(&mu_);
  return installed_version_;
}

bool WeightFollower::WaitForVersion(int64_t version, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return installed_version_ >= version || stop_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return installed_version_ >= version;
}

absl::Status WeightFollower::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

bool WeightFollower::stopped() const {
  absl::MutexLock lock(&mu_);
  return stop_;
}

bool WeightFollower::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  if (d > absl::ZeroDuration()) mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
  return !stop_;
}

void WeightFollower::RecordError(const absl::Status& status) {
  spdlog::warn("weight follower: {}", status.ToString());
  absl::MutexLock lock(&mu_);
  last_error_ = status;
}

absl::Duration WeightFollower::Backoff(int failures) const {
  absl::Duration d = options_.poll_interval;
  for (int i = 1; i < failures && d < options_.max_backoff; ++i) d *= 2;
  return std::min(d, options_.max_backoff);
}

absl::StatusOr<int64_t> WeightFollower::PollVersion(int64_t after) {
  grpc::ClientContext context;
  // A long poll gets its wait plus room for the answer; a plain poll a short deadline.
  absl::Duration budget = absl::Seconds(10);
  chord::v1::GetVersionRequest request;
  if (options_.long_poll) {
    request.set_wait_for_newer_than(after);
    request.set_wait_timeout_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(options_.long_poll_timeout)));
    budget += options_.long_poll_timeout;
  }
  context.set_deadline(absl::ToChronoTime(absl::Now() + budget));
  if (!options_.fetch.bearer_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.fetch.bearer_token));
  }
  if (!canceller_->Register(&context)) return absl::CancelledError("stopped");
  chord::v1::GetVersionResponse response;
  grpc::Status status = stub_->GetVersion(&context, request, &response);
  canceller_->Unregister();
  if (!status.ok()) return Annotate(rpc::FromGrpcStatus(status), "GetVersion");
  return response.version();
}

void WeightFollower::Run() {
  int64_t current = installed_version();
  int failures = 0;
  auto fail = [&](const absl::Status& status) {
    if (stopped()) return;
    RecordError(status);
    ++failures;
    SleepUnlessStopped(Backoff(failures));
  };
  while (!stopped()) {
    absl::Time asked = absl::Now();
    absl::StatusOr<int64_t> latest = PollVersion(current);
    if (!latest.ok()) {
      fail(latest.status());
      continue;
    }
    if (*latest <= current) {
      // Nothing new (a long poll timed out, or the server does not long-poll): keep the pace.
      SleepUnlessStopped(options_.poll_interval - (absl::Now() - asked));
      continue;
    }
    auto started = std::chrono::steady_clock::now();
    absl::StatusOr<WeightSet> weights =
        FetchImpl(*stub_, /*version=*/-1, options_.fetch, canceller_.get());
    if (!weights.ok()) {
      fail(weights.status());
      continue;
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    int64_t version = weights->version;
    if (version <= current) continue;  // the server went back (restarted); wait for newer
    uint64_t bytes = 0;
    for (const auto& [name, tensor] : weights->tensors) bytes += tensor.nbytes();
    absl::Status installed = install_(*std::move(weights));
    if (!installed.ok()) {
      fail(Annotate(installed, absl::StrCat("installing weight version ", version)));
      continue;
    }
    spdlog::info("weight follower: installed version {} ({:.1f} MB fetched in {:.2f} s)", version,
                 bytes / 1e6, seconds);
    current = version;
    failures = 0;
    absl::MutexLock lock(&mu_);
    installed_version_ = version;
    last_error_ = absl::OkStatus();
  }
}

}  // namespace chord::weights
