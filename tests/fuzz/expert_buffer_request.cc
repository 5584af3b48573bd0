// The expert buffer's request checks (services/expert_buffer/grpc_service.h, the handlers the
// gRPC adapter and the in-process client share): the input names a method on its first line
// (load, sample_expert, sample_tasks, read_tasks, stats) and gives its request in protobuf text
// format after it. Each input gets a fresh buffer serving a task set "tasks" and an expert set
// "expert", with data root <scratch>/data holding tasks.jsonl. Every refusal has one of the codes
// the method documents and names its field; a sample returns n records and a cursor that
// continues; a read returns the slice asked for.

#include <google/protobuf/text_format.h>

#include <filesystem>

#include "services/expert_buffer/grpc_service.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

namespace v1 = chord::v1;
using chord::dataset::DatasetKind;
using chord::expert_buffer::ExpertBuffer;

constexpr char kTasks[] =
    "{\"prompt\": \"1+1=\", \"answer\": \"2\"}\n"
    "{\"question\": \"2*3=\", \"answer\": 6, \"kind\": \"arithmetic\"}\n"
    "{\"messages\": [{\"role\": \"user\", \"content\": \"3+4=\"}], \"answer\": \"7\"}\n";
constexpr char kExpert[] =
    "{\"prompt\": \"1+1=\", \"response\": \"2\"}\n"
    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, "
    "{\"role\": \"assistant\", \"content\": \"hello\"}]}\n";

const std::string& DataRoot() {
  static const std::string* root = [] {
    auto* r = new std::string(chord::fuzz::ScratchDir() + "/data");
    std::filesystem::create_directories(*r + "/sub");
    chord::fuzz::WriteFileOrDie(*r + "/tasks.jsonl", kTasks);
    chord::fuzz::WriteFileOrDie(*r + "/expert.jsonl", kExpert);
    // Outside the data root: must be refused when named.
    chord::fuzz::WriteFileOrDie(chord::fuzz::ScratchDir() + "/outside.jsonl", kTasks);
    return r;
  }();
  return *root;
}

std::unique_ptr<ExpertBuffer> FreshBuffer() {
  chord::expert_buffer::ExpertBufferOptions options;
  options.load_threads = 1;
  options.max_sample = 256;
  options.max_line_bytes = 4096;
  options.max_dataset_bytes = 1 << 16;
  options.data_roots = {DataRoot()};
  auto buffer = ExpertBuffer::Create(options, nullptr);
  FUZZ_CHECK(buffer.ok(), buffer.status().ToString());
  FUZZ_CHECK((*buffer)->LoadContent("tasks", DatasetKind::kTasks, kTasks).ok(), "tasks");
  FUZZ_CHECK((*buffer)->LoadContent("expert", DatasetKind::kExpert, kExpert).ok(), "expert");
  return std::move(buffer).value();
}

template <typename Request>
bool Parse(absl::string_view text, Request* request) {
  google::protobuf::TextFormat::Parser parser;
  parser.AllowPartialMessage(true);
  return parser.ParseFromString(std::string(text), request);
}

void CheckCode(const absl::Status& status, std::initializer_list<absl::StatusCode> allowed) {
  if (status.ok()) return;
  bool found = false;
  for (absl::StatusCode code : allowed) found = found || status.code() == code;
  FUZZ_CHECK(found, absl::StrCat("unexpected code: ", status.ToString()));
  FUZZ_CHECK(!status.message().empty(), "empty message");
}

template <typename Response>
void CheckSample(ExpertBuffer& buffer, const v1::SampleRequest& request,
                 absl::Status (*handle)(ExpertBuffer&, const v1::SampleRequest&, Response*),
                 int (Response::*count)() const) {
  Response response;
  const absl::Status status = handle(buffer, request, &response);
  CheckCode(status, {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                     absl::StatusCode::kFailedPrecondition});
  if (!status.ok()) return;
  FUZZ_CHECK((response.*count)() == request.n(),
             absl::StrCat("asked ", request.n(), ", got ", (response.*count)()));
  // The cursor it hands out continues.
  v1::SampleRequest next = request;
  next.set_cursor(response.next_cursor());
  next.set_n(1);
  Response more;
  const absl::Status continued = handle(buffer, next, &more);
  FUZZ_CHECK(continued.ok(), absl::StrCat("its own cursor: ", continued.ToString()));
}

}  // namespace

CHORD_FUZZ_TARGET(expert_buffer_request) {
  const absl::string_view text = chord::fuzz::AsText(data, size);
  const size_t newline = text.find('\n');
  const absl::string_view method = text.substr(0, newline);
  const absl::string_view body =
      newline == absl::string_view::npos ? absl::string_view() : text.substr(newline + 1);
  std::unique_ptr<ExpertBuffer> buffer = FreshBuffer();
  if (method == "load") {
    v1::LoadDatasetRequest request;
    if (!Parse(body, &request)) return;
    v1::LoadDatasetResponse response;
    const absl::Status status = HandleLoadDataset(*buffer, request, &response);
    CheckCode(status, {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                       absl::StatusCode::kPermissionDenied});
    if (status.ok()) {
      FUZZ_CHECK(response.name() == request.name() && response.num_records() > 0,
                 response.DebugString());
      // Whatever was loaded is served.
      v1::StatsRequest stats;
      stats.set_dataset(request.name());
      v1::StatsResponse stats_response;
      FUZZ_CHECK(HandleStats(*buffer, stats, &stats_response).ok(), request.name());
    }
  } else if (method == "sample_expert") {
    v1::SampleRequest request;
    if (!Parse(body, &request)) return;
    CheckSample<v1::SampleExpertResponse>(*buffer, request,
                                          chord::expert_buffer::HandleSampleExpert,
                                          &v1::SampleExpertResponse::samples_size);
  } else if (method == "sample_tasks") {
    v1::SampleRequest request;
    if (!Parse(body, &request)) return;
    CheckSample<v1::SampleTasksResponse>(*buffer, request, chord::expert_buffer::HandleSampleTasks,
                                         &v1::SampleTasksResponse::tasks_size);
  } else if (method == "read_tasks") {
    v1::ReadTasksRequest request;
    if (!Parse(body, &request)) return;
    v1::ReadTasksResponse response;
    const absl::Status status = HandleReadTasks(*buffer, request, &response);
    CheckCode(status, {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
                       absl::StatusCode::kFailedPrecondition, absl::StatusCode::kOutOfRange});
    if (status.ok()) {
      const int64_t rest = response.total() - request.offset();
      const int64_t expected = request.limit() == 0 ? rest : std::min(rest, request.limit());
      FUZZ_CHECK(response.tasks_size() == expected, response.DebugString());
    }
  } else if (method == "stats") {
    v1::StatsRequest request;
    if (!Parse(body, &request)) return;
    v1::StatsResponse response;
    CheckCode(HandleStats(*buffer, request, &response),
              {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound});
  }
}
