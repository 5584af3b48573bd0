// chord-bench-model: generation throughput, KV-cache decoding vs recomputing the prefix, and peak
// memory, for the tiny preset and a random-weight model with the Qwen2.5-0.5B shape (float32).
//
//   chord-bench-model                       # default: short runs (about a minute on 2 cores)
//   chord-bench-model --big_new_tokens=128  # longer 0.5B runs
//   chord-bench-model --shapes=tiny         # only the tiny model
//
// Prints markdown tables; docs/model.md records the figures.

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/bench/process_stats.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/model/tiny_preset.h"

ABSL_FLAG(std::string, shapes, "tiny,0.5b", "Models to run: tiny, 0.5b (comma-separated).");
ABSL_FLAG(std::string, batches, "1,8,32", "Batch sizes for the throughput table.");
ABSL_FLAG(int, prompt_tokens, 16, "Prompt length of every row.");
ABSL_FLAG(int, tiny_new_tokens, 128, "New tokens per row for the tiny model's throughput runs.");
ABSL_FLAG(int, big_new_tokens, 32, "New tokens per row for the 0.5B throughput runs.");
ABSL_FLAG(int, kv_new_tokens, 256, "New tokens for the tiny KV-cache vs recompute comparison.");
ABSL_FLAG(int, big_kv_new_tokens, 32, "New tokens for the 0.5B KV-cache vs recompute comparison.");
ABSL_FLAG(int, threads, 0, "torch intra-op threads (0 = all cores).");

namespace chord::model {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double Mb(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

ModelConfig Qwen05BConfig() {
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = 151936;
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_hidden_layers = 24;
  c.num_attention_heads = 14;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 32768;
  c.rope_theta = 1000000.0;
  c.tie_word_embeddings = true;
  return c;
}

std::vector<std::vector<int32_t>> Prompts(int rows, int length, int64_t vocab) {
  std::vector<std::vector<int32_t>> prompts(rows);
  uint64_t x = 12345;
  for (auto& p : prompts) {
    for (int t = 0; t < length; ++t) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      p.push_back(static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(vocab)));
    }
  }
  return prompts;
}

// Greedy decoding that recomputes the whole prefix every step (no cache).
std::vector<int32_t> RecomputeGreedy(CausalLM& lm, std::vector<int32_t> seq, int new_tokens) {
  c10::InferenceMode guard;
  std::vector<int32_t> out;
  for (int i = 0; i < new_tokens; ++i) {
    torch::Tensor ids = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end()))
                            .view({1, static_cast<int64_t>(seq.size())});
    torch::Tensor hidden = lm.Hidden(ids);
    const int32_t next = static_cast<int32_t>(
        lm.Logits(hidden.select(1, hidden.size(1) - 1)).argmax(-1).item<int64_t>());
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

struct MemoryRow {
  std::string model;
  int64_t weights = 0;
  int64_t cache = 0;
  int64_t baseline = 0;
  int64_t peak = 0;
  bool reset_ok = false;
};

