// fuzz_corpus_test: every fuzz target over its committed corpus (tests/fuzz/corpus/<target>/),
// in ordinary builds without libFuzzer. The corpus holds the hand-made seeds and every input a
// fuzzer found, so a finding stays fixed in every build. A broken property aborts the program;
// the input being run is printed first.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/files/file_io.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/support/child_process.h"

namespace chord::fuzz {
namespace {

std::vector<std::pair<std::string, TargetFunction>>& Registry() {
  static auto* registry = new std::vector<std::pair<std::string, TargetFunction>>();
  return *registry;
}

// The input being run, for the message of a crash.
char current_input[4096] = "";

void PrintCurrentInput(int sig) {
  const char prefix[] = "\nfuzz_corpus_test: crashed on ";
  (void)!write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
  (void)!write(STDERR_FILENO, current_input, strlen(current_input));
  (void)!write(STDERR_FILENO, "\n", 1);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::string CorpusRoot() { return chord::testing::SourcePath("tests/fuzz/corpus"); }

TEST(FuzzCorpusTest, EveryTargetHasACorpusAndEveryCorpusATarget) {
  std::set<std::string> targets;
  for (const auto& [name, function] : Registry()) targets.insert(name);
  std::set<std::string> corpora;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusRoot())) {
    if (entry.is_directory()) corpora.insert(entry.path().filename().string());
  }
  EXPECT_EQ(targets, corpora);
  EXPECT_GE(targets.size(), 15u);
}

TEST(FuzzCorpusTest, EveryTargetRunsItsCorpus) {
  std::signal(SIGABRT, PrintCurrentInput);
  std::signal(SIGSEGV, PrintCurrentInput);
  for (const auto& [name, function] : Registry()) {
    const std::string dir = CorpusRoot() + "/" + name;
    std::vector<std::string> files;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    EXPECT_FALSE(files.empty()) << dir << " holds no input";
    for (const std::string& file : files) {
      absl::StatusOr<std::string> input = files::ReadFile(file);
      ASSERT_TRUE(input.ok()) << input.status();
      std::snprintf(current_input, sizeof(current_input), "%s", file.c_str());
      function(reinterpret_cast<const uint8_t*>(input->data()), input->size());
    }
  }
  current_input[0] = '\0';
}

}  // namespace

bool RegisterTarget(const char* name, TargetFunction function) {
  Registry().emplace_back(name, function);
  return true;
}

}  // namespace chord::fuzz
