#pragma once

// The chord-learner binary's ClientFactory (job_setup.h): gRPC clients of a job's services. The
// expert buffer and the reward service get the job's call deadline (services.call_timeout_s per
// attempt, twice that in all); rollout workers get the learner's client options, the rollout
// pool setting each generation call's deadline (services.generation_timeout_s).

#include "common/rpc/channel.h"
#include "services/learner/job_setup.h"

namespace chord::learner {

// `client` carries TLS, the internal token and the message limit of every call.
ClientFactory GrpcClientFactory(const rpc::ClientOptions& client);

}  // namespace chord::learner
