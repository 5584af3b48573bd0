#pragma once

// The one mapping between absl::Status (service cores) and grpc::Status (the wire). gRPC and
// Abseil share code numbers, so the mapping keeps code and message unchanged.

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace chord::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// "OK", "INVALID_ARGUMENT", ... (the canonical upper-case name of a gRPC code).
std::string StatusCodeName(grpc::StatusCode code);

}  // namespace chord::rpc
