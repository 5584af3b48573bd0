// Token checks and TLS of common/rpc/security.h through real servers on 127.0.0.1 port 0. The
// certificates are made at test time with openssl.

#include "common/rpc/security.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "chord/v1/reward.grpc.pb.h"
#include "common/files/file_io.h"
#include "common/rpc/channel.h"
#include "common/rpc/server_runner.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/test_credentials.h"

namespace chord::rpc {
namespace {

constexpr char kUser[] = "user-secret";
constexpr char kInternal[] = "internal-secret";
constexpr char kScore[] = "/chord.v1.RewardService/Score";
constexpr char kListVerifiers[] = "/chord.v1.RewardService/ListVerifiers";

// ListVerifiers is a user method, the rest of the RewardService internal. The test service
// implements nothing: a call that passes the token check answers UNIMPLEMENTED.
MethodRoles TestRoles() {
  return {{kListVerifiers, Role::kUser}, {"/chord.v1.RewardService/", Role::kInternal}};
}

TEST(RoleOfTest, ExactPathThenServiceThenHealthThenInternal) {
  MethodRoles roles = TestRoles();
  EXPECT_EQ(RoleOf(roles, kListVerifiers), Role::kUser);
  EXPECT_EQ(RoleOf(roles, kScore), Role::kInternal);
  EXPECT_EQ(RoleOf(roles, "/grpc.health.v1.Health/Check"), Role::kOpen);
  EXPECT_EQ(RoleOf(roles, "/grpc.health.v1.Health/Watch"), Role::kOpen);
  EXPECT_EQ(RoleOf(roles, "/chord.v1.Unknown/Method"), Role::kInternal);
  EXPECT_EQ(RoleOf(roles, ""), Role::kInternal);
  EXPECT_EQ(RoleOf({{"/grpc.health.v1.Health/", Role::kInternal}}, "/grpc.health.v1.Health/Check"),
            Role::kInternal);
}

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), "a"));
}

