// SPDX-License-Identifier: AGPL-3.0-or-later
#include "smtp_session.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "address.hpp"

namespace send_test_mail {
namespace {

// libcurl wants one global init per process before any thread uses it; a
// function-local static does it once, on first use, and cleans up at exit.
void ensure_curl_initialised() {
  struct Global {
    Global() { curl_global_init(CURL_GLOBAL_DEFAULT); }
    ~Global() { curl_global_cleanup(); }
    Global(const Global&) = delete;
    Global& operator=(const Global&) = delete;
  };
  static Global global;
}

struct EasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::string upper(std::string_view text) {
  std::string out;
  for (char c : text) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string strip_line_end(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return std::string(line);
}

int reply_code(const std::string& line) {
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) || !std::isdigit(static_cast<unsigned char>(line[2]))) {
    return 0;
  }
  return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

// Follows the conversation from curl's debug callback. curl logs each command
// it sends (HEADER_OUT) and each reply line (HEADER_IN); replies are matched
// to the last command, since curl's SMTP never pipelines.
class TranscriptReader {
 public:
  TranscriptReader(SmtpOutcome& outcome, const SmtpHooks& hooks, const std::string& password)
      : outcome_(outcome), hooks_(hooks) {
    if (!password.empty()) credentials_.push_back(password);
  }

  void on_client(std::string_view data) {
    for (const auto& line : split(data)) client_line(line);
  }
  void on_server(std::string_view data) {
    for (const auto& line : split(mask_credentials(data))) server_line(line);
  }
  void on_info(std::string_view data) {
    for (const auto& line : split(mask_credentials(data))) {
      // "SSL connection using TLSv1.3 / TLS_AES_256_GCM_SHA384" (OpenSSL backend)
      const std::string marker = "SSL connection using ";
      if (const auto at = line.find(marker); at != std::string::npos) {
        const std::string rest = line.substr(at + marker.size());
        const auto slash = rest.find(" / ");
        outcome_.tls = true;
        if (outcome_.tls_version.empty()) outcome_.tls_version = rest.substr(0, slash);
        if (outcome_.tls_cipher.empty() && slash != std::string::npos) outcome_.tls_cipher = rest.substr(slash + 3);
      }
      emit("*  " + line);
    }
  }
  void on_data_out(std::size_t bytes) { data_bytes_ += bytes; }


  const std::string& last_command() const { return last_command_; }
  const std::string& mail_reply() const { return mail_reply_; }
  const std::string& auth_reply() const { return auth_reply_; }
  const std::string& last_error_reply() const { return last_error_reply_; }
  bool auth_offered() const { return !outcome_.server_auth_mechanisms.empty(); }
  bool starttls_offered() const { return starttls_offered_; }

  // `text` with the password and every credential the session sent (the
  // base64 lines of the AUTH exchange) replaced by "***". A server may echo
  // what it received ("535 you sent AHVzZXIAcGFzcw=="): its replies go into
  // errors, the result and the log, so they pass through here first.
  std::string mask_credentials(std::string_view text) const {
    std::string out(text);
    for (const auto& secret : credentials_) {
      for (auto at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
        out.replace(at, secret.size(), "***");
      }
    }
    return out;
  }

 private:
  static std::vector<std::string> split(std::string_view data) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < data.size()) {
      std::size_t end = data.find('\n', start);
      if (end == std::string_view::npos) end = data.size();
      // Server text is untrusted: control bytes and invalid UTF-8 are
      // escaped before they reach the log or the JSON result.
      std::string line = printable(strip_line_end(data.substr(start, end - start + (end < data.size() ? 1 : 0))), 2000);
      if (!line.empty()) lines.push_back(std::move(line));
      start = end + 1;
    }
    return lines;
  }

