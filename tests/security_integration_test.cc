// Every service binary with tokens, as a process on 127.0.0.1 port 0: for the learner's JobService
// and WeightService, the rollout worker, the reward service and the expert buffer, a call without
// a token, with a wrong token and (on internal methods) with the user token is refused, the right
// token passes, and the health service stays open. Then the safe defaults: a non-loopback --host
// without TLS and a token refuses to start, --insecure starts with a warning, and a service
// started with mutual TLS from the shared flags refuses clients without a certificate.

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "chord/v1/expert_buffer.grpc.pb.h"
#include "chord/v1/learner.grpc.pb.h"
#include "chord/v1/reward.grpc.pb.h"
#include "chord/v1/rollout.grpc.pb.h"
#include "chord/v1/weights.grpc.pb.h"
#include "common/files/file_io.h"
#include "common/model/tiny_preset.h"
#include "common/rpc/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/test_credentials.h"

namespace chord {
namespace {

using testing::ServiceProcess;

// One unary call with an optional bearer token.
using Call = std::function<grpc::Status(grpc::ClientContext*)>;

grpc::Status Invoke(const Call& call, const std::string& token) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  return call(&ctx);
}

grpc::Status Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckResponse response;
  return Invoke(
      [&](grpc::ClientContext* ctx) {
        return stub->Check(ctx, grpc::health::v1::HealthCheckRequest(), &response);
      },
      "");
}

class SecurityIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tokens = testing::WriteServiceTokens(dir_.path());
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = *tokens;
  }

  // Starts `binary` with the token files and `args`, in its own run directory.
  ServiceProcess Start(const std::string& binary, std::vector<std::string> args) {
    const std::string run = dir_.File(binary);
    std::filesystem::create_directories(run);
    for (const std::string& flag : tokens_.Flags()) args.push_back(flag);
    auto service = testing::StartService(binary, args, run);
    EXPECT_TRUE(service.ok()) << service.status();
    return service.ok() ? std::move(*service) : ServiceProcess();
  }

  // The token matrix of one method: `role_user` says whether the user token may call it.
  void ExpectChecks(const std::string& what, const Call& call, bool role_user) {
    SCOPED_TRACE(what);
    grpc::Status none = Invoke(call, "");
    EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED) << none.error_message();
    EXPECT_TRUE(absl::StrContains(none.error_message(), "no bearer token")) << none.error_message();
    grpc::Status wrong = Invoke(call, "not-the-token");
    EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED) << wrong.error_message();
    grpc::Status user = Invoke(call, tokens_.user);
    if (role_user) {
      EXPECT_TRUE(user.ok()) << user.error_message();
    } else {
      EXPECT_EQ(user.error_code(), grpc::StatusCode::PERMISSION_DENIED) << user.error_message();
    }
    grpc::Status internal = Invoke(call, tokens_.internal);
    EXPECT_TRUE(internal.ok()) << internal.error_message();
  }

  testing::TempDir dir_;
  testing::ServiceTokens tokens_;
};

TEST_F(SecurityIntegrationTest, EveryServiceChecksTokensAndRoles) {
  ServiceProcess reward = Start("chord-reward", {"--workers=1"});
  ServiceProcess expert_buffer = Start("chord-expert-buffer", {});
  const std::string model = dir_.File("model");
  ASSERT_TRUE(model::WriteTinyModel(model).ok());
  ServiceProcess worker = Start("chord-rollout-worker", {"--model=" + model, "--torch_threads=1"});
  std::filesystem::create_directories(dir_.File("learner-state"));
  ServiceProcess learner =
      Start("chord-learner", {"--state_dir=" + dir_.File("learner-state"), "--torch_threads=1"});
  ASSERT_GT(reward.port, 0);
  ASSERT_GT(expert_buffer.port, 0);
  ASSERT_GT(worker.port, 0);
  ASSERT_GT(learner.port, 0);

  auto channel = [](const ServiceProcess& s) {
    return rpc::MakeChannel(s.address(), rpc::ClientOptions());
  };
  for (const ServiceProcess* s : {&reward, &expert_buffer, &worker, &learner}) {
    EXPECT_TRUE(Health(channel(*s)).ok()) << s->address();
  }

  auto reward_stub = chord::v1::RewardService::NewStub(channel(reward));
  chord::v1::ListVerifiersResponse verifiers;
  ExpectChecks(
      "RewardService/ListVerifiers",
      [&](grpc::ClientContext* ctx) {
        return reward_stub->ListVerifiers(ctx, chord::v1::ListVerifiersRequest(), &verifiers);
      },
      /*role_user=*/false);

  auto buffer_stub = chord::v1::ExpertBufferService::NewStub(channel(expert_buffer));
  chord::v1::StatsResponse stats;
  ExpectChecks(
      "ExpertBufferService/Stats",
      [&](grpc::ClientContext* ctx) {
        return buffer_stub->Stats(ctx, chord::v1::StatsRequest(), &stats);
      },
      /*role_user=*/false);
  // Reloading a dataset is internal too: the user token may not.
  chord::v1::LoadDatasetRequest load;
  load.set_name("tasks");
  load.set_kind(chord::v1::DATASET_KIND_TASKS);
  load.set_content("{\"prompt\": \"1+1=?\", \"answer\": \"2\"}\n");
  chord::v1::LoadDatasetResponse loaded;
  ExpectChecks(
      "ExpertBufferService/LoadDataset",
      [&](grpc::ClientContext* ctx) { return buffer_stub->LoadDataset(ctx, load, &loaded); },
      /*role_user=*/false);

  auto rollout_stub = chord::v1::RolloutService::NewStub(channel(worker));
  chord::v1::GetStatusResponse status;
  ExpectChecks(
      "RolloutService/GetStatus",
      [&](grpc::ClientContext* ctx) {
        return rollout_stub->GetStatus(ctx, chord::v1::GetStatusRequest(), &status);
      },
      /*role_user=*/false);

  auto jobs = chord::v1::JobService::NewStub(channel(learner));
  chord::v1::ListJobsResponse list;
  ExpectChecks(
      "JobService/List",
      [&](grpc::ClientContext* ctx) {
        return jobs->List(ctx, chord::v1::ListJobsRequest(), &list);
      },
      /*role_user=*/true);

  auto weights = chord::v1::WeightService::NewStub(channel(learner));
  chord::v1::GetVersionResponse version;
  ExpectChecks(
      "WeightService/GetVersion",
      [&](grpc::ClientContext* ctx) {
        return weights->GetVersion(ctx, chord::v1::GetVersionRequest(), &version);
      },
      /*role_user=*/false);
}

