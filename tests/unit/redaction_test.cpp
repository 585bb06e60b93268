// SPDX-License-Identifier: AGPL-3.0-or-later
// Redaction at the secrets boundary: a stream redacts a secret split across
// pieces and lines, a multi-line secret is hidden line by line too, a
// connection string's password is found as it is spelt (percent-encoded),
// and a parameter read through @env: is hidden whatever its type.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "params/param_builder.hpp"
#include "params/redaction.hpp"

namespace {

using dihya::host::password_spellings;
using dihya::host::Redactor;

// Feeds `pieces` to redact_prefix as a stream would arrive, then flushes.
std::string redact_stream(const Redactor& redactor, const std::vector<std::string>& pieces) {
  std::string pending;
  std::string out;
  for (const auto& piece : pieces) {
    pending += piece;
    pending.erase(0, redactor.redact_prefix(pending, false, &out));
  }
  redactor.redact_prefix(pending, true, &out);
  return out;
}

}  // namespace

TEST_CASE("a stream masks a secret split across pieces and lines", "[redaction]") {
  Redactor redactor;
  redactor.add_secret("-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nQ7=\n-----END KEY-----");
  const std::string out = redact_stream(
      redactor, {"note: -----BEGIN KEY-----\n", "MIIEvQIBADANBgk", "qhkiG9w0B\n", "Q7=\n", "-----END KEY-----\n", "done\n"});
  CHECK(out == "note: ***\ndone\n");
}

TEST_CASE("a stream holds back only what may start a secret", "[redaction]") {
  Redactor redactor;
  redactor.add_secret("hunter2-secret");
  std::string out;
  CHECK(redactor.redact_prefix("line one\nhunter2-se", false, &out) == 9);
  CHECK(out == "line one\n");
  out.clear();
  CHECK(redactor.redact_prefix("hunter2-secret!\n", false, &out) == 16);
  CHECK(out == "***!\n");
  out.clear();
  CHECK(redactor.redact_prefix("hunter2-se", true, &out) == 10);  // the end: a prefix alone is not the secret
  CHECK(out == "hunter2-se");
}

TEST_CASE("each long line of a multi-line secret is a secret too", "[redaction]") {
  Redactor redactor;
  redactor.add_secret("-----BEGIN KEY-----\r\nMIIEvQIBADANBgkqhkiG9w0B\r\nQ7=\r\n-----END KEY-----");
  CHECK(redactor.redact("logged alone: MIIEvQIBADANBgkqhkiG9w0B") == "logged alone: ***");
  CHECK(redactor.redact("Q7=") == "Q7=");  // shorter than kMinSecretLine: only masked inside the whole
}

TEST_CASE("a URL's password is found as it is written", "[redaction]") {
  CHECK(password_spellings("postgresql://app:p%40ss%2Fw@db.example:5432/app") == std::vector<std::string>{"p%40ss%2Fw"});
  CHECK(password_spellings("postgresql:///app?host=/run/pg&password=s%26cr%3Dt&user=x") ==
        std::vector<std::string>{"s%26cr%3Dt"});
  // As written, and as libpq reads it (backslash escapes, quoted or not).
  CHECK(password_spellings("host=db password='it\\'s' user=x") == std::vector<std::string>{"it\\'s", "it's"});
  CHECK(password_spellings("host=/x user=u password=S3cr3t\\ Pw0rd") ==
        std::vector<std::string>{"S3cr3t\\ Pw0rd", "S3cr3t Pw0rd"});
  // libpq decodes a query's keys: any letter of "password" may be encoded.
  CHECK(password_spellings("postgresql://u@h/db?%70assword=S3cr3t%50w0rd") == std::vector<std::string>{"S3cr3t%50w0rd"});
  CHECK(password_spellings("postgresql://u@h/db?sslmode=disable&PA%53%73word=Xy%ZZ") ==
        std::vector<std::string>{"Xy%ZZ"});
  CHECK(password_spellings("postgresql:///app?host=/run/pg").empty());
  CHECK(password_spellings("").empty());
  // No password: a port or a query's '@' is no user info.
  CHECK(password_spellings("postgresql://app@db.example:5432/app").empty());
  CHECK(password_spellings("postgresql://db.example:5432/app?options=a@b").empty());
}