  // Shorter lines are protocol tokens ("=" for an empty response, "*" to
  // cancel), not credentials: base64 of anything is at least 4 characters.
  void add_credential(const std::string& token) {
    if (token.size() < 4 || std::find(credentials_.begin(), credentials_.end(), token) != credentials_.end()) return;
    credentials_.push_back(token);
    // Longest first, so a secret inside another is never masked half.
    std::stable_sort(credentials_.begin(), credentials_.end(),
                     [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  }

  void emit(const std::string& line) {
    outcome_.transcript.push_back(line);
    if (hooks_.transcript_line) hooks_.transcript_line(line);
  }

  void client_line(const std::string& line) {
    if (in_auth_) {
      // Every client line inside an AUTH exchange is a credential (base64).
      add_credential(line);
      emit("C: ***");
      return;
    }
    const std::string verb = upper(line.substr(0, line.find(' ')));
    if (verb == "AUTH") {
      const auto first_space = line.find(' ');
      const auto second_space = line.find(' ', first_space + 1);
      const std::string mechanism = upper(line.substr(first_space + 1, second_space == std::string::npos
                                                                            ? std::string::npos
                                                                            : second_space - first_space - 1));
      outcome_.auth_used = true;
      outcome_.auth_mechanism = mechanism;
      in_auth_ = true;
      if (second_space != std::string::npos) add_credential(line.substr(second_space + 1));
      emit("C: AUTH " + mechanism + (second_space == std::string::npos ? "" : " ***"));
    } else {
      emit("C: " + line);
    }
    last_command_ = verb;
    // Each EHLO (again after STARTTLS) replaces what the server offered.
    if (verb == "EHLO") outcome_.smtputf8_offered = false;
    if (verb == "MAIL" && upper(line).find(" SMTPUTF8") != std::string::npos) outcome_.smtputf8_used = true;
    if (verb == "RCPT") {
      const auto open = line.find('<');
      const auto close = line.find('>', open);
      current_rcpt_ = open != std::string::npos && close != std::string::npos ? line.substr(open + 1, close - open - 1)
                                                                             : line;
    }
    if (verb == "DATA") data_started_ = false;
  }

  void server_line(const std::string& line) {
    if (data_started_ && data_bytes_ > 0) {
      // curl logs the body as DATA_OUT chunks: one summary line stands for them.
      emit("C: (" + std::to_string(data_bytes_) + " bytes of message data)");
      data_bytes_ = 0;
    }
    emit("S: " + line);
    const int code = reply_code(line);
    const bool last_line = line.size() == 3 || (line.size() > 3 && line[3] == ' ');
    if (last_command_ == "EHLO" && line.size() > 4) capability(line.substr(4));
    if (!last_line) {
      if (last_command_.empty() && outcome_.greeting.empty()) outcome_.greeting = line;
      return;
    }
    if (code >= 400) last_error_reply_ = line;
    if (last_command_.empty()) {
      if (outcome_.greeting.empty()) outcome_.greeting = line;
    } else if (last_command_ == "STARTTLS") {
      if (code == 220) outcome_.tls = true;
    } else if (last_command_ == "AUTH") {
      if (code != 334) {
        in_auth_ = false;
        auth_reply_ = line;
      }
    } else if (last_command_ == "MAIL") {
      mail_reply_ = line;
    } else if (last_command_ == "RCPT") {
      if (code >= 200 && code < 300) {
        outcome_.accepted.push_back(current_rcpt_);
      } else {
        outcome_.rejected.push_back({current_rcpt_, line});
      }
    } else if (last_command_ == "DATA") {
      if (code == 354 && !data_started_) {
        data_started_ = true;
      } else {
        outcome_.final_reply = line;
      }
    }
  }

  void capability(const std::string& text) {
    const std::string u = upper(text);
    if (u == "STARTTLS") starttls_offered_ = true;
    if (u == "SMTPUTF8") outcome_.smtputf8_offered = true;
    if (u.rfind("AUTH", 0) == 0 && u.size() > 4 && (u[4] == ' ' || u[4] == '=')) {
      outcome_.server_auth_mechanisms.clear();
      std::size_t start = 5;
      while (start < u.size()) {
        std::size_t end = u.find(' ', start);
        if (end == std::string::npos) end = u.size();
        if (end > start) outcome_.server_auth_mechanisms.push_back(u.substr(start, end - start));
        start = end + 1;
      }
    }
  }

  SmtpOutcome& outcome_;
  const SmtpHooks& hooks_;
  std::string last_command_;
  std::string current_rcpt_;
  std::string mail_reply_;
  std::string auth_reply_;
  std::string last_error_reply_;
  std::vector<std::string> credentials_;  // the password, and each credential line sent
  bool in_auth_ = false;
  bool data_started_ = false;
  bool starttls_offered_ = false;
  std::size_t data_bytes_ = 0;
};

int on_debug(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  auto* reader = static_cast<TranscriptReader*>(user);
  const std::string_view text(data, size);
  switch (type) {
    case CURLINFO_HEADER_OUT: reader->on_client(text); break;
    case CURLINFO_HEADER_IN: reader->on_server(text); break;
    case CURLINFO_TEXT: reader->on_info(text); break;
    case CURLINFO_DATA_OUT: reader->on_data_out(size); break;
    default: break;  // TLS records and the message body stay out of the log
  }
  return 0;
}

struct MessageSource {
  const std::string* text;
  std::size_t offset = 0;
};

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* source = static_cast<MessageSource*>(user);
  const std::size_t room = size * count;
  const std::size_t n = std::min(room, source->text->size() - source->offset);
  std::memcpy(buffer, source->text->data() + source->offset, n);
  source->offset += n;
  return n;
}

// What the pre-request callback needs: called once the connection is ready
// (greeting, EHLO, STARTTLS, AUTH done) and before MAIL FROM, which is the
// last moment to stop without sending an address the server cannot take.
struct Preflight {
  const SmtpRequest* request;
  const SmtpOutcome* outcome;
  bool refused_smtputf8 = false;
};

int on_prerequest(void* user, char*, char*, int, int) {
  auto* preflight = static_cast<Preflight*>(user);
  if (preflight->request->needs_smtputf8 && !preflight->outcome->smtputf8_offered) {
    preflight->refused_smtputf8 = true;
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

// What the progress callback watches. curl calls it about once a second
// also while it waits for a reply, so it is where timeout_seconds holds for
// the whole session: CURLOPT_TIMEOUT alone does not bound the wait for the
// reply to the end of DATA, which libcurl 7.88 makes after the transfer,
// under its own 120 s server-response limit.
struct SessionWatch {
  const SmtpHooks* hooks;
  std::chrono::steady_clock::time_point deadline;
  bool timed_out = false;
};

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* watch = static_cast<SessionWatch*>(user);
  if (watch->hooks->cancelled && watch->hooks->cancelled()) return 1;
  if (std::chrono::steady_clock::now() >= watch->deadline) {
    watch->timed_out = true;
    return 1;
  }
  return 0;
}

// The OpenSSL session of the live connection (curl keeps it cached after the
// transfer): the exact protocol version and cipher.
void read_tls_session(CURL* curl, SmtpOutcome& outcome) {
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr) return;
  if (info->backend != CURLSSLBACKEND_OPENSSL || info->internals == nullptr) return;
  auto* ssl = static_cast<SSL*>(info->internals);
  outcome.tls = true;
  if (const char* version = SSL_get_version(ssl)) outcome.tls_version = version;
  if (const char* cipher = SSL_get_cipher_name(ssl)) outcome.tls_cipher = cipher;
}

// After a stop (timeout_seconds or a cancel) curl still keeps the connection
// and, closing it, sends QUIT and waits for the reply, up to
// CURLOPT_SERVER_RESPONSE_TIMEOUT more from a server that stalls. Shutting the
// reading side makes that wait end at once; curl closes the descriptor.
void abandon_connection(CURL* curl) {
  curl_socket_t socket = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK && socket != CURL_SOCKET_BAD) {
    ::shutdown(socket, SHUT_RD);
  }
}

