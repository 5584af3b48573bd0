#include "common/tokenizer/chat_template.h"

#include <sys/stat.h>

#include <algorithm>
#include <exception>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"

namespace chord::tokenizer {
namespace {

using Json = nlohmann::json;

constexpr char kImStart[] = "<|im_start|>";
constexpr char kImEnd[] = "<|im_end|>";
constexpr char kEndOfText[] = "<|endoftext|>";
constexpr char kBeginOfText[] = "<|begin_of_text|>";
constexpr char kStartHeader[] = "<|start_header_id|>";
constexpr char kEndHeader[] = "<|end_header_id|>";
constexpr char kEotId[] = "<|eot_id|>";
constexpr char kEndOfTextLlama[] = "<|end_of_text|>";
constexpr char kEomId[] = "<|eom_id|>";

bool FileExists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The format whose marker appears first in `text`, if any.
absl::optional<ChatFormat> FormatFromText(absl::string_view text, absl::string_view chatml_marker,
                                          absl::string_view llama3_marker) {
  const size_t chatml = text.find(chatml_marker);
  const size_t llama3 = text.find(llama3_marker);
  if (chatml == absl::string_view::npos && llama3 == absl::string_view::npos) {
    return absl::nullopt;
  }
  return chatml < llama3 ? ChatFormat::kChatML : ChatFormat::kLlama3;
}

// The chat_template text of a parsed tokenizer_config.json: a string, or a list of
// {"name", "template"} of which "default" (else the first) is taken. Empty when absent.
std::string ChatTemplateText(const Json& config) {
  if (!config.is_object()) return std::string();
  auto it = config.find("chat_template");
  if (it == config.end()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) return std::string();
  const Json* chosen = nullptr;
  for (const Json& entry : *it) {
    if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) {
      continue;
    }
    if (chosen == nullptr) chosen = &entry;
    if (entry.contains("name") && entry["name"] == "default") chosen = &entry;
  }
  return chosen == nullptr ? std::string() : (*chosen)["template"].get<std::string>();
}

absl::StatusOr<int32_t> RequireToken(const Tokenizer& tokenizer, absl::string_view token,
                                     ChatFormat format) {
  absl::optional<int32_t> id = tokenizer.TokenToId(token);
  if (!id.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat("the tokenizer has no ", token,
                                                      " token, needed by the ",
                                                      ChatFormatName(format), " chat format"));
  }
  return *id;
}

void Append(std::vector<int32_t>* ids, const std::vector<int32_t>& more) {
  ids->insert(ids->end(), more.begin(), more.end());
}

}  // namespace

absl::string_view ChatFormatName(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatML:
      return "chatml";
    case ChatFormat::kLlama3:
      return "llama3";
  }
  return "unknown";
}

absl::StatusOr<ChatFormat> DetectChatFormat(const std::string& model_dir) {
  const std::string config_path = absl::StrCat(model_dir, "/tokenizer_config.json");
  const std::string jinja_path = absl::StrCat(model_dir, "/chat_template.jinja");
  const std::string tokenizer_path = absl::StrCat(model_dir, "/tokenizer.json");
  const bool has_config = FileExists(config_path);
  if (!has_config && !FileExists(tokenizer_path)) {
    return absl::NotFoundError(absl::StrCat(config_path, ": not found (nor ", tokenizer_path,
                                            "): cannot tell the chat format"));
  }
  std::string config_text;
  if (has_config) {
    ASSIGN_OR_RETURN(config_text, files::ReadFile(config_path));
    Json config;
    try {
      config = Json::parse(config_text);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, ": ", e.what()));
    }
    // 1. The chat template names the markers it writes.
    if (auto format = FormatFromText(ChatTemplateText(config), kImStart, kStartHeader)) {
      return *format;
    }
  }
  if (FileExists(jinja_path)) {
    ASSIGN_OR_RETURN(std::string jinja, files::ReadFile(jinja_path));
    if (auto format = FormatFromText(jinja, kImStart, kStartHeader)) return *format;
  }
  // 2. The special tokens the folder declares (as JSON strings).
  const std::string quoted_im_start = absl::StrCat("\"", kImStart, "\"");
  const std::string quoted_start_header = absl::StrCat("\"", kStartHeader, "\"");
  if (auto format = FormatFromText(config_text, quoted_im_start, quoted_start_header)) {
    return *format;
  }
  if (FileExists(tokenizer_path)) {
    ASSIGN_OR_RETURN(std::string tokenizer_text, files::ReadFile(tokenizer_path));
    if (auto format = FormatFromText(tokenizer_text, quoted_im_start, quoted_start_header)) {
      return *format;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      has_config ? config_path : tokenizer_path,
      ": cannot tell the chat format: neither the chat template nor the special tokens mention ",
      kImStart, " (ChatML) or ", kStartHeader, " (Llama-3)"));
}