TEST_F(SecurityIntegrationTest, NonLoopbackHostNeedsTlsAndTokenOrInsecure) {
  // Refused: one line on stderr, exit 1, nothing served.
  testing::CommandResult refused = testing::RunCommand(
      absl::StrCat(testing::BinaryPath("chord-reward"), " --host=0.0.0.0 --port=0 --workers=1"),
      absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(absl::StrContains(
      refused.output,
      "chord-reward: error: FAILED_PRECONDITION: refusing to serve on non-loopback address "
      "0.0.0.0 without TLS and a token"))
      << refused.output;
  refused =
      testing::RunCommand(absl::StrCat(testing::BinaryPath("chord-reward"),
                                       " --host=0.0.0.0 --port=0 --workers=1 ", tokens_.Flags()[1]),
                          absl::Seconds(30));
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_TRUE(absl::StrContains(refused.output, "without TLS (")) << refused.output;

  // --insecure: it starts on all interfaces (the test talks to 127.0.0.1 only) and warns.
  const std::string run = dir_.File("insecure");
  std::filesystem::create_directories(run);
  auto insecure = testing::StartService(
      "chord-reward", {"--workers=1", "--host=0.0.0.0", "--insecure", tokens_.Flags()[1]}, run);
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  auto log = files::ReadFile(run + "/chord-reward.log");
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(absl::StrContains(*log, "--insecure: serving on 0.0.0.0 without TLS")) << *log;
  auto stub = chord::v1::RewardService::NewStub(
      rpc::MakeChannel(insecure->address(), rpc::ClientOptions()));
  chord::v1::ListVerifiersResponse verifiers;
  auto list = [&](grpc::ClientContext* ctx) {
    return stub->ListVerifiers(ctx, chord::v1::ListVerifiersRequest(), &verifiers);
  };
  EXPECT_EQ(Invoke(list, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Invoke(list, tokens_.internal).ok());
}

TEST_F(SecurityIntegrationTest, MutualTlsFromTheSharedFlags) {
  auto ca = testing::MakeTestCa(dir_.path(), "ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  auto server = testing::MakeTestCert(dir_.path(), "server", *ca);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = testing::MakeTestCert(dir_.path(), "client", *ca);
  ASSERT_TRUE(client.ok()) << client.status();

  // StartService's health probe is plaintext, so the port file alone says it started.
  const std::string run = dir_.File("mtls");
  std::filesystem::create_directories(run);
  auto process = testing::ChildProcess::Start(
      {testing::BinaryPath("chord-reward"), "--host=0.0.0.0", "--port=0",
       "--port_file=" + run + "/port", "--workers=1", "--tls_cert_file=" + server->cert_file,
       "--tls_key_file=" + server->key_file, "--tls_client_ca_file=" + ca->cert_file,
       tokens_.Flags()[0], tokens_.Flags()[1]},
      run + "/reward.log");
  ASSERT_TRUE(process.ok()) << process.status();
  auto port = testing::WaitForPortFile(run + "/port", process->get());
  ASSERT_TRUE(port.ok()) << port.status() << *files::ReadFile(run + "/reward.log");
  const std::string address = absl::StrCat("127.0.0.1:", *port);

  rpc::ClientOptions options;
  options.security.ca_file = ca->cert_file;
  options.security.cert_file = client->cert_file;
  options.security.key_file = client->key_file;
  auto stub = chord::v1::RewardService::NewStub(rpc::MakeChannel(address, options));
  chord::v1::ListVerifiersResponse verifiers;
  auto list = [&](grpc::ClientContext* ctx) {
    return stub->ListVerifiers(ctx, chord::v1::ListVerifiersRequest(), &verifiers);
  };
  EXPECT_TRUE(Invoke(list, tokens_.internal).ok());
  EXPECT_EQ(Invoke(list, tokens_.user).error_code(), grpc::StatusCode::PERMISSION_DENIED);

  rpc::ClientOptions no_cert;
  no_cert.security.ca_file = ca->cert_file;
  EXPECT_EQ(Health(rpc::MakeChannel(address, no_cert)).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Health(rpc::MakeChannel(address, rpc::ClientOptions())).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace chord
