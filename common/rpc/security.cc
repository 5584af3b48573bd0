#include "common/rpc/security.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace chord::rpc {
namespace {

constexpr absl::string_view kHealthService = "/grpc.health.v1.Health/";
constexpr absl::string_view kBearer = "Bearer ";

unsigned RefreshSeconds(absl::Duration refresh) {
  return static_cast<unsigned>(std::max<int64_t>(1, absl::ToInt64Seconds(refresh)));
}

absl::Status CheckReadable(absl::string_view what, const std::string& path) {
  if (access(path.c_str(), R_OK) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": cannot be read"));
  }
  return absl::OkStatus();
}

absl::Status CheckFiles(const ServerSecurity& security) {
  if (security.cert_file.empty() != security.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file: set both (TLS) or neither (plaintext)");
  }
  if (!security.client_ca_file.empty() && !security.tls()) {
    return absl::InvalidArgumentError(
        "--tls_client_ca_file: mutual TLS needs --tls_cert_file and --tls_key_file too");
  }
  if (security.tls()) {
    if (absl::Status s = CheckReadable("--tls_cert_file", security.cert_file); !s.ok()) return s;
    if (absl::Status s = CheckReadable("--tls_key_file", security.key_file); !s.ok()) return s;
  }
  if (!security.client_ca_file.empty()) {
    return CheckReadable("--tls_client_ca_file", security.client_ca_file);
  }
  return absl::OkStatus();
}

// Adapter of TLS servers (gRPC's C++ processor interface).
class TokenProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenProcessor(std::shared_ptr<const TokenAuthorizer> authorizer)
      : authorizer_(std::move(authorizer)) {}

  // The check is a few comparisons: run it on gRPC's thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
                       OutputMetadata* /*consumed*/, OutputMetadata* /*response*/) override {
    absl::string_view path;
    std::vector<absl::string_view> authorization;
    for (const auto& [key, value] : auth_metadata) {
      absl::string_view k(key.data(), key.size());
      if (k == ":path") path = absl::string_view(value.data(), value.size());
      if (k == "authorization") authorization.emplace_back(value.data(), value.size());
    }
    return authorizer_->Check(path, authorization);
  }

 private:
  std::shared_ptr<const TokenAuthorizer> authorizer_;
};

// Adapter of plaintext servers. grpc::InsecureServerCredentials() refuses an auth processor in
// gRPC 1.51 (it asserts), so plaintext servers use gRPC core's insecure credentials, to which a
// processor can be attached, through this small ServerCredentials.
class PlaintextServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit PlaintextServerCredentials(std::shared_ptr<const TokenAuthorizer> authorizer)
      : credentials_(grpc_insecure_server_credentials_create()) {
    // gRPC core owns the state (it outlives these credentials, which die with the builder) and
    // frees it through Destroy.
    grpc_auth_metadata_processor processor{
        &PlaintextServerCredentials::Process, &PlaintextServerCredentials::Destroy,
        new std::shared_ptr<const TokenAuthorizer>(std::move(authorizer))};
    grpc_server_credentials_set_auth_metadata_processor(credentials_, processor);
  }
  ~PlaintextServerCredentials() override { grpc_server_credentials_release(credentials_); }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>& /*processor*/) override {
    // The token processor is attached at construction; nothing else is ever set.
  }

 private:
  using State = std::shared_ptr<const TokenAuthorizer>;

  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), credentials_);
  }

  static void Destroy(void* state) { delete static_cast<State*>(state); }

  static void Process(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md,
                      size_t num_md, grpc_process_auth_metadata_done_cb done, void* user_data) {
    const TokenAuthorizer& authorizer = **static_cast<State*>(state);
    absl::string_view path;
    std::vector<absl::string_view> authorization;
    for (size_t i = 0; i < num_md; ++i) {
      absl::string_view key(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].key)),
                            GRPC_SLICE_LENGTH(md[i].key));
      absl::string_view value(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(md[i].value)),
                              GRPC_SLICE_LENGTH(md[i].value));
      if (key == ":path") path = value;
      if (key == "authorization") authorization.push_back(value);
    }
    grpc::Status status = authorizer.Check(path, authorization);
    done(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(status.error_code()),
         status.ok() ? nullptr : status.error_message().c_str());
  }

  grpc_server_credentials* credentials_;
};

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOpen:
      return "open";
    case Role::kUser:
      return "user";
    case Role::kInternal:
      return "internal";
  }
  return "internal";
}

