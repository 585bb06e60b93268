// SPDX-License-Identifier: AGPL-3.0-or-later
// send_test_mail: checks every operator input (addresses, URL, headers,
// templates) before anything is sent, builds the MIME message, then submits it
// with one SMTP session and reports what the server said. validate() and run()
// share one resolver, so what was validated is exactly what is sent.
#include <algorithm>
#include <cctype>
#include <optional>
#include <random>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include <dihya/plugin.hpp>

#include "address.hpp"
#include "attachment.hpp"
#include "mail_template.hpp"
#include "mime_message.hpp"
#include "smtp_session.hpp"

namespace send_test_mail {
namespace {

constexpr std::size_t kMaxTemplateFile = 1 << 20;
constexpr std::size_t kMaxBody = 4u << 20;
// RFC 5321 4.5.3.1.8: a server must accept at least 100 recipients.
constexpr std::size_t kMaxRecipients = 100;
constexpr long kDefaultAttachmentLimit = 10L << 20;
constexpr long kDefaultTotalAttachmentLimit = 25L << 20;

struct ServerUrl {
  std::string scheme;
  std::string host;  // brackets kept for IPv6
  long port = 0;
  std::string server() const { return host + ":" + std::to_string(port); }
};

// Everything run() needs, resolved and checked.
struct Plan {
  ServerUrl url;
  StartTls starttls = StartTls::required;
  std::string ehlo_name;
  std::string username;
  std::string password;
  std::string mechanism;
  MailContent content;
  std::vector<Address> bcc;  // envelope only: never in content, so never in a header
  long timeout_seconds = 30;
  long connect_timeout_seconds = 10;
  std::string ca_file;
  bool insecure_skip_verify = false;
  bool allow_recipient_failures = false;
};

std::string parse_smtp_url(const std::string& text, ServerUrl* out) {
  if (has_line_break_or_nul(text)) return "contains CR, LF or NUL";
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) return "expected smtp://host[:port] or smtps://host[:port]";
  std::string scheme = text.substr(0, scheme_end);
  for (auto& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "smtp" && scheme != "smtps") return "the scheme must be smtp:// or smtps://, not " + printable(scheme, 20) + "://";
  std::string rest = text.substr(scheme_end + 3);
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  // The URL is echoed in errors and reports: refuse credentials in it without quoting it.
  if (rest.find('@') != std::string::npos) return "must not hold a user or password: use username and password (@env:VAR)";
  if (rest.find_first_of("/?#") != std::string::npos) return "must not hold a path, query or fragment (the EHLO name is ehlo_name)";
  std::string host = rest;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return "an IPv6 address needs a closing ']'";
    host = rest.substr(0, close + 1);
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return "invalid IPv6 address";
    }
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return "unexpected text after the IPv6 address";
      port = rest.substr(close + 2);
    }
  } else if (const auto colon = rest.find(':'); colon != std::string::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return "the host is empty";
  if (host.front() != '[') {
    if (const std::string why = check_ascii_domain(host); !why.empty()) {
      return "host " + printable(host, 60) + ": " + why + " (give an international name in its punycode form)";
    }
  }
  long number = scheme == "smtps" ? 465 : 25;
  if (!port.empty() || rest.find(':') != std::string::npos) {
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return "the port must be a number";
    number = std::stol(port);
    if (number < 1 || number > 65535) return "the port must be between 1 and 65535";
  }
  *out = ServerUrl{scheme, host, number};
  return {};
}

std::string random_hex(std::size_t digits) {
  static const char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string out;
  while (out.size() < digits) {
    auto bits = device();
    for (int i = 0; i < 8 && out.size() < digits; ++i, bits >>= 4) out += kHex[bits & 0xFu];
  }
  return out;
}

// The run id goes into Message-ID: keep it a dot-atom whatever the host sends.
std::string atom_safe(const std::string& text) {
  std::string out;
  for (unsigned char c : text) out += std::isalnum(c) || c == '-' || c == '.' || c == '_' ? static_cast<char>(c) : '-';
  return out.empty() ? "run" : out;
}

// Text that ends up in a body: UTF-8, no NUL, bounded.
std::string check_body(const std::string& body) {
  if (body.find('\0') != std::string::npos) return "contains a NUL byte";
  if (!dihya::valid_utf8(body)) return "is not valid UTF-8";
  if (body.size() > kMaxBody) return "is larger than 4 MiB";
  return {};
}

