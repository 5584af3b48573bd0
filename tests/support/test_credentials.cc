#include "tests/support/test_credentials.h"

#include <sys/stat.h>

#include <fstream>
#include <random>

#include "absl/strings/str_cat.h"
#include "tests/support/child_process.h"

namespace chord::testing {
namespace {

absl::Status Openssl(const std::string& args) {
  CommandResult run = RunCommand("openssl " + args);
  if (run.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("openssl ", args, ": exit ", run.exit_code, ": ", run.output));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WriteToken(const std::string& path) {
  std::random_device random;
  std::string token;
  for (int i = 0; i < 8; ++i) absl::StrAppend(&token, absl::Hex(random(), absl::kZeroPad8));
  std::ofstream(path) << token << "\n";
  if (chmod(path.c_str(), 0600) != 0) return absl::InternalError(path + ": chmod");
  return token;
}

}  // namespace

std::vector<std::string> ServiceTokens::Flags() const {
  return {"--user_token_file=" + user_file, "--internal_token_file=" + internal_file};
}

absl::StatusOr<ServiceTokens> WriteServiceTokens(const std::string& dir) {
  ServiceTokens tokens;
  tokens.user_file = dir + "/user.token";
  tokens.internal_file = dir + "/internal.token";
  absl::StatusOr<std::string> user = WriteToken(tokens.user_file);
  if (!user.ok()) return user.status();
  absl::StatusOr<std::string> internal = WriteToken(tokens.internal_file);
  if (!internal.ok()) return internal.status();
  tokens.user = *user;
  tokens.internal = *internal;
  return tokens;
}

absl::StatusOr<TestCa> MakeTestCa(const std::string& dir, const std::string& name) {
  TestCa ca{absl::StrCat(dir, "/", name, ".ca.pem"), absl::StrCat(dir, "/", name, ".ca.key")};
  absl::Status made = Openssl(absl::StrCat(
      "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj '/CN=", name,
      " test CA' -keyout ", ca.key_file, " -out ", ca.cert_file, " 2>&1"));
  if (!made.ok()) return made;
  return ca;
}

absl::StatusOr<TestCert> MakeTestCert(const std::string& dir, const std::string& name,
                                      const TestCa& ca) {
  TestCert cert{absl::StrCat(dir, "/", name, ".pem"), absl::StrCat(dir, "/", name, ".key")};
  const std::string csr = absl::StrCat(dir, "/", name, ".csr");
  const std::string extensions = absl::StrCat(dir, "/", name, ".ext");
  std::ofstream(extensions) << "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                            << "extendedKeyUsage=serverAuth,clientAuth\n"
                            << "basicConstraints=CA:FALSE\n";
  absl::Status made = Openssl(
      absl::StrCat("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=", name,
                   "' -keyout ", cert.key_file, " -out ", csr, " 2>&1"));
  if (!made.ok()) return made;
  made = Openssl(absl::StrCat("x509 -req -in ", csr, " -CA ", ca.cert_file, " -CAkey ", ca.key_file,
                              " -set_serial ", std::random_device{}(), " -days 2 -extfile ",
                              extensions, " -out ", cert.cert_file, " 2>&1"));
  if (!made.ok()) return made;
  return cert;
}

}  // namespace chord::testing
