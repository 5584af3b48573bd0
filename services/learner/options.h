#pragma once

// Settings of the learner's job service (rank 0): where the other services are, how jobs are
// admitted and driven. main.cc fills them from flags, whose defaults are the ones below
// (docs/configuration.md lists the flags).

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/files/confined_path.h"
#include "common/rpc/client_options.h"

namespace chord::learner {

// Largest job spec Submit accepts, in bytes.
inline constexpr size_t kMaxSpecBytes = size_t{1} << 20;
// Longest Submit request_id.
inline constexpr size_t kMaxRequestIdBytes = 256;
// Longest Resume reason (it is stored in the job's event log).
inline constexpr size_t kMaxResumeReasonBytes = 1024;

// Where the services are when a job spec does not say.
struct ServiceDefaults {
  std::string expert_buffer;
  std::string reward;
  std::vector<std::string> rollout_workers;
  // TLS, token and message limit of the calls to the services (the job's deadlines are set on
  // top). Default: plaintext, no token.
  rpc::ClientOptions client;
};

struct JobManagerOptions {
  // Jobs write under <state_dir>/jobs/<id>/.
  std::string state_dir;
  // Service addresses for specs that do not name them.
  ServiceDefaults defaults;
  // Idle ranks > 0 get a heartbeat this often (must be well under the group timeout); the driver
  // sends them as often during phases without rank work. Default 10 s.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // A job interrupted (learner crash, broken rank group) more often than this fails instead of
  // resuming again; graceful stops do not count. Default 3.
  int max_resumes = 3;
  // Directories a job spec's `model` must lie under (after symlinks are resolved); the learner's
  // own job outputs (<state_dir>/jobs) are always allowed. Unset: any folder (library use and
  // tests; the chord-learner binary always sets it, from --model_root).
  std::optional<files::ConfinedRoots> model_roots;
  // Accept `services.*` address overrides in job specs. Off (default): a spec naming one is
  // refused with PERMISSION_DENIED (a caller could otherwise point the learner at any address).
  bool allow_service_overrides = false;
  // Most jobs QUEUED at once; Submit past it is RESOURCE_EXHAUSTED (0: no limit). Default 100.
  int max_queued_jobs = 100;
  // Most Watch streams open at once; one more is RESOURCE_EXHAUSTED (0: no limit). Default 64.
  int max_watch_streams = 64;
};

}  // namespace chord::learner