std::string default_text(const Plan& plan, const std::string& run_id) {
  return "This is a test message sent by dihya-host (send_test_mail).\n\nRun: " + run_id +
         "\nServer: " + plan.url.scheme + "://" + plan.url.server() +
         "\n\nIf you can read this, the mail set-up works.\n";
}

std::string wrap_html(const std::string& subject, const std::string& escaped_body) {
  return "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(subject) +
         "</title></head>\n<body><pre style=\"font-family: inherit; white-space: pre-wrap\">" + escaped_body +
         "</pre></body></html>\n";
}

class PlanReader {
 public:
  PlanReader(const dihya::Params& params, dihya::Context& ctx) : params_(params), ctx_(ctx) {}

  std::optional<Plan> read(std::vector<dihya::ValidationError>* errors) {
    Plan plan;
    read_server(plan);
    read_auth(plan);
    read_addresses(plan);
    read_headers(plan);
    read_body(plan);
    read_attachments(plan);
    *errors = std::move(errors_);
    if (!errors->empty()) return std::nullopt;
    return plan;
  }

 private:
  void error(const std::string& field, const std::string& message) { errors_.push_back({field, message}); }

  std::string get(const char* key) const { return params_.get_or<std::string>(key, ""); }

  void read_server(Plan& plan) {
    if (const std::string why = parse_smtp_url(get("smtp_url"), &plan.url); !why.empty()) error("smtp_url", why);
    const std::string mode = get("starttls");
    plan.starttls = mode == "optional" ? StartTls::optional : mode == "off" ? StartTls::off : StartTls::required;
    plan.ehlo_name = get("ehlo_name");
    if (has_line_break_or_nul(plan.ehlo_name)) {
      error("ehlo_name", "contains CR, LF or NUL (command injection refused)");
    } else if (params_.has("ehlo_name")) {
      if (const std::string why = check_ascii_domain(plan.ehlo_name); !why.empty()) {
        error("ehlo_name", "'" + printable(plan.ehlo_name) + "' is not a domain name: " + why);
      }
    }
    plan.timeout_seconds = params_.get_or<long>("timeout_seconds", 30);
    plan.connect_timeout_seconds = params_.get_or<long>("connect_timeout_seconds", 10);
    plan.insecure_skip_verify = params_.get_or<bool>("insecure_skip_verify", false);
    plan.allow_recipient_failures = params_.get_or<bool>("allow_recipient_failures", false);
    plan.ca_file = get("ca_file");
    if (!plan.ca_file.empty()) {
      if (::access(plan.ca_file.c_str(), R_OK) != 0) error("ca_file", printable(plan.ca_file, 200) + " does not exist or is not readable");
    }
  }

  void read_auth(Plan& plan) {
    plan.username = get("username");
    plan.password = ctx_.secret("password").value_or(get("password"));
    if (has_line_break_or_nul(plan.username)) error("username", "contains CR, LF or NUL");
    if (has_line_break_or_nul(plan.password)) error("password", "contains CR, LF or NUL");
    if (!plan.username.empty() && plan.password.empty()) error("password", "username is set but no password: pass password=@env:VAR");
    if (plan.username.empty() && !plan.password.empty()) error("username", "a password is set but no username");
    const std::string auth = get("auth");
    plan.mechanism = auth == "plain" ? "PLAIN" : auth == "login" ? "LOGIN" : "";
    if (!plan.mechanism.empty() && plan.username.empty()) error("auth", "auth=" + auth + " needs username and password");
  }

  void read_addresses(Plan& plan) {
    std::string why;
    if (!parse_mailbox(get("from"), &plan.content.from, &why)) error("from", why);
    read_mailbox_list("to", &plan.content.to);
    if (params_.get_or<std::vector<std::string>>("to", {}).empty()) error("to", "give at least one recipient");
    read_mailbox_list("cc", &plan.content.cc);
    std::vector<Mailbox> bcc;
    read_mailbox_list("bcc", &bcc);
    for (const auto& mailbox : bcc) {
      // A display name would appear nowhere: a Bcc recipient has no header.
      if (!mailbox.display_name.empty()) {
        error("bcc", "'" + printable(mailbox.display_name) + "': a Bcc recipient has no header to show a display name in; give the bare address");
      }
      plan.bcc.push_back(mailbox.address);
    }
    std::vector<std::pair<std::string, std::string>> seen;  // key, field
    auto note = [&](const Address& a, const char* field) {
      std::string key = a.local + "@";
      for (char c : a.domain) key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (const auto& [other, where] : seen) {
        if (other == key) {
          error(field, a.str() + " is given twice (in " + where + " and " + field + ")");
          return;
        }
      }
      seen.emplace_back(key, field);
    };
    for (const auto& m : plan.content.to) note(m.address, "to");
    for (const auto& m : plan.content.cc) note(m.address, "cc");
    for (const auto& a : plan.bcc) note(a, "bcc");
    if (seen.size() > kMaxRecipients) {
      error("to", std::to_string(seen.size()) + " recipients in to, cc and bcc together; at most 100");
    }
  }

