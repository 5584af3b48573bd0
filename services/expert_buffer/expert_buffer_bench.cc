// chord-bench-expert-buffer: how fast the expert buffer loads JSONL and serves samples over gRPC.
//
// Generates an expert JSONL file of realistic chat records (--size_mb, default 200 MB) in a
// temporary directory, times the core's load of it (read + validate + index, on --load_threads
// threads), then starts the gRPC service in-process on 127.0.0.1:0 and measures SampleExpert
// throughput through GrpcExpertBufferClient for each batch size. Prints a Markdown table with the
// goals next to the figures (the goals are checked by reading the table, not by tests).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/bench/process_stats.h"
#include "common/dataset/dataset.h"
#include "common/files/file_io.h"
#include "common/rpc/server_runner.h"
#include "common/status/status_macros.h"
#include "services/expert_buffer/expert_buffer.h"
#include "services/expert_buffer/grpc_client.h"
#include "services/expert_buffer/grpc_service.h"

ABSL_FLAG(double, size_mb, 200, "Size of the generated expert JSONL file, in MB (10^6 bytes)");
ABSL_FLAG(int, load_threads, 0, "Threads parsing the file; 0 = one per CPU core");
ABSL_FLAG(bool, single_thread_reference, true,
          "Also time a 1-thread parse of the same text, for reference");
ABSL_FLAG(std::string, batch_sizes, "64,1024", "Comma-separated n of the SampleExpert calls");
ABSL_FLAG(double, sample_seconds, 3, "How long to sample for each batch size");
ABSL_FLAG(std::string, dir, "", "Where to write the file (default: a fresh temp dir, removed)");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the generated records");

namespace chord::expert_buffer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

using bench::CpuSeconds;

// Generates chat records that look like real SFT data: a system prompt now and then, one to three
// user/assistant turns, prose with punctuation, line breaks, quotes, a little math and code, and
// some non-ASCII text, so that the parser meets escapes and UTF-8 as it would in practice.
class RecordGenerator {
 public:
  explicit RecordGenerator(uint64_t seed) : rng_(seed) {}

