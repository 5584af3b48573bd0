#include "common/model/generation.h"

#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/status/status_macros.h"

namespace chord::model {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

// The key of a row's random stream.
uint64_t RowKey(uint64_t seed, int prompt_index, int sample_index) {
  uint64_t k = SplitMix64(seed);
  k = SplitMix64(k ^ static_cast<uint64_t>(prompt_index));
  return SplitMix64(k ^ (static_cast<uint64_t>(sample_index) << 32));
}

// Uniform in (0, 1) for a row's `step`-th draw (counter-based: no state to carry).
double Uniform(uint64_t row_key, int step) {
  const uint64_t bits = SplitMix64(row_key ^ SplitMix64(static_cast<uint64_t>(step) + 1));
  return (static_cast<double>(bits >> 11) + 0.5) * (1.0 / 9007199254740992.0);  // 2^-53
}

struct Row {
  int prompt_index = 0;
  int sample_index = 0;
  uint64_t key = 0;
  const std::vector<int32_t>* prompt = nullptr;
  GeneratedSequence* out = nullptr;
  bool done = false;
};

absl::Status ValidateIds(const std::vector<int32_t>& ids, int64_t vocab, absl::string_view what) {
  if (ids.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": is empty"));
  for (size_t t = 0; t < ids.size(); ++t) {
    if (ids[t] < 0 || ids[t] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": token ", t, " has id ", ids[t],
                                                     " outside the vocabulary [0, ", vocab, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOptions(const GenerationOptions& o) {
  if (o.max_batch_tokens <= 0) {
    return absl::InvalidArgumentError("GenerationOptions.max_batch_tokens must be positive");
  }
  if (o.max_batch_size <= 0) {
    return absl::InvalidArgumentError("GenerationOptions.max_batch_size must be positive");
  }
  return absl::OkStatus();
}

absl::Status ValidateSampling(const SamplingOptions& s, int64_t vocab, bool have_decode) {
  if (!(s.temperature >= 0) || !std::isfinite(s.temperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.temperature: ", s.temperature, " must be >= 0"));
  }
  if (!(s.top_p > 0 && s.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.top_p: ", s.top_p, " must be in (0, 1]"));
  }
  if (s.top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling.top_k: ", s.top_k, " must be >= 0"));
  }
  if (s.max_new_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.max_new_tokens: ", s.max_new_tokens, " must be >= 0"));
  }
  for (int32_t id : s.stop_token_ids) {
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampling.stop_token_ids: ", id, " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  for (const std::string& s_str : s.stop_strings) {
    if (s_str.empty()) {
      return absl::InvalidArgumentError("sampling.stop_strings: empty stop string");
    }
  }
  if (!s.stop_strings.empty() && !have_decode) {
    return absl::InvalidArgumentError(
        "sampling.stop_strings: set, but no decode function was given");
  }
  return absl::OkStatus();
}

// Chooses the next token of each row from float32 logits [A, V] and reports its log-prob under
// log_softmax(logits / T) (T = 1 for greedy).
void SampleStep(const torch::Tensor& logits_in, const std::vector<Row*>& rows, int step,
                const SamplingOptions& s, std::vector<int32_t>* tokens,
                std::vector<float>* logprobs) {
  const torch::Tensor logits = logits_in.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t num_rows = logits.size(0);
  const int64_t vocab = logits.size(1);
  const bool greedy = s.temperature == 0.0f;
  const torch::Tensor scaled = greedy ? logits : logits / static_cast<double>(s.temperature);
  const torch::Tensor logp = torch::log_softmax(scaled, -1);
  torch::Tensor chosen;
  if (greedy) {
    chosen = logits.argmax(-1);
  } else {
    // Candidates: all tokens, or the top-k (sorted), or everything sorted (for top-p).
    torch::Tensor values;
    torch::Tensor index;
    if (s.top_k > 0 && s.top_k < vocab) {
      std::tie(values, index) = scaled.topk(s.top_k, -1, /*largest=*/true, /*sorted=*/true);
    } else if (s.top_p < 1.0f) {
      std::tie(values, index) = scaled.sort(-1, /*descending=*/true);
    }
    torch::Tensor probs;
    if (!values.defined()) {
      probs = logp.exp();
    } else {
      probs = torch::softmax(values, -1);
      if (s.top_p < 1.0f) {
        // Drop a candidate once the more likely ones already hold top_p of the mass.
        torch::Tensor before = probs.cumsum(-1) - probs;
        probs = probs.masked_fill(before >= static_cast<double>(s.top_p), 0.0);
      }
    }
    // Inverse CDF: the first candidate whose cumulative mass reaches u * total. With u in (0, 1)
    // the target is > 0 and <= total, so a zero-probability candidate is never picked.
    const torch::Tensor cdf = probs.cumsum(-1);
    const int64_t candidates = cdf.size(1);
    torch::Tensor u = torch::empty({num_rows, 1}, torch::kFloat64);
    auto u_acc = u.accessor<double, 2>();
    for (int64_t i = 0; i < num_rows; ++i) u_acc[i][0] = Uniform(rows[i]->key, step);
    torch::Tensor target = (u * cdf.narrow(1, candidates - 1, 1)).to(cdf.scalar_type());
    torch::Tensor pick = torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/false)
                             .clamp_max(candidates - 1);
    chosen = (index.defined() ? index.gather(1, pick) : pick).squeeze(1);
  }
  const torch::Tensor chosen_lp = logp.gather(1, chosen.unsqueeze(1)).squeeze(1).contiguous();
  const torch::Tensor chosen_i64 = chosen.to(torch::kInt64).contiguous();
  tokens->resize(num_rows);
  logprobs->resize(num_rows);
  for (int64_t i = 0; i < num_rows; ++i) {
    (*tokens)[i] = static_cast<int32_t>(chosen_i64.data_ptr<int64_t>()[i]);
    (*logprobs)[i] = chosen_lp.data_ptr<float>()[i];
  }
}

torch::Tensor IndexTensor(const std::vector<int64_t>& v, torch::Device device) {
  return torch::tensor(v, torch::kInt64).to(device);
}

absl::Status Stopped() { return absl::CancelledError("generation stopped: the caller gave up"); }

absl::Status RunBatch(CausalLM& model, const std::vector<Row*>& rows, const SamplingOptions& s,
                      const std::function<std::string(const std::vector<int32_t>&)>& decode,
                      const std::function<bool()>& should_stop) {
  c10::InferenceMode inference;
  const ModelConfig& config = model.config();
  const torch::Device device = model.device();

  // Each distinct prompt is prefilled once; its samples share the result.
  std::vector<const std::vector<int32_t>*> unique;
  std::map<int, int64_t> unique_of_prompt;
  std::vector<int64_t> row_to_unique;
  int64_t longest = 0;
  for (Row* row : rows) {
    auto [it, inserted] =
        unique_of_prompt.emplace(row->prompt_index, static_cast<int64_t>(unique.size()));
    if (inserted) unique.push_back(row->prompt);
    row_to_unique.push_back(it->second);
    longest = std::max<int64_t>(longest, static_cast<int64_t>(row->prompt->size()));
  }
  const int64_t num_unique = static_cast<int64_t>(unique.size());
  torch::Tensor ids = torch::zeros({num_unique, longest}, torch::kInt64);
  torch::Tensor mask = torch::zeros({num_unique, longest}, torch::kInt64);
  auto ids_acc = ids.accessor<int64_t, 2>();
  auto mask_acc = mask.accessor<int64_t, 2>();
  for (int64_t u = 0; u < num_unique; ++u) {
    const auto& prompt = *unique[u];
    const int64_t pad = longest - static_cast<int64_t>(prompt.size());
    for (size_t t = 0; t < prompt.size(); ++t) {
      ids_acc[u][pad + static_cast<int64_t>(t)] = prompt[t];
      mask_acc[u][pad + static_cast<int64_t>(t)] = 1;
    }
  }
  ASSIGN_OR_RETURN(auto cache, KVCache::Create(config, num_unique, longest + s.max_new_tokens,
                                               model.dtype(), device));
  torch::Tensor hidden = model.Hidden(ids, mask, {}, cache.get());
  torch::Tensor logits = model.Logits(hidden.select(1, longest - 1));
  if (num_unique != static_cast<int64_t>(rows.size())) {
    torch::Tensor index = IndexTensor(row_to_unique, device);
    RETURN_IF_ERROR(cache->SelectRows(index));
    logits = logits.index_select(0, index);
  }

  std::vector<Row*> active = rows;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  for (int step = 0;; ++step) {
    SampleStep(logits, active, step, s, &tokens, &logprobs);
    int64_t running = 0;
    int64_t finished_in_batch = 0;
    for (size_t i = 0; i < active.size(); ++i) {
      Row* row = active[i];
      if (row->done) {
        ++finished_in_batch;
        continue;
      }
      GeneratedSequence& out = *row->out;
      out.tokens.push_back(tokens[i]);
      out.logprobs.push_back(logprobs[i]);
      if (std::find(s.stop_token_ids.begin(), s.stop_token_ids.end(), tokens[i]) !=
          s.stop_token_ids.end()) {
        out.finish_reason = "stop";
      } else if (!s.stop_strings.empty()) {
        const std::string text = decode(out.tokens);
        for (const std::string& stop : s.stop_strings) {
          if (text.find(stop) != std::string::npos) {
            out.finish_reason = "stop_string";
            break;
          }
        }
      }
      if (out.finish_reason.empty() && static_cast<int>(out.tokens.size()) >= s.max_new_tokens) {
        out.finish_reason = "length";
      }
      if (!out.finish_reason.empty()) {
        row->done = true;
        ++finished_in_batch;
      } else {
        ++running;
      }
    }
    if (running == 0) break;
    if (should_stop && should_stop()) return Stopped();

    // Drop finished rows once they are a quarter of the batch (each drop copies the cache).
    if (finished_in_batch > 0 && finished_in_batch * 4 >= static_cast<int64_t>(active.size())) {
      std::vector<int64_t> keep;
      std::vector<Row*> still;
      std::vector<int32_t> kept_tokens;
      for (size_t i = 0; i < active.size(); ++i) {
        if (active[i]->done) continue;
        keep.push_back(static_cast<int64_t>(i));
        still.push_back(active[i]);
        kept_tokens.push_back(tokens[i]);
      }
      RETURN_IF_ERROR(cache->SelectRows(IndexTensor(keep, device)));
      active = std::move(still);
      tokens = std::move(kept_tokens);
    }
    torch::Tensor next =
        torch::tensor(std::vector<int64_t>(tokens.begin(), tokens.end()), torch::kInt64)
            .view({static_cast<int64_t>(tokens.size()), 1});
    hidden = model.Hidden(next, {}, {}, cache.get());
    logits = model.Logits(hidden.select(1, 0));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<GeneratedSequence>> Generate(
    CausalLM& model, const std::vector<std::vector<int32_t>>& prompts, int samples_per_prompt,
    const SamplingOptions& sampling, const GenerationOptions& options,
    const std::function<std::string(const std::vector<int32_t>&)>& decode) {
  const int64_t vocab = model.config().vocab_size;
  RETURN_IF_ERROR(ValidateOptions(options));
  RETURN_IF_ERROR(ValidateSampling(sampling, vocab, decode != nullptr));
  if (samples_per_prompt < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples_per_prompt: ", samples_per_prompt, " must be >= 1"));
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    RETURN_IF_ERROR(ValidateIds(prompts[i], vocab, absl::StrCat("prompts[", i, "]")));
    const int64_t need = static_cast<int64_t>(prompts[i].size()) + sampling.max_new_tokens;
    if (need > options.max_batch_tokens) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompts[", i, "]: ", prompts[i].size(), " tokens + max_new_tokens ",
          sampling.max_new_tokens, " exceed max_batch_tokens ", options.max_batch_tokens));
    }
  }

  std::vector<GeneratedSequence> results(prompts.size() * samples_per_prompt);
  std::vector<Row> rows(results.size());
  for (size_t p = 0; p < prompts.size(); ++p) {
    for (int s = 0; s < samples_per_prompt; ++s) {
      const size_t i = p * samples_per_prompt + s;
      results[i].prompt_index = static_cast<int>(p);
      results[i].sample_index = s;
      rows[i] = Row{static_cast<int>(p), s,           RowKey(sampling.seed, static_cast<int>(p), s),
                    &prompts[p],         &results[i], false};
    }
  }
  if (sampling.max_new_tokens == 0) {
    for (auto& r : results) r.finish_reason = "length";
    return results;
  }

  // Similar lengths share a batch (less padding); samples of a prompt stay together.
  std::vector<Row*> order;
  for (Row& r : rows) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](const Row* a, const Row* b) {
    return a->prompt->size() < b->prompt->size();
  });
  size_t begin = 0;
  while (begin < order.size()) {
    std::vector<Row*> batch;
    int64_t longest = 0;
    size_t end = begin;
    while (end < order.size()) {
      const int64_t len = std::max<int64_t>(longest, order[end]->prompt->size());
      const int64_t cost = static_cast<int64_t>(batch.size() + 1) * (len + sampling.max_new_tokens);
      if (!batch.empty() && (cost > options.max_batch_tokens ||
                             static_cast<int>(batch.size()) >= options.max_batch_size)) {
        break;
      }
      batch.push_back(order[end]);
      longest = len;
      ++end;
    }
    if (options.should_stop && options.should_stop()) return Stopped();
    if (options.on_batch) options.on_batch(static_cast<int>(batch.size()));
    try {
      RETURN_IF_ERROR(RunBatch(model, batch, sampling, decode, options.should_stop));
    } catch (const c10::Error& e) {
      return absl::InternalError(absl::StrCat("generation failed: ", e.what_without_backtrace()));
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("generation failed: ", e.what()));
    }
    begin = end;
  }
  return results;
}

absl::StatusOr<std::vector<std::vector<float>>> ComputeLogprobs(
    CausalLM& model, const std::vector<std::vector<int32_t>>& sequences,
    const std::vector<int>& starts, float temperature, const GenerationOptions& options) {
  RETURN_IF_ERROR(ValidateOptions(options));
  if (sequences.size() != starts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("starts: ", starts.size(), " entries for ", sequences.size(), " sequences"));
  }
  if (!(temperature >= 0) || !std::isfinite(temperature)) {
    return absl::InvalidArgumentError(absl::StrCat("temperature: ", temperature, " must be >= 0"));
  }
  if (temperature == 0.0f) temperature = 1.0f;
  const int64_t vocab = model.config().vocab_size;
  std::vector<size_t> order;
  for (size_t i = 0; i < sequences.size(); ++i) {
    RETURN_IF_ERROR(ValidateIds(sequences[i], vocab, absl::StrCat("sequences[", i, "]")));
    const int len = static_cast<int>(sequences[i].size());
    if (starts[i] < 1 || starts[i] > len) {
      return absl::InvalidArgumentError(
          absl::StrCat("starts[", i, "]: ", starts[i], " outside [1, ", len, "]"));
    }
    if (len > options.max_batch_tokens) {
      return absl::InvalidArgumentError(absl::StrCat("sequences[", i, "]: ", len,
                                                     " tokens exceed max_batch_tokens ",
                                                     options.max_batch_tokens));
    }
    if (starts[i] < len) order.push_back(i);
  }
  std::vector<std::vector<float>> results(sequences.size());
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sequences[a].size() < sequences[b].size(); });
  size_t begin = 0;
  while (begin < order.size()) {
    size_t end = begin;
    int64_t longest = 0;
    while (end < order.size()) {
      const int64_t len = std::max<int64_t>(longest, sequences[order[end]].size());
      const int64_t rows = static_cast<int64_t>(end - begin + 1);
      if (end > begin && (rows * len > options.max_batch_tokens || rows > options.max_batch_size)) {
        break;
      }
      longest = len;
      ++end;
    }
    if (options.should_stop && options.should_stop()) return Stopped();
    if (options.on_batch) options.on_batch(static_cast<int>(end - begin));
    try {
      c10::InferenceMode inference;
      const int64_t batch = static_cast<int64_t>(end - begin);
      torch::Tensor ids = torch::zeros({batch, longest}, torch::kInt64);
      torch::Tensor mask = torch::zeros({batch, longest}, torch::kInt64);
      auto ids_acc = ids.accessor<int64_t, 2>();
      auto mask_acc = mask.accessor<int64_t, 2>();
      for (int64_t b = 0; b < batch; ++b) {
        const auto& seq = sequences[order[begin + b]];
        for (size_t t = 0; t < seq.size(); ++t) {
          ids_acc[b][t] = seq[t];
          mask_acc[b][t] = 1;
        }
      }
      const torch::Tensor lp =
          model.TokenLogprobs(ids, mask, temperature).to(torch::kCPU).contiguous();
      auto lp_acc = lp.accessor<float, 2>();
      for (int64_t b = 0; b < batch; ++b) {
        const size_t i = order[begin + b];
        const int len = static_cast<int>(sequences[i].size());
        for (int t = starts[i]; t < len; ++t) results[i].push_back(lp_acc[b][t - 1]);
      }
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("computing log-probs failed: ", e.what_without_backtrace()));
    }
    begin = end;
  }
  return results;
}

}  // namespace chord::model