  void read_mailbox_list(const char* field, std::vector<Mailbox>* out) {
    const auto list = params_.get_or<std::vector<std::string>>(field, {});
    for (std::size_t i = 0; i < list.size(); ++i) {
      Mailbox mailbox;
      std::string why;
      if (parse_mailbox(list[i], &mailbox, &why)) {
        out->push_back(mailbox);
      } else {
        error(std::string(field) + "[" + std::to_string(i) + "]", why);
      }
    }
  }

  void read_attachments(Plan& plan) {
    if (!params_.has("attachments")) return;
    const auto per_file = static_cast<std::size_t>(params_.get_or<long>("max_attachment_bytes", kDefaultAttachmentLimit));
    const auto total = static_cast<std::size_t>(params_.get_or<long>("max_total_attachment_bytes", kDefaultTotalAttachmentLimit));
    std::size_t used = 0;
    const auto& items = params_.json().at("attachments");
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string field = "attachments[" + std::to_string(i) + "]";
      AttachmentRequest request;
      if (items[i].is_string()) {
        request.path = items[i].get<std::string>();
      } else {
        request.path = items[i].value("path", "");
        request.filename = items[i].value("filename", "");
        request.content_type = items[i].value("content_type", "");
        if (items[i].contains("filename") && request.filename.empty()) {
          error(field, "filename is empty");
          continue;
        }
      }
      const std::size_t left = total - std::min(total, used);
      const std::string limit_text =
          per_file <= left ? "the per-attachment limit of " + std::to_string(per_file) + " bytes (max_attachment_bytes)"
                           : "what the total limit of " + std::to_string(total) +
                                 " bytes (max_total_attachment_bytes) leaves: " + std::to_string(left) + " bytes";
      Attachment attachment;
      std::string why;
      if (!read_attachment(request, std::min(per_file, left), limit_text, &attachment, &why)) {
        error(field, why);
        continue;
      }
      used += attachment.data.size();
      plan.content.attachments.push_back(std::move(attachment));
    }
  }

  void read_headers(Plan& plan) {
    if (!params_.has("headers")) return;
    std::set<std::string> seen;  // field names are case-insensitive (RFC 5322 2.2)
    for (const auto& [name, value] : params_.json().at("headers").items()) {
      const std::string shown = "header '" + printable(name, 60) + "'";
      if (has_line_break_or_nul(name) || !is_field_name(name)) {
        error("headers", shown + ": not a valid field name (printable ASCII without ':' or spaces; CR/LF refused)");
        continue;
      }
      std::string folded = name;
      std::transform(folded.begin(), folded.end(), folded.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!seen.insert(folded).second) {
        error("headers", shown + ": given twice (field names ignore case)");
        continue;
      }
      if (is_reserved_header(name)) {
        error("headers", shown + ": set by send_test_mail itself and cannot be overridden");
        continue;
      }
      const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      if (has_line_break_or_nul(text)) {
        error("headers", shown + ": the value contains CR, LF or NUL (header injection refused)");
      } else if (!dihya::valid_utf8(text)) {
        error("headers", shown + ": the value is not valid UTF-8");
      } else if (has_control_character(text, true)) {
        error("headers", shown + ": the value contains a control character");
      } else {
        plan.content.extra_headers.emplace_back(name, text);
      }
    }
  }

  // Renders `source` when templating is on, else returns it as is.
  std::optional<std::string> render(const std::string& field, const std::string& source, bool escape) {
    if (!params_.has("variables")) return source;
    std::string out;
    std::string why;
    if (!render_template(source, params_.json().at("variables"), escape, kMaxBody, &out, &why)) {
      error(field, why);
      return std::nullopt;
    }
    return out;
  }

  void read_body(Plan& plan) {
    std::string subject = get("subject");
    if (has_line_break_or_nul(subject)) {
      error("subject", "contains CR, LF or NUL (header injection refused)");
      return;
    }
    if (auto rendered = render("subject", subject, false)) {
      // A variable's value may hold the line break the subject itself did not.
      if (has_line_break_or_nul(*rendered)) {
        error("subject", "the rendered subject contains CR, LF or NUL (header injection refused)");
      } else if (!dihya::valid_utf8(*rendered)) {
        error("subject", "is not valid UTF-8");
      } else if (has_control_character(*rendered, true)) {
        error("subject", "contains a control character");
      } else {
        plan.content.subject = *rendered;
      }
    }
    if (params_.has("template") && params_.has("text")) {
      error("template", "give either template or text, not both");
      return;
    }
    if (params_.has("template")) {
      std::string source = get("template");
      if (source.find('\n') == std::string::npos && source.find("{{") == std::string::npos) {
        std::string why;
        const std::string path = source;
        if (!read_local_file(path, kMaxTemplateFile, std::to_string(kMaxTemplateFile) + " bytes", &source, &why)) {
          error("template", "file '" + printable(path, 200) + "': " + why +
                                " (an inline template holds a newline or a {{tag}})");
          return;
        }
      }
      std::string out;
      std::string why;
      if (!render_template(source, params_.json().value("variables", nlohmann::json::object()), false, kMaxBody, &out,
                           &why)) {
        error("template", why);
        return;
      }
      plan.content.text = out;
      if (!params_.has("html")) plan.content.html = wrap_html(plan.content.subject, html_escape(out));
    } else if (params_.has("text")) {
      plan.content.text = render("text", get("text"), false);
    }
    if (params_.has("html")) plan.content.html = render("html", get("html"), true);
    for (const auto& [field, body] : {std::pair{"text", &plan.content.text}, std::pair{"html", &plan.content.html}}) {
      if (!*body) continue;
      if (const std::string why = check_body(**body); !why.empty()) error(field, "the body " + why);
    }
  }

  const dihya::Params& params_;
  dihya::Context& ctx_;
  std::vector<dihya::ValidationError> errors_;
};

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

