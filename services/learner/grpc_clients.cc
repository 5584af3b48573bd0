#include "services/learner/grpc_clients.h"

#include "common/status/status_macros.h"
#include "services/expert_buffer/grpc_client.h"
#include "services/reward/grpc_client.h"
#include "services/rollout_worker/grpc_client.h"

namespace chord::learner {

ClientFactory GrpcClientFactory(const rpc::ClientOptions& client) {
  return [client](const ServiceAddresses& addresses,
                  const ServicesSpec& services) -> absl::StatusOr<JobClients> {
    rpc::ClientOptions call_options = client;
    call_options.attempt_deadline = absl::Seconds(services.call_timeout_s);
    call_options.total_deadline = absl::Seconds(services.call_timeout_s * 2);
    JobClients clients;
    ASSIGN_OR_RETURN(clients.expert_buffer, expert_buffer::GrpcExpertBufferClient::Create(
                                                addresses.expert_buffer, call_options));
    ASSIGN_OR_RETURN(clients.reward,
                     reward::GrpcRewardClient::Create(addresses.reward, call_options));
    for (const std::string& address : addresses.rollout_workers) {
      ASSIGN_OR_RETURN(auto worker, rollout_worker::GrpcRolloutClient::Create(address, client));
      clients.rollout_workers.push_back({address, std::move(worker)});
    }
    return clients;
  };
}

}  // namespace chord::learner
