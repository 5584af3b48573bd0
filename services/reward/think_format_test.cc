#include "services/reward/think_format.h"

#include <gtest/gtest.h>

namespace chord::reward {
namespace {

TEST(ThinkFormatTest, WellFormedBlocksPass) {
  EXPECT_TRUE(CheckThinkFormat("<think>reasoning</think> answer", false).ok);
  EXPECT_TRUE(CheckThinkFormat("  \n<think>\nx\n</think>\n\\boxed{1}", false).ok);
  EXPECT_TRUE(CheckThinkFormat("<think></think>", true).ok);
}

TEST(ThinkFormatTest, NoTagsPassUnlessRequired) {
  EXPECT_TRUE(CheckThinkFormat("just an answer", false).ok);
  ThinkFormatCheck check = CheckThinkFormat("just an answer", true);
  EXPECT_FALSE(check.ok);
  EXPECT_EQ(check.problem, "no <think>...</think> block (required)");
}

TEST(ThinkFormatTest, MalformedBlocksFailWithAReason) {
  struct Case {
    const char* response;
    const char* problem;
  };
  for (const Case& c : {
           Case{"<think>a</think><think>b</think>", "2 <think> tags"},
           Case{"<think>a</think></think>", "2 </think> tags"},
           Case{"<think>never closed", "</think> is missing"},
           Case{"only the end</think> answer", "<think> is missing"},
           Case{"text first <think>a</think>", "<think> does not open the response"},
           Case{"</think><think>", "<think> does not open the response"},
           Case{"<think></think>x", nullptr},
       }) {
    ThinkFormatCheck check = CheckThinkFormat(c.response, false);
    if (c.problem == nullptr) {
      EXPECT_TRUE(check.ok) << c.response;
      continue;
    }
    EXPECT_FALSE(check.ok) << c.response;
    EXPECT_EQ(check.problem, c.problem) << c.response;
  }
  EXPECT_EQ(kThinkFormatPenalty, -0.1);
}

}  // namespace
}  // namespace chord::reward
