#include "services/rollout_worker/weight_sync.h"

#include <chrono>
#include <utility>
#include <vector>

#include "common/rpc/channel.h"
#include "common/rpc/security.h"
#include "common/status/status_macros.h"
#include "common/weights/weight_set.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "grpcpp/support/client_interceptor.h"
#include "grpcpp/support/interceptor.h"

namespace chord::rollout_worker {
namespace {

constexpr char kFetchMethod[] = "/chord.v1.WeightService/FetchWeights";

// Times one FetchWeights call: from sending its initial metadata to receiving its status.
class FetchTimer final : public grpc::experimental::Interceptor {
 public:
  explicit FetchTimer(const std::function<void(double)>* on_fetch) : on_fetch_(on_fetch) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_INITIAL_METADATA)) {
      started_ = std::chrono::steady_clock::now();
    }
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_STATUS)) {
      const grpc::Status* status = methods->GetRecvStatus();
      if (status != nullptr && status->ok()) {
        (*on_fetch_)(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
      }
    }
    methods->Proceed();
  }

 private:
  const std::function<void(double)>* on_fetch_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

class FetchTimerFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit FetchTimerFactory(std::function<void(double)> on_fetch)
      : on_fetch_(std::move(on_fetch)) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    if (info->method() == nullptr || std::string(info->method()) != kFetchMethod) return nullptr;
    return new FetchTimer(&on_fetch_);
  }

 private:
  // Lives as long as the channel (which owns the factory).
  const std::function<void(double)> on_fetch_;
};

}  // namespace

std::shared_ptr<grpc::Channel> MakeTimedWeightChannel(const std::string& address,
                                                      const rpc::ClientOptions& options,
                                                      std::function<void(double)> on_fetch) {
  // The settings of rpc::MakeChannel, plus the interceptor.
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<FetchTimerFactory>(std::move(on_fetch)));
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      rpc::MakeChannelCredentials(options.security);
  if (!credentials.ok()) return rpc::MakeChannel(address, options);  // fails every call
  return grpc::experimental::CreateCustomChannelWithInterceptors(address, *credentials, args,
                                                                 std::move(factories));
}

absl::StatusOr<std::unique_ptr<WeightSync>> WeightSync::Start(RolloutWorker* worker,
                                                              const WeightSyncOptions& options,
                                                              RolloutMetrics* metrics) {
  if (worker == nullptr) return absl::InvalidArgumentError("WeightSync: worker is null");
  if (options.address.empty()) {
    return absl::InvalidArgumentError("WeightSync: the weight source address is empty");
  }
  auto channel = MakeTimedWeightChannel(options.address, options.channel, [metrics](double s) {
    if (metrics != nullptr) metrics->ObserveWeightFetchSeconds(s);
  });
  weights::FollowerOptions follower_options = options.follower;
  follower_options.after_version = worker->weight_version();
  if (follower_options.fetch.bearer_token.empty()) {
    follower_options.fetch.bearer_token = options.channel.bearer_token;
  }
  ASSIGN_OR_RETURN(auto follower,
                   weights::WeightFollower::Start(std::move(channel), follower_options,
                                                  [worker](weights::WeightSet&& set) {
                                                    return worker->InstallWeights(std::move(set));
                                                  }));
  return std::unique_ptr<WeightSync>(new WeightSync(std::move(follower)));
}

WeightSync::~WeightSync() { Stop(); }

void WeightSync::Stop() { follower_->Stop(); }

absl::Status WeightSync::last_error() const { return follower_->last_error(); }

}  // namespace chord::rollout_worker
