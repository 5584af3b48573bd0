// chord-bench-flood: each service under a flood of requests (docs/benchmarks.md, "Flood").
//
// For each service (the real binary, started on 127.0.0.1 port 0 with its default limits):
//  1. idle RSS of the server process, once it serves;
//  2. the normal rate: one client calling back to back for --seconds (the learner is the only
//     caller of the reward service and the expert buffer; one user drives the JobService);
//  3. the flood: --clients concurrent clients on their own connections, paced together to
//     --factor times the normal rate, for --seconds; each call has a --deadline_ms deadline.
// It prints one row per service: the rates, how the calls were answered (OK, RESOURCE_EXHAUSTED,
// UNAVAILABLE, DEADLINE_EXCEEDED, other) and the server's peak RSS (VmHWM of its process, reset
// after the idle reading) against its idle RSS. Loopback only; bounded in time and calls.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "chord/v1/expert_buffer.grpc.pb.h"
#include "chord/v1/learner.grpc.pb.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/bench/process_stats.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "tests/support/child_process.h"

ABSL_FLAG(std::string, services, "reward,expert_buffer,learner",
          "Comma-separated services to flood: reward, expert_buffer, learner");
ABSL_FLAG(double, seconds, 5, "Length of the normal phase and of the flood, each");
ABSL_FLAG(int, clients, 300, "Concurrent clients of the flood (the default exceeds --max_threads)");
ABSL_FLAG(double, factor, 10, "Flood rate as a multiple of the normal rate");
ABSL_FLAG(int, deadline_ms, 2000, "Deadline of each call");
ABSL_FLAG(int, reward_items, 256, "Items per Score call");
ABSL_FLAG(int, sample_n, 256, "Records per SampleExpert call");
ABSL_FLAG(std::string, bin_dir, "", "Directory of the service binaries (default: this one's)");

namespace chord::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kClientsPerChannel = 16;

// One call of a client: returns its status code. `client` numbers the caller (0-based).
using Call = std::function<grpc::StatusCode(int client, absl::Time deadline)>;

struct Counts {
  int64_t ok = 0;
  int64_t exhausted = 0;
  int64_t unavailable = 0;
  int64_t deadline = 0;
  int64_t other = 0;
  int64_t total() const { return ok + exhausted + unavailable + deadline + other; }
};

struct AtomicCounts {
  std::atomic<int64_t> ok{0}, exhausted{0}, unavailable{0}, deadline{0}, other{0};
  void Add(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::OK:
        ++ok;
        break;
      case grpc::StatusCode::RESOURCE_EXHAUSTED:
        ++exhausted;
        break;
      case grpc::StatusCode::UNAVAILABLE:
        ++unavailable;
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        ++deadline;
        break;
      default:
        ++other;
    }
  }
  Counts Get() const {
    return {ok.load(), exhausted.load(), unavailable.load(), deadline.load(), other.load()};
  }
};

// Channels to `address`, each its own TCP connection.
std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& address, int clients) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < (clients + kClientsPerChannel - 1) / kClientsPerChannel; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("chord.bench.connection", i);  // distinct args: no shared subchannel
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

