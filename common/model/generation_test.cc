#include "common/model/generation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>

#include "common/model/model_test_util.h"

namespace chord::model {
namespace {

using ::testing::HasSubstr;

class GenerationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lm = CausalLM::CreateRandom(test::SmallQwen2Config(), 17);
    ASSERT_TRUE(lm.ok()) << lm.status();
    lm_ = std::move(*lm);
  }

  absl::StatusOr<std::vector<GeneratedSequence>> Run(
      const SamplingOptions& s, int samples = 1, const GenerationOptions& o = {},
      const std::function<std::string(const std::vector<int32_t>&)>& decode = nullptr) {
    return Generate(*lm_, prompts_, samples, s, o, decode);
  }

  // Greedy decoding by recomputing the whole prefix with Forward (no cache, no batching).
  std::vector<int32_t> NaiveGreedy(std::vector<int32_t> prompt, int steps) {
    torch::NoGradGuard no_grad;
    std::vector<int32_t> out;
    for (int i = 0; i < steps; ++i) {
      torch::Tensor ids = torch::tensor(std::vector<int64_t>(prompt.begin(), prompt.end()))
                              .view({1, static_cast<int64_t>(prompt.size())});
      const int32_t next = static_cast<int32_t>(lm_->Forward(ids)[0][-1].argmax().item<int64_t>());
      out.push_back(next);
      prompt.push_back(next);
    }
    return out;
  }

  std::unique_ptr<CausalLM> lm_;
  std::vector<std::vector<int32_t>> prompts_ = {
      {1, 2, 3}, {10, 20, 30, 40, 50, 60, 7}, {5}, {33, 34, 35, 36}};
};

void ExpectSameSequences(const std::vector<GeneratedSequence>& a,
                         const std::vector<GeneratedSequence>& b, float tol = 1e-4f) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt_index, b[i].prompt_index);
    EXPECT_EQ(a[i].sample_index, b[i].sample_index);
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "sequence " << i;
    EXPECT_EQ(a[i].finish_reason, b[i].finish_reason);
    ASSERT_EQ(a[i].logprobs.size(), b[i].logprobs.size());
    for (size_t t = 0; t < a[i].logprobs.size(); ++t) {
      EXPECT_NEAR(a[i].logprobs[t], b[i].logprobs[t], tol);
    }
  }
}

TEST_F(GenerationTest, GreedyIsDeterministicAndMatchesNaiveDecoding) {
  SamplingOptions s;
  s.temperature = 0.0f;
  s.max_new_tokens = 12;
  auto first = Run(s);
  auto second = Run(s);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok());
  ExpectSameSequences(*first, *second, 0.0f);
  for (size_t p = 0; p < prompts_.size(); ++p) {
    EXPECT_EQ((*first)[p].tokens, NaiveGreedy(prompts_[p], 12)) << "prompt " << p;
    EXPECT_EQ((*first)[p].finish_reason, "length");
  }
}

TEST_F(GenerationTest, LogprobsEqualComputeLogprobs) {
  struct Case {
    float temperature;
    int top_k;
    float top_p;
  };
  for (const Case& c : {Case{1.0f, 0, 1.0f}, Case{0.7f, 5, 0.9f}, Case{0.0f, 0, 1.0f}}) {
    SamplingOptions s;
    s.temperature = c.temperature;
    s.top_k = c.top_k;
    s.top_p = c.top_p;
    s.max_new_tokens = 10;
    s.seed = 5;
    auto gen = Run(s, 2);
    ASSERT_TRUE(gen.ok()) << gen.status();
    std::vector<std::vector<int32_t>> sequences;
    std::vector<int> starts;
    for (const auto& g : *gen) {
      std::vector<int32_t> seq = prompts_[g.prompt_index];
      starts.push_back(static_cast<int>(seq.size()));
      seq.insert(seq.end(), g.tokens.begin(), g.tokens.end());
      sequences.push_back(seq);
    }
    auto lp = ComputeLogprobs(*lm_, sequences, starts, c.temperature);
    ASSERT_TRUE(lp.ok()) << lp.status();
    for (size_t i = 0; i < gen->size(); ++i) {
      ASSERT_EQ((*lp)[i].size(), (*gen)[i].logprobs.size());
      for (size_t t = 0; t < (*lp)[i].size(); ++t) {
        EXPECT_NEAR((*lp)[i][t], (*gen)[i].logprobs[t], 1e-4)
            << "T=" << c.temperature << " sequence " << i << " token " << t;
      }
    }
  }
}