std::string starttls_name(StartTls mode) {
  return mode == StartTls::required ? "required" : mode == StartTls::optional ? "optional" : "off";
}

std::string tls_mode(const Plan& plan) {
  return plan.url.scheme == "smtps" ? "implicit TLS" : "STARTTLS " + starttls_name(plan.starttls);
}

// Every envelope recipient (To, Cc, then Bcc), bare.
std::vector<std::string> envelope_recipients(const Plan& plan) {
  std::vector<std::string> out;
  for (const auto& m : plan.content.to) out.push_back(m.address.str());
  for (const auto& m : plan.content.cc) out.push_back(m.address.str());
  for (const auto& a : plan.bcc) out.push_back(a.str());
  return out;
}

std::vector<std::string> addresses(const std::vector<Mailbox>& list) {
  std::vector<std::string> out;
  for (const auto& m : list) out.push_back(m.address.str());
  return out;
}

bool needs_smtputf8(const Plan& plan) {
  bool needed = plan.content.from.address.utf8_local;
  for (const auto* list : {&plan.content.to, &plan.content.cc}) {
    for (const auto& m : *list) needed = needed || m.address.utf8_local;
  }
  for (const auto& a : plan.bcc) needed = needed || a.utf8_local;
  return needed;
}

nlohmann::json attachments_json(const Plan& plan) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : plan.content.attachments) {
    out.push_back({{"filename", a.filename}, {"content_type", a.content_type}, {"size_bytes", a.data.size()},
                   {"sha256", a.sha256}});
  }
  return out;
}

std::string envelope_report(const Plan& plan, const std::string& message) {
  const std::vector<std::string> to = envelope_recipients(plan);
  std::string report = "server      " + plan.url.scheme + "://" + plan.url.server() + " (" + tls_mode(plan) + ")\n";
  if (!plan.ehlo_name.empty()) report += "ehlo        " + plan.ehlo_name + "\n";
  if (!plan.username.empty()) {
    report += "auth        " + (plan.mechanism.empty() ? std::string("auto") : plan.mechanism) + " as " +
              plan.username + ", password ***\n";
  }
  report += "mail from   <" + plan.content.from.address.str() + ">\n";
  report += "rcpt to     <" + join(to, ">, <") + ">" + (plan.bcc.empty() ? "" : " (the last " + std::to_string(plan.bcc.size()) + " as Bcc)") + "\n";
  if (needs_smtputf8(plan)) report += "smtputf8    needed (an address has a non-ASCII local part)\n";
  for (const auto& a : plan.content.attachments) {
    report += "attachment  " + a.filename + " (" + a.content_type + ", " + std::to_string(a.data.size()) +
              " bytes, sha256 " + a.sha256 + ")\n";
  }
  report += "size        " + std::to_string(message.size()) + " bytes\n";
  return report;
}