std::string with_detail(const std::string& detail) { return detail.empty() ? "" : " (" + detail + ")"; }

std::string describe_failure(CURLcode code, const SmtpRequest& request, const SmtpOutcome& outcome,
                             const TranscriptReader& reader, const std::string& curl_detail, bool refused_smtputf8,
                             bool timed_out) {
  const std::string& server = request.server;
  if (code == CURLE_ABORTED_BY_CALLBACK && timed_out) code = CURLE_OPERATION_TIMEDOUT;
  switch (code) {
    case CURLE_ABORTED_BY_CALLBACK:
      if (refused_smtputf8) {
        return "SMTP server " + server + " does not advertise SMTPUTF8, which an address with a non-ASCII local "
               "part needs (RFC 6531); nothing was sent: use a server that offers SMTPUTF8 or an ASCII address";
      }
      return "cancelled while talking to " + server;
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve the host of SMTP server " + server + with_detail(curl_detail) + ": check smtp_url";
    case CURLE_COULDNT_CONNECT:
      return "cannot connect to SMTP server " + server + ": connection refused or unreachable" +
             with_detail(curl_detail) + "; check that the server is running and that smtp_url names its host and port";
    case CURLE_OPERATION_TIMEDOUT:
      if (outcome.greeting.empty()) {
        return "SMTP server " + server + " did not greet within the time allowed (connect_timeout_seconds=" +
               std::to_string(request.connect_timeout_seconds) + ", timeout_seconds=" +
               std::to_string(request.timeout_seconds) + "): check the port" +
               (request.implicit_tls ? "" : " (an implicit-TLS port such as 465 needs smtps://)") +
               " or raise the timeouts";
      }
      return "timed out talking to SMTP server " + server + " after " +
             (reader.last_command().empty() ? std::string("the greeting") : reader.last_command()) +
             " (timeout_seconds=" + std::to_string(request.timeout_seconds) + "): raise timeout_seconds or check the server";
    case CURLE_USE_SSL_FAILED:
      return "SMTP server " + server + " does not offer STARTTLS and starttls=required: enable TLS on the server, "
             "use smtps:// if its port speaks implicit TLS, or pass starttls=optional or off to send unencrypted "
             "(any password then travels in clear)";
    case CURLE_PEER_FAILED_VERIFICATION:
      return "the TLS certificate of SMTP server " + server + " is not trusted" + with_detail(curl_detail) +
             ": pass ca_file=<PEM file of the CA that signed it>, or insecure_skip_verify=true for a throwaway test server";
    case CURLE_SSL_CACERT_BADFILE:
      return "ca_file " + request.ca_file + " could not be used as a CA bundle" + with_detail(curl_detail) +
             ": give a PEM file of CA certificates";
    case CURLE_SSL_CONNECT_ERROR:
      return "TLS handshake with SMTP server " + server + " failed" + with_detail(curl_detail) +
             (request.implicit_tls ? ": check that this port speaks implicit TLS (smtps://, usually 465); "
                                     "for STARTTLS use smtp:// (usually 587)"
                                   : ": check the server's TLS set-up");
    case CURLE_LOGIN_DENIED:
      if (!reader.auth_reply().empty()) {
        return "SMTP server " + server + " rejected the credentials of user '" + request.username + "'" +
               with_detail(reader.auth_reply()) + ": check username and password" +
               (request.mechanism.empty() ? "" : " and auth=");
      }
      return "SMTP server " + server + " offers no AUTH mechanism usable" +
             (request.mechanism.empty() ? "" : " with auth=" + request.mechanism) + " (it offers: " +
             (outcome.server_auth_mechanisms.empty() ? std::string("none") : [&] {
               std::string all;
               for (const auto& m : outcome.server_auth_mechanisms) all += (all.empty() ? "" : " ") + m;
               return all;
             }()) + ")";
    default:
      break;
  }
  // Protocol refusals: name the step the server refused, with its reply.
  const int mail_code = reply_code(reader.mail_reply());
  if (mail_code >= 400) {
    if (mail_code == 530) {
      return "SMTP server " + server + " requires authentication" + with_detail(reader.mail_reply()) +
             (request.username.empty() ? ": pass username and password"
                                       : (reader.auth_offered() ? "" : ": it did not offer AUTH on this connection "
                                                                       "(many servers offer it only after STARTTLS)"));
    }
    return "SMTP server " + server + " rejected the sender " + request.mail_from + with_detail(reader.mail_reply());
  }
  if (!outcome.rejected.empty()) {
    const auto& first = outcome.rejected.front();
    std::string text = "SMTP server " + server + " rejected recipient " + first.address + with_detail(first.reply);
    if (outcome.rejected.size() > 1) text += " and " + std::to_string(outcome.rejected.size() - 1) + " more";
    return text + ": check the address, or pass allow_recipient_failures=true to send to the accepted ones";
  }
  if (reply_code(outcome.final_reply) >= 400) {
    return "SMTP server " + server + " refused the message" + with_detail(outcome.final_reply);
  }
  std::string text = "sending through SMTP server " + server + " failed: " + curl_easy_strerror(code) +
                     with_detail(curl_detail);
  if (!reader.last_error_reply().empty()) text += "; last server reply: " + reader.last_error_reply();
  return text;
}

