#pragma once

// The largest gRPC message a Chord server accepts or sends and a Chord client accepts, by
// default (servers: --max_message_mb). gRPC's own default (4 MiB) is too small for a batch of
// rollouts; weights always travel as smaller chunks (common/weights/grpc_service.h).

namespace chord::rpc {

inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

}  // namespace chord::rpc
