#pragma once

// The largest gRPC message a Chord server accepts or sends and a Chord client accepts, by
// default (servers: --max_message_mb). gRPC's own default (4 MiB) is too small for a batch of
// rollouts; weights always travel as smaller chunks (common/weights/grpc_service.h).

#include <cstdint>

namespace chord::rpc {

inline constexpr int kDefaultMaxMessageBytes = 64 << 20;

// A list that can outgrow one message (the expert buffer's ReadTasks) is answered in pages of
// at most this many bytes of records (a single larger record still travels alone); the caller
// reads on from where the page ended.
inline constexpr int64_t kListPageBytes = 4 << 20;

}  // namespace chord::rpc
