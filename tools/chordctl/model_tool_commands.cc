#include "tools/chordctl/model_tool_commands.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "common/files/file_io.h"
#include "common/process/process.h"

namespace chord::chordctl {
namespace {

namespace fs = std::filesystem;

constexpr char kModelTool[] = "chord-model-tool";

// A temporary folder for the captured output, removed with its contents.
struct CaptureDir {
  CaptureDir() {
    char tmpl[] = "/tmp/chordctl_model_tool_XXXXXX";
    const char* made = mkdtemp(tmpl);
    path = made != nullptr ? made : "";
  }
  ~CaptureDir() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
  std::string path;
};

}  // namespace

absl::StatusOr<std::string> ModelToolPath(const CliContext& context) {
  std::string path = context.model_tool;
  if (path.empty()) {
    const char* env = std::getenv("CHORD_MODEL_TOOL");
    if (env != nullptr && *env != '\0') path = env;
  }
  if (path.empty()) {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    path = (ec ? fs::path(".") : self.parent_path()) / kModelTool;
  }
  if (access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(
        path,
        ": chord-model-tool not found or not executable; `init-model` and `eval` run it "
        "(build it with `cmake --build build --target chord-model-tool`, or set "
        "CHORD_MODEL_TOOL)"));
  }
  return path;
}

void RunModelTool(const std::vector<std::string>& args, CliContext& context) {
  absl::StatusOr<std::string> tool = ModelToolPath(context);
  if (!tool.ok()) return context.Fail(kExitRuntimeError, tool.status().message());
  std::vector<std::string> argv = {*tool};
  argv.insert(argv.end(), args.begin(), args.end());
  if (context.exec_model_tool) {
    std::vector<char*> pointers;
    // argv[0] "chordctl": the tool's errors and usage lines name the command the user ran.
    std::string program = context.program;
    pointers.push_back(program.data());
    for (size_t i = 1; i < argv.size(); ++i) pointers.push_back(argv[i].data());
    pointers.push_back(nullptr);
    context.out->flush();
    context.err->flush();
    execv(tool->c_str(), pointers.data());
    return context.Fail(kExitRuntimeError,
                        absl::StrCat("cannot run ", *tool, ": ", std::strerror(errno)));
  }
  CaptureDir capture;
  if (capture.path.empty()) {
    return context.Fail(kExitRuntimeError, "cannot create a temporary folder for the output");
  }
  process::SpawnOptions options;
  options.stdout_path = capture.path + "/out";
  options.stderr_path = capture.path + "/err";
  options.stdin_from_null = true;
  // argv[0] "chordctl": the tool's errors and usage lines name the command the user ran.
  options.program = *tool;
  argv[0] = context.program;
  absl::StatusOr<std::unique_ptr<process::ChildProcess>> child =
      process::ChildProcess::Start(argv, options);
  if (!child.ok()) return context.Fail(kExitRuntimeError, child.status().message());
  absl::StatusOr<int> code = (*child)->Wait(absl::InfiniteDuration());
  *context.out << files::ReadFile(options.stdout_path).value_or("") << std::flush;
  *context.err << files::ReadFile(options.stderr_path).value_or("") << std::flush;
  context.exit_code = code.ok() ? *code : kExitRuntimeError;
}

void AddModelToolCommands(CLI::App& app, CliContext& context) {
  struct Command {
    const char* name;
    const char* help;
  };
  for (const Command& command :
       {Command{"init-model",
                "Write a small model of Chord's architecture (Hugging Face folder), deterministic "
                "for a seed (runs chord-model-tool; see `chordctl init-model --help`)"},
        Command{"eval",
                "Score a model folder on an evaluation set (greedy decoding, in-process; runs "
                "chord-model-tool; see `chordctl eval --help`)"}}) {
    CLI::App* sub = app.add_subcommand(command.name, command.help);
    // Every argument, --help and the global options included, is the tool's.
    sub->set_help_flag();
    sub->fallthrough(false);
    sub->allow_extras();
    sub->prefix_command();
    const std::string name = command.name;
    sub->callback([sub, name, &context] {
      std::vector<std::string> args = {name};
      for (const std::string& arg : sub->remaining()) args.push_back(arg);
      RunModelTool(args, context);
    });
  }
}

}  // namespace chord::chordctl
