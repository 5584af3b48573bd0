#include "common/weights/grpc_service.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/checksum/crc32c.h"
#include "common/rpc/grpc_status.h"
#include "spdlog/spdlog.h"

namespace chord::weights {
namespace {

// How often a long poll looks at whether its call was cancelled.
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(100);
// A long poll answers this long before the call's deadline so the answer arrives in time.
constexpr absl::Duration kDeadlineMargin = absl::Milliseconds(200);

}  // namespace

absl::StatusOr<std::unique_ptr<WeightServiceImpl>> WeightServiceImpl::Create(
    WeightPublisher* publisher, const WeightServiceOptions& options) {
  if (publisher == nullptr) return absl::InvalidArgumentError("WeightService: publisher is null");
  if (options.max_message_bytes < kMinChunkBytes + kChunkOverheadBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("WeightService: max_message_bytes ", options.max_message_bytes,
                     " leaves no room for a ", kMinChunkBytes, "-byte chunk"));
  }
  uint64_t max_chunk = options.max_message_bytes - kChunkOverheadBytes;
  if (options.default_chunk_bytes < kMinChunkBytes || options.default_chunk_bytes > max_chunk) {
    return absl::InvalidArgumentError(absl::StrCat("WeightService: default_chunk_bytes ",
                                                   options.default_chunk_bytes, " is outside [",
                                                   kMinChunkBytes, ", ", max_chunk, "]"));
  }
  return std::unique_ptr<WeightServiceImpl>(new WeightServiceImpl(publisher, options));
}

uint64_t WeightServiceImpl::ChunkBytesFor(uint64_t requested) const {
  if (requested == 0) return options_.default_chunk_bytes;
  return std::clamp(requested, kMinChunkBytes, options_.max_message_bytes - kChunkOverheadBytes);
}

grpc::Status WeightServiceImpl::GetVersion(grpc::ServerContext* context,
                                           const chord::v1::GetVersionRequest* request,
                                           chord::v1::GetVersionResponse* response) {
  if (request->has_wait_for_newer_than()) {
    absl::Duration wait = options_.max_wait;
    if (request->wait_timeout_ms() > 0) {
      wait = std::min(wait, absl::Milliseconds(request->wait_timeout_ms()));
    }
    absl::Time end = absl::Now() + wait;
    absl::Time call_deadline = absl::FromChrono(context->deadline());
    if (call_deadline != absl::InfiniteFuture())
      end = std::min(end, call_deadline - kDeadlineMargin);
    int64_t after = request->wait_for_newer_than();
    // Waits in slices so that a cancelled call (client gone, server shutting down) ends promptly.
    while (!context->IsCancelled()) {
      absl::Duration left = end - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      if (publisher_->WaitForNewerThan(after, std::min(left, kCancelCheckInterval)) > after) break;
      if (publisher_->closed()) break;
    }
  }
  std::shared_ptr<const WeightSnapshot> latest = publisher_->Latest();
  response->set_version(latest != nullptr ? latest->version() : -1);
  if (latest != nullptr && request->include_manifest()) {
    *response->mutable_manifest() = latest->manifest();
  }
  return grpc::Status::OK;
}

grpc::Status WeightServiceImpl::FetchWeights(grpc::ServerContext* context,
                                             const chord::v1::FetchWeightsRequest* request,
                                             grpc::ServerWriter<chord::v1::WeightChunk>* writer) {
  WeightMetrics* metrics = publisher_->metrics();
  auto started = std::chrono::steady_clock::now();
  int64_t version = request->version();
  uint64_t sent = 0;
  auto finish = [&](const char* result, grpc::Status status) {
    if (metrics != nullptr) metrics->RecordFetch(result);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // One line per stream at debug level: with many followers, info would flood the learner log.
    spdlog::debug("FetchWeights {} version {}: {} ({} bytes in {:.3f} s)", context->peer(), version,
                  result, sent, seconds);
    return status;
  };
  if (request->version() < -1) {
    return finish("failed", grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                         absl::StrCat("version: must be >= 0 or -1 (latest), got ",
                                                      request->version())));
  }
  absl::StatusOr<std::shared_ptr<const WeightSnapshot>> found = publisher_->Get(request->version());
  if (!found.ok()) {
    return finish(found.status().code() == absl::StatusCode::kNotFound ? "not_found" : "failed",
                  rpc::ToGrpcStatus(found.status()));
  }
  // Holding the snapshot keeps its bytes alive for the whole stream, whatever gets published.
  std::shared_ptr<const WeightSnapshot> snapshot = *std::move(found);
  version = snapshot->version();
  const uint64_t chunk_bytes = ChunkBytesFor(request->chunk_bytes());
  const grpc::Status cancelled(grpc::StatusCode::CANCELLED,
                               "FetchWeights: cancelled by the client");

  chord::v1::WeightChunk message;
  *message.mutable_manifest() = snapshot->manifest();
  message.mutable_manifest()->set_chunk_bytes(chunk_bytes);
  if (!writer->Write(message)) return finish("cancelled", cancelled);
  message.clear_manifest();

  // One message is reused: its data string keeps its capacity, so each chunk costs one copy out of
  // the snapshot, checksummed on the way (plus gRPC's serialization).
  const uint8_t* data = snapshot->data();
  const uint64_t total = snapshot->size();
  uint64_t index = 0;
  for (uint64_t offset = 0; offset < total; offset += chunk_bytes, ++index) {
    if (context->IsCancelled()) return finish("cancelled", cancelled);
    uint64_t n = std::min(chunk_bytes, total - offset);
    message.set_offset(offset);
    message.set_index(index);
    std::string* bytes = message.mutable_data();
    bytes->resize(n);  // the size of the previous chunk but for the last: nothing to fill
    message.set_crc32c(checksum::Crc32cCopy(bytes->data(), data + offset, n));
    if (!writer->Write(message)) return finish("cancelled", cancelled);
    sent += n;
    if (metrics != nullptr) metrics->AddBytesServed(n);
  }
  return finish("ok", grpc::Status::OK);
}

}  // namespace chord::weights