template <typename T>
void set(CURL* curl, CURLoption option, T value) {
  const CURLcode rc = curl_easy_setopt(curl, option, value);
  if (rc != CURLE_OK) throw std::runtime_error(std::string("libcurl option refused: ") + curl_easy_strerror(rc));
}

}  // namespace

std::string parse_queue_id(const std::string& reply) {
  auto token_after = [&](const std::string& marker) -> std::string {
    const std::string u = upper(reply);
    const auto at = u.find(marker);
    if (at == std::string::npos) return {};
    std::size_t start = at + marker.size();
    std::size_t end = start;
    while (end < reply.size() && (std::isalnum(static_cast<unsigned char>(reply[end])) || reply[end] == '-' ||
                                  reply[end] == '_' || reply[end] == '.')) {
      ++end;
    }
    return reply.substr(start, end - start);
  };
  if (auto id = token_after("QUEUED AS "); !id.empty()) return id;
  return token_after("ID=");
}

SmtpOutcome send_message(const SmtpRequest& request, const SmtpHooks& hooks) {
  ensure_curl_initialised();
  SmtpOutcome outcome;
  // Declared before the handle, so they outlive it whatever happens.
  TranscriptReader reader(outcome, hooks, request.password);
  MessageSource source{request.message};
  Preflight preflight{&request, &outcome};
  SessionWatch watch{&hooks, {}};
  char error_buffer[CURL_ERROR_SIZE] = {};
  curl_slist* list = nullptr;
  for (const auto& r : request.recipients) {
    curl_slist* grown = curl_slist_append(list, ("<" + r + ">").c_str());
    if (grown == nullptr) {
      curl_slist_free_all(list);
      outcome.error = "out of memory building the recipient list";
      return outcome;
    }
    list = grown;
  }
  const std::unique_ptr<curl_slist, SlistDeleter> recipients(list);
  std::unique_ptr<CURL, EasyDeleter> curl(curl_easy_init());
  if (!curl) {
    outcome.error = "libcurl could not start a transfer (out of memory?)";
    return outcome;
  }
  CURL* c = curl.get();
  set(c, CURLOPT_ERRORBUFFER, error_buffer);
  set(c, CURLOPT_URL, request.url.c_str());
  set(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  set(c, CURLOPT_NOSIGNAL, 1L);
  set(c, CURLOPT_VERBOSE, 1L);  // the debug callback sees nothing without it
  set(c, CURLOPT_DEBUGFUNCTION, &on_debug);
  set(c, CURLOPT_DEBUGDATA, &reader);
  set(c, CURLOPT_NOPROGRESS, 0L);
  set(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  set(c, CURLOPT_XFERINFODATA, &watch);
  set(c, CURLOPT_PREREQFUNCTION, &on_prerequest);
  set(c, CURLOPT_PREREQDATA, &preflight);
  set(c, CURLOPT_TIMEOUT, request.timeout_seconds);
  // Each reply within the session's limit too (curl's default is 120 s).
  set(c, CURLOPT_SERVER_RESPONSE_TIMEOUT, request.timeout_seconds);
  set(c, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_seconds);
  const long use_ssl = request.implicit_tls || request.starttls == StartTls::required ? CURLUSESSL_ALL
                       : request.starttls == StartTls::optional                     ? CURLUSESSL_TRY
                                                                                     : CURLUSESSL_NONE;
  set(c, CURLOPT_USE_SSL, use_ssl);
  if (!request.ca_file.empty()) set(c, CURLOPT_CAINFO, request.ca_file.c_str());
  if (request.insecure_skip_verify) {
    set(c, CURLOPT_SSL_VERIFYPEER, 0L);
    set(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!request.username.empty()) {
    set(c, CURLOPT_USERNAME, request.username.c_str());
    set(c, CURLOPT_PASSWORD, request.password.c_str());
    if (!request.mechanism.empty()) set(c, CURLOPT_LOGIN_OPTIONS, ("AUTH=" + request.mechanism).c_str());
  }
  set(c, CURLOPT_MAIL_FROM, ("<" + request.mail_from + ">").c_str());
  set(c, CURLOPT_MAIL_RCPT, recipients.get());
  if (request.allow_recipient_failures) set(c, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);  // spelled so until curl 8.2
  set(c, CURLOPT_UPLOAD, 1L);
  set(c, CURLOPT_READFUNCTION, &on_read);
  set(c, CURLOPT_READDATA, &source);
  set(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.message->size()));

  const auto start = std::chrono::steady_clock::now();
  watch.deadline = start + std::chrono::seconds(request.timeout_seconds);
  const CURLcode rc = curl_easy_perform(c);
  outcome.latency_ms = static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
  const std::string curl_detail = reader.mask_credentials(strip_line_end(error_buffer));
  if (rc == CURLE_OK) read_tls_session(c, outcome);
  if (rc == CURLE_ABORTED_BY_CALLBACK) abandon_connection(c);
  // Closing sends QUIT: do it while the reader and the buffers are alive.
  curl.reset();
  if (rc == CURLE_OK) {
    outcome.sent = true;
    outcome.queue_id = parse_queue_id(outcome.final_reply);
  } else {
    outcome.error =
        describe_failure(rc, request, outcome, reader, curl_detail, preflight.refused_smtputf8, watch.timed_out);
  }
  return outcome;
}

}  // namespace send_test_mail
