#include "tools/chordctl/trinity_command.h"

#include <cstdint>
#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "tools/chordctl/trinity_config.h"

namespace chord::chordctl {
namespace {

struct ConvertArgs {
  std::string file;
  int64_t steps = 0;
};

// The config's text; NOT_FOUND (exit 3) names the file.
absl::StatusOr<std::string> ReadConfig(const std::string& file) {
  absl::StatusOr<std::string> text = files::ReadFile(file);
  if (!text.ok() && text.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat(file, ": no such Trinity-RFT config file"));
  }
  return text;
}

void RunConvert(const ConvertArgs& args, CliContext& context) {
  absl::StatusOr<std::string> text = ReadConfig(args.file);
  if (!text.ok()) return context.Fail(text.status());
  TrinityConversionOptions options;
  options.steps = args.steps;
  absl::StatusOr<TrinityConversion> conversion = ConvertTrinityConfig(*text, args.file, options);
  if (!conversion.ok()) return context.Fail(conversion.status());
  *context.out << FormatTrinityConversion(*conversion, args.file) << std::flush;
}

}  // namespace

absl::StatusOr<std::string> SpecFromTrinity(const std::string& file, const std::string& text,
                                            CliContext& context) {
  absl::StatusOr<TrinityConversion> conversion = ConvertTrinityConfig(text, file);
  if (!conversion.ok()) return conversion.status();
  std::ostream& err = *context.err;
  err << "chordctl: " << file << ": converted from Trinity-RFT " << conversion->algorithm_type
      << "; " << conversion->unmapped.size() << " keys not mapped" << std::endl;
  for (const std::string& note : conversion->notes) {
    err << "chordctl: " << file << ": note: " << note << std::endl;
  }
  for (const UnmappedKey& key : conversion->unmapped) {
    err << "chordctl: " << file << ": not mapped: " << key.path << ": " << key.reason << std::endl;
  }
  return conversion->spec_yaml;
}

void AddTrinityCommands(CLI::App& app, CliContext& context) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* convert = app.add_subcommand(
      "convert",
      "Convert a Trinity-RFT config (mix_chord, sft, grpo) into a Chord job spec; prints the spec "
      "and, as comments, every key it could not map with the reason");
  convert->add_option("config", args->file, "The Trinity-RFT config file (YAML)")->required();
  convert
      ->add_option("--steps", args->steps,
                   "Training steps of the job (default: buffer.total_steps of the config)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  convert->callback([args, &context] { RunConvert(*args, context); });
}

}  // namespace chord::chordctl
