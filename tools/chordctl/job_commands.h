#pragma once

// The job commands: talk to the learner's JobService (rank 0).
//
//   chordctl submit FILE [--set KEY.PATH=VALUE]... [--request-id ID] [--watch [--plain]] [--json]
//                   [--from-trinity]   (FILE is a Trinity-RFT config: trinity_command.h)
//   chordctl get ID [--json]
//   chordctl list [--state STATE] [--limit N] [--json]
//   chordctl cancel ID [--reason TEXT]
//   chordctl resume ID [--reason TEXT] [--watch [--plain]]
//   chordctl watch ID [--plain]
//   chordctl logs ID [--follow] [--json]
//
// Every command takes --address HOST:PORT (default $CHORD_LEARNER_ADDRESS, else the learner of
// the local cluster recorded in $CHORD_STATE_DIR/cluster.json or ./.chord/cluster.json). The
// bearer token comes from the global --token-file or $CHORD_TOKEN, else, for the local cluster's
// learner, from the user token `chordctl up` wrote into its state directory.
// Exit codes (cli_context.h): an unknown job or a missing spec file is 3, a spec the server
// rejects is 2 (every problem printed), `watch` ends with 0 (SUCCEEDED), 1 (FAILED) or 4
// (CANCELLED); `resume` of a SUCCEEDED job is 1.

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "services/learner/client.h"
#include "tools/chordctl/cli_context.h"

namespace chord::chordctl {

// --address of the job commands.
struct LearnerArgs {
  std::string address;
};

// Adds --address (env CHORD_LEARNER_ADDRESS) to `command`.
void AddLearnerOptions(CLI::App* command, LearnerArgs* args);

// The learner address to use: `args.address`, else the local cluster's (cluster.json in the
// default state directory). INVALID_ARGUMENT saying how to give one when there is none.
absl::StatusOr<std::string> ResolveLearnerAddress(const LearnerArgs& args);

// A gRPC JobClient for the resolved address with the context's deadlines and the token.
absl::StatusOr<std::unique_ptr<learner::JobClient>> MakeJobClient(const LearnerArgs& args,
                                                                  const CliContext& context);

// The job `job_id` (JobClient::Get).
absl::StatusOr<chord::v1::JobStatus> GetJob(learner::JobClient& client, const std::string& job_id);

// Adds submit, get, list, cancel, resume, watch and logs to `app`. `context` must outlive the
// parse.
void AddJobCommands(CLI::App& app, CliContext& context);

}  // namespace chord::chordctl