TEST_F(GenerationTest, SamplesFollowTheFilteredDistribution) {
  // First-token frequencies over many samples against the model's own probabilities.
  const std::vector<int32_t> prompt = {4, 8, 15, 16, 23, 42};
  torch::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    logits = lm_->Forward(torch::tensor({4, 8, 15, 16, 23, 42}).view({1, 6}))[0][-1];
  }
  struct Case {
    float temperature;
    int top_k;
    float top_p;
  };
  for (const Case& c : {Case{0.5f, 0, 1.0f}, Case{1.0f, 5, 1.0f}, Case{1.0f, 0, 0.5f}}) {
    torch::Tensor p = torch::softmax(logits / c.temperature, -1);
    torch::Tensor sorted, order;
    std::tie(sorted, order) = p.sort(-1, true);
    torch::Tensor keep = torch::zeros_like(p, torch::kBool);
    const torch::Tensor before = sorted.cumsum(-1) - sorted;
    for (int64_t i = 0; i < p.size(0); ++i) {
      const bool in_k = c.top_k == 0 || i < c.top_k;
      const bool in_p = before[i].item<float>() < c.top_p;
      if (in_k && in_p) keep[order[i].item<int64_t>()] = true;
    }
    torch::Tensor expected = p * keep;
    expected = expected / expected.sum();

    SamplingOptions s;
    s.temperature = c.temperature;
    s.top_k = c.top_k;
    s.top_p = c.top_p;
    s.max_new_tokens = 1;
    s.seed = 2024;
    const int n = 8000;
    auto out = Generate(*lm_, {prompt}, n, s, {});
    ASSERT_TRUE(out.ok()) << out.status();
    torch::Tensor counts = torch::zeros_like(p);
    for (const auto& seq : *out) {
      ASSERT_EQ(seq.tokens.size(), 1u);
      const int32_t t = seq.tokens[0];
      EXPECT_TRUE(keep[t].item<bool>()) << "sampled a filtered-out token " << t;
      counts[t] += 1.0;
      // The reported log-prob is the unfiltered temperature distribution's.
      EXPECT_NEAR(seq.logprobs[0], std::log(p[t].item<float>()), 1e-4);
    }
    const double total_variation = 0.5 * (counts / n - expected).abs().sum().item<double>();
    EXPECT_LT(total_variation, 0.06)
        << "T=" << c.temperature << " k=" << c.top_k << " p=" << c.top_p;
  }
}

TEST_F(GenerationTest, TopKOneEqualsGreedy) {
  SamplingOptions greedy;
  greedy.temperature = 0.0f;
  greedy.max_new_tokens = 8;
  SamplingOptions top1 = greedy;
  top1.temperature = 1.0f;
  top1.top_k = 1;
  top1.seed = 99;
  auto a = Run(greedy);
  auto b = Run(top1, 2);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  for (size_t p = 0; p < prompts_.size(); ++p) {
    for (int s = 0; s < 2; ++s) {
      EXPECT_EQ((*b)[p * 2 + s].tokens, (*a)[p].tokens);
      // Greedy reports log-probs at temperature 1, the same distribution as top1 here.
      for (size_t t = 0; t < (*a)[p].logprobs.size(); ++t) {
        EXPECT_NEAR((*b)[p * 2 + s].logprobs[t], (*a)[p].logprobs[t], 1e-5);
      }
    }
  }
}