// Runs `clients` callers for `seconds`. `interval` > 0 paces each caller to one call per
// interval (a caller that falls behind calls back to back); 0 calls back to back.
Counts Drive(int clients, double seconds, absl::Duration interval, const Call& call,
             int deadline_ms) {
  AtomicCounts counts;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      // Callers start spread over one interval, not all at once.
      absl::Time next = start + interval * c / std::max(1, clients);
      while (true) {
        absl::Time now = absl::Now();
        if (now >= end) return;
        if (interval > absl::ZeroDuration() && next > now) {
          absl::SleepFor(next - now);
          if (absl::Now() >= end) return;
        }
        counts.Add(call(c, absl::Now() + absl::Milliseconds(deadline_ms)));
        next += interval;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return counts.Get();
}

void SetDeadline(grpc::ClientContext* context, absl::Time deadline) {
  context->set_deadline(absl::ToChronoTime(deadline));
}

struct Target {
  std::string name;
  std::string request;
  std::string binary;
  std::vector<std::string> args;
  // Prepares the service once it serves (e.g. loads a dataset); may be empty.
  std::function<bool(const std::string& address)> prepare;
  // Builds the call over the given channels.
  std::function<Call(const std::vector<std::shared_ptr<grpc::Channel>>&)> make_call;
};

std::string TinyModel(const std::string& dir) {
  fs::create_directories(dir + "/models/m");
  return dir + "/models/m";
}

std::vector<Target> Targets(const std::string& dir) {
  std::vector<Target> targets;
  {
    Target t;
    t.name = "reward";
    t.request = absl::StrCat("Score, ", absl::GetFlag(FLAGS_reward_items), " arithmetic items");
    t.binary = "chord-reward";
    t.args = {"--workers=2"};
    const int items = absl::GetFlag(FLAGS_reward_items);
    auto request = std::make_shared<chord::v1::ScoreRequest>();
    for (int i = 0; i < items; ++i) {
      chord::v1::ScoreItem* item = request->add_items();
      item->set_id(absl::StrCat("i", i));
      item->set_verifier("arithmetic");
      item->set_prompt(absl::StrCat("What is ", i, " + ", i, "?"));
      item->set_response(
          absl::StrCat("Adding them: ", i, " + ", i, " = ", 2 * i, "\n#### ", 2 * i));
      item->set_reference(absl::StrCat(2 * i));
    }
    t.make_call = [request](const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
      auto stubs = std::make_shared<std::vector<std::unique_ptr<chord::v1::RewardService::Stub>>>();
      for (const auto& channel : channels)
        stubs->push_back(chord::v1::RewardService::NewStub(channel));
      return [request, stubs](int client, absl::Time deadline) {
        grpc::ClientContext context;
        SetDeadline(&context, deadline);
        chord::v1::ScoreResponse response;
        return (*stubs)[client / kClientsPerChannel]
            ->Score(&context, *request, &response)
            .error_code();
      };
    };
    targets.push_back(std::move(t));
  }
  {
    Target t;
    t.name = "expert_buffer";
    t.request = absl::StrCat("SampleExpert, n = ", absl::GetFlag(FLAGS_sample_n));
    t.binary = "chord-expert-buffer";
    t.args = {"--data_root=" + dir};
    t.prepare = [](const std::string& address) {
      auto stub = chord::v1::ExpertBufferService::NewStub(
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
      chord::v1::LoadDatasetRequest request;
      request.set_name("demos");
      request.set_kind(chord::v1::DATASET_KIND_EXPERT);
      std::string content;
      for (int i = 0; i < 4096; ++i) {
        absl::StrAppend(&content, "{\"messages\":[{\"role\":\"user\",\"content\":\"What is ", i,
                        " + ", i, "?\"},{\"role\":\"assistant\",\"content\":\"", i, " + ", i, " = ",
                        2 * i, "\"}]}\n");
      }
      request.set_content(content);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      chord::v1::LoadDatasetResponse response;
      grpc::Status status = stub->LoadDataset(&context, request, &response);
      if (!status.ok()) std::fprintf(stderr, "LoadDataset: %s\n", status.error_message().c_str());
      return status.ok();
    };
    const int n = absl::GetFlag(FLAGS_sample_n);
    t.make_call = [n](const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
      auto stubs =
          std::make_shared<std::vector<std::unique_ptr<chord::v1::ExpertBufferService::Stub>>>();
      for (const auto& channel : channels) {
        stubs->push_back(chord::v1::ExpertBufferService::NewStub(channel));
      }
      return [n, stubs](int client, absl::Time deadline) {
        grpc::ClientContext context;
        SetDeadline(&context, deadline);
        chord::v1::SampleRequest request;
        request.set_dataset("demos");
        request.set_n(n);
        request.set_seed(static_cast<uint64_t>(client));
        chord::v1::SampleExpertResponse response;
        return (*stubs)[client / kClientsPerChannel]
            ->SampleExpert(&context, request, &response)
            .error_code();
      };
    };
    targets.push_back(std::move(t));
  }
  {
    Target t;
    t.name = "learner";
    t.request = "JobService Submit (new job each call)";
    t.binary = "chord-learner";
    const std::string model = TinyModel(dir);
    fs::create_directories(dir + "/learner-state");
    t.args = {"--state_dir=" + dir + "/learner-state", "--model_root=" + dir + "/models",
              "--torch_threads=1"};
    const std::string spec = absl::StrCat("name: flood\nmodel: ", model,
                                          "\nsteps: 1\ntrain_batch_size: 32\nalgorithm: "
                                          "{repeat_times: 4}\ndatasets:\n  tasks: {path: t.jsonl}\n"
                                          "  expert: {path: e.jsonl}\nverifier: arithmetic\n");
    t.make_call = [spec](const std::vector<std::shared_ptr<grpc::Channel>>& channels) {
      auto stubs = std::make_shared<std::vector<std::unique_ptr<chord::v1::JobService::Stub>>>();
      for (const auto& channel : channels)
        stubs->push_back(chord::v1::JobService::NewStub(channel));
      return [spec, stubs](int client, absl::Time deadline) {
        grpc::ClientContext context;
        SetDeadline(&context, deadline);
        chord::v1::SubmitJobRequest request;
        request.set_spec_yaml(spec);
        chord::v1::SubmitJobResponse response;
        return (*stubs)[client / kClientsPerChannel]
            ->Submit(&context, request, &response)
            .error_code();
      };
    };
    targets.push_back(std::move(t));
  }
  return targets;
}

double Mib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

int Run() {
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int clients = absl::GetFlag(FLAGS_clients);
  const double factor = absl::GetFlag(FLAGS_factor);
  const int deadline_ms = absl::GetFlag(FLAGS_deadline_ms);
  if (!(seconds > 0 && seconds <= 120) || clients < 1 || clients > 2000 || !(factor > 0) ||
      deadline_ms < 1) {
    std::fprintf(stderr,
                 "chord-bench-flood: --seconds in (0, 120], --clients in [1, 2000], --factor > 0, "
                 "--deadline_ms >= 1\n");
    return 2;
  }
  std::string bin_dir = absl::GetFlag(FLAGS_bin_dir);
  if (bin_dir.empty()) {
    std::error_code ec;
    bin_dir = fs::read_symlink("/proc/self/exe", ec).parent_path().string();
  }
  setenv("CHORD_BIN_DIR", bin_dir.c_str(), /*overwrite=*/0);
  std::vector<std::string> wanted =
      absl::StrSplit(absl::GetFlag(FLAGS_services), ',', absl::SkipEmpty());
  testing::TempDir dir;
  std::printf(
      "flood: %d clients paced to %.0fx the normal rate (one client back to back), %.0f s per "
      "phase, %d ms deadline per call; services with their default limits\n\n",
      clients, factor, seconds, deadline_ms);
  std::printf("%-14s %-40s %9s %9s %9s %8s %8s %8s %8s %8s %9s %9s\n", "service", "request",
              "normal/s", "target/s", "sent/s", "OK", "EXHAUST", "UNAVAIL", "DEADLINE", "other",
              "idle MiB", "peak MiB");
  int failures = 0;
  for (Target& target : Targets(dir.path())) {
    if (std::find(wanted.begin(), wanted.end(), target.name) == wanted.end()) continue;
    std::string run_dir = dir.File("run-" + target.name);
    fs::create_directories(run_dir);
    auto service = testing::StartService(target.binary, target.args, run_dir);
    if (!service.ok()) {
      std::fprintf(stderr, "%s: %s\n", target.name.c_str(),
                   std::string(service.status().message()).c_str());
      ++failures;
      continue;
    }
    const int pid = static_cast<int>(service->process->pid());
    if (target.prepare && !target.prepare(service->address())) {
      ++failures;
      continue;
    }
    absl::SleepFor(absl::Seconds(1));
    const int64_t idle = RssBytesOf(pid);
    ResetPeakRssOf(pid);

    auto normal_channels = Channels(service->address(), 1);
    Counts normal =
        Drive(1, seconds, absl::ZeroDuration(), target.make_call(normal_channels), deadline_ms);
    const double normal_rate = static_cast<double>(normal.ok) / seconds;
    const double target_rate = std::max(1.0, normal_rate * factor);
    const absl::Duration interval = absl::Seconds(clients / target_rate);
    auto flood_channels = Channels(service->address(), clients);
    const absl::Time flood_start = absl::Now();
    Counts flood = Drive(clients, seconds, interval, target.make_call(flood_channels), deadline_ms);
    const double flood_seconds = absl::ToDoubleSeconds(absl::Now() - flood_start);
    const int64_t peak = PeakRssBytesOf(pid);
    std::printf("%-14s %-40s %9.1f %9.1f %9.1f %8lld %8lld %8lld %8lld %8lld %9.1f %9.1f\n",
                target.name.c_str(), target.request.c_str(), normal_rate, target_rate,
                static_cast<double>(flood.total()) / flood_seconds,
                static_cast<long long>(flood.ok), static_cast<long long>(flood.exhausted),
                static_cast<long long>(flood.unavailable), static_cast<long long>(flood.deadline),
                static_cast<long long>(flood.other), Mib(idle), Mib(peak));
    std::fflush(stdout);
    flood_channels.clear();
    normal_channels.clear();
    if (!service->process->Running()) {
      std::fprintf(stderr, "%s: the server died under the flood\n", target.name.c_str());
      ++failures;
    }
    service->process->Stop(absl::Seconds(20));
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace chord::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "chord-bench-flood: floods each service on loopback and reports answers and peak RSS");
  absl::ParseCommandLine(argc, argv);
  return chord::bench::Run();
}
