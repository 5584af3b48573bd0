#pragma once

// Test support: bearer tokens and X.509 certificates made at test time (nothing secret is
// committed). Certificates come from the `openssl` command (tools/install-deps.sh installs it).

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace chord::testing {

// A user and an internal token, each also written to a file (mode 0600) in a directory.
struct ServiceTokens {
  std::string user;
  std::string internal;
  std::string user_file;
  std::string internal_file;

  // --user_token_file=... --internal_token_file=... for a service's command line.
  std::vector<std::string> Flags() const;
};

// Writes two distinct random tokens to `dir`/user.token and `dir`/internal.token.
absl::StatusOr<ServiceTokens> WriteServiceTokens(const std::string& dir);

// A certificate authority: its certificate (PEM) and key files.
struct TestCa {
  std::string cert_file;
  std::string key_file;
};

// A leaf certificate signed by a TestCa, valid for 127.0.0.1 and localhost, usable by servers
// and clients (mutual TLS).
struct TestCert {
  std::string cert_file;
  std::string key_file;
};

// Creates a CA named `name` (files `dir`/name.ca.pem and `dir`/name.ca.key; ECDSA P-256).
absl::StatusOr<TestCa> MakeTestCa(const std::string& dir, const std::string& name);

// Creates a certificate named `name` signed by `ca` (files `dir`/name.pem and `dir`/name.key).
absl::StatusOr<TestCert> MakeTestCert(const std::string& dir, const std::string& name,
                                      const TestCa& ca);

}  // namespace chord::testing
