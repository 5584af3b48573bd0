// The chat formats (common/tokenizer/chat_template.h): the input is a chat, role \x1f content
// \x1f role \x1f content ..., rendered in ChatML and Llama-3 with three tokenizers, with and
// without the generation prompt. A refusal is INVALID_ARGUMENT naming messages[i].role; a
// rendering holds only known ids, the span of the last assistant message ends with the format's
// end-of-turn token and (with the byte-level tokenizer) decodes to exactly its content, and the
// generation prompt only appends.

#include "common/tokenizer/chat_template.h"

#include "absl/strings/str_split.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using chord::tokenizer::ChatFormat;
using chord::tokenizer::ChatMessage;
using chord::tokenizer::RenderedChat;
using chord::tokenizer::Tokenizer;

void CheckRendering(const Tokenizer& t, ChatFormat format, const std::vector<ChatMessage>& messages,
                    bool exact_bytes) {
  absl::StatusOr<RenderedChat> chat = RenderChat(t, format, messages, false);
  absl::StatusOr<RenderedChat> prompt = RenderChat(t, format, messages, true);
  FUZZ_CHECK(chat.ok() == prompt.ok(), "the generation prompt changed the verdict");
  if (!chat.ok()) {
    FUZZ_CHECK(chat.status().code() == absl::StatusCode::kInvalidArgument &&
                   absl::StartsWith(chat.status().message(), "messages["),
               chat.status().ToString());
    return;
  }
  for (int32_t id : prompt->ids) {
    FUZZ_CHECK(id >= 0 && id < t.vocab_size(), absl::StrCat("id ", id, " outside the vocabulary"));
  }
  FUZZ_CHECK(prompt->ids.size() > chat->ids.size() &&
                 std::equal(chat->ids.begin(), chat->ids.end(), prompt->ids.begin()),
             "the generation prompt does not just append");
  int last_assistant = -1;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].role == "assistant") last_assistant = static_cast<int>(i);
  }
  if (last_assistant < 0) {
    FUZZ_CHECK(chat->last_assistant_begin == -1 && chat->last_assistant_end == -1,
               "a span without an assistant message");
    return;
  }
  const int32_t begin = chat->last_assistant_begin;
  const int32_t end = chat->last_assistant_end;
  FUZZ_CHECK(begin >= 0 && begin < end && end <= static_cast<int32_t>(chat->ids.size()),
             absl::StrCat("span [", begin, ", ", end, ") of ", chat->ids.size(), " ids"));
  const char* end_of_turn = format == ChatFormat::kChatML ? "<|im_end|>" : "<|eot_id|>";
  FUZZ_CHECK(chat->ids[end - 1] == *t.TokenToId(end_of_turn), "the span does not end the turn");
  // The span's content is the message's own encoding.
  const std::vector<int32_t> content(chat->ids.begin() + begin, chat->ids.begin() + end - 1);
  FUZZ_CHECK(content == t.Encode(messages[last_assistant].content),
             "the span is not the encoded content");
  if (exact_bytes) {
    FUZZ_CHECK(t.Decode(content) == messages[last_assistant].content,
               "the span does not decode to the content");
  }
  FUZZ_CHECK(chord::tokenizer::StopTokenIds(t, format).front() == *t.TokenToId(end_of_turn),
             "the end-of-turn token is not the first stop token");
}

}  // namespace

CHORD_FUZZ_TARGET(chat_template) {
  const std::vector<absl::string_view> fields =
      absl::StrSplit(chord::fuzz::AsText(data, size), chord::fuzz::kFieldSeparator);
  std::vector<ChatMessage> messages;
  for (size_t i = 0; i + 1 < fields.size() && messages.size() < 64; i += 2) {
    messages.push_back(ChatMessage{std::string(fields[i]), std::string(fields[i + 1])});
  }
  for (ChatFormat format : {ChatFormat::kChatML, ChatFormat::kLlama3}) {
    CheckRendering(chord::fuzz::Gpt2StyleTokenizer(), format, messages, /*exact_bytes=*/true);
    CheckRendering(chord::fuzz::Qwen2StyleTokenizer(), format, messages, false);
    CheckRendering(chord::fuzz::TinyTokenizer(), format, messages, false);
  }
}
