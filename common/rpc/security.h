#pragma once

// Transport security and bearer-token checks of every Chord server and channel (docs/security.md).
//
// The one place that turns certificate files and tokens into gRPC credentials:
//  - MakeServerCredentials: TLS when a certificate and key are given, mutual TLS when a client CA
//    is given too (a client without a valid certificate is refused during the handshake);
//    plaintext otherwise. When a token is configured, every call except the health service
//    passes one token check (TokenAuthorizer) before its handler runs.
//  - MakeChannelCredentials: TLS when a CA is given (the server's certificate must chain to it and
//    name the host dialled), presenting a client certificate when one is given; plaintext
//    otherwise.
// Certificate, key and CA files are watched: a changed file is read again within `cert_refresh`
// and used by the connections made after that, without a restart (cert-manager rotations).
//
// Roles: each service declares the role of its methods (MethodRoles). A call to a kUser method
// needs the user or the internal token; a kInternal method needs the internal token; kOpen
// methods (the health service) need none. A missing or unknown token answers UNAUTHENTICATED,
// the user token on an internal method PERMISSION_DENIED. A method no table names is internal.
//
// Clients send "authorization: Bearer <token>" (ClientOptions::bearer_token, channel.h).

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/rpc/client_options.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/status.h"

namespace chord::rpc {

enum class Role {
  // Anyone who reaches the port (the health service).
  kOpen,
  // The user token or the internal token: the JobService, model and dataset transfer.
  kUser,
  // The internal token only: service-to-service methods.
  kInternal,
};

// "open", "user", "internal".
absl::string_view RoleName(Role role);

// Role of each method, by full path ("/chord.v1.JobService/Submit") or by service, written as
// the path prefix "/chord.v1.JobService/" (the exact path wins). Each service's grpc_service.h
// declares its table.
using MethodRoles = std::map<std::string, Role>;

// The role `method_path` needs under `roles`: the exact path, else its service's entry, else
// kOpen for the health service (grpc.health.v1.Health), else kInternal.
Role RoleOf(const MethodRoles& roles, absl::string_view method_path);

// Compares in time that depends only on the lengths, not on where the strings differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// The token check shared by every server. Thread-safe (immutable).
class TokenAuthorizer {
 public:
  // An empty token leaves its role without a token of its own (a kUser method then takes the
  // internal token only; with no internal token, kInternal methods are refused to everyone).
  TokenAuthorizer(std::string user_token, std::string internal_token, MethodRoles roles);

  // OK when a call to `method_path` carrying `authorization` (the header's values; empty when
  // absent) may proceed; UNAUTHENTICATED or PERMISSION_DENIED with a one-line reason otherwise.
  grpc::Status Check(absl::string_view method_path,
                     const std::vector<absl::string_view>& authorization) const;

 private:
  const std::string user_token_;
  const std::string internal_token_;
  const MethodRoles roles_;
};

struct ServerSecurity {
  // PEM certificate chain and private key of the server. Both set: TLS; both empty: plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle the clients' certificates must chain to. Set: mutual TLS (needs cert_file).
  std::string client_ca_file;
  // Bearer tokens (the secret itself, not a path). Both empty: no token check.
  std::string user_token;
  std::string internal_token;
  // Role of each method (see above).
  MethodRoles method_roles;
  // Lets a server bind a non-loopback address without TLS or without a token (a warning is
  // logged at every start). Default false: such a start is refused.
  bool allow_insecure = false;
  // How often watched certificate files are read again. Default 10 s; at least 1 s.
  absl::Duration cert_refresh = absl::Seconds(10);

  bool tls() const { return !cert_file.empty(); }
  bool tokens() const { return !user_token.empty() || !internal_token.empty(); }
};

// ChannelSecurity: client_options.h.

// True for 127.0.0.0/8, ::1 and "localhost" (with or without brackets).
bool IsLoopbackHost(absl::string_view host);

// INVALID_ARGUMENT naming the missing piece when the files do not form a usable setup (a key
// without a certificate, a client CA without TLS, a file that cannot be read); FAILED_PRECONDITION
// with a one-line reason when `host` is not loopback and TLS or a token is missing and
// allow_insecure is false.
absl::Status CheckServerSecurity(absl::string_view host, const ServerSecurity& security);

// INVALID_ARGUMENT when the files do not form a usable setup (see ChannelSecurity).
absl::Status CheckChannelSecurity(const ChannelSecurity& security);

// Credentials for grpc::ServerBuilder::AddListeningPort with the token check attached when a
// token is configured. Errors as CheckServerSecurity's file checks.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerSecurity& security);

// Credentials for a channel. Errors as CheckChannelSecurity.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ChannelSecurity& security);

}  // namespace chord::rpc
