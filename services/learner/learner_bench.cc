// chord-bench-learner: learner step throughput and peak RSS (tiny preset, Qwen2.5-0.5B shape),
// the share of step time spent outside LibTorch operators, and the Gloo gradient all-reduce
// throughput between 2 processes on loopback. Prints tables (docs/learner.md records figures).
//
//   chord-bench-learner                                   # tiny model + all-reduce (< 1 min)
//   chord-bench-learner --models=tiny,qwen2.5-0.5b        # + the 0.5B shape (~10 GB RAM)
//
// Rank 1 of the all-reduce is this binary started again with CHORD_BENCH_LEARNER_WORKER=allreduce.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/bench/process_stats.h"
#include "common/dist/process_group.h"
#include "common/model/causal_lm.h"
#include "common/model/model_config.h"
#include "common/model/tiny_preset.h"
#include "common/status/status_macros.h"
#include "services/learner/learner_rank.h"

ABSL_FLAG(std::string, models, "tiny",
          "Comma-separated model shapes to time: tiny, qwen2.5-0.5b (random weights).");
ABSL_FLAG(int, tiny_rows, 64, "Rows per step for the tiny model.");
ABSL_FLAG(int, tiny_tokens, 64, "Tokens per row (prompt + response) for the tiny model.");
ABSL_FLAG(int, tiny_steps, 5, "Steps for the tiny model (the first is a warm-up).");
ABSL_FLAG(int, big_rows, 4, "Rows per step for the 0.5B shape.");
ABSL_FLAG(int, big_tokens, 128, "Tokens per row for the 0.5B shape.");
ABSL_FLAG(int, big_steps, 3, "Steps for the 0.5B shape (the first is a warm-up).");
ABSL_FLAG(std::string, allreduce_mb, "25,100",
          "Bucket sizes (MB) of the 2-process Gloo all-reduce; empty to skip.");
ABSL_FLAG(int, allreduce_iters, 5, "Timed all-reduces per bucket size (after one warm-up).");
ABSL_FLAG(int, threads, 0, "LibTorch intra-op threads (0 = the number of cores).");

namespace chord::learner {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// ---- Time inside top-level LibTorch operators (RecordFunction, FUNCTION scope) -------------
// Only the thread that runs the step is measured (intra-op worker threads run inside its
// operators); nested operators are inside their parent's time.
thread_local bool t_measured_thread = false;
thread_local int t_depth = 0;
thread_local Clock::time_point t_op_start;
thread_local int64_t t_op_ns = 0;

std::unique_ptr<at::ObserverContext> OnOpStart(const at::RecordFunction& /*fn*/) {
  if (t_measured_thread && t_depth++ == 0) t_op_start = Clock::now();
  return nullptr;
}

void OnOpEnd(const at::RecordFunction& /*fn*/, at::ObserverContext* /*ctx*/) {
  if (t_measured_thread && --t_depth == 0) {
    t_op_ns +=
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t_op_start).count();
  }
}

// ---- Memory --------------------------------------------------------------------------------
double PeakRssGb() { return static_cast<double>(bench::PeakRssBytes()) / (1 << 30); }

// ---- Learner step --------------------------------------------------------------------------
struct Shape {
  std::string name;
  model::ModelConfig config;
  int rows = 0;
  int tokens = 0;
  int steps = 0;
};

// Qwen/Qwen2.5-0.5B's config.json.
model::ModelConfig Qwen05BConfig() {
  model::ModelConfig c;
  c.vocab_size = 151936;
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32768;
  c.rope_theta = 1000000.0;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = true;
  c.pad_token_id = 151643;
  return c;
}

// `rows` rows of `tokens` tokens (a quarter prompt), one in five an expert row.
std::vector<algorithm::TrainingRow> BenchRows(int rows, int tokens, int64_t vocab, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<algorithm::TrainingRow> out;
  const int prompt = std::max(1, tokens / 4);
  for (int i = 0; i < rows; ++i) {
    algorithm::TrainingRow row;
    for (int t = 0; t < tokens; ++t) {
      const int32_t id = static_cast<int32_t>(1 + gen() % (vocab - 1));
      (t < prompt ? row.prompt_ids : row.response_ids).push_back(id);
    }
    row.is_expert = i % 5 == 4;
    if (!row.is_expert) {
      row.advantage = (i % 2 == 0) ? 1.0f : -1.0f;
      row.reward = i % 2 == 0 ? 1.0f : 0.0f;
    }
    out.push_back(std::move(row));
  }
  return out;
}

struct StepResult {
  std::string name;
  int64_t params = 0;
  int rows = 0;
  int tokens = 0;
  double first_step_s = 0;
  double step_s = 0;  // mean over the steps after the first
  double tokens_per_s = 0;
  double peak_rss_gb = 0;
  double outside_share = 0;
  absl::Status status;
};