// What the operator should know even though the server accepted the message.
std::vector<std::string> warnings(const Plan& plan, const SmtpOutcome& outcome) {
  std::vector<std::string> out;
  if (!plan.username.empty() && !outcome.auth_used && outcome.sent) {
    out.push_back("the server offered no AUTH, so the credentials were not used");
  }
  if (outcome.auth_used && !outcome.tls) out.push_back("the credentials were sent unencrypted (no TLS)");
  if (plan.insecure_skip_verify) out.push_back("the server certificate was not verified (insecure_skip_verify)");
  return out;
}

nlohmann::json outcome_json(const Plan& plan, const SmtpOutcome& outcome, const MessageIdentity& identity,
                            std::size_t size) {
  nlohmann::json rejected = nlohmann::json::array();
  for (const auto& r : outcome.rejected) rejected.push_back({{"address", r.address}, {"reply", r.reply}});
  return {
      {"sent", outcome.sent},
      {"server", plan.url.server()},
      {"scheme", plan.url.scheme},
      {"greeting", outcome.greeting},
      {"tls", {{"negotiated", outcome.tls}, {"mode", tls_mode(plan)}, {"version", outcome.tls_version},
               {"cipher", outcome.tls_cipher}}},
      {"auth", {{"used", outcome.auth_used}, {"mechanism", outcome.auth_mechanism}, {"username", plan.username},
                {"offered", outcome.server_auth_mechanisms}}},
      {"from", plan.content.from.address.str()},
      {"to", addresses(plan.content.to)},
      {"cc", addresses(plan.content.cc)},
      {"bcc", [&] {
         std::vector<std::string> bcc;
         for (const auto& a : plan.bcc) bcc.push_back(a.str());
         return bcc;
       }()},
      {"smtputf8", outcome.smtputf8_used},
      {"attachments", attachments_json(plan)},
      {"accepted_recipients", outcome.accepted},
      {"rejected_recipients", rejected},
      {"final_reply", outcome.final_reply},
      {"queue_id", outcome.queue_id},
      {"message_id", identity.message_id},
      {"run_id", identity.run_id},
      {"size_bytes", size},
      {"latency_ms", outcome.latency_ms},
      {"warnings", warnings(plan, outcome)},
      {"transcript", outcome.transcript},
  };
}

std::string outcome_report(const Plan& plan, const SmtpOutcome& outcome, const MessageIdentity& identity) {
  std::vector<std::string> rejected;
  for (const auto& r : outcome.rejected) rejected.push_back(r.address + " (" + r.reply + ")");
  std::string tls = outcome.tls ? (outcome.tls_version.empty() ? std::string("yes") : outcome.tls_version) +
                                      (outcome.tls_cipher.empty() ? "" : " " + outcome.tls_cipher) + " (" +
                                      tls_mode(plan) + ")"
                                : "no (" + tls_mode(plan) + ")";
  std::string report = "server      " + plan.url.scheme + "://" + plan.url.server() + "\n";
  report += "greeting    " + outcome.greeting + "\n";
  report += "tls         " + tls + "\n";
  report += "auth        " + (outcome.auth_used ? outcome.auth_mechanism + " as " + plan.username : std::string("none")) + "\n";
  report += "accepted    " + (outcome.accepted.empty() ? std::string("-") : join(outcome.accepted, ", ")) + "\n";
  if (!rejected.empty()) report += "rejected    " + join(rejected, ", ") + "\n";
  report += "reply       " + (outcome.final_reply.empty() ? std::string("-") : outcome.final_reply) + "\n";
  report += "queue id    " + (outcome.queue_id.empty() ? std::string("-") : outcome.queue_id) + "\n";
  report += "message-id  <" + identity.message_id + ">\n";
  report += "latency     " + std::to_string(outcome.latency_ms) + " ms\n";
  for (const auto& warning : warnings(plan, outcome)) report += "warning     " + warning + "\n";
  return report;
}

