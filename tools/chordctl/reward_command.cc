#include "tools/chordctl/reward_command.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/reward/grpc_client.h"
#include "services/reward/in_process_client.h"
#include "tools/chordctl/local_cluster.h"

namespace chord::chordctl {
namespace {

struct ScoreArgs {
  std::string verifier;
  std::string response;
  std::string response_file;
  std::string reference;
  std::string prompt;
  std::string meta;
  bool think_penalty = false;
  std::string address;
  bool json = false;
};

struct VerifiersArgs {
  std::string address;
  bool json = false;
};

absl::StatusOr<std::unique_ptr<reward::RewardClient>> MakeClient(const std::string& address,
                                                                 const CliContext& context) {
  if (!address.empty()) {
    // The reward service takes the internal token; the local cluster's goes only to its own.
    std::string local_token;
    absl::StatusOr<ClusterRecord> cluster = ReadClusterRecord(DefaultStateDir());
    const ServiceRecord* local = cluster.ok() ? cluster->Find("reward") : nullptr;
    if (local != nullptr && local->address == address) {
      local_token = InternalTokenPath(cluster->state_dir);
    }
    ASSIGN_OR_RETURN(rpc::ClientOptions options, AuthorizedClientOptions(context, local_token));
    auto client = reward::GrpcRewardClient::Create(address, options);
    if (!client.ok()) return client.status();
    return std::unique_ptr<reward::RewardClient>(std::move(*client));
  }
  ASSIGN_OR_RETURN(auto client, reward::InProcessRewardClient::Create());
  return std::unique_ptr<reward::RewardClient>(std::move(client));
}

void RunScore(const ScoreArgs& args, CliContext& context) {
  chord::v1::ScoreRequest request;
  request.set_think_format_penalty(args.think_penalty);
  chord::v1::ScoreItem* item = request.add_items();
  item->set_id("cli");
  item->set_verifier(args.verifier);
  item->set_reference(args.reference);
  item->set_prompt(args.prompt);
  item->set_meta_json(args.meta);
  if (!args.response_file.empty()) {
    absl::StatusOr<std::string> text = files::ReadFile(args.response_file);
    if (!text.ok()) return context.Fail(text.status());
    item->set_response(std::move(*text));
  } else if (args.response == "-") {
    item->set_response(
        std::string(std::istreambuf_iterator<char>(*context.in), std::istreambuf_iterator<char>()));
  } else {
    item->set_response(args.response);
  }
  auto client = MakeClient(args.address, context);
  if (!client.ok()) return context.Fail(client.status());
  auto results = (*client)->Score(request);
  if (!results.ok()) return context.Fail(results.status());
  if (results->results_size() != 1) {
    return context.Fail(kExitRuntimeError, "the reward service returned no result");
  }
  const chord::v1::ScoreResult& result = results->results(0);
  if (args.json) {
    // The wire carries a float: print it at float precision (0.9, not 0.8999999761581421).
    double score = std::strtod(absl::StrFormat("%.7g", result.score()).c_str(), nullptr);
    nlohmann::json line = {{"verifier", args.verifier},
                           {"score", score},
                           {"correct", result.correct()},
                           {"reason", result.reason()},
                           {"extracted", result.extracted()}};
    *context.out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                 << std::endl;
    return;
  }
  *context.out << "score " << FormatScore(result.score()) << "  "
               << (result.correct() ? "correct" : "wrong") << "  " << args.verifier << ": "
               << result.reason() << std::endl;
}

void RunVerifiers(const VerifiersArgs& args, CliContext& context) {
  auto client = MakeClient(args.address, context);
  if (!client.ok()) return context.Fail(client.status());
  auto listed = (*client)->ListVerifiers();
  if (!listed.ok()) return context.Fail(listed.status());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const chord::v1::VerifierInfo& info : listed->verifiers()) {
      list.push_back({{"name", info.name()}, {"description", info.description()}});
    }
    *context.out << list.dump() << std::endl;
    return;
  }
  size_t width = 0;
  for (const chord::v1::VerifierInfo& info : listed->verifiers()) {
    width = std::max(width, info.name().size());
  }
  for (const chord::v1::VerifierInfo& info : listed->verifiers()) {
    *context.out << absl::StrFormat("%-*s  %s", static_cast<int>(width), info.name(),
                                    info.description())
                 << std::endl;
  }
}

}  // namespace

std::string FormatScore(double score) {
  std::string text = absl::StrFormat("%.4g", score);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

void AddRewardCommands(CLI::App& app, CliContext& context) {
  CLI::App* group = app.add_subcommand("reward", "Score responses with the reward verifiers");
  group->require_subcommand(1);

  auto score_args = std::make_shared<ScoreArgs>();
  CLI::App* score = group->add_subcommand(
      "score", "Score one response; prints: score S  correct|wrong  VERIFIER: REASON");
  score->add_option("--verifier", score_args->verifier, "Verifier name (see `reward verifiers`)")
      ->required();
  CLI::Option* response = score->add_option("--response", score_args->response,
                                            "The response text; `-` reads it from stdin");
  CLI::Option* response_file = score->add_option("--response-file", score_args->response_file,
                                                 "Read the response from a file");
  response->excludes(response_file);
  score->add_option("--reference", score_args->reference, "The reference answer");
  score->add_option("--prompt", score_args->prompt, "The prompt (countdown may read it)");
  score->add_option("--meta", score_args->meta, "Task metadata as a JSON object");
  score->add_flag("--think-penalty", score_args->think_penalty,
                  "Apply the -0.1 penalty for a malformed <think>...</think> block");
  AddAddressOption(score, "reward", &score_args->address);
  score->add_flag("--json", score_args->json, "Print the result as one JSON object");
  score->callback([score_args, &context, response, response_file] {
    if (response->count() == 0 && response_file->count() == 0) {
      return context.Fail(kExitUsageError, "reward score: give --response or --response-file");
    }
    RunScore(*score_args, context);
  });

  auto verifiers_args = std::make_shared<VerifiersArgs>();
  CLI::App* verifiers = group->add_subcommand("verifiers", "List the verifiers");
  AddAddressOption(verifiers, "reward", &verifiers_args->address);
  verifiers->add_flag("--json", verifiers_args->json, "Print a JSON list");
  verifiers->callback([verifiers_args, &context] { RunVerifiers(*verifiers_args, context); });
}

}  // namespace chord::chordctl
