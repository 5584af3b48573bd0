#pragma once

// Everything a job needs before its first step that is not the ranks' work, done by the caller of
// the driver (the job manager): the services' addresses (the spec's, else the learner's
// defaults), their clients (built by a ClientFactory: gRPC in the chord-learner binary,
// grpc_clients.h; fakes in tests), the job's verifier checked against the reward service, its
// datasets loaded into the expert buffer and its eval tasks read back.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "chord/v1/common.pb.h"
#include "services/expert_buffer/client.h"
#include "services/learner/job_log.h"
#include "services/learner/job_spec.h"
#include "services/learner/options.h"
#include "services/learner/rollout_pool.h"
#include "services/reward/client.h"

namespace chord::learner {

struct ServiceAddresses {
  std::string expert_buffer;
  std::string reward;
  std::vector<std::string> rollout_workers;
};

// The spec's addresses, each falling back to `defaults`. FAILED_PRECONDITION naming the key and
// the flag when a service has no address ("no reward service address (services.reward or
// --reward)").
absl::StatusOr<ServiceAddresses> ResolveServiceAddresses(const ServicesSpec& spec,
                                                         const ServiceDefaults& defaults);

// The clients of one job's services.
struct JobClients {
  std::shared_ptr<expert_buffer::ExpertBufferClient> expert_buffer;
  std::shared_ptr<reward::RewardClient> reward;
  // One per rollout worker, with its address (for messages).
  std::vector<RolloutPool::Worker> rollout_workers;
};

// Builds the clients of `addresses` with the spec's deadlines (`services`).
using ClientFactory = std::function<absl::StatusOr<JobClients>(const ServiceAddresses& addresses,
                                                               const ServicesSpec& services)>;

// A job ready for the driver: its clients and its eval tasks.
struct PreparedJob {
  ServiceAddresses addresses;
  JobClients clients;
  // The first eval.max_samples tasks of datasets.eval (none without an eval set).
  std::vector<chord::v1::Task> eval_tasks;
};

// Resolves the addresses, builds the clients, checks that spec.verifier is a verifier of the
// reward service (INVALID_ARGUMENT "verifier: ... is not a verifier of the reward service at
// <address> (it has: ...)"), loads datasets.tasks / expert / eval (idempotent: a resumed job
// loads them again; errors prefixed with the key, e.g. "datasets.tasks: ...") and reads the eval
// tasks. `log` gets a line per dataset loaded.
absl::StatusOr<PreparedJob> PrepareJob(const JobSpec& spec, const ServiceDefaults& defaults,
                                       const ClientFactory& factory, const JobLog& log);

}  // namespace chord::learner
