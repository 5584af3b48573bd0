#pragma once

// The settings of a Chord client (deadlines, retries, limits, token, TLS files): plain structs, no
// gRPC type, so that code which only configures clients (a service's options, chordctl's global
// options) does not parse the gRPC headers. channel.h makes channels from them; security.h turns
// ChannelSecurity into credentials.

#include <string>

#include "absl/time/time.h"
#include "common/rpc/message_limits.h"

namespace chord::rpc {

struct ChannelSecurity {
  // PEM CA bundle that verifies the servers. Set: TLS; empty: plaintext.
  std::string ca_file;
  // PEM certificate chain and key presented to servers that require mutual TLS (both or none;
  // only with ca_file).
  std::string cert_file;
  std::string key_file;
  // How often the watched files are read again. Default 10 s; at least 1 s.
  absl::Duration cert_refresh = absl::Seconds(10);

  bool tls() const { return !ca_file.empty(); }
};

struct ClientOptions {
  // Deadline of one attempt.
  absl::Duration attempt_deadline = absl::Seconds(30);
  // Deadline of the whole call including retries.
  absl::Duration total_deadline = absl::Seconds(60);
  // Attempts in all (1 = no retry).
  int max_attempts = 5;
  // Backoff before the second attempt; doubles each retry up to `max_backoff` (+-20% jitter).
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(3);
  // Largest message the client sends or accepts.
  int max_message_bytes = kDefaultMaxMessageBytes;
  // If set, sent as "authorization: Bearer <token>" on every call.
  std::string bearer_token;
  // TLS of the channel (security.h); default plaintext.
  ChannelSecurity security;
};

}  // namespace chord::rpc
