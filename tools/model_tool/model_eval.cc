#include "tools/model_tool/model_eval.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/dataset/dataset.h"
#include "common/model/causal_lm.h"
#include "common/model/generation.h"
#include "common/status/exception_status.h"
#include "common/status/status_macros.h"
#include "common/tokenizer/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "services/reward/in_process_client.h"

namespace chord::model_tool {
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

  dataset::ParseOptions parse;
  parse.dataset_name = "eval";
  ASSIGN_OR_RETURN(std::vector<chord::v1::Task> tasks,
                   dataset::ReadTasksFile(options.data_path, parse));
  if (options.max_samples > 0 && static_cast<int64_t>(tasks.size()) > options.max_samples) {
    tasks.resize(static_cast<size_t>(options.max_samples));
  }

  // Every verifier the tasks need must exist before the (slow) generation starts.
  ASSIGN_OR_RETURN(std::unique_ptr<reward::InProcessRewardClient> scorer,
                   reward::InProcessRewardClient::Create());
  ASSIGN_OR_RETURN(chord::v1::ListVerifiersResponse verifiers, scorer->ListVerifiers());
  std::set<std::string> known;
  for (const chord::v1::VerifierInfo& info : verifiers.verifiers()) known.insert(info.name());
  for (const chord::v1::Task& task : tasks) {
    const std::string& name = task.kind().empty() ? options.verifier : task.kind();
    if (known.count(name) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          task.kind().empty() ? "--verifier" : "task " + task.id() + " kind",
          ": unknown verifier \"", name, "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }

  if (options.torch_threads > 0) at::set_num_threads(options.torch_threads);
  ASSIGN_OR_RETURN(std::unique_ptr<tokenizer::Tokenizer> tok,
                   tokenizer::Tokenizer::FromFile(options.model_dir + "/tokenizer.json"));
  ASSIGN_OR_RETURN(tokenizer::ChatFormat format, tokenizer::DetectChatFormat(options.model_dir));
  ASSIGN_OR_RETURN(std::unique_ptr<model::CausalLM> lm, model::CausalLM::Load(options.model_dir));

  model::SamplingOptions sampling;
  sampling.temperature = 0.0f;
  sampling.max_new_tokens = options.max_new_tokens;
  sampling.stop_token_ids = tokenizer::StopTokenIds(*tok, format);
  model::GenerationOptions generation;
  generation.max_batch_size = options.batch_size;

  ModelEvalReport report;
  double reward_sum = 0, token_sum = 0;
  const int64_t total = static_cast<int64_t>(tasks.size());
  for (int64_t begin = 0; begin < total; begin += options.batch_size) {
    int64_t end = std::min<int64_t>(total, begin + options.batch_size);
    std::vector<std::vector<int32_t>> prompts;
    for (int64_t i = begin; i < end; ++i) {
      const chord::v1::Task& task = tasks[static_cast<size_t>(i)];
      std::vector<tokenizer::ChatMessage> messages;
      if (task.messages_size() > 0) {
        for (const chord::v1::ChatMessage& m : task.messages()) {
          messages.push_back({m.role(), m.content()});
        }
      } else {
        messages.push_back({"user", task.prompt()});
      }
      absl::StatusOr<tokenizer::RenderedChat> chat =
          tokenizer::RenderChat(*tok, format, messages, /*add_generation_prompt=*/true);
      if (!chat.ok()) {
        return absl::Status(
            chat.status().code(),
            absl::StrCat(options.data_path, ": task ", task.id(), ": ", chat.status().message()));
      }
      prompts.push_back(std::move(chat->ids));
    }
    ASSIGN_OR_RETURN(std::vector<model::GeneratedSequence> generated,
                     model::Generate(*lm, prompts, 1, sampling, generation));

    chord::v1::ScoreRequest items;
    items.set_think_format_penalty(options.think_penalty);
    for (const model::GeneratedSequence& seq : generated) {
      const chord::v1::Task& task = tasks[static_cast<size_t>(begin + seq.prompt_index)];
      std::vector<int32_t> body = seq.tokens;
      if (seq.finish_reason == "stop" && !body.empty()) body.pop_back();
      token_sum += static_cast<double>(seq.tokens.size());
      chord::v1::ScoreItem* item = items.add_items();
      item->set_id(task.id());
      item->set_verifier(task.kind().empty() ? options.verifier : task.kind());
      item->set_prompt(task.prompt());
      item->set_response(tok->Decode(body));
      item->set_reference(task.answer());
      item->set_meta_json(task.meta_json());
    }
    ASSIGN_OR_RETURN(chord::v1::ScoreResponse scores, scorer->Score(items));
    for (int i = 0; i < scores.results_size(); ++i) {
      const chord::v1::ScoreResult& score = scores.results(i);
      reward_sum += score.score();
      if (score.correct()) ++report.correct;
      if (static_cast<int>(report.examples.size()) < options.num_examples) {
        const chord::v1::ScoreItem& item = items.items(i);
        std::string prompt = item.prompt();
        if (prompt.empty()) {
          const chord::v1::Task& task = tasks[static_cast<size_t>(begin + i)];
          if (task.messages_size() > 0) {
            prompt = task.messages(task.messages_size() - 1).content();
          }
        }
        report.examples.push_back({item.id(), prompt, item.response(), item.reference(),
                                   score.score(), score.correct(), score.reason()});
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
    return StatusFromException(e, absl::StrCat("evaluating ", options.model_dir));
  }
}

}  // namespace chord::model_tool
