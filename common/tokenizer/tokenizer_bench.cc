// chord-bench-tokenizer: encode and decode throughput of chord::tokenizer::Tokenizer.
//
// Default run (a few seconds): a deterministic synthetic multilingual corpus through
//   - tiny:      the tiny default's character-level WordLevel tokenizer;
//   - bpe-synth: a byte-level BPE built from the corpus's frequent words (Qwen2 pre-tokenizer
//                and NFC normalizer), a stand-in for a real vocabulary.
// With --tokenizer_json=PATH the given tokenizer.json is measured instead (and its load time);
// --text_file=PATH replaces the synthetic corpus. Prints a Markdown table, one row per tokenizer.
// The corpus is cut into ~4 KiB documents, each encoded by one Encode call.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/files/file_io.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tiny_tokenizer.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, tokenizer_json, "", "Measure this tokenizer.json instead of the built-ins");
ABSL_FLAG(std::string, text_file, "", "Corpus to encode (default: synthetic multilingual text)");
ABSL_FLAG(int, corpus_kb, 1024, "Size of the synthetic corpus in KiB");
ABSL_FLAG(int, merges, 4000, "Merges of the synthetic BPE");
ABSL_FLAG(int, threads, 2, "Threads for the concurrent encoding column");

namespace chord::tokenizer {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Deterministic text: English-like words, numbers, arithmetic, Chinese, Russian, emoji, code.
std::string SyntheticCorpus(size_t bytes) {
  const std::vector<std::string> pieces = {
      "the",       "answer",      "is",       "compute",
      "number",    "tokenizer",   "learning", "policy",
      "reward",    "gradient",    "expert",   "data",
      "model",     "training",    "step",     "value",
      "function",  "return",      "because",  "therefore",
      "we",        "have",        "so",       "and",
      "of",        "to",          "in",       "that",
      "it's",      "\\boxed{42}", "x^2",      "+",
      "-",         "=",           "(3+4)*5",  "3.14159",
      "2024",      "1000000",     "你好",     "世界",
      "模型",      "训练",        "数据",     "привет",
      "мир",       "модель",      "👍",        "👨‍👩‍👧‍👦",
      "🇫🇷",        "{",           "}",        "if (x > 0) {",
      "return y;", "def f(x):",   "\n",       "\n\n",
      "  ",        ".",           ",",        "!",
      "?"};
  std::mt19937 rng(1234);
  std::string text;
  text.reserve(bytes + 64);
  while (text.size() < bytes) {
    const std::string& piece = pieces[rng() % pieces.size()];
    text += piece;
    if (piece != "\n" && piece != "\n\n" && rng() % 4 != 0) text += ' ';
  }
  return text;
}

// A byte-level BPE whose merges spell the corpus's most frequent words left to right.
std::string SyntheticBpeJson(const std::string& corpus, int max_merges) {
  std::map<std::string, int> counts;
  for (absl::string_view word : absl::StrSplit(corpus, absl::ByAnyChar(" \n"))) {
    if (!word.empty()) ++counts[std::string(word)];
  }
  std::vector<std::pair<int, std::string>> ranked;
  for (const auto& [word, count] : counts) ranked.emplace_back(-count, word);
  std::sort(ranked.begin(), ranked.end());

  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  int next_id = 0;
  for (int b = 0; b < 256; ++b) {
    vocab[internal::BytesToByteLevel(std::string(1, static_cast<char>(b)))] = next_id++;
  }
  nlohmann::json merges = nlohmann::json::array();
  for (const auto& [negative_count, word] : ranked) {
    for (const std::string& variant : {word, absl::StrCat(" ", word)}) {
      std::string prefix = internal::BytesToByteLevel(variant.substr(0, 1));
      for (size_t i = 1; i < variant.size() && static_cast<int>(merges.size()) < max_merges; ++i) {
        const std::string next = internal::BytesToByteLevel(variant.substr(i, 1));
        const std::string merged = prefix + next;
        if (!vocab.contains(merged)) {
          vocab[merged] = next_id++;
          merges.push_back(nlohmann::json::array({prefix, next}));
        }
        prefix = merged;
      }
    }
  }
  nlohmann::json json;
  json["added_tokens"] = nlohmann::json::array(
      {{{"id", next_id}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}}});
  json["normalizer"] = {{"type", "NFC"}};
  json["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern",
          {{"Regex",
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
         {"behavior", "Isolated"}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
  json["decoder"] = {{"type", "ByteLevel"}};
  json["model"] = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
  return json.dump();
}

// Splits the corpus into documents of ~4 KiB (at newlines where possible).
std::vector<std::string> Documents(const std::string& corpus) {
  std::vector<std::string> docs;
  size_t start = 0;
  while (start < corpus.size()) {
    size_t end = std::min(corpus.size(), start + 4096);
    const size_t newline = corpus.find('\n', end);
    if (newline != std::string::npos && newline - end < 512) end = newline + 1;
    docs.push_back(corpus.substr(start, end - start));
    start = end;
  }
  return docs;
}

struct Row {
  size_t bytes = 0;
  size_t tokens = 0;
  double cold_s = 0;     // first encode pass, 1 thread (fills the word cache)
  double warm_s = 0;     // second pass, 1 thread
  double threads_s = 0;  // warm pass split over `threads` threads
  double decode_s = 0;
  size_t mismatches = 0;  // documents whose Decode(Encode(doc)) != doc
};

Row Measure(const Tokenizer& tokenizer, const std::vector<std::string>& docs, int threads) {
  Row row;
  for (const auto& d : docs) row.bytes += d.size();
  std::vector<std::vector<int32_t>> encoded;
  encoded.reserve(docs.size());
  auto start = Clock::now();
  for (const auto& d : docs) {
    encoded.push_back(tokenizer.Encode(d));
    row.tokens += encoded.back().size();
  }
  row.cold_s = Seconds(start);

  start = Clock::now();
  for (const auto& d : docs) tokenizer.Encode(d);
  row.warm_s = Seconds(start);

  start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < docs.size(); i += static_cast<size_t>(threads)) {
        tokenizer.Encode(docs[i]);
      }
    });
  }
  for (auto& w : workers) w.join();
  row.threads_s = Seconds(start);

  start = Clock::now();
  for (size_t i = 0; i < docs.size(); ++i) {
    if (tokenizer.Decode(encoded[i]) != docs[i]) ++row.mismatches;
  }
  row.decode_s = Seconds(start);
  return row;
}

