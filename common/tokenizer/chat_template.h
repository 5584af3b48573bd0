#pragma once

// Chat formatting for training and generation: the two built-in layouts, chosen from the model
// folder, rendered straight to token ids with the token span of the last assistant turn (the
// learner trains on that span of expert data; the model must learn to stop, so the span ends
// after the end-of-turn token).
//
//   ChatML (Qwen2):  <|im_start|>{role}\n{content}<|im_end|>\n ...
//                    generation prompt: <|im_start|>assistant\n
//   Llama-3: <|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|> ...
//                    generation prompt: <|start_header_id|>assistant<|end_header_id|>\n\n
//
// Messages are rendered as given: no default system prompt is injected (Qwen2's own template adds
// "You are a helpful assistant." when the first message is not a system message; put it in the
// data if you want it) and content is not trimmed (Llama-3's template trims it).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/tokenizer/tokenizer.h"

namespace chord::tokenizer {

enum class ChatFormat { kChatML, kLlama3 };

// "chatml" or "llama3".
absl::string_view ChatFormatName(ChatFormat format);

// Picks the format of a Hugging Face model folder: from tokenizer_config.json's chat_template
// (or chat_template.jinja), else from the special tokens that tokenizer_config.json or
// tokenizer.json list: `<|im_start|>` means ChatML, `<|start_header_id|>` Llama-3 (when both
// appear, the first in the text wins). NOT_FOUND when the folder has neither
// tokenizer_config.json nor tokenizer.json; INVALID_ARGUMENT naming the file when it is not JSON
// or mentions neither marker.
absl::StatusOr<ChatFormat> DetectChatFormat(const std::string& model_dir);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool", ...: non-empty, no newline
  std::string content;
};

struct RenderedChat {
  std::vector<int32_t> ids;
  // [begin, end) token indices of the last assistant message's content, including its
  // end-of-turn token (<|im_end|> / <|eot_id|>) and nothing after it; -1 when no message has
  // role "assistant".
  int32_t last_assistant_begin = -1;
  int32_t last_assistant_end = -1;
};

// Renders `messages` in `format` and appends the generation prompt when asked. The markers are
// emitted as their special-token ids; the text between them is encoded segment by segment, so the
// span boundaries are exact token indices: an assistant message's content is encoded on its own
// (exactly the tokens a model generates after the generation prompt), other messages as
// "{role}\n{content}" (ChatML) or "\n\n{content}" (Llama-3) like Hugging Face's
// apply_chat_template. Added tokens written inside content are matched as Encode does.
// INVALID_ARGUMENT for an empty role or one with a newline (naming messages[i].role);
// FAILED_PRECONDITION when the tokenizer lacks one of the format's special tokens.
absl::StatusOr<RenderedChat> RenderChat(const Tokenizer& tokenizer, ChatFormat format,
                                        const std::vector<ChatMessage>& messages,
                                        bool add_generation_prompt);

// The ids that end a generated turn, those the tokenizer has: ChatML <|im_end|>, <|endoftext|>;
// Llama-3 <|eot_id|>, <|end_of_text|>, <|eom_id|>.
std::vector<int32_t> StopTokenIds(const Tokenizer& tokenizer, ChatFormat format);

}  // namespace chord::tokenizer
