#pragma once

// WeightService over gRPC: a thin adapter that streams WeightPublisher snapshots.
//
// FetchWeights sends the manifest (with the stream's chunk_bytes) as the first message, then the
// snapshot's bytes in order as chunks carrying their offset, index and CRC-32C. The chunk size
// comes from the request, clamped to [kMinChunkBytes, max_message_bytes - kChunkOverheadBytes];
// 0 asks for the default. NOT_FOUND for a version no longer held. A stream stops at the next
// chunk once the client cancels or goes away. GetVersion answers at once, or long-polls when the
// request sets wait_for_newer_than.
//
// The learner hosts it next to its JobService:
//   ASSIGN_OR_RETURN(auto weights, WeightServiceImpl::Create(publisher.get(), options));
//   host->ServeUntilSignal({&job_service, weights.get()}, [&] { publisher->Close(); });

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "chord/v1/weights.grpc.pb.h"
#include "common/rpc/message_limits.h"
#include "common/rpc/security.h"
#include "common/weights/weight_publisher.h"

namespace chord::weights {

// Smallest chunk a stream uses.
inline constexpr uint64_t kMinChunkBytes = 64 << 10;
// Room left in a message for the fields around a chunk's data.
inline constexpr uint64_t kChunkOverheadBytes = 1 << 10;
// Chunk size when the request asks for none.
inline constexpr uint64_t kDefaultChunkBytes = 4 << 20;

struct WeightServiceOptions {
  // Chunk size of streams whose request leaves chunk_bytes at 0. Default 4 MiB.
  uint64_t default_chunk_bytes = kDefaultChunkBytes;
  // The server's largest outgoing message (rpc::ServerOptions::max_send_message_bytes); chunks
  // stay kChunkOverheadBytes below it. Default 64 MiB, the server runner's default.
  uint64_t max_message_bytes = rpc::kDefaultMaxMessageBytes;
  // Longest a GetVersion long poll waits, whatever the request asks. Default 60 s.
  absl::Duration max_wait = absl::Seconds(60);
};

class WeightServiceImpl final : public chord::v1::WeightService::Service {
 public:
  // `publisher` is not owned and must outlive the service. INVALID_ARGUMENT when it is null,
  // when max_message_bytes leaves no room for a kMinChunkBytes chunk, or when
  // default_chunk_bytes is outside the allowed range.
  static absl::StatusOr<std::unique_ptr<WeightServiceImpl>> Create(
      WeightPublisher* publisher, const WeightServiceOptions& options = {});

  // The chunk size a stream uses when the request asks for `requested` bytes (0 = default).
  uint64_t ChunkBytesFor(uint64_t requested) const;

  grpc::Status GetVersion(grpc::ServerContext* context, const chord::v1::GetVersionRequest* request,
                          chord::v1::GetVersionResponse* response) override;

  grpc::Status FetchWeights(grpc::ServerContext* context,
                            const chord::v1::FetchWeightsRequest* request,
                            grpc::ServerWriter<chord::v1::WeightChunk>* writer) override;

 private:
  WeightServiceImpl(WeightPublisher* publisher, const WeightServiceOptions& options)
      : publisher_(publisher), options_(options) {}

  WeightPublisher* const publisher_;
  const WeightServiceOptions options_;
};

// Roles of the WeightService's methods for the token check (common/rpc/security.h): every method is
// internal (the rollout workers fetch; the weights are the trained model).
inline rpc::MethodRoles WeightServiceMethodRoles() {
  return {{std::string("/") + chord::v1::WeightService::service_full_name() + "/",
           rpc::Role::kInternal}};
}

}  // namespace chord::weights