class SendTestMail final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    std::vector<dihya::ValidationError> errors;
    PlanReader(params, ctx).read(&errors);
    return errors;
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    std::vector<dihya::ValidationError> errors;
    auto plan = PlanReader(params, ctx).read(&errors);
    if (!plan) {
      std::vector<std::string> lines;
      for (const auto& e : errors) lines.push_back(e.field + ": " + e.message);
      throw dihya::Error("invalid parameters: " + join(lines, "; "));
    }
    MessageIdentity identity;
    identity.run_id = ctx.run_id();
    identity.message_id = atom_safe(ctx.run_id()) + "." + random_hex(16) + "@" + plan->content.from.address.domain;
    identity.boundary = "=_dihya_" + random_hex(24);
    identity.date = ctx.now();
    if (!plan->content.text && !plan->content.html) {
      plan->content.text = default_text(*plan, ctx.run_id());
      plan->content.html = wrap_html(plan->content.subject, html_escape(*plan->content.text));
    }
    const std::string message = build_message(plan->content, identity);

    if (ctx.dry_run()) {
      // The preview shows each attachment's part headers but not its base64:
      // megabytes of it would swamp the terminal and the run record.
      MailContent preview_content = plan->content;
      for (auto& a : preview_content.attachments) {
        a.data = "(" + std::to_string(a.data.size()) + " bytes of " + a.filename + " go here, base64; sha256 " +
                 a.sha256 + ")";
      }
      const std::string preview =
          plan->content.attachments.empty() ? message : build_message(preview_content, identity, true);
      dihya::Result result = dihya::Result::success(
          "would send " + std::to_string(message.size()) + " bytes to " + std::to_string(envelope_recipients(*plan).size()) +
              " recipient(s) via " + plan->url.server() + " (dry run: no connection made)",
          {{"dry_run", true}, {"server", plan->url.server()}, {"from", plan->content.from.address.str()},
           {"to", addresses(plan->content.to)}, {"cc", addresses(plan->content.cc)},
           {"bcc", [&] {
              std::vector<std::string> bcc;
              for (const auto& a : plan->bcc) bcc.push_back(a.str());
              return bcc;
            }()},
           {"smtputf8_needed", needs_smtputf8(*plan)}, {"attachments", attachments_json(*plan)},
           {"message_id", identity.message_id}, {"size_bytes", message.size()}, {"message", preview}});
      std::string shown = preview;
      for (std::size_t at = 0; (at = shown.find("\r\n", at)) != std::string::npos;) shown.erase(at, 1);
      result.report = envelope_report(*plan, message) + "\n" + shown;
      return result;
    }

    ctx.log().info("sending a {}-byte test message to {} recipient(s) via {}://{} ({})", message.size(),
                   envelope_recipients(*plan).size(), plan->url.scheme, plan->url.server(), tls_mode(*plan));
    SmtpRequest request;
    request.url = plan->url.scheme + "://" + plan->url.server() + "/" + plan->ehlo_name;
    if (plan->ehlo_name.empty()) request.url.pop_back();
    request.server = plan->url.server();
    request.implicit_tls = plan->url.scheme == "smtps";
    request.starttls = plan->starttls;
    request.username = plan->username;
    request.password = plan->password;
    request.mechanism = plan->mechanism;
    request.mail_from = plan->content.from.address.str();
    request.recipients = envelope_recipients(*plan);
    request.needs_smtputf8 = needs_smtputf8(*plan);
    request.allow_recipient_failures = plan->allow_recipient_failures;
    request.timeout_seconds = plan->timeout_seconds;
    request.connect_timeout_seconds = plan->connect_timeout_seconds;
    request.ca_file = plan->ca_file;
    request.insecure_skip_verify = plan->insecure_skip_verify;
    request.message = &message;
    SmtpHooks hooks;
    hooks.transcript_line = [&ctx](const std::string& line) { ctx.log().debug("smtp {}", line); };
    hooks.cancelled = [&ctx] { return ctx.cancelled(); };

    SmtpOutcome outcome;
    try {
      outcome = send_message(request, hooks);
    } catch (const std::exception& e) {
      throw dihya::Error(std::string("send_test_mail: ") + e.what());
    }
    const auto data = outcome_json(*plan, outcome, identity, message.size());
    if (!outcome.sent) return dihya::Result::failure(outcome.error, data);
    dihya::Result result = dihya::Result::success(
        "sent test message to " + std::to_string(outcome.accepted.size()) + " recipient(s) via " +
            plan->url.server() + (outcome.queue_id.empty() ? "" : " (queue id " + outcome.queue_id + ")") + " in " +
            std::to_string(outcome.latency_ms) + " ms",
        data);
    result.report = outcome_report(*plan, outcome, identity);
    return result;
  }
};

}  // namespace
}  // namespace send_test_mail

DIHYA_PLUGIN(send_test_mail::SendTestMail)
