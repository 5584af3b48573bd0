#pragma once

// tool_call: 1 when the function calls a response makes equal the reference's calls, else 0.
//
// Calls are read (from the text after the last </think>, if any) from:
//   1. <tool_call>{...}</tool_call> tags (each holding one call object or a JSON list of them);
//   2. otherwise JSON: the whole text, the first ``` fenced block, the span from the first '['
//      to the last ']', or from the first '{' to the last '}' (the first that parses), holding
//      a list of call objects or one call object.
// A call object is {"name": "...", "arguments": {...}} ("parameters" is accepted for
// "arguments"; OpenAI's {"type": "function", "function": {...}} wrapper is unwrapped; arguments
// given as a JSON string are parsed; missing or null arguments are {}).
// A response with no tags and no JSON makes no calls; one whose JSON does not parse while it
// mentions "name" is malformed and scores 0.
// The calls must equal the reference's as a multiset: order does not matter, each call matches
// one reference call with the same name and arguments equal as JSON values (key order and
// 1 vs 1.0 do not matter), and a repeated call counts twice. A reference of [] expects no call.
// Bounds: JSON nested at most 32 deep, at most 128 calls.

#include "services/reward/verifier.h"

namespace chord::reward {

class ToolCallVerifier final : public Verifier {
 public:
  VerifierResult Score(const ScoreInput& input) const override;
  // INVALID_ARGUMENT "reference: ..." when the reference holds no parseable calls (use "[]" to
  // expect none).
  absl::Status ValidateTask(const ScoreInput& input) const override;
  absl::string_view name() const override { return "tool_call"; }
  absl::string_view description() const override {
    return "1 if the tool calls (<tool_call> tags or a JSON list) equal the reference's calls: "
           "same names, arguments equal as JSON values, order-free; else 0";
  }
};

}  // namespace chord::reward
