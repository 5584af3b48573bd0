#include "common/rpc/channel.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/rpc/grpc_status.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "spdlog/spdlog.h"

namespace chord::rpc {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target,
                                           const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // Reconnect quickly after a peer restarts (the default backoff grows to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(options.security);
  if (!credentials.ok()) {
    spdlog::error("channel to {}: {}", target, credentials.status().ToString());
    // An unparseable target: a lame channel whose calls all fail.
    return grpc::CreateCustomChannel("invalid-credentials:" + target,
                                     grpc::InsecureChannelCredentials(), args);
  }
  return grpc::CreateCustomChannel(target, *credentials, args);
}

void PrepareContext(const ClientOptions& options, absl::Time overall, grpc::ClientContext* ctx) {
  absl::Time deadline = std::min(absl::Now() + options.attempt_deadline, overall);
  ctx->set_deadline(absl::ToChronoTime(deadline));
  if (!options.bearer_token.empty()) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", options.bearer_token));
  }
}

absl::Status CallWithRetry(const ClientOptions& options, absl::string_view what,
                           const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  absl::Time overall = absl::Now() + options.total_deadline;
  absl::Duration backoff = options.initial_backoff;
  thread_local std::mt19937_64 jitter_rng{std::random_device{}()};
  grpc::Status status;
  int attempts = std::max(1, options.max_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    grpc::ClientContext ctx;
    PrepareContext(options, overall, &ctx);
    status = call(&ctx);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    if (attempt == attempts) break;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    absl::Duration sleep = backoff * jitter(jitter_rng);
    if (absl::Now() + sleep >= overall) break;
    std::this_thread::sleep_for(absl::ToChronoNanoseconds(sleep));
    backoff = std::min(backoff * 2, options.max_backoff);
  }
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      absl::StrCat(what, ": ", status.error_message()));
}

absl::Status WaitForServing(const std::shared_ptr<grpc::Channel>& channel, absl::string_view target,
                            absl::Duration timeout) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  absl::Time deadline = absl::Now() + timeout;
  std::string last = "no answer";
  while (absl::Now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + absl::Seconds(2))));
    ctx.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&ctx, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      return absl::OkStatus();
    }
    last = status.ok() ? "NOT_SERVING"
                       : StatusCodeName(status.error_code()) + ": " + status.error_message();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(target, " not serving after ", absl::FormatDuration(timeout), " (", last, ")"));
}

}  // namespace chord::rpc