  void AppendRecord(int64_t index, std::string* out) {
    out->append("{\"id\":\"sample-");
    absl::StrAppend(out, index, "\",\"messages\":[");
    bool first = true;
    if (Uniform(0, 3) == 0) {
      AppendMessage("system", Text(60, 200), &first, out);
    }
    int turns = Uniform(1, 3);
    for (int t = 0; t < turns; ++t) {
      AppendMessage("user", Text(80, 700), &first, out);
      AppendMessage("assistant", Text(300, 2500), &first, out);
    }
    out->append("],\"source\":\"bench\"}\n");
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  void AppendMessage(absl::string_view role, const std::string& content, bool* first,
                     std::string* out) {
    if (!*first) out->push_back(',');
    *first = false;
    absl::StrAppend(out, "{\"role\":\"", role, "\",\"content\":\"", content, "\"}");
  }

  // JSON-escaped text of about `lo`..`hi` bytes.
  std::string Text(int lo, int hi) {
    static const char* const kWords[] = {"the",
                                         "answer",
                                         "is",
                                         "we",
                                         "compute",
                                         "first",
                                         "then",
                                         "because",
                                         "of",
                                         "a",
                                         "function",
                                         "value",
                                         "step",
                                         "so",
                                         "total",
                                         "equals",
                                         "therefore",
                                         "number",
                                         "each",
                                         "which",
                                         "gives",
                                         "model",
                                         "policy",
                                         "reward",
                                         "expected",
                                         "x",
                                         "y",
                                         "=",
                                         "+",
                                         "2",
                                         "17",
                                         "3.14",
                                         "result:",
                                         "(note)",
                                         "\\\"quoted\\\"",
                                         "naïve",
                                         "café",
                                         "数学",
                                         "\\u00e9t\\u00e9",
                                         "C++",
                                         "{key: value}",
                                         "O(n)"};
    constexpr int kCount = sizeof(kWords) / sizeof(kWords[0]);
    int target = Uniform(lo, hi);
    std::string text;
    text.reserve(static_cast<size_t>(target) + 32);
    int words = 0;
    while (static_cast<int>(text.size()) < target) {
      if (!text.empty()) text.append(Uniform(0, 40) == 0 ? "\\n\\n" : " ");
      text.append(kWords[Uniform(0, kCount - 1)]);
      if (++words % 12 == 0) text.append(".");
    }
    return text;
  }

  std::mt19937_64 rng_;
};

struct Row {
  std::string measurement;
  std::string result;
  std::string goal;
};

void PrintTable(const std::vector<Row>& rows) {
  size_t w0 = 11, w1 = 6, w2 = 4;
  for (const Row& row : rows) {
    w0 = std::max(w0, row.measurement.size());
    w1 = std::max(w1, row.result.size());
    w2 = std::max(w2, row.goal.size());
  }
  auto line = [&](const std::string& a, const std::string& b, const std::string& c) {
    std::printf("| %-*s | %-*s | %-*s |\n", static_cast<int>(w0), a.c_str(), static_cast<int>(w1),
                b.c_str(), static_cast<int>(w2), c.c_str());
  };
  line("measurement", "result", "goal");
  std::printf("|%s|%s|%s|\n", std::string(w0 + 2, '-').c_str(), std::string(w1 + 2, '-').c_str(),
              std::string(w2 + 2, '-').c_str());
  for (const Row& row : rows) line(row.measurement, row.result, row.goal);
}

std::string Thousands(double value) {
  if (value >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (value >= 1e3) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

absl::Status Run() {
  const double size_mb = absl::GetFlag(FLAGS_size_mb);
  if (size_mb <= 0) return absl::InvalidArgumentError("--size_mb: must be > 0");
  std::vector<int> batch_sizes;
  for (absl::string_view item :
       absl::StrSplit(absl::GetFlag(FLAGS_batch_sizes), ',', absl::SkipEmpty())) {
    int n;
    if (!absl::SimpleAtoi(item, &n) || n < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--batch_sizes: bad size ", item));
    }
    batch_sizes.push_back(n);
  }

  std::string dir = absl::GetFlag(FLAGS_dir);
  // Removes the temporary directory on every way out.
  struct RemoveDir {
    std::string path;
    ~RemoveDir() {
      std::error_code error;
      if (!path.empty()) std::filesystem::remove_all(path, error);
    }
  } cleanup;
  if (dir.empty()) {
    char tmpl[] = "/tmp/chord_bench_expert_buffer_XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp failed");
    dir = tmpl;
    cleanup.path = dir;
  }
  const std::string path = dir + "/expert.jsonl";

  // 1. Generate the file.
  auto start = Clock::now();
  const auto target_bytes = static_cast<size_t>(size_mb * 1e6);
  int64_t records = 0;
  {
    RecordGenerator generator(absl::GetFlag(FLAGS_seed));
    std::string text;
    text.reserve(target_bytes + (1 << 16));
    while (text.size() < target_bytes) generator.AppendRecord(records++, &text);
    RETURN_IF_ERROR(files::WriteFileAtomically(path, text));
  }
  const auto file_bytes = static_cast<double>(std::filesystem::file_size(path));
  std::fprintf(stderr, "generated %s: %.1f MB, %lld records in %.1fs\n", path.c_str(),
               file_bytes / 1e6, static_cast<long long>(records), SecondsSince(start));

  ExpertBufferOptions options;
  options.load_threads = absl::GetFlag(FLAGS_load_threads);
  options.max_sample = 65536;
  ASSIGN_OR_RETURN(std::unique_ptr<ExpertBuffer> core, ExpertBuffer::Create(options, nullptr));
  const int threads = options.load_threads > 0
                          ? options.load_threads
                          : static_cast<int>(std::thread::hardware_concurrency());
  std::vector<Row> rows;

  // 2. Load through the core: read + fingerprint + parse/validate + duplicate-id check.
  start = Clock::now();
  double cpu_start = CpuSeconds();
  ASSIGN_OR_RETURN(LoadResult loaded, core->LoadFile("bench", dataset::DatasetKind::kExpert, path));
  double load_seconds = SecondsSince(start);
  double load_cpu = CpuSeconds() - cpu_start;
  rows.push_back({absl::StrFormat("JSONL load, %.0f MB file, %d threads (read+validate+index)",
                                  file_bytes / 1e6, threads),
                  absl::StrFormat("%.1f MB/s (%s records/s, %.2f s, %.2f CPU-s)",
                                  file_bytes / 1e6 / load_seconds,
                                  Thousands(static_cast<double>(loaded.num_records) / load_seconds),
                                  load_seconds, load_cpu),
                  ">= 100 MB/s"});

  // Parsing alone (the text already in memory), on the same threads and on one, for reference.
  {
    ASSIGN_OR_RETURN(std::string text, files::ReadFile(path));
    std::vector<int> thread_counts = {threads};
    if (absl::GetFlag(FLAGS_single_thread_reference) && threads != 1) thread_counts.push_back(1);
    for (int count : thread_counts) {
      dataset::ParseOptions parse;
      parse.threads = count;
      parse.dataset_name = "bench";
      start = Clock::now();
      double cpu = CpuSeconds();
      ASSIGN_OR_RETURN(dataset::Records parsed,
                       dataset::ParseJsonl(dataset::DatasetKind::kExpert, text, parse));
      double seconds = SecondsSince(start);
      cpu = CpuSeconds() - cpu;
      rows.push_back({absl::StrFormat("JSONL parse+validate only, %d thread%s (reference)", count,
                                      count == 1 ? "" : "s"),
                      absl::StrFormat("%.1f MB/s (%.2f s, %.2f CPU-s)", file_bytes / 1e6 / seconds,
                                      seconds, cpu),
                      "-"});
    }
  }

  // 3. Sampling over gRPC, in-process server on loopback.
  ExpertBufferGrpcService service(core.get());
  rpc::ServerOptions server_options;
  server_options.service_name = "expert-buffer-bench";
  server_options.host = "127.0.0.1";
  server_options.port = 0;
  ASSIGN_OR_RETURN(auto runner, rpc::ServerRunner::Start(server_options, {&service}));
  ASSIGN_OR_RETURN(auto client, GrpcExpertBufferClient::Create(runner->address()));
  RETURN_IF_ERROR(client->WaitForServing(absl::Seconds(10)));
  const double sample_seconds = absl::GetFlag(FLAGS_sample_seconds);
  for (int n : batch_sizes) {
    chord::v1::SampleRequest request;
    request.set_dataset("bench");
    request.set_n(n);
    request.set_seed(7);
    int64_t drawn = 0, calls = 0;
    double bytes = 0;
    start = Clock::now();
    while (SecondsSince(start) < sample_seconds) {
      ASSIGN_OR_RETURN(chord::v1::SampleExpertResponse response, client->SampleExpert(request));
      drawn += response.samples_size();
      bytes += static_cast<double>(response.ByteSizeLong());
      ++calls;
      request.set_cursor(response.next_cursor());
    }
    double seconds = SecondsSince(start);
    rows.push_back(
        {absl::StrFormat("SampleExpert over gRPC, n=%d (%lld calls)", n,
                         static_cast<long long>(calls)),
         absl::StrFormat("%s records/s (%.0f MB/s, %.2f ms/call)",
                         Thousands(static_cast<double>(drawn) / seconds), bytes / 1e6 / seconds,
                         1e3 * seconds / static_cast<double>(calls)),
         ">= 20k records/s"});
  }
  runner->Shutdown();

  std::printf("chord-bench-expert-buffer: %.1f MB expert JSONL, %lld records, %u CPUs\n\n",
              file_bytes / 1e6, static_cast<long long>(records),
              std::thread::hardware_concurrency());
  PrintTable(rows);
  return absl::OkStatus();
}

}  // namespace
}  // namespace chord::expert_buffer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "chord-bench-expert-buffer: JSONL load rate and gRPC sampling rate of the expert buffer.\n"
      "Usage: chord-bench-expert-buffer [--size_mb=200] [--batch_sizes=64,1024]");
  absl::ParseCommandLine(argc, argv);
  absl::Status status = chord::expert_buffer::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "chord-bench-expert-buffer: error: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
