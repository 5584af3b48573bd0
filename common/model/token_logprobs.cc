#include "common/model/token_logprobs.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

namespace chord::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

int64_t ChunkRows(int64_t vocab, int64_t max_chunk_elements) {
  return std::max<int64_t>(1, max_chunk_elements / std::max<int64_t>(1, vocab));
}

// Scaled float32 logits of rows [begin, begin + n).
torch::Tensor ChunkLogits(const torch::Tensor& hidden, const torch::Tensor& weight, int64_t begin,
                          int64_t n, double temperature) {
  torch::Tensor z = torch::matmul(hidden.narrow(0, begin, n), weight.t()).to(torch::kFloat32);
  if (temperature != 1.0) z = z / temperature;
  return z;
}

TokenLogprobsResult ForwardChunks(const torch::Tensor& hidden, const torch::Tensor& weight,
                                  const torch::Tensor& targets, double temperature,
                                  bool with_entropy, int64_t chunk_rows) {
  const int64_t rows = hidden.size(0);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(hidden.device());
  TokenLogprobsResult out;
  out.logprobs = torch::empty({rows}, f32);
  if (with_entropy) out.entropy = torch::empty({rows}, f32);
  for (int64_t begin = 0; begin < rows; begin += chunk_rows) {
    const int64_t n = std::min(chunk_rows, rows - begin);
    torch::Tensor z = ChunkLogits(hidden, weight, begin, n, temperature);
    torch::Tensor lse = z.logsumexp(-1);
    torch::Tensor t = targets.narrow(0, begin, n).unsqueeze(1);
    out.logprobs.narrow(0, begin, n).copy_(z.gather(1, t).squeeze(1) - lse);
    if (with_entropy) {
      torch::Tensor p = (z - lse.unsqueeze(1)).exp();
      out.entropy.narrow(0, begin, n).copy_(lse - (p * z).sum(-1));
    }
  }
  return out;
}

class ChunkedLogprobFunction : public torch::autograd::Function<ChunkedLogprobFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& hidden,
                               const torch::Tensor& weight, const torch::Tensor& targets,
                               double temperature, bool with_entropy, int64_t chunk_rows) {
    ctx->save_for_backward({hidden, weight, targets});
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["with_entropy"] = with_entropy;
    ctx->saved_data["chunk_rows"] = chunk_rows;
    ctx->saved_data["hidden_grad"] = hidden.requires_grad();
    ctx->saved_data["weight_grad"] = weight.requires_grad();
    TokenLogprobsResult r =
        ForwardChunks(hidden, weight, targets, temperature, with_entropy, chunk_rows);
    if (with_entropy) return {r.logprobs, r.entropy};
    return {r.logprobs};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& hidden = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& targets = saved[2];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const bool with_entropy = ctx->saved_data["with_entropy"].toBool();
    const int64_t chunk_rows = ctx->saved_data["chunk_rows"].toInt();
    const bool hidden_grad = ctx->saved_data["hidden_grad"].toBool();
    const bool weight_grad = ctx->saved_data["weight_grad"].toBool();
    const torch::Tensor& g_logp = grad_outputs[0];
    const torch::Tensor g_ent = with_entropy ? grad_outputs[1] : torch::Tensor();

    const int64_t rows = hidden.size(0);
    torch::Tensor grad_hidden = hidden_grad ? torch::zeros_like(hidden) : torch::Tensor();
    // Accumulate the weight gradient in float32 whatever the compute dtype.
    torch::Tensor grad_weight =
        weight_grad ? torch::zeros(weight.sizes(), weight.options().dtype(torch::kFloat32))
                    : torch::Tensor();
    for (int64_t begin = 0; begin < rows; begin += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - begin);
      torch::Tensor z = ChunkLogits(hidden, weight, begin, n, temperature);
      torch::Tensor logp_all = z - z.logsumexp(-1, /*keepdim=*/true);
      torch::Tensor p = logp_all.exp();
      torch::Tensor dz;  // d loss / d z, [n, V]
      if (g_logp.defined()) {
        torch::Tensor g = g_logp.narrow(0, begin, n).to(torch::kFloat32).unsqueeze(1);
        dz = -p * g;
        dz.scatter_add_(1, targets.narrow(0, begin, n).unsqueeze(1), g);
      } else {
        dz = torch::zeros_like(z);
      }
      if (g_ent.defined()) {
        // H = -sum p log p; dH/dz_j = -p_j (log p_j + H).
        torch::Tensor entropy = -(p * logp_all).sum(-1, /*keepdim=*/true);
        torch::Tensor g = g_ent.narrow(0, begin, n).to(torch::kFloat32).unsqueeze(1);
        dz = dz - p * (logp_all + entropy) * g;
      }
      if (temperature != 1.0) dz = dz / temperature;
      torch::Tensor h = hidden.narrow(0, begin, n);
      if (hidden_grad) {
        grad_hidden.narrow(0, begin, n).copy_(torch::matmul(dz.to(weight.scalar_type()), weight));
      }
      if (weight_grad) grad_weight.add_(torch::matmul(dz.t(), h.to(torch::kFloat32)));
    }
    if (weight_grad) grad_weight = grad_weight.to(weight.scalar_type());
    return {grad_hidden,     grad_weight,     torch::Tensor(),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

TokenLogprobsResult ChunkedTokenLogprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                         const torch::Tensor& targets, double temperature,
                                         bool with_entropy, int64_t max_chunk_elements) {
  const int64_t chunk_rows = ChunkRows(weight.size(0), max_chunk_elements);
  const bool needs_graph =
      at::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad());
  if (!needs_graph) {
    return ForwardChunks(hidden, weight, targets, temperature, with_entropy, chunk_rows);
  }
  variable_list out =
      ChunkedLogprobFunction::apply(hidden, weight, targets, temperature, with_entropy, chunk_rows);
  TokenLogprobsResult r;
  r.logprobs = out[0];
  if (with_entropy) r.entropy = out[1];
  return r;
}

}  // namespace chord::model
