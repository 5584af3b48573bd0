#include "tools/chordctl/model_eval.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/expert_buffer/dataset.h"
#include "services/reward/client.h"

namespace chord::chordctl {
namespace {

absl::StatusOr<ModelEvalReport> Evaluate(
    const ModelEvalOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  absl::Time start = absl::Now();
  if (options.model_dir.empty()) return absl::InvalidArgumentError("--model: required");
  if (options.data_path.empty()) return absl::InvalidArgumentError("--data: required");
  if (options.max_new_tokens < 1) {
    return absl::InvalidArgumentError("--max-new-tokens: must be >= 1");
  }
  if (options.batch_size < 1) return absl::InvalidArgumentError("--batch-size: must be >= 1");

  expert_buffer::ParseOptions parse;
  parse.dataset_name = "eval";
  absl::StatusOr<std::vector<chord::v1::Task>> tasks =
      expert_buffer::ReadTasksFile(options.data_path, parse);
  if (!tasks.ok()) return tasks.status();
  if (options.max_samples > 0 && static_cast<int64_t>(tasks->size()) > options.max_samples) {
    tasks->resize(static_cast<size_t>(options.max_samples));
  }

  // Every verifier the tasks need must exist before the (slow) generation starts.
  absl::StatusOr<std::unique_ptr<reward::InProcessRewardClient>> scorer =
      reward::InProcessRewardClient::Create();
  if (!scorer.ok()) return scorer.status();
  absl::StatusOr<std::vector<reward::VerifierInfo>> verifiers = (*scorer)->ListVerifiers();
  if (!verifiers.ok()) return verifiers.status();
  std::set<std::string> known;
  for (const reward::VerifierInfo& info : *verifiers) known.insert(info.name);
  for (const chord::v1::Task& task : *tasks) {
    const std::string& name = task.kind().empty() ? options.verifier : task.kind();
    if (known.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          task.kind().empty() ? "--verifier" : "task " + task.id() + " kind",
          ": unknown verifier \"", name, "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }

  if (options.torch_threads > 0) at::set_num_threads(options.torch_threads);
  absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
      tokenizer::Tokenizer::FromFile(options.model_dir + "/tokenizer.json");
  if (!tok.ok()) return tok.status();
  absl::StatusOr<tokenizer::ChatFormat> format = tokenizer::DetectChatFormat(options.model_dir);
  if (!format.ok()) return format.status();
  absl::StatusOr<std::unique_ptr<model::CausalLM>> lm = model::CausalLM::Load(options.model_dir);
  if (!lm.ok()) return lm.status();

  model::SamplingOptions sampling;
  sampling.temperature = 0.0f;
  sampling.max_new_tokens = options.max_new_tokens;
  sampling.stop_token_ids = tokenizer::StopTokenIds(**tok, *format);
  model::GenerationOptions generation;
  generation.max_batch_size = options.batch_size;

  ModelEvalReport report;
  double reward_sum = 0, token_sum = 0;
  const int64_t total = static_cast<int64_t>(tasks->size());
  for (int64_t begin = 0; begin < total; begin += options.batch_size) {
    int64_t end = std::min<int64_t>(total, begin + options.batch_size);
    std::vector<std::vector<int32_t>> prompts;
    for (int64_t i = begin; i < end; ++i) {
      const chord::v1::Task& task = (*tasks)[static_cast<size_t>(i)];
      std::vector<tokenizer::ChatMessage> messages;
      if (task.messages_size() > 0) {
        for (const chord::v1::ChatMessage& m : task.messages()) {
          messages.push_back({m.role(), m.content()});
        }
      } else {
        messages.push_back({"user", task.prompt()});
      }
      absl::StatusOr<tokenizer::RenderedChat> chat =
          tokenizer::RenderChat(**tok, *format, messages, /*add_generation_prompt=*/true);
      if (!chat.ok()) {
        return absl::Status(
            chat.status().code(),
            absl::StrCat(options.data_path, ": task ", task.id(), ": ", chat.status().message()));
      }
      prompts.push_back(std::move(chat->ids));
    }
    absl::StatusOr<std::vector<model::GeneratedSequence>> generated =
        model::Generate(**lm, prompts, 1, sampling, generation);
    if (!generated.ok()) return generated.status();

    std::vector<reward::RewardItem> items;
    for (const model::GeneratedSequence& seq : *generated) {
      const chord::v1::Task& task = (*tasks)[static_cast<size_t>(begin + seq.prompt_index)];
      std::vector<int32_t> body = seq.tokens;
      if (seq.finish_reason == "stop" && !body.empty()) body.pop_back();
      token_sum += static_cast<double>(seq.tokens.size());
      items.push_back({task.id(), task.kind().empty() ? options.verifier : task.kind(),
                       task.prompt(), (*tok)->Decode(body), task.answer(), task.meta_json()});
    }
    absl::StatusOr<std::vector<reward::ScoreResult>> scores =
        (*scorer)->Score(items, options.think_penalty);
    if (!scores.ok()) return scores.status();
    for (size_t i = 0; i < scores->size(); ++i) {
      const reward::ScoreResult& score = (*scores)[i];
      reward_sum += score.score;
      if (score.correct) ++report.correct;
      if (static_cast<int>(report.examples.size()) < options.num_examples) {
        const reward::RewardItem& item = items[i];
        std::string prompt = item.prompt;
        if (prompt.empty()) {
          const chord::v1::Task& task = (*tasks)[static_cast<size_t>(begin) + i];
          if (task.messages_size() > 0) {
            prompt = task.messages(task.messages_size() - 1).content();
          }
        }
        report.examples.push_back({item.id, prompt, item.response, item.reference, score.score,
                                   score.correct, score.reason});
      }
    }
    report.samples = end;
    if (progress) progress(end, total);
  }
  if (report.samples > 0) {
    double n = static_cast<double>(report.samples);
    report.accuracy = static_cast<double>(report.correct) / n;
    report.reward_mean = reward_sum / n;
    report.mean_response_tokens = token_sum / n;
  }
  report.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return report;
}

}  // namespace

absl::StatusOr<ModelEvalReport> EvaluateModel(
    const ModelEvalOptions& options,
    const std::function<void(int64_t done, int64_t total)>& progress) {
  // The model library returns statuses; this guards the rest of LibTorch (thread settings).
  try {
    return Evaluate(options, progress);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("evaluating ", options.model_dir, ": ", e.what()));
  }
}

}  // namespace chord::chordctl
