// chord-bench-start-time: how long commands take from exec to exit (docs/benchmarks.md, "chordctl
// start time"), hyperfine-style: each command runs --warmup times unmeasured, then --runs times,
// with stdout and stderr to /dev/null; prints a Markdown table of the median, the fastest and the
// 90th percentile wall time per command.
//
//   chord-bench-start-time [--runs=50] [--warmup=3] [--bin_dir=DIR] ["COMMAND ARGS" ...]
//
// Without commands: `chordctl --help`, `chordctl --version` and, for comparison with a binary
// that loads LibTorch, `chord-model-tool --help`, from --bin_dir (default: this tool's folder).
// A command's first word is a binary in --bin_dir unless it holds a '/'.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/process/process.h"

ABSL_FLAG(int, runs, 50, "Measured runs per command");
ABSL_FLAG(int, warmup, 3, "Unmeasured runs per command first (page cache, dynamic loader)");
ABSL_FLAG(std::string, bin_dir, "", "Folder of the binaries (default: this tool's folder)");

namespace {

namespace fs = std::filesystem;

std::string OwnDirectory() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

// One run's wall time in milliseconds, or a negative number when the command failed.
double RunOnce(const std::vector<std::string>& argv, std::string* error) {
  chord::process::SpawnOptions options;
  options.stdout_path = "/dev/null";
  options.stderr_path = "/dev/null";
  options.stdin_from_null = true;
  absl::Time start = absl::Now();
  auto child = chord::process::ChildProcess::Start(argv, options);
  if (!child.ok()) {
    *error = std::string(child.status().message());
    return -1;
  }
  absl::StatusOr<int> code = (*child)->Wait(absl::InfiniteDuration());
  double ms = absl::ToDoubleMilliseconds(absl::Now() - start);
  if (!code.ok() || *code != 0) {
    *error =
        code.ok() ? absl::StrFormat("exit code %d", *code) : std::string(code.status().message());
    return -1;
  }
  return ms;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "chord-bench-start-time [--runs=N] [--warmup=N] [--bin_dir=DIR] [\"COMMAND ARGS\" ...]");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  if (bin_dir.empty()) bin_dir = OwnDirectory();
  std::vector<std::string> commands(positional.begin() + 1, positional.end());
  if (commands.empty()) {
    commands = {"chordctl --help", "chordctl --version", "chord-model-tool --help"};
  }
  const int runs = std::max(1, absl::GetFlag(FLAGS_runs));
  const int warmup = std::max(0, absl::GetFlag(FLAGS_warmup));
  std::printf("| command | median | fastest | p90 | runs |\n|---|---|---|---|---|\n");
  int failures = 0;
  for (const std::string& command : commands) {
    std::vector<std::string> words = absl::StrSplit(command, ' ', absl::SkipEmpty());
    if (words.empty()) continue;
    std::vector<std::string> exec_argv = words;
    if (words[0].find('/') == std::string::npos) exec_argv[0] = bin_dir + "/" + words[0];
    std::string error;
    std::vector<double> times;
    for (int i = 0; i < warmup + runs && error.empty(); ++i) {
      double ms = RunOnce(exec_argv, &error);
      if (ms >= 0 && i >= warmup) times.push_back(ms);
    }
    if (!error.empty()) {
      std::printf("| `%s` | failed: %s | | | |\n", command.c_str(), error.c_str());
      ++failures;
      continue;
    }
    std::sort(times.begin(), times.end());
    auto at = [&times](double q) {
      return times[std::min(times.size() - 1, static_cast<size_t>(q * (times.size() - 1) + 0.5))];
    };
    std::printf("| `%s` | %.1f ms | %.1f ms | %.1f ms | %zu |\n", command.c_str(), at(0.5),
                times.front(), at(0.9), times.size());
  }
  return failures == 0 ? 0 : 1;
}