absl::StatusOr<RenderedChat> RenderChat(const Tokenizer& tokenizer, ChatFormat format,
                                        const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt) {
  int last_assistant = -1;
  for (size_t i = 0; i < messages.size(); ++i) {
    const std::string& role = messages[i].role;
    if (role.empty() || role.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "messages[", i, "].role: must be non-empty and hold no newline, got \"", role, "\""));
    }
    if (role == "assistant") last_assistant = static_cast<int>(i);
  }

  RenderedChat chat;
  std::vector<int32_t>& ids = chat.ids;
  // Encodes an assistant message's content as its own segment and records the span when it is
  // the last one; `end_of_turn` closes the span.
  const auto assistant_content = [&](size_t i, int32_t end_of_turn) {
    const int32_t begin = static_cast<int32_t>(ids.size());
    Append(&ids, tokenizer.Encode(messages[i].content));
    ids.push_back(end_of_turn);
    if (static_cast<int>(i) == last_assistant) {
      chat.last_assistant_begin = begin;
      chat.last_assistant_end = static_cast<int32_t>(ids.size());
    }
  };

  if (format == ChatFormat::kChatML) {
    ASSIGN_OR_RETURN(const int32_t im_start, RequireToken(tokenizer, kImStart, format));
    ASSIGN_OR_RETURN(const int32_t im_end, RequireToken(tokenizer, kImEnd, format));
    const std::vector<int32_t> newline = tokenizer.Encode("\n");
    for (size_t i = 0; i < messages.size(); ++i) {
      const ChatMessage& m = messages[i];
      ids.push_back(im_start);
      if (m.role == "assistant") {
        Append(&ids, tokenizer.Encode(absl::StrCat(m.role, "\n")));
        assistant_content(i, im_end);
      } else {
        Append(&ids, tokenizer.Encode(absl::StrCat(m.role, "\n", m.content)));
        ids.push_back(im_end);
      }
      Append(&ids, newline);
    }
    if (add_generation_prompt) {
      ids.push_back(im_start);
      Append(&ids, tokenizer.Encode("assistant\n"));
    }
    return chat;
  }

  ASSIGN_OR_RETURN(const int32_t begin_of_text, RequireToken(tokenizer, kBeginOfText, format));
  ASSIGN_OR_RETURN(const int32_t start_header, RequireToken(tokenizer, kStartHeader, format));
  ASSIGN_OR_RETURN(const int32_t end_header, RequireToken(tokenizer, kEndHeader, format));
  ASSIGN_OR_RETURN(const int32_t eot, RequireToken(tokenizer, kEotId, format));
  const std::vector<int32_t> blank_line = tokenizer.Encode("\n\n");
  ids.push_back(begin_of_text);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    ids.push_back(start_header);
    Append(&ids, tokenizer.Encode(m.role));
    ids.push_back(end_header);
    if (m.role == "assistant") {
      Append(&ids, blank_line);
      assistant_content(i, eot);
    } else {
      Append(&ids, tokenizer.Encode(absl::StrCat("\n\n", m.content)));
      ids.push_back(eot);
    }
  }
  if (add_generation_prompt) {
    ids.push_back(start_header);
    Append(&ids, tokenizer.Encode("assistant"));
    ids.push_back(end_header);
    Append(&ids, blank_line);
  }
  return chat;
}

std::vector<int32_t> StopTokenIds(const Tokenizer& tokenizer, ChatFormat format) {
  std::vector<absl::string_view> names;
  if (format == ChatFormat::kChatML) {
    names = {kImEnd, kEndOfText};
  } else {
    names = {kEotId, kEndOfTextLlama, kEomId};
  }
  std::vector<int32_t> ids;
  for (absl::string_view name : names) {
    absl::optional<int32_t> id = tokenizer.TokenToId(name);
    if (id.has_value() && std::find(ids.begin(), ids.end(), *id) == ids.end()) {
      ids.push_back(*id);
    }
  }
  return ids;
}

}  // namespace chord::tokenizer
