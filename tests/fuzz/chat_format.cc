// Detecting a model folder's chat format (common/tokenizer/chat_template.h, DetectChatFormat):
// the input is tokenizer_config.json, \x1f, chat_template.jinja, \x1f, tokenizer.json (a part
// that is absent is not written). The answer is ChatML, Llama-3, NOT_FOUND (neither JSON file)
// or INVALID_ARGUMENT naming one of the files.

#include <filesystem>

#include "common/tokenizer/chat_template.h"
#include "tests/fuzz/fuzz_support.h"

CHORD_FUZZ_TARGET(chat_format) {
  static const std::string dir = chord::fuzz::ScratchDir() + "/chat_format";
  const std::vector<absl::string_view> parts =
      chord::fuzz::SplitFields(chord::fuzz::AsText(data, size), 3);
  std::error_code error;
  std::filesystem::remove_all(dir, error);
  std::filesystem::create_directories(dir);
  // An empty part stands for a file that is not there.
  const char* names[] = {"tokenizer_config.json", "chat_template.jinja", "tokenizer.json"};
  for (int i = 0; i < 3; ++i) {
    if (!parts[i].empty()) chord::fuzz::WriteFileOrDie(dir + "/" + names[i], parts[i]);
  }
  absl::StatusOr<chord::tokenizer::ChatFormat> format = chord::tokenizer::DetectChatFormat(dir);
  if (format.ok()) return;
  const bool has_json = !parts[0].empty() || !parts[2].empty();
  if (!has_json) {
    FUZZ_CHECK(format.status().code() == absl::StatusCode::kNotFound, format.status().ToString());
    return;
  }
  FUZZ_CHECK(format.status().code() == absl::StatusCode::kInvalidArgument,
             format.status().ToString());
  FUZZ_CHECK(absl::StartsWith(format.status().message(), dir + "/"), format.status().ToString());
}
