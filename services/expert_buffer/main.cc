// chord-expert-buffer: serves named datasets of expert demonstrations and RL tasks with
// deterministic, resumable sampling (docs/expert-buffer.md).

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/flag_config.h"
#include "common/rpc/server_runner.h"
#include "common/service/service_host.h"
#include "common/status/status_macros.h"
#include "services/expert_buffer/expert_buffer.h"
#include "services/expert_buffer/grpc_service.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, state_dir, "",
          "Directory recording the loaded datasets (and copies of inline ones) so that a "
          "restarted service serves them again and old cursors keep working; empty: none");
ABSL_FLAG(std::vector<std::string>, dataset, {},
          "Dataset to load at start, NAME=KIND:PATH with KIND expert or tasks; repeat the flag "
          "or separate with commas. A bad file fails the start");
// Defaults are ExpertBufferOptions' own (options.h).
ABSL_FLAG(int, max_sample, chord::expert_buffer::ExpertBufferOptions().max_sample,
          "Largest n one SampleExpert/SampleTasks call may ask for");
ABSL_FLAG(int, load_threads, chord::expert_buffer::ExpertBufferOptions().load_threads,
          "Threads parsing one dataset; 0 = one per CPU core");
ABSL_FLAG(int, max_line_mb,
          static_cast<int>(chord::expert_buffer::ExpertBufferOptions().max_line_bytes >> 20),
          "Longest JSONL line a dataset may have, in MiB");
ABSL_FLAG(std::vector<std::string>, data_root, {},
          "Directories datasets loaded by path must lie under, after symlinks are resolved "
          "(comma-separated; a relative dataset path is taken relative to the first); anything "
          "else is refused with PERMISSION_DENIED. Empty: the working directory");
ABSL_FLAG(int, max_dataset_mb,
          static_cast<int>(chord::expert_buffer::ExpertBufferOptions().max_dataset_bytes >> 20),
          "Largest dataset file (or inline content) one load may read, in MiB");

namespace chord::expert_buffer {
namespace {

struct DatasetSpec {
  std::string name;
  dataset::DatasetKind kind;
  std::string path;
};

absl::StatusOr<DatasetSpec> ParseDatasetSpec(absl::string_view text) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("--dataset ", text, ": ", why, " (expected NAME=KIND:PATH)"));
  };
  size_t equals = text.find('=');
  if (equals == absl::string_view::npos) return bad("no '='");
  absl::string_view rest = text.substr(equals + 1);
  size_t colon = rest.find(':');
  if (colon == absl::string_view::npos) return bad("no ':' after the kind");
  DatasetSpec spec;
  spec.name = std::string(text.substr(0, equals));
  RETURN_IF_ERROR(ValidateDatasetName(spec.name, absl::StrCat("--dataset ", text, ": name")));
  auto kind = dataset::ParseDatasetKind(rest.substr(0, colon));
  if (!kind.ok()) return bad(kind.status().message());
  spec.kind = *kind;
  spec.path = std::string(rest.substr(colon + 1));
  if (spec.path.empty()) return bad("empty path");
  return spec;
}

// Every --dataset given on the command line. absl keeps only the last occurrence of a flag, so
// the repeated form is collected here; when the command line has none, the flag's value (e.g.
// from --config) is used.
std::vector<std::string> RepeatedDatasetFlags(int argc, char** argv) {
  std::vector<std::string> values;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    for (absl::string_view prefix : {"--dataset=", "-dataset="}) {
      if (absl::StartsWith(arg, prefix)) {
        for (absl::string_view item :
             absl::StrSplit(arg.substr(prefix.size()), ',', absl::SkipEmpty())) {
          values.emplace_back(item);
        }
      }
    }
    if ((arg == "--dataset" || arg == "-dataset") && i + 1 < argc) {
      for (absl::string_view item : absl::StrSplit(argv[i + 1], ',', absl::SkipEmpty())) {
        values.emplace_back(item);
      }
    }
  }
  return values;
}

absl::Status Run(int argc, char** argv) {
  std::vector<std::string> dataset_flags = RepeatedDatasetFlags(argc, argv);
  ASSIGN_OR_RETURN(std::vector<std::string> positional,
                   config::ParseFlagsWithConfig(
                       argc, argv,
                       "chord-expert-buffer: serves expert demonstrations and RL task sets with "
                       "deterministic, resumable sampling.\nUsage: chord-expert-buffer [flags]"));
  if (positional.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected argument ", positional[1], " (all settings are flags)"));
  }
  if (dataset_flags.empty()) dataset_flags = absl::GetFlag(FLAGS_dataset);
  std::vector<DatasetSpec> specs;
  for (const std::string& text : dataset_flags) {
    ASSIGN_OR_RETURN(DatasetSpec spec, ParseDatasetSpec(text));
    specs.push_back(std::move(spec));
  }
  ExpertBufferOptions options;
  options.state_dir = absl::GetFlag(FLAGS_state_dir);
  options.max_sample = absl::GetFlag(FLAGS_max_sample);
  options.load_threads = absl::GetFlag(FLAGS_load_threads);
  int max_line_mb = absl::GetFlag(FLAGS_max_line_mb);
  if (max_line_mb < 1 || max_line_mb > 2047) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_line_mb: must be in [1, 2047] (got ", max_line_mb, ")"));
  }
  options.max_line_bytes = static_cast<size_t>(max_line_mb) << 20;
  int max_dataset_mb = absl::GetFlag(FLAGS_max_dataset_mb);
  if (max_dataset_mb < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_dataset_mb: must be >= 1 (got ", max_dataset_mb, ")"));
  }
  options.max_dataset_bytes = static_cast<int64_t>(max_dataset_mb) << 20;
  options.data_roots = absl::GetFlag(FLAGS_data_root);
  if (options.data_roots.empty()) options.data_roots.push_back(".");

  ASSIGN_OR_RETURN(auto host, service::ServiceHost::Create("expert-buffer"));
  ASSIGN_OR_RETURN(std::unique_ptr<ExpertBuffer> core,
                   ExpertBuffer::Create(options, &host->registry()));
  spdlog::info("datasets are read from under {} (--data_root), at most {} MiB each",
               absl::StrJoin(options.data_roots, ", "), max_dataset_mb);
  for (const DatasetSpec& spec : specs) {
    auto loaded = core->LoadFile(spec.name, spec.kind, spec.path);
    if (!loaded.ok()) return Annotate(loaded.status(), absl::StrCat("--dataset ", spec.name));
  }
  ExpertBufferGrpcService service(core.get());
  return host->ServeUntilSignal({&service}, ExpertBufferMethodRoles());
}

}  // namespace
}  // namespace chord::expert_buffer

int main(int argc, char** argv) {
  chord::rpc::BlockTerminationSignals();
  return chord::service::ExitCode(chord::expert_buffer::Run(argc, argv), "chord-expert-buffer");
}