TEST_CASE("a connection string's password is masked however it is spelt", "[redaction]") {
  using dihya::host::redact_connection_string;
  CHECK(redact_connection_string("postgresql://u@h/db?%70assword=S3cr3t%50w0rd&sslmode=disable") ==
        "postgresql://u@h/db?%70assword=***&sslmode=disable");
  CHECK(redact_connection_string("host=/x user=u password=S3cr3t\\ Pw0rd dbname=d") == "host=/x user=u password=*** dbname=d");
  // A text that is a URL from its first byte: quotes, blanks and '<>' before
  // the '@' are the password's (libpq and libcurl read them so).
  for (const std::string pw : {"S3c\"r3t", "S3c'r3t", "S3c`r3t", "S3c<r3t>", "S3c r3t"}) {
    CHECK(redact_connection_string("postgresql://u:" + pw + "@h/db") == "postgresql://u:***@h/db");
    CHECK(redact_connection_string("smtp://bob:" + pw + "@127.0.0.1:25") == "smtp://bob:***@127.0.0.1:25");
  }
  // A URL quoted inside a message still ends at its closing quote.
  CHECK(redact_connection_string("cannot reach \"postgresql://u:pw@h/db\" (user \"u@h\")") ==
        "cannot reach \"postgresql://u:***@h/db\" (user \"u@h\")");
}

TEST_CASE("a password libpq cannot parse is masked in its message", "[redaction]") {
  // libpq's messages for these quote the password (or a piece of it) alone.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"postgresql://u:S3CR3T-Z1?%ZZ@/db?host=/run/pg", "invalid percent-encoded token: \"S3CR3T-Z1?%ZZ\""},
      {"postgresql://u:S3CR3T-Z3?%00@/db?host=/run/pg", "forbidden value %00 in percent-encoded value: \"S3CR3T-Z3?%00\""},
      {"postgresql://u:S3CR3T-Z4/rest-of-it@/db?host=/run/pg",
       "invalid integer value \"S3CR3T-Z4\" for connection option \"port\""},
  };
  for (const auto& [url, message] : cases) {
    Redactor redactor;
    for (auto& spelling : password_spellings(url)) redactor.add_secret(spelling);
    const std::string shown = redactor.redact(message);
    CHECK(shown.find("S3CR3T") == std::string::npos);
    CHECK(shown.find("***") != std::string::npos);
  }
}

TEST_CASE("a parameter read through @env: is hidden whatever its type", "[redaction]") {
  const nlohmann::json schema = {{"type", "object"},
                                 {"properties",
                                  {{"count", {{"type", "integer"}}},
                                   {"token", {{"type", "string"}}},
                                   {"name", {{"type", "string"}}}}}};
  ::setenv("DIHYA_TEST_REDACTION_COUNT", "4242", 1);
  ::setenv("DIHYA_TEST_REDACTION_TOKEN", "tok-canary", 1);
  const auto params = dihya::host::build_params(
      schema, {"count=@env:DIHYA_TEST_REDACTION_COUNT", "token=@env:DIHYA_TEST_REDACTION_TOKEN", "name=Ada"},
      std::nullopt);
  REQUIRE(params.values["count"] == 4242);
  Redactor redactor;
  for (const auto& s : params.secret_values) redactor.add_secret(s);
  const auto shown = dihya::host::redact_resolved_params(params, schema, redactor);
  CHECK(shown["count"] == "***");
  CHECK(shown["token"] == "***");
  CHECK(shown["name"] == "Ada");
}
