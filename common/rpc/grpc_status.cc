#include "common/rpc/grpc_status.h"

#include <string>

#include "absl/strings/ascii.h"

namespace chord::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string StatusCodeName(grpc::StatusCode code) {
  // absl's names are "INVALID_ARGUMENT" style already; unknown numbers print as "".
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  if (name.empty()) return "UNKNOWN";
  return name;
}

}  // namespace chord::rpc