TEST_F(GenerationTest, SameSeedSameOutputDifferentSeedDiffers) {
  SamplingOptions s;
  s.max_new_tokens = 16;
  s.seed = 1234;
  auto a = Run(s, 3);
  auto b = Run(s, 3);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  ExpectSameSequences(*a, *b, 0.0f);
  // Samples of one prompt differ from each other, and another seed changes the output.
  EXPECT_NE((*a)[0].tokens, (*a)[1].tokens);
  s.seed = 4321;
  auto c = Run(s, 3);
  ASSERT_TRUE(c.ok());
  int differing = 0;
  for (size_t i = 0; i < a->size(); ++i) differing += (*a)[i].tokens != (*c)[i].tokens;
  EXPECT_GT(differing, 0);
}

TEST_F(GenerationTest, TokenBudgetSplitsBatchesWithoutChangingResults) {
  for (float temperature : {0.0f, 1.0f}) {
    SamplingOptions s;
    s.temperature = temperature;
    s.max_new_tokens = 10;
    s.seed = 77;
    GenerationOptions one_batch;
    auto whole = Run(s, 3, one_batch);
    ASSERT_TRUE(whole.ok()) << whole.status();
    GenerationOptions small;
    small.max_batch_tokens = 40;  // at most 2 rows of (7 + 10) tokens per batch
    auto split = Run(s, 3, small);
    ASSERT_TRUE(split.ok()) << split.status();
    ExpectSameSequences(*whole, *split);
    GenerationOptions narrow;
    narrow.max_batch_size = 1;
    auto single = Run(s, 3, narrow);
    ASSERT_TRUE(single.ok());
    ExpectSameSequences(*whole, *single);
  }
}

TEST_F(GenerationTest, ResultsDoNotDependOnOtherPrompts) {
  SamplingOptions s;
  s.max_new_tokens = 10;
  s.seed = 8;
  auto all = Run(s, 2);
  ASSERT_TRUE(all.ok());
  // The first two prompts without the others (so in other batches, with other padding) give
  // the same samples at the same indices.
  std::vector<std::vector<int32_t>> prompts(prompts_.begin(), prompts_.begin() + 2);
  auto fewer = Generate(*lm_, prompts, 2, s, {});
  ASSERT_TRUE(fewer.ok());
  std::vector<GeneratedSequence> head(all->begin(), all->begin() + 4);
  ExpectSameSequences(head, *fewer);
}

TEST_F(GenerationTest, StopTokenEndsGenerationAndIsKept) {
  SamplingOptions s;
  s.temperature = 0.0f;
  s.max_new_tokens = 12;
  auto free_run = Run(s);
  ASSERT_TRUE(free_run.ok());
  // Stop on the 4th greedy token of prompt 0: generation ends right there with "stop".
  const int32_t stop = (*free_run)[0].tokens[3];
  s.stop_token_ids = {stop};
  auto stopped = Run(s);
  ASSERT_TRUE(stopped.ok());
  const auto& row = (*stopped)[0];
  EXPECT_EQ(row.finish_reason, "stop");
  ASSERT_FALSE(row.tokens.empty());
  EXPECT_EQ(row.tokens.back(), stop);
  EXPECT_LE(row.tokens.size(), 4u);
  EXPECT_EQ(row.logprobs.size(), row.tokens.size());
  // The other rows continue unaffected up to their own stop or the length limit.
  for (size_t p = 1; p < prompts_.size(); ++p) {
    const auto& r = (*stopped)[p];
    const auto& f = (*free_run)[p];
    ASSERT_LE(r.tokens.size(), f.tokens.size());
    EXPECT_TRUE(std::equal(r.tokens.begin(), r.tokens.end(), f.tokens.begin()));
    EXPECT_EQ(r.finish_reason,
              r.tokens.size() < f.tokens.size() || r.tokens.back() == stop ? "stop" : "length");
  }
}