TEST(TokenAuthorizerTest, ChecksTokenAndRole) {
  TokenAuthorizer auth(kUser, kInternal, TestRoles());
  auto code = [&](const char* path, std::vector<absl::string_view> headers) {
    return auth.Check(path, headers).error_code();
  };
  const std::string user = std::string("Bearer ") + kUser;
  const std::string internal = std::string("Bearer ") + kInternal;
  EXPECT_EQ(code(kScore, {}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(code(kScore, {"Bearer wrong"}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(code(kScore, {kInternal}), grpc::StatusCode::UNAUTHENTICATED);  // no "Bearer "
  EXPECT_EQ(code(kScore, {"Basic " + std::string(kInternal)}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(code(kScore, {user}), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(code(kScore, {internal}), grpc::StatusCode::OK);
  EXPECT_EQ(code(kListVerifiers, {user}), grpc::StatusCode::OK);
  EXPECT_EQ(code(kListVerifiers, {internal}), grpc::StatusCode::OK);
  EXPECT_EQ(code(kListVerifiers, {}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(code("/grpc.health.v1.Health/Check", {}), grpc::StatusCode::OK);
  grpc::Status denied = auth.Check(kScore, {user});
  EXPECT_EQ(denied.error_message(), std::string(kScore) +
                                        ": the user token may not call this method (internal "
                                        "role)");

  // Without a user token of its own, a user method takes the internal token only.
  TokenAuthorizer internal_only("", kInternal, TestRoles());
  EXPECT_EQ(internal_only.Check(kListVerifiers, {"Bearer "}).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(internal_only.Check(kListVerifiers, {internal}).error_code(), grpc::StatusCode::OK);
}

TEST(IsLoopbackHostTest, Hosts) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "10.0.0.1", "::", "[::]", "example.com", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

// Calls through a channel; `token` empty: no authorization header.
class Caller {
 public:
  Caller(const std::string& address, const ChannelSecurity& security) {
    ClientOptions options;
    options.security = security;
    channel_ = MakeChannel(address, options);
    health_ = grpc::health::v1::Health::NewStub(channel_);
    reward_ = chord::v1::RewardService::NewStub(channel_);
  }

  grpc::Status Health() {
    grpc::ClientContext ctx;
    Prepare(&ctx, "");
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = health_->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
    peer_cert_.clear();
    if (status.ok() && ctx.auth_context() != nullptr) {
      for (const grpc::string_ref& pem : ctx.auth_context()->FindPropertyValues("x509_pem_cert")) {
        peer_cert_.assign(pem.data(), pem.size());
      }
    }
    return status;
  }

  grpc::Status Score(const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    chord::v1::ScoreResponse response;
    return reward_->Score(&ctx, chord::v1::ScoreRequest(), &response);
  }

  grpc::Status ListVerifiers(const std::string& token) {
    grpc::ClientContext ctx;
    Prepare(&ctx, token);
    chord::v1::ListVerifiersResponse response;
    return reward_->ListVerifiers(&ctx, chord::v1::ListVerifiersRequest(), &response);
  }

  // The PEM certificate the server presented on the last successful Health() (TLS only).
  const std::string& peer_cert() const { return peer_cert_; }

 private:
  static void Prepare(grpc::ClientContext* ctx, const std::string& token) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<chord::v1::RewardService::Stub> reward_;
  std::string peer_cert_;
};

class SecureServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ServerRunner> Start(const ServerSecurity& security,
                                      const std::string& host = "127.0.0.1") {
    ServerOptions options;
    options.service_name = "security-test";
    options.host = host;
    options.security = security;
    auto runner = ServerRunner::Start(options, {&service_});
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? std::move(*runner) : nullptr;
  }

  static ServerSecurity WithTokens() {
    ServerSecurity security;
    security.user_token = kUser;
    security.internal_token = kInternal;
    security.method_roles = TestRoles();
    return security;
  }

  // The token matrix, checked through the server's real auth processor (which must see the
  // method path: the same token passes on the user method and is refused on the internal one).
  static void ExpectTokenChecks(Caller& caller) {
    EXPECT_EQ(caller.Health().error_code(), grpc::StatusCode::OK);
    EXPECT_EQ(caller.Score("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(caller.Score("wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(caller.Score(kUser).error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_EQ(caller.Score(kInternal).error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_EQ(caller.ListVerifiers("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_EQ(caller.ListVerifiers(kUser).error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_EQ(caller.ListVerifiers(kInternal).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }

  chord::v1::RewardService::Service service_;
  testing::TempDir dir_;
};

TEST_F(SecureServerTest, PlaintextServerChecksTokensPerMethod) {
  auto runner = Start(WithTokens());
  ASSERT_NE(runner, nullptr);
  Caller caller(runner->address(), {});
  ExpectTokenChecks(caller);
  grpc::Status denied = caller.Score(kUser);
  EXPECT_EQ(denied.error_message(),
            std::string(kScore) + ": the user token may not call this method (internal role)");
}

TEST_F(SecureServerTest, NoTokensConfiguredLeavesLoopbackServerOpen) {
  auto runner = Start(ServerSecurity());
  ASSERT_NE(runner, nullptr);
  Caller caller(runner->address(), {});
  EXPECT_EQ(caller.Score("").error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(SecureServerTest, NonLoopbackBindNeedsTlsAndTokenOrInsecure) {
  ServerOptions options;
  options.service_name = "security-test";
  options.host = "0.0.0.0";
  auto refused = ServerRunner::Start(options, {&service_});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(),
            "security-test: refusing to serve on non-loopback address 0.0.0.0 without TLS and a "
            "token (set --tls_cert_file/--tls_key_file and --internal_token_file, bind 127.0.0.1, "
            "or pass --insecure; docs/security.md)");
  options.security = WithTokens();
  refused = ServerRunner::Start(options, {&service_});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "without TLS (")) << refused.status();

  // --insecure: it starts (traffic only to 127.0.0.1) and still checks the tokens it has.
  options.security.allow_insecure = true;
  auto runner = ServerRunner::Start(options, {&service_});
  ASSERT_TRUE(runner.ok()) << runner.status();
  Caller caller(absl::StrCat("127.0.0.1:", (*runner)->port()), {});
  ExpectTokenChecks(caller);
}

TEST_F(SecureServerTest, BadSecurityFilesAreInvalidArgument) {
  ServerSecurity key_only;
  key_only.key_file = dir_.File("missing.key");
  EXPECT_EQ(CheckServerSecurity("127.0.0.1", key_only).code(), absl::StatusCode::kInvalidArgument);
  ServerSecurity ca_only;
  ca_only.client_ca_file = dir_.File("ca.pem");
  EXPECT_EQ(CheckServerSecurity("127.0.0.1", ca_only).code(), absl::StatusCode::kInvalidArgument);
  ServerSecurity missing;
  missing.cert_file = dir_.File("missing.pem");
  missing.key_file = dir_.File("missing.key");
  absl::Status status = CheckServerSecurity("127.0.0.1", missing);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "--tls_cert_file " + missing.cert_file + ": cannot be read");
  ChannelSecurity client;
  client.cert_file = dir_.File("c.pem");
  client.key_file = dir_.File("c.key");
  EXPECT_EQ(CheckChannelSecurity(client).code(), absl::StatusCode::kInvalidArgument);
  client.ca_file = dir_.File("missing-ca.pem");
  EXPECT_EQ(MakeChannelCredentials(client).status().code(), absl::StatusCode::kInvalidArgument);
}

class TlsTest : public SecureServerTest {
 protected:
  void SetUp() override {
    auto ca = testing::MakeTestCa(dir_.path(), "a");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto server = testing::MakeTestCert(dir_.path(), "server", ca_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *server;
    auto client = testing::MakeTestCert(dir_.path(), "client", ca_);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *client;
  }

  ServerSecurity Tls() const {
    ServerSecurity security = WithTokens();
    security.cert_file = server_.cert_file;
    security.key_file = server_.key_file;
    security.cert_refresh = absl::Seconds(1);
    return security;
  }

  ChannelSecurity TrustingCa(const testing::TestCa& ca) const {
    ChannelSecurity security;
    security.ca_file = ca.cert_file;
    return security;
  }

  testing::TestCa ca_;
  testing::TestCert server_;
  testing::TestCert client_;
};

TEST_F(TlsTest, TlsServerChecksTokensAndRefusesPlaintextClients) {
  auto runner = Start(Tls());
  ASSERT_NE(runner, nullptr);
  Caller tls(runner->address(), TrustingCa(ca_));
  ExpectTokenChecks(tls);
  EXPECT_EQ(tls.peer_cert(), *files::ReadFile(server_.cert_file));

  Caller plaintext(runner->address(), {});
  EXPECT_EQ(plaintext.Health().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(plaintext.Score(kInternal).error_code(), grpc::StatusCode::UNAVAILABLE);

  // A client that trusts another CA refuses the server's certificate.
  auto other = testing::MakeTestCa(dir_.path(), "other");
  ASSERT_TRUE(other.ok()) << other.status();
  Caller distrusting(runner->address(), TrustingCa(*other));
  EXPECT_EQ(distrusting.Health().error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutAValidCertificate) {
  ServerSecurity security = Tls();
  security.client_ca_file = ca_.cert_file;
  auto runner = Start(security);
  ASSERT_NE(runner, nullptr);

  Caller without_cert(runner->address(), TrustingCa(ca_));
  EXPECT_EQ(without_cert.Health().error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(without_cert.Score(kInternal).error_code(), grpc::StatusCode::UNAVAILABLE);

  auto other_ca = testing::MakeTestCa(dir_.path(), "rogue");
  ASSERT_TRUE(other_ca.ok()) << other_ca.status();
  auto rogue = testing::MakeTestCert(dir_.path(), "rogue-client", *other_ca);
  ASSERT_TRUE(rogue.ok()) << rogue.status();
  ChannelSecurity rogue_security = TrustingCa(ca_);
  rogue_security.cert_file = rogue->cert_file;
  rogue_security.key_file = rogue->key_file;
  Caller rogue_caller(runner->address(), rogue_security);
  EXPECT_EQ(rogue_caller.Health().error_code(), grpc::StatusCode::UNAVAILABLE);

  ChannelSecurity with_cert = TrustingCa(ca_);
  with_cert.cert_file = client_.cert_file;
  with_cert.key_file = client_.key_file;
  Caller mutual(runner->address(), with_cert);
  ExpectTokenChecks(mutual);
}

TEST_F(TlsTest, ReplacedCertificateIsServedToNewConnectionsWithoutRestart) {
  auto runner = Start(Tls());
  ASSERT_NE(runner, nullptr);
  Caller before(runner->address(), TrustingCa(ca_));
  ASSERT_EQ(before.Health().error_code(), grpc::StatusCode::OK);
  const std::string old_pem = before.peer_cert();
  ASSERT_EQ(old_pem, *files::ReadFile(server_.cert_file));

  // Rotate to a certificate of a new CA: the key and the certificate are renamed into place.
  auto new_ca = testing::MakeTestCa(dir_.path(), "b");
  ASSERT_TRUE(new_ca.ok()) << new_ca.status();
  auto rotated = testing::MakeTestCert(dir_.path(), "rotated", *new_ca);
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  const std::string new_pem = *files::ReadFile(rotated->cert_file);
  ASSERT_NE(new_pem, old_pem);
  std::filesystem::rename(rotated->key_file, server_.key_file);
  std::filesystem::rename(rotated->cert_file, server_.cert_file);

  // New connections (a fresh channel each time) trust only the new CA: they succeed once the
  // server serves the new certificate, and see exactly it.
  std::string served;
  bool switched = testing::WaitFor(
      [&] {
        Caller fresh(runner->address(), TrustingCa(*new_ca));
        if (!fresh.Health().ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the next refresh
          return false;
        }
        served = fresh.peer_cert();
        return true;
      },
      absl::Seconds(30));
  ASSERT_TRUE(switched) << "the server kept its old certificate";
  EXPECT_EQ(served, new_pem);
  Caller old_trust(runner->address(), TrustingCa(ca_));
  EXPECT_EQ(old_trust.Health().error_code(), grpc::StatusCode::UNAVAILABLE);
  Caller tokens(runner->address(), TrustingCa(*new_ca));
  ExpectTokenChecks(tokens);
}

TEST_F(TlsTest, NonLoopbackBindWithTlsAndTokenStarts) {
  auto runner = Start(Tls(), "0.0.0.0");
  ASSERT_NE(runner, nullptr);
  Caller caller(absl::StrCat("127.0.0.1:", runner->port()), TrustingCa(ca_));
  ExpectTokenChecks(caller);
}

}  // namespace
}  // namespace chord::rpc
