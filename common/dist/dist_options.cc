#include "common/dist/dist_options.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace chord::dist {
namespace {

absl::Status ReadInt(const std::map<std::string, std::string>& env, const std::string& name,
                     int* out) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return absl::OkStatus();
  if (!absl::SimpleAtoi(it->second, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": expected an integer, got \"", it->second, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DistOptions> DistOptionsFromEnv(const std::map<std::string, std::string>& env) {
  DistOptions options;
  auto addr = env.find("MASTER_ADDR");
  if (addr != env.end() && !addr->second.empty()) options.master_addr = addr->second;
  for (auto [name, field] : {std::pair<const char*, int*>{"MASTER_PORT", &options.master_port},
                             {"RANK", &options.rank},
                             {"WORLD_SIZE", &options.world_size},
                             {"LOCAL_RANK", &options.local_rank}}) {
    absl::Status status = ReadInt(env, name, field);
    if (!status.ok()) return status;
  }
  if (options.world_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("WORLD_SIZE: must be >= 1, got ", options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("RANK: must be in [0, ", options.world_size, "), got ", options.rank));
  }
  if (options.master_port < 1 || options.master_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("MASTER_PORT: must be in 1..65535, got ", options.master_port));
  }
  return options;
}

absl::StatusOr<DistOptions> DistOptionsFromProcessEnv() {
  std::map<std::string, std::string> env;
  for (const char* name : {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK"}) {
    if (const char* value = std::getenv(name)) env[name] = value;
  }
  return DistOptionsFromEnv(env);
}

absl::StatusOr<Backend> ParseBackend(absl::string_view name) {
  if (name == "gloo") return Backend::kGloo;
  if (name == "nccl") return Backend::kNccl;
  return absl::InvalidArgumentError(
      absl::StrCat("backend: must be \"gloo\" or \"nccl\", got \"", name, "\""));
}

}  // namespace chord::dist