int Run() {
  const int threads = absl::GetFlag(FLAGS_threads) > 0
                          ? absl::GetFlag(FLAGS_threads)
                          : static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(threads);
  std::vector<int> batches;
  for (absl::string_view b : absl::StrSplit(absl::GetFlag(FLAGS_batches), ',')) {
    int v = 0;
    if (absl::SimpleAtoi(b, &v) && v > 0) batches.push_back(v);
  }
  const int prompt_tokens = absl::GetFlag(FLAGS_prompt_tokens);
  std::printf(
      "chord-bench-model: LibTorch %s, %d threads, float32, prompt %d tokens, greedy=no "
      "(temperature 1)\n\n",
      TORCH_VERSION, threads, prompt_tokens);

  std::vector<std::string> throughput_rows;
  std::vector<std::string> kv_rows;
  std::vector<MemoryRow> memory_rows;
  for (absl::string_view shape : absl::StrSplit(absl::GetFlag(FLAGS_shapes), ',')) {
    const bool big = shape == "0.5b";
    if (!big && shape != "tiny") {
      std::fprintf(stderr, "unknown shape %s (tiny, 0.5b)\n", std::string(shape).c_str());
      return 2;
    }
    ModelConfig config;
    if (big) {
      config = Qwen05BConfig();
    } else {
      auto tiny = TinyModelConfig();
      if (!tiny.ok()) {
        std::fprintf(stderr, "%s\n", tiny.status().ToString().c_str());
        return 1;
      }
      config = *tiny;
    }
    const std::string name = big ? "Qwen2.5-0.5B shape" : "tiny preset";
    MemoryRow memory;
    memory.model = name;
    memory.baseline = bench::CurrentRssBytes();
    const auto created = Clock::now();
    auto lm_or = CausalLM::CreateRandom(config, 1);
    if (!lm_or.ok()) {
      std::fprintf(stderr, "%s\n", lm_or.status().ToString().c_str());
      return 1;
    }
    CausalLM& lm = **lm_or;
    std::fprintf(stderr, "[%s] created %.1f M parameters in %.1f s\n", name.c_str(),
                 config.NumParameters() / 1e6, Seconds(created));
    memory.weights = lm.ParameterBytes();
    memory.reset_ok = bench::ResetPeakRss();

    const int new_tokens = absl::GetFlag(big ? FLAGS_big_new_tokens : FLAGS_tiny_new_tokens);
    for (int batch : batches) {
      SamplingOptions s;
      s.max_new_tokens = new_tokens;
      s.seed = 1;
      GenerationOptions g;
      g.max_batch_size = batch;
      g.max_batch_tokens = int64_t{batch} * (prompt_tokens + new_tokens);
      const auto prompts = Prompts(batch, prompt_tokens, config.vocab_size);
      const auto start = Clock::now();
      auto out = Generate(lm, prompts, 1, s, g);
      const double secs = Seconds(start);
      if (!out.ok()) {
        std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
        return 1;
      }
      int64_t generated = 0;
      for (const auto& seq : *out) generated += static_cast<int64_t>(seq.tokens.size());
      char row[256];
      std::snprintf(row, sizeof(row), "| %s | %d | %d | %lld | %.2f | %.1f |", name.c_str(), batch,
                    new_tokens, static_cast<long long>(generated), secs, generated / secs);
      throughput_rows.push_back(row);
      std::fprintf(stderr, "%s\n", row);
      memory.cache =
          std::max<int64_t>(memory.cache, KVCache::BytesPerPosition(config, torch::kFloat32) *
                                              batch * (prompt_tokens + new_tokens));
    }
    memory.peak = bench::PeakRssBytes();
    memory_rows.push_back(memory);

    // KV cache vs recomputing the prefix, batch 1, greedy (the same tokens either way).
    const int kv_tokens = absl::GetFlag(big ? FLAGS_big_kv_new_tokens : FLAGS_kv_new_tokens);
    const auto prompt = Prompts(1, prompt_tokens, config.vocab_size);
    SamplingOptions greedy;
    greedy.temperature = 0.0f;
    greedy.max_new_tokens = kv_tokens;
    auto start = Clock::now();
    auto cached = Generate(lm, prompt, 1, greedy, {});
    const double cache_secs = Seconds(start);
    start = Clock::now();
    std::vector<int32_t> recomputed = RecomputeGreedy(lm, prompt[0], kv_tokens);
    const double recompute_secs = Seconds(start);
    if (!cached.ok()) return 1;
    char row[256];
    std::snprintf(row, sizeof(row), "| %s | 1 | %d | %.2f | %.2f | %.1fx | %s |", name.c_str(),
                  kv_tokens, cache_secs, recompute_secs, recompute_secs / cache_secs,
                  (*cached)[0].tokens == recomputed ? "yes" : "NO");
    kv_rows.push_back(row);
    std::fprintf(stderr, "%s\n", row);
  }

  std::printf("Generation throughput (sampling at temperature 1, KV cache, one batch):\n\n");
  std::printf("| model | batch | new tokens/row | tokens | seconds | tokens/s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& r : throughput_rows) std::printf("%s\n", r.c_str());
  std::printf("\nKV-cache decoding vs recomputing the full prefix every step (greedy):\n\n");
  std::printf(
      "| model | batch | new tokens | cache s | recompute s | cache speed-up | same tokens |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& r : kv_rows) std::printf("%s\n", r.c_str());
  std::printf(
      "\nPeak memory during the throughput runs (peak RSS reset after creating the model):\n\n");
  std::printf(
      "| model | weights MB | largest KV cache MB | RSS before model MB | peak RSS MB | "
      "peak / (weights + cache) | (peak - before) / (weights + cache) |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& m : memory_rows) {
    const double need = static_cast<double>(m.weights + m.cache);
    std::printf("| %s | %.1f | %.1f | %.1f | %.1f%s | %.2f | %.2f |\n", m.model.c_str(),
                Mb(m.weights), Mb(m.cache), Mb(m.baseline), Mb(m.peak),
                m.reset_ok ? "" : " (not reset)", m.peak / need, (m.peak - m.baseline) / need);
  }
  return 0;
}

}  // namespace
}  // namespace chord::model

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return chord::model::Run();
}
