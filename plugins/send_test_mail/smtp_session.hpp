// SPDX-License-Identifier: AGPL-3.0-or-later
// One SMTP submission with libcurl: connect, EHLO, STARTTLS or implicit TLS,
// AUTH, MAIL/RCPT/DATA, streaming the prepared message. It reads the protocol
// transcript as it goes (greeting, TLS, accepted recipients, the final reply)
// and turns failures into one-line messages that name the server and the fix.
// An address with a UTF-8 local part goes out only when the server's EHLO
// reply offers SMTPUTF8 (libcurl then adds the parameter to MAIL FROM); when
// it does not, the session stops before MAIL FROM, so nothing is sent.
// Guarantees: the password is handed only to libcurl; the transcript it logs
// has AUTH exchanges replaced by "***", and server replies the password and
// every credential line sent (a server may echo them); no error text includes
// the password or its base64 forms. timeout_seconds bounds the whole session.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace send_test_mail {

enum class StartTls { required, optional, off };

struct SmtpRequest {
  std::string url;        // smtp[s]://host:port/ehlo-name, built by the caller
  std::string server;     // host:port, for messages
  bool implicit_tls = false;
  StartTls starttls = StartTls::required;
  std::string username;   // empty: no AUTH
  std::string password;   // secret
  std::string mechanism;  // "", "PLAIN" or "LOGIN"
  std::string mail_from;  // bare address
  std::vector<std::string> recipients;  // every envelope recipient (To, Cc, Bcc)
  bool needs_smtputf8 = false;          // an address has a UTF-8 local part
  bool allow_recipient_failures = false;
  long timeout_seconds = 30;
  long connect_timeout_seconds = 10;
  std::string ca_file;
  bool insecure_skip_verify = false;
  const std::string* message = nullptr;  // CRLF text, outlives the call
};

struct RejectedRecipient {
  std::string address;
  std::string reply;
};

struct SmtpOutcome {
  bool sent = false;
  std::string error;  // one line, when !sent
  std::string greeting;
  bool tls = false;
  std::string tls_version;
  std::string tls_cipher;
  bool auth_used = false;
  std::string auth_mechanism;
  std::vector<std::string> server_auth_mechanisms;
  bool smtputf8_offered = false;  // in the last EHLO reply (after STARTTLS, the TLS one)
  bool smtputf8_used = false;     // MAIL FROM carried the SMTPUTF8 parameter
  std::vector<std::string> accepted;
  std::vector<RejectedRecipient> rejected;
  std::string final_reply;
  std::string queue_id;
  long latency_ms = 0;
  std::vector<std::string> transcript;  // redacted, "C: " / "S: " / "*: " lines
};

struct SmtpHooks {
  std::function<void(const std::string&)> transcript_line;  // each redacted line, as it happens
  std::function<bool()> cancelled;                          // true: abort the transfer
};

// Sends request.message. When request.needs_smtputf8 and the server does not
// advertise SMTPUTF8, stops before MAIL FROM (nothing is sent) with an error
// that says so. Never throws for protocol or network failures: they
// come back as outcome.error.
SmtpOutcome send_message(const SmtpRequest& request, const SmtpHooks& hooks);

// The queue id in a final DATA reply ("250 OK queued as 4F2A", "250 2.0.0 Ok:
// queued as 4F2A", "250 OK id=1q2w3e-..."), empty when there is none.
std::string parse_queue_id(const std::string& reply);

}  // namespace send_test_mail
