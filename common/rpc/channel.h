#pragma once

// Client side of every Chord RPC: one channel factory and one retry policy.
//
// Every call gets a deadline. Only UNAVAILABLE is retried (the server was not reached or is
// restarting), with exponential backoff and jitter, and never past the overall deadline. Other
// codes are final: retrying INVALID_ARGUMENT or DEADLINE_EXCEEDED would only repeat the failure
// or the load. Mutating RPCs of Chord services are idempotent, so a retry after a lost response
// is safe.
//
//   auto channel = MakeChannel("127.0.0.1:50051", options);
//   auto stub = chord::v1::RewardService::NewStub(channel);
//   chord::v1::ScoreResponse response;
//   absl::Status status = CallWithRetry(options, "Score", [&](grpc::ClientContext* ctx) {
//     return stub->Score(ctx, request, &response);
//   });

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc/client_options.h"
#include "common/rpc/security.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace chord::rpc {

// ClientOptions: client_options.h.

// A channel to `target` ("host:port") with Chord's message limits and `options.security`'s
// credentials (MakeChannelCredentials). When those cannot be made (an unreadable CA file), the
// channel fails every call with UNAVAILABLE instead of falling back to plaintext; callers check
// the files first with CheckChannelSecurity for a clear error. gRPC's own transparent
// retries are disabled so that CallWithRetry is the only retry policy.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, const ClientOptions& options);

// Prepares a context: deadline `now + attempt_deadline` (capped at `overall`), auth metadata.
void PrepareContext(const ClientOptions& options, absl::Time overall, grpc::ClientContext* ctx);

// Runs `call` with a fresh ClientContext per attempt, retrying only UNAVAILABLE (see above).
// Returns the last status, converted to absl::Status, with `what` prefixed to errors
// ("Score: failed to connect ...").
absl::Status CallWithRetry(const ClientOptions& options, absl::string_view what,
                           const std::function<grpc::Status(grpc::ClientContext*)>& call);

// Waits until the server at `channel` reports SERVING on the standard health service, or the
// timeout passes (DEADLINE_EXCEEDED naming `target`).
absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel, absl::string_view target,
                            absl::Duration timeout);

}  // namespace chord::rpc