StepResult TimeSteps(const Shape& shape) {
  StepResult result;
  result.name = shape.name;
  result.rows = shape.rows;
  result.tokens = shape.tokens;
  result.params = shape.config.NumParameters();
  bench::ResetPeakRss();
  auto fail = [&](const absl::Status& status) {
    result.status = status;
    return result;
  };
  auto group = dist::ProcessGroup::Create(dist::DistOptions());
  if (!group.ok()) return fail(group.status());
  auto rank = LearnerRank::Create(LearnerRankOptions(), group->get());
  if (!rank.ok()) return fail(rank.status());
  auto lm = model::CausalLM::CreateRandom(shape.config, /*seed=*/1);
  if (!lm.ok()) return fail(lm.status());
  absl::Status status = (*rank)->AdoptModel(*std::move(lm));
  if (!status.ok()) return fail(status);
  algorithm::Config config;
  config.optimizer.lr = 1e-6;
  config.batch.expert_data_ratio = 0.2;
  status = (*rank)->ResetOptimizer(config);
  if (!status.ok()) return fail(status);

  at::CallbackHandle handle = at::addGlobalCallback(at::RecordFunctionCallback(&OnOpStart, &OnOpEnd)
                                                        .needsInputs(false)
                                                        .scopes({at::RecordScope::FUNCTION}));
  t_measured_thread = true;
  double steady_wall = 0;
  int64_t steady_op_ns = 0;
  for (int step = 1; step <= shape.steps; ++step) {
    const auto rows =
        BenchRows(shape.rows, shape.tokens, shape.config.vocab_size, static_cast<uint32_t>(step));
    t_op_ns = 0;
    const Clock::time_point start = Clock::now();
    auto metrics = (*rank)->TrainStep(step, rows, config);
    const double wall = Seconds(Clock::now() - start);
    if (!metrics.ok()) {
      at::removeCallback(handle);
      return fail(metrics.status());
    }
    if (step == 1) {
      result.first_step_s = wall;
    } else {
      steady_wall += wall;
      steady_op_ns += t_op_ns;
    }
  }
  t_measured_thread = false;
  at::removeCallback(handle);
  const int timed = shape.steps - 1;
  if (timed > 0) {
    result.step_s = steady_wall / timed;
    result.tokens_per_s = static_cast<double>(shape.rows) * shape.tokens / result.step_s;
    result.outside_share = (steady_wall - steady_op_ns * 1e-9) / steady_wall;
  }
  result.peak_rss_gb = PeakRssGb();
  return result;
}

// ---- Gloo all-reduce between two processes --------------------------------------------------
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError("bind failed");
  }
  close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::vector<int64_t> AllReduceSizesMb() {
  std::vector<int64_t> sizes;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_allreduce_mb), ',', absl::SkipEmpty())) {
    int64_t mb = 0;
    if (absl::SimpleAtoi(part, &mb) && mb > 0) sizes.push_back(mb);
  }
  return sizes;
}

// Both ranks run this; returns the mean seconds per all-reduce for each size.
absl::StatusOr<std::vector<double>> RunAllReduces(dist::ProcessGroup& group,
                                                  const std::vector<int64_t>& sizes_mb, int iters) {
  std::vector<double> seconds;
  for (int64_t mb : sizes_mb) {
    std::vector<at::Tensor> bucket{at::ones({mb * 1000 * 1000 / 4}, at::kFloat)};
    absl::Status status = group.AllReduceSum(bucket);  // warm-up (connections, pages)
    if (!status.ok()) return status;
    status = group.Barrier();
    if (!status.ok()) return status;
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < iters; ++i) {
      status = group.AllReduceSum(bucket);
      if (!status.ok()) return status;
    }
    seconds.push_back(Seconds(Clock::now() - start) / iters);
  }
  return seconds;
}

dist::DistOptions TwoRanks(int rank, int port) {
  dist::DistOptions options;
  options.master_port = port;
  options.rank = rank;
  options.world_size = 2;
  options.timeout = absl::Seconds(300);
  return options;
}

int RunAllReduceWorker() {
  auto options = dist::DistOptionsFromProcessEnv();
  if (!options.ok()) return 10;
  options->timeout = absl::Seconds(300);
  auto group = dist::ProcessGroup::Create(*options);
  if (!group.ok()) {
    std::fprintf(stderr, "worker: %s\n", group.status().ToString().c_str());
    return 11;
  }
  auto seconds = RunAllReduces(**group, AllReduceSizesMb(), absl::GetFlag(FLAGS_allreduce_iters));
  return seconds.ok() ? 0 : 12;
}