void PrintHeader(int threads) {
  std::printf(
      "| tokenizer | input MB | tokens | bytes/token | encode tok/s (cold) | "
      "encode tok/s (warm) | encode tok/s (warm, %d threads) | encode MB/s (warm) | "
      "decode tok/s | round trip |\n",
      threads);
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
}

void PrintRow(const std::string& name, const Row& row) {
  const double tokens = static_cast<double>(row.tokens);
  const std::string round_trip =
      row.mismatches == 0 ? "exact" : absl::StrCat(row.mismatches, " docs differ");
  std::printf("| %s | %.2f | %zu | %.2f | %.3g | %.3g | %.3g | %.1f | %.3g | %s |\n", name.c_str(),
              static_cast<double>(row.bytes) / 1e6, row.tokens,
              static_cast<double>(row.bytes) / std::max(tokens, 1.0), tokens / row.cold_s,
              tokens / row.warm_s, tokens / row.threads_s,
              static_cast<double>(row.bytes) / row.warm_s / 1e6, tokens / row.decode_s,
              round_trip.c_str());
}

int Main() {
  std::string corpus;
  if (const std::string path = absl::GetFlag(FLAGS_text_file); !path.empty()) {
    auto text = files::ReadFile(path);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      return 1;
    }
    corpus = std::move(text).value();
  } else {
    corpus = SyntheticCorpus(static_cast<size_t>(absl::GetFlag(FLAGS_corpus_kb)) * 1024);
  }
  const std::vector<std::string> docs = Documents(corpus);
  const int threads = std::max(1, absl::GetFlag(FLAGS_threads));

  if (const std::string path = absl::GetFlag(FLAGS_tokenizer_json); !path.empty()) {
    const auto start = Clock::now();
    auto tokenizer = Tokenizer::FromFile(path);
    if (!tokenizer.ok()) {
      std::fprintf(stderr, "%s\n", std::string(tokenizer.status().message()).c_str());
      return 1;
    }
    const double load_s = Seconds(start);
    PrintHeader(threads);
    PrintRow(absl::StrCat((*tokenizer)->model_type(), " file"),
             Measure(**tokenizer, docs, threads));
    std::printf("\nloaded %s (vocab %d) in %.2f s\n", path.c_str(), (*tokenizer)->vocab_size(),
                load_s);
    return 0;
  }

  auto tiny = Tokenizer::FromJson(TinyTokenizerJson(), "tiny");
  auto bpe =
      Tokenizer::FromJson(SyntheticBpeJson(corpus, absl::GetFlag(FLAGS_merges)), "bpe-synth");
  if (!tiny.ok() || !bpe.ok()) {
    std::fprintf(stderr, "cannot build the benchmark tokenizers: %s %s\n",
                 std::string(tiny.status().message()).c_str(),
                 std::string(bpe.status().message()).c_str());
    return 1;
  }
  // The tiny vocabulary is ASCII: measure it on the ASCII characters of the corpus.
  std::vector<std::string> ascii_docs;
  for (const std::string& doc : docs) {
    std::string ascii;
    for (char c : doc) {
      if (static_cast<unsigned char>(c) < 0x80) ascii.push_back(c);
    }
    ascii_docs.push_back(std::move(ascii));
  }
  PrintHeader(threads);
  PrintRow("tiny (ASCII part)", Measure(**tiny, ascii_docs, threads));
  PrintRow("bpe-synth", Measure(**bpe, docs, threads));
  std::printf("\nbpe-synth: vocab %d; corpus: %zu documents\n", (*bpe)->vocab_size(), docs.size());
  return 0;
}

}  // namespace
}  // namespace chord::tokenizer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return chord::tokenizer::Main();
}