Role RoleOf(const MethodRoles& roles, absl::string_view method_path) {
  if (auto it = roles.find(std::string(method_path)); it != roles.end()) return it->second;
  size_t slash = method_path.rfind('/');
  if (slash != absl::string_view::npos && slash > 0) {
    absl::string_view service = method_path.substr(0, slash + 1);
    if (auto it = roles.find(std::string(service)); it != roles.end()) return it->second;
    if (service == kHealthService) return Role::kOpen;
  }
  return Role::kInternal;
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Every byte of the longer string is visited whatever the contents.
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

TokenAuthorizer::TokenAuthorizer(std::string user_token, std::string internal_token,
                                 MethodRoles roles)
    : user_token_(std::move(user_token)),
      internal_token_(std::move(internal_token)),
      roles_(std::move(roles)) {}

grpc::Status TokenAuthorizer::Check(absl::string_view method_path,
                                    const std::vector<absl::string_view>& authorization) const {
  const Role role = RoleOf(roles_, method_path);
  if (role == Role::kOpen) return grpc::Status::OK;
  if (authorization.empty()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        absl::StrCat(method_path, ": no bearer token (this service requires the ",
                                     RoleName(role), " token)"));
  }
  bool user = false;
  bool internal = false;
  for (absl::string_view header : authorization) {
    absl::string_view token = header;
    if (!absl::ConsumePrefix(&token, kBearer)) continue;
    // Both comparisons always run, so the time does not tell which token matched.
    bool is_user = !user_token_.empty() && ConstantTimeEquals(token, user_token_);
    bool is_internal = !internal_token_.empty() && ConstantTimeEquals(token, internal_token_);
    user = user || is_user;
    internal = internal || is_internal;
  }
  if (internal) return grpc::Status::OK;
  if (user && role == Role::kUser) return grpc::Status::OK;
  if (user) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat(method_path, ": the user token may not call this method (internal role)"));
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      absl::StrCat(method_path, ": wrong bearer token (this service requires the ",
                                   RoleName(role), " token)"));
}

bool IsLoopbackHost(absl::string_view host) {
  absl::string_view h = host;
  if (absl::ConsumePrefix(&h, "[")) absl::ConsumeSuffix(&h, "]");
  return h == "localhost" || h == "::1" || absl::StartsWith(h, "127.");
}

absl::Status CheckServerSecurity(absl::string_view host, const ServerSecurity& security) {
  if (absl::Status files = CheckFiles(security); !files.ok()) return files;
  if (IsLoopbackHost(host) || security.allow_insecure) return absl::OkStatus();
  if (!security.tls() || !security.tokens()) {
    std::string missing = !security.tls() && !security.tokens() ? "TLS and a token"
                          : !security.tls()                     ? "TLS"
                                                                : "a token";
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to serve on non-loopback address ", host, " without ", missing,
        " (set --tls_cert_file/--tls_key_file and --internal_token_file, bind 127.0.0.1, or "
        "pass --insecure; docs/security.md)"));
  }
  return absl::OkStatus();
}

absl::Status CheckChannelSecurity(const ChannelSecurity& security) {
  if (security.cert_file.empty() != security.key_file.empty()) {
    return absl::InvalidArgumentError(
        "client certificate: set both the certificate and the key file, or neither");
  }
  if (!security.cert_file.empty() && !security.tls()) {
    return absl::InvalidArgumentError("client certificate: needs a CA file (TLS) too");
  }
  if (security.tls()) {
    if (absl::Status s = CheckReadable("CA file", security.ca_file); !s.ok()) return s;
  }
  if (!security.cert_file.empty()) {
    if (absl::Status s = CheckReadable("client certificate", security.cert_file); !s.ok()) {
      return s;
    }
    return CheckReadable("client key", security.key_file);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security) {
  if (absl::Status files = CheckFiles(security); !files.ok()) return files;
  std::shared_ptr<const TokenAuthorizer> authorizer;
  if (security.tokens()) {
    authorizer = std::make_shared<const TokenAuthorizer>(
        security.user_token, security.internal_token, security.method_roles);
  }
  if (!security.tls()) {
    if (authorizer == nullptr) return grpc::InsecureServerCredentials();
    return std::shared_ptr<grpc::ServerCredentials>(
        std::make_shared<PlaintextServerCredentials>(std::move(authorizer)));
  }
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      security.key_file, security.cert_file, security.client_ca_file,
      RefreshSeconds(security.cert_refresh));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!security.client_ca_file.empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(options);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert_file ", security.cert_file, ": TLS credentials not created"));
  }
  if (authorizer != nullptr) {
    credentials->SetAuthMetadataProcessor(std::make_shared<TokenProcessor>(std::move(authorizer)));
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurity& security) {
  if (absl::Status files = CheckChannelSecurity(security); !files.ok()) return files;
  if (!security.tls()) return grpc::InsecureChannelCredentials();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      security.key_file, security.cert_file, security.ca_file,
      RefreshSeconds(security.cert_refresh));
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (!security.cert_file.empty()) options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::experimental::TlsCredentials(options);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA file ", security.ca_file, ": TLS channel credentials not created"));
  }
  return credentials;
}

}  // namespace chord::rpc
