#include "tools/model_tool/init_model_command.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/model/tiny_preset.h"
#include "nlohmann/json.hpp"

namespace chord::model_tool {
namespace {

// The presets `--preset` accepts, in the order the help and errors list them.
const std::vector<std::string>& Presets() {
  static const auto* const presets = new std::vector<std::string>{"tiny"};
  return *presets;
}

struct InitModelArgs {
  std::string preset = "tiny";
  std::string out;
  uint64_t seed = 1;
  bool force = false;
  model::TinyPresetOptions sizes;
  bool json = false;
};

void RunInitModel(const InitModelArgs& args, cli::CommandContext& context) {
  model::TinyPresetOptions options = args.sizes;
  options.seed = args.seed;
  options.overwrite = args.force;
  absl::StatusOr<model::ModelConfig> config = model::TinyModelConfig(options);
  if (!config.ok()) return context.Fail(config.status());
  std::error_code ec;
  if (!args.force && std::filesystem::is_directory(args.out, ec) &&
      !std::filesystem::is_empty(args.out, ec)) {
    return context.Fail(cli::kExitRuntimeError,
                        absl::StrCat(args.out,
                                     ": folder is not empty; pass --force to replace the model "
                                     "files in it (other files are kept)"));
  }
  absl::Status written = model::WriteTinyModel(args.out, options);
  if (!written.ok()) return context.Fail(written);

  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(args.out, ec)) {
    if (entry.is_regular_file()) files.push_back(entry.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  const std::string path = std::filesystem::absolute(args.out, ec).lexically_normal().string();
  const int64_t parameters = config->NumParameters();
  if (args.json) {
    nlohmann::json line = {{"path", path},
                           {"preset", args.preset},
                           {"seed", args.seed},
                           {"parameters", parameters},
                           {"vocab_size", config->vocab_size},
                           {"hidden_size", config->hidden_size},
                           {"num_hidden_layers", config->num_hidden_layers},
                           {"num_attention_heads", config->num_attention_heads},
                           {"num_key_value_heads", config->KvHeads()},
                           {"intermediate_size", config->intermediate_size},
                           {"files", files}};
    *context.out << line.dump() << std::endl;
    return;
  }
  *context.out << "wrote the " << args.preset << " model to " << path << "\n"
               << absl::StrFormat("  parameters  %d (%.2f M)\n", parameters, parameters / 1e6)
               << "  vocab size  " << config->vocab_size << "\n"
               << absl::StrFormat("  shape       %d layers, hidden %d, %d heads (%d KV), MLP %d\n",
                                  config->num_hidden_layers, config->hidden_size,
                                  config->num_attention_heads, config->KvHeads(),
                                  config->intermediate_size)
               << "  seed        " << args.seed << "\n"
               << "  files       " << absl::StrJoin(files, ", ") << std::endl;
}

// A CLI11 validator for a positive size.
std::string Positive(const std::string& text) {
  int64_t value = 0;
  if (absl::SimpleAtoi(text, &value) && value >= 1 && value <= (1 << 20)) return "";
  return "must be an integer in [1, 1048576]";
}

}  // namespace

void AddInitModelCommand(CLI::App& app, cli::CommandContext& context) {
  auto args = std::make_shared<InitModelArgs>();
  CLI::App* command = app.add_subcommand(
      "init-model",
      "Write a small model of Chord's architecture (Hugging Face folder), deterministic for a "
      "seed");
  command
      ->add_option("--preset", args->preset,
                   absl::StrCat("Model preset: ", absl::StrJoin(Presets(), ", ")))
      ->check(
          [](const std::string& name) {
            for (const std::string& preset : Presets()) {
              if (name == preset) return std::string();
            }
            return absl::StrCat("unknown preset \"", name,
                                "\" (presets: ", absl::StrJoin(Presets(), ", "), ")");
          },
          "PRESET")
      ->capture_default_str();
  command->add_option("--out", args->out, "Folder to write (created if missing)")->required();
  command->add_option("--seed", args->seed, "Seed of the weight initialisation")
      ->capture_default_str();
  command->add_flag("--force,--overwrite", args->force,
                    "Write into a non-empty folder (the model files are replaced, others kept)");
  command->add_option("--hidden-size", args->sizes.hidden_size, "Hidden size")
      ->check(Positive)
      ->capture_default_str();
  command->add_option("--layers", args->sizes.num_layers, "Decoder layers")
      ->check(Positive)
      ->capture_default_str();
  command->add_option("--heads", args->sizes.num_heads, "Attention heads")
      ->check(Positive)
      ->capture_default_str();
  command->add_option("--kv-heads", args->sizes.num_kv_heads, "Key/value heads (divides --heads)")
      ->check(Positive)
      ->capture_default_str();
  command->add_option("--intermediate-size", args->sizes.intermediate_size, "MLP size")
      ->check(Positive)
      ->capture_default_str();
  command
      ->add_option("--max-positions", args->sizes.max_position_embeddings,
                   "max_position_embeddings written to config.json")
      ->check(Positive)
      ->capture_default_str();
  command->add_flag("--json", args->json, "Print one JSON object");
  command->callback([args, &context] { RunInitModel(*args, context); });
}

}  // namespace chord::model_tool
