// The JobService adapter on a real gRPC server (127.0.0.1, port 0) with tokens and the
// JobService's method roles, over a JobManager on a real job store (no run loop): Resume through
// GrpcJobClient (a cancelled job queued again, twice the same answer, a succeeded one refused, an
// unknown one NOT_FOUND), the requests the adapter refuses, the user token admitted, and a rank > 0
// answering FAILED_PRECONDITION.

#include "services/learner/grpc_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/rpc/server_runner.h"
#include "services/learner/grpc_client.h"
#include "tests/support/child_process.h"

namespace chord::learner {
namespace {

using ::testing::HasSubstr;

constexpr char kUserToken[] = "user-token-for-the-test";
constexpr char kInternalToken[] = "internal-token-for-the-test";

constexpr char kSpec[] =
    "name: resumable\nmodel: /models/tiny\nsteps: 4\ntrain_batch_size: 8\n"
    "algorithm: {repeat_times: 4}\n"
    "datasets:\n  tasks: {path: /data/tasks.jsonl}\n  expert: {path: /data/expert.jsonl}\n"
    "verifier: arithmetic\n";

class JobServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = JobStore::Open(dir_.File("jobs.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    JobManagerOptions options;
    options.state_dir = dir_.path();
    DriverContext context;
    context.store = store_.get();
    // No job runs here (no RunLoop): the factory is never called.
    ClientFactory no_clients = [](const ServiceAddresses&,
                                  const ServicesSpec&) -> absl::StatusOr<JobClients> {
      return absl::FailedPreconditionError("no services in this test");
    };
    manager_ = std::make_unique<JobManager>(options, context, no_clients);
    rank0_ = std::make_unique<JobServiceImpl>(manager_.get(), 0);
    rank1_ = std::make_unique<JobServiceImpl>(nullptr, 1);
    rank0_server_ = Serve(rank0_.get());
    rank1_server_ = Serve(rank1_.get());
    ASSERT_NE(rank0_server_, nullptr);
    ASSERT_NE(rank1_server_, nullptr);
  }

  void TearDown() override {
    if (rank0_server_ != nullptr) rank0_server_->Shutdown();
    if (rank1_server_ != nullptr) rank1_server_->Shutdown();
  }

  static std::unique_ptr<rpc::ServerRunner> Serve(JobServiceImpl* service) {
    rpc::ServerOptions options;
    options.host = "127.0.0.1";
    options.shutdown_grace = absl::Seconds(1);
    options.security.user_token = kUserToken;
    options.security.internal_token = kInternalToken;
    options.security.method_roles = JobServiceMethodRoles();
    auto runner = rpc::ServerRunner::Start(options, {service});
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? std::move(*runner) : nullptr;
  }

  // A client of `server` sending `token` ("" for none), one attempt per call.
  static std::unique_ptr<GrpcJobClient> Client(const rpc::ServerRunner& server,
                                               const std::string& token) {
    rpc::ClientOptions options;
    options.bearer_token = token;
    options.max_attempts = 1;
    auto client = GrpcJobClient::Create(server.address(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  }

  static chord::v1::ResumeJobRequest Resume(const std::string& job_id, const std::string& reason) {
    chord::v1::ResumeJobRequest request;
    request.set_job_id(job_id);
    request.set_reason(reason);
    return request;
  }

  testing::TempDir dir_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobManager> manager_;
  std::unique_ptr<JobServiceImpl> rank0_;
  std::unique_ptr<JobServiceImpl> rank1_;
  std::unique_ptr<rpc::ServerRunner> rank0_server_;
  std::unique_ptr<rpc::ServerRunner> rank1_server_;
};

TEST_F(JobServiceTest, ResumeQueuesACancelledJobOnceAndRefusesASucceededOne) {
  auto client = Client(*rank0_server_, kUserToken);
  chord::v1::SubmitJobRequest submit;
  submit.set_spec_yaml(kSpec);
  auto job = client->Submit(submit);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string id = job->job_id();
  chord::v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  cancel.set_reason("not now");
  ASSERT_EQ(client->Cancel(cancel)->state(), chord::v1::JOB_STATE_CANCELLED);

  auto resumed = client->Resume(Resume(id, "now"));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->job_id(), id);
  EXPECT_EQ(resumed->state(), chord::v1::JOB_STATE_QUEUED);
  EXPECT_EQ(resumed->reason(), "");
  EXPECT_EQ(resumed->resume_count(), 1);
  // Called twice, the same answer and no second resume.
  auto again = client->Resume(Resume(id, "now"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->SerializeAsString(), resumed->SerializeAsString());
  chord::v1::GetJobRequest get;
  get.set_job_id(id);
  EXPECT_EQ(client->Get(get)->resume_count(), 1);
  auto events = store_->Events(id, 0);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->back().message(), "resumed by request: now");
  EXPECT_EQ((*events)[events->size() - 2].message(), "not now");

  // A succeeded job.
  ASSERT_TRUE(store_->SetState(id, chord::v1::JOB_STATE_RUNNING, "").ok());
  ASSERT_TRUE(store_->SetState(id, chord::v1::JOB_STATE_SUCCEEDED, "").ok());
  auto refused = client->Resume(Resume(id, ""));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      refused.status().message(),
      HasSubstr("Resume: job " + id + " is JOB_STATE_SUCCEEDED: only a FAILED or CANCELLED"));

  auto unknown = client->Resume(Resume("job-none", ""));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(unknown.status().message(), "Resume: job job-none not found");
}

TEST_F(JobServiceTest, ResumeRefusesBadRequestsAndNeedsAToken) {
  auto user = Client(*rank0_server_, kUserToken);
  auto empty = user->Resume(Resume("", ""));
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(), "Resume: job_id: required");
  auto long_reason = user->Resume(Resume("job-1", std::string(kMaxResumeReasonBytes + 1, 'x')));
  EXPECT_EQ(long_reason.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(long_reason.status().message(),
            "Resume: reason: longer than " + std::to_string(kMaxResumeReasonBytes));

  // The user token is enough (the role of Cancel and Submit); none or a wrong one is not.
  auto anonymous = Client(*rank0_server_, "")->Resume(Resume("job-1", ""));
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(anonymous.status().message(), HasSubstr("/chord.v1.JobService/Resume: no bearer"));
  auto wrong = Client(*rank0_server_, "wrong")->Resume(Resume("job-1", ""));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(user->Resume(Resume("job-1", "")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(rpc::RoleOf(JobServiceMethodRoles(), "/chord.v1.JobService/Resume"), rpc::Role::kUser);

  // A rank > 0 points at rank 0.
  auto follower = Client(*rank1_server_, kUserToken)->Resume(Resume("job-1", ""));
  EXPECT_EQ(follower.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(follower.status().message(), HasSubstr("this is learner rank 1"));
}

}  // namespace
}  // namespace chord::learner