TEST_F(GenerationTest, StopStringEndsGeneration) {
  // Decode each id as a letter: the text of a sequence is one character per token.
  auto decode = [](const std::vector<int32_t>& ids) {
    std::string text;
    for (int32_t id : ids) text.push_back(static_cast<char>('A' + id % 26));
    return text;
  };
  SamplingOptions s;
  s.temperature = 0.0f;
  s.max_new_tokens = 12;
  auto free_run = Run(s);
  ASSERT_TRUE(free_run.ok());
  const std::string text = decode((*free_run)[1].tokens);
  const std::string stop = text.substr(3, 2);  // spans the 4th and 5th tokens
  s.stop_strings = {stop};
  auto stopped = Run(s, 1, {}, decode);
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  const auto& row = (*stopped)[1];
  EXPECT_EQ(row.finish_reason, "stop_string");
  EXPECT_LE(row.tokens.size(), 5u);
  EXPECT_NE(decode(row.tokens).find(stop), std::string::npos);
  EXPECT_EQ(decode(row.tokens).find(stop) + stop.size(), decode(row.tokens).size())
      << "generation stops at the token completing the stop string";

  // Stop strings need a decoder.
  EXPECT_EQ(Run(s).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(GenerationTest, RefusesBadRequests) {
  SamplingOptions s;
  s.max_new_tokens = 4;
  auto status = Generate(*lm_, {{1, 2}, {}}, 1, s, {}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("prompts[1]"));
  status = Generate(*lm_, {{1, 61}}, 1, s, {}).status();
  EXPECT_THAT(status.message(), HasSubstr("61"));
  GenerationOptions tiny_budget;
  tiny_budget.max_batch_tokens = 5;
  status = Generate(*lm_, {{1, 2}}, 1, s, tiny_budget).status();
  EXPECT_THAT(status.message(), HasSubstr("max_batch_tokens"));
  SamplingOptions bad = s;
  bad.top_p = 0.0f;
  EXPECT_THAT(Generate(*lm_, {{1}}, 1, bad, {}).status().message(), HasSubstr("top_p"));
  bad = s;
  bad.temperature = -1.0f;
  EXPECT_THAT(Generate(*lm_, {{1}}, 1, bad, {}).status().message(), HasSubstr("temperature"));
  EXPECT_THAT(Generate(*lm_, {{1}}, 0, s, {}).status().message(), HasSubstr("samples_per_prompt"));

  SamplingOptions none = s;
  none.max_new_tokens = 0;
  auto empty = Generate(*lm_, {{1}}, 2, none, {});
  ASSERT_TRUE(empty.ok());
  ASSERT_EQ(empty->size(), 2u);
  EXPECT_TRUE((*empty)[1].tokens.empty());
  EXPECT_EQ((*empty)[1].finish_reason, "length");
}

TEST_F(GenerationTest, ComputeLogprobsValidatesAndHandlesEdges) {
  auto lp = ComputeLogprobs(*lm_, {{1, 2, 3}, {4}, {5, 6}}, {1, 1, 2}, 1.0f);
  ASSERT_TRUE(lp.ok()) << lp.status();
  EXPECT_EQ((*lp)[0].size(), 2u);
  EXPECT_TRUE((*lp)[1].empty());
  EXPECT_TRUE((*lp)[2].empty());
  for (float v : (*lp)[0]) EXPECT_LT(v, 0.0f);
  EXPECT_THAT(ComputeLogprobs(*lm_, {{1, 2}}, {0}, 1.0f).status().message(),
              HasSubstr("starts[0]"));
  EXPECT_THAT(ComputeLogprobs(*lm_, {{1, 2}}, {1, 1}, 1.0f).status().message(),
              HasSubstr("starts"));
  // A budget that forces one sequence per batch gives the same numbers.
  GenerationOptions small;
  small.max_batch_tokens = 3;
  auto split = ComputeLogprobs(*lm_, {{1, 2, 3}, {7, 8}}, {1, 1}, 1.0f, small);
  auto whole = ComputeLogprobs(*lm_, {{1, 2, 3}, {7, 8}}, {1, 1}, 1.0f);
  ASSERT_TRUE(split.ok());
  ASSERT_TRUE(whole.ok());
  for (size_t i = 0; i < 2; ++i) {
    for (size_t t = 0; t < (*whole)[i].size(); ++t) {
      EXPECT_NEAR((*split)[i][t], (*whole)[i][t], 1e-5);
    }
  }
}

}  // namespace
}  // namespace chord::model