absl::StatusOr<std::vector<double>> TimeAllReduce(const std::string& self,
                                                  const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(const int port, FreePort());
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
  for (const std::string& extra :
       {std::string("CHORD_BENCH_LEARNER_WORKER=allreduce"), std::string("MASTER_ADDR=127.0.0.1"),
        absl::StrCat("MASTER_PORT=", port), std::string("RANK=1"), std::string("WORLD_SIZE=2")}) {
    env_strings.push_back(extra);
  }
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = args;
  argv_strings[0] = self;
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), envp.data()) != 0) {
    return absl::InternalError("cannot start the rank-1 process");
  }
  auto group = dist::ProcessGroup::Create(TwoRanks(0, port));
  absl::StatusOr<std::vector<double>> seconds =
      group.ok() ? RunAllReduces(**group, AllReduceSizesMb(), absl::GetFlag(FLAGS_allreduce_iters))
                 : absl::StatusOr<std::vector<double>>(group.status());
  if (!seconds.ok()) kill(pid, SIGTERM);
  int wait_status = 0;
  waitpid(pid, &wait_status, 0);
  if (seconds.ok() && !(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0)) {
    return absl::InternalError("the rank-1 process failed");
  }
  return seconds;
}

int Main(int argc, char** argv) {
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  at::set_num_threads(threads);
  if (const char* worker = std::getenv("CHORD_BENCH_LEARNER_WORKER")) {
    return std::string(worker) == "allreduce" ? RunAllReduceWorker() : 2;
  }

  std::printf("chord-bench-learner: LibTorch %d.%d.%d, %d threads\n", TORCH_VERSION_MAJOR,
              TORCH_VERSION_MINOR, TORCH_VERSION_PATCH, at::get_num_threads());
  std::vector<Shape> shapes;
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_models), ',', absl::SkipEmpty())) {
    if (name == "tiny") {
      auto tiny = model::TinyModelConfig();
      if (!tiny.ok()) {
        std::fprintf(stderr, "%s\n", tiny.status().ToString().c_str());
        return 1;
      }
      shapes.push_back({"tiny preset", *tiny, absl::GetFlag(FLAGS_tiny_rows),
                        absl::GetFlag(FLAGS_tiny_tokens), absl::GetFlag(FLAGS_tiny_steps)});
    } else if (name == "qwen2.5-0.5b") {
      shapes.push_back({"Qwen2.5-0.5B shape", Qwen05BConfig(), absl::GetFlag(FLAGS_big_rows),
                        absl::GetFlag(FLAGS_big_tokens), absl::GetFlag(FLAGS_big_steps)});
    } else {
      std::fprintf(stderr, "--models: unknown shape \"%s\" (tiny, qwen2.5-0.5b)\n",
                   std::string(name).c_str());
      return 2;
    }
  }
  int exit_code = 0;
  if (!shapes.empty()) {
    std::printf(
        "\nLearner step (1 rank, CPU, float32, AdamW; first step = warm-up, then the mean):\n");
    std::printf(
        "| model | params | rows x tokens | first step s | step s | tokens/s | peak RSS GB "
        "| outside LibTorch ops |\n|---|---|---|---|---|---|---|---|\n");
    for (const Shape& shape : shapes) {
      const StepResult r = TimeSteps(shape);
      if (!r.status.ok()) {
        std::printf("| %s | failed: %s |\n", r.name.c_str(), r.status.ToString().c_str());
        exit_code = 1;
        continue;
      }
      std::printf("| %s | %.1fM | %d x %d | %.3f | %.3f | %.0f | %.2f | %.1f%% |\n", r.name.c_str(),
                  r.params / 1e6, r.rows, r.tokens, r.first_step_s, r.step_s, r.tokens_per_s,
                  r.peak_rss_gb, 100.0 * r.outside_share);
      std::fflush(stdout);
    }
  }
  const std::vector<int64_t> sizes = AllReduceSizesMb();
  if (!sizes.empty()) {
    std::vector<std::string> args(argv, argv + argc);
    auto seconds = TimeAllReduce(args[0], args);
    std::printf("\nGradient all-reduce, 2 processes, Gloo over loopback (float32 sum, %d iters):\n",
                absl::GetFlag(FLAGS_allreduce_iters));
    std::printf("| bucket MB | ms per all-reduce | MB/s (bucket / time) |\n|---|---|---|\n");
    if (!seconds.ok()) {
      std::printf("| failed: %s |\n", seconds.status().ToString().c_str());
      exit_code = 1;
    } else {
      for (size_t i = 0; i < sizes.size(); ++i) {
        std::printf("| %lld | %.1f | %.0f |\n", static_cast<long long>(sizes[i]),
                    (*seconds)[i] * 1e3, sizes[i] / (*seconds)[i]);
      }
    }
  }
  (void)positional;
  return exit_code;
}

}  // namespace
}  // namespace chord::learner

int main(int argc, char** argv) { return chord::learner::Main(argc, argv); }
