// SPDX-License-Identifier: AGPL-3.0-or-later
// export_user_data: answers a data subject access request. Every table that
// references the users table (the SDK's FkGraph) is read in one repeatable-read
// snapshot through a server-side cursor, so memory stays flat whatever the
// row count; PostgreSQL formats the values (row_to_json with TimeZone UTC, so
// timestamptz is ISO-8601 UTC, numeric exact, jsonb as JSON, bytea base64).
// Each table becomes a JSON and a CSV file spooled to the work dir with its
// SHA-256, then one archive is written to a temp name and renamed. Text that
// is not UTF-8 (a SQL_ASCII database) is marked, never written raw
// (raw_bytes.hpp): every file of the archive is UTF-8.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <set>
#include <sstream>

#include <dihya/fk_graph.hpp>
#include <dihya/pg_untrusted_code.hpp>
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <dihya/utc_time.hpp>
#include <dihya/utf8.hpp>
#include <dihya/yaml_file.hpp>
#include <dihya/sha256.hpp>
#include <pqxx/pqxx>

#include "archive_writer.hpp"
#include "raw_bytes.hpp"

namespace export_user_data {

namespace {

const std::vector<std::string> kDefaultOmitted{"password",  "password_*", "*_password", "*passwd*", "*token*",
                                               "*secret*",  "api_key*",   "*_api_key",  "*_hash",   "*_salt",
                                               "otp_*",     "totp_*",     "private_key*"};

struct ExportConfig {
  dihya::FkGraphConfig graph;
  std::vector<std::string> omit_patterns = kDefaultOmitted;
  std::set<std::pair<dihya::TableName, std::string>> omit_columns;  // exact table.column
  std::string email_column = "email";

  bool omitted(const dihya::TableName& t, const std::string& column) const {
    if (omit_columns.count({t, column})) return true;
    for (const auto& p : omit_patterns) {
      if (::fnmatch(p.c_str(), column.c_str(), FNM_CASEFOLD) == 0) return true;
    }
    return false;
  }
};

ExportConfig load_config(const dihya::Params& params) {
  ExportConfig c;
  if (!params.has("config")) return c;
  const auto path = params.get<std::string>("config");
  const auto j = dihya::load_yaml_file(path);
  if (j.is_null()) return c;
  if (!j.is_object()) throw dihya::Error(path + ": expected a mapping at the top");
  try {
    for (const auto& [key, value] : j.items()) {
      if (key == "graph") {
        c.graph = dihya::FkGraphConfig::from_json(value);
      } else if (key == "omit_patterns") {
        if (!value.is_array()) throw dihya::Error("omit_patterns must be a list of globs");
        c.omit_patterns.clear();
        for (const auto& p : value) {
          if (!p.is_string()) throw dihya::Error("omit_patterns must be a list of globs");
          c.omit_patterns.push_back(p.get<std::string>());
        }
      } else if (key == "omit_columns") {
        if (!value.is_array()) throw dihya::Error("omit_columns must be a list of {table, column}");
        for (const auto& o : value) {
          if (!o.is_object() || !o.contains("table") || !o.contains("column") || !o.at("column").is_string()) {
            throw dihya::Error("omit_columns entries are {table: schema.table, column: name}");
          }
          c.omit_columns.insert({dihya::TableName::from_json(o.at("table")), o.at("column").get<std::string>()});
        }
      } else if (key == "email_column") {
        if (!value.is_string() || value.get<std::string>().empty()) throw dihya::Error("email_column must be a name");
        c.email_column = value.get<std::string>();
      } else {
        throw dihya::Error("unknown key '" + key + "' (graph, omit_patterns, omit_columns, email_column)");
      }
    }
  } catch (const dihya::Error& e) {
    throw dihya::Error(path + ": " + e.what());
  }
  return c;
}

// Streams bytes to a file while hashing them.
class HashedFile {
 public:
  explicit HashedFile(const std::filesystem::path& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw dihya::Error("cannot write " + path.string());
  }
  HashedFile(const HashedFile&) = delete;
  HashedFile& operator=(const HashedFile&) = delete;

  void write(std::string_view s) {
    out_.write(s.data(), static_cast<std::streamsize>(s.size()));
    digest_.update(s);
    bytes_ += s.size();
  }
  // Closes the file; returns the hex SHA-256. Throws on a write error.
  std::string finish() {
    out_.close();
    if (!out_) throw dihya::Error("cannot write " + path_.string() + " (disk full?)");
    return digest_.hex();
  }
  std::uint64_t bytes() const { return bytes_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  dihya::Sha256 digest_;
  std::uint64_t bytes_ = 0;
};

// RFC 4180 with PostgreSQL's conventions: NULL is an empty field, the empty
// string is "". A value that is not UTF-8 is marked (its marking needs no quotes).
void append_csv_field(std::string& line, const pqxx::field& f) {
  if (f.is_null()) return;
  const std::string_view v(f.c_str(), f.size());
  if (!dihya::valid_utf8(v)) {
    line += utf8_or_marked(v);
    return;
  }
  const bool quote = v.empty() || v.find_first_of(",\"\r\n") != std::string_view::npos || v.front() == ' ' ||
                     v.back() == ' ';
  if (!quote) {
    line += v;
    return;
  }
  line += '"';
  for (char ch : v) {
    if (ch == '"') line += '"';
    line += ch;
  }
  line += '"';
}

void append_csv_name(std::string& line, const std::string& name) {
  const auto v = utf8_or_marked(name);
  line += '"';
  for (char ch : v) {
    if (ch == '"') line += '"';
    line += ch;
  }
  line += '"';
}

// File names inside the archive: table names may hold anything ("/", quotes,
// ";"), so only safe characters survive and a number keeps them unique.
std::string safe_file_stem(std::size_t index, const dihya::TableName& t) {
  std::string s;
  for (char ch : t.schema + "." + t.name) {
    const auto u = static_cast<unsigned char>(ch);
    s += (std::isalnum(u) || ch == '_' || ch == '-' || ch == '.') ? ch : '_';
  }
  std::ostringstream out;
  out << std::setw(3) << std::setfill('0') << index << "_" << s.substr(0, 80);
  return out.str();
}


// Names from the catalog for the manifest: a SQL_ASCII database allows any bytes in them too.
std::vector<std::string> marked_names(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& n : names) out.push_back(utf8_or_marked(n));
  return out;
}

std::vector<std::string> in_column_order(const std::vector<std::string>& columns, const std::set<std::string>& some) {
  std::vector<std::string> out;
  for (const auto& c : columns) {
    if (some.count(c)) out.push_back(c);
  }
  return out;
}

struct TableExport {
  dihya::TableName table;
  std::vector<std::string> columns;
  std::vector<std::string> omitted;
  std::string query;  // $1 = the user's key
};

std::vector<TableExport> plan(const pqxx::transaction_base& tx, const dihya::FkGraph& graph, const ExportConfig& config) {
  std::vector<TableExport> out;
  for (const auto& t : graph.reached()) {
    const auto& info = graph.table(t);
    TableExport e;
    e.table = t;
    std::string select;
    for (const auto& c : info.columns) {
      if (config.omitted(t, c.name)) {
        e.omitted.push_back(c.name);
        continue;
      }
      e.columns.push_back(c.name);
      const auto q = tx.quote_name(c.name);
      select += (select.empty() ? "" : ", ") + (c.is_bytea ? "translate(encode(t." + q + ", 'base64'), E'\\n', '') AS " + q : "t." + q);
    }
    if (select.empty()) select = "NULL AS dihya_nothing";  // every column omitted: still count the rows
    std::string order;
    for (const auto& k : info.primary_key) order += (order.empty() ? " ORDER BY " : ", ") + ("t." + tx.quote_name(k));
    e.query = "SELECT row_to_json(x)::text, x.* FROM (SELECT " + select + " FROM " + t.quoted(tx) + " t WHERE " +
              graph.user_condition(tx, t, "t") + order + ") x";
    out.push_back(std::move(e));
  }
  return out;
}

// Text in UTF-8 both ways (the user's email, the rows): the server converts
// a LATIN1 (or any other) database's. Not SQL_ASCII's: its bytes pass
// unchanged in any case, and a name from its catalog that is not UTF-8 could
// not even be sent back in a query; raw_bytes.hpp marks what is not UTF-8.
void receive_utf8(pqxx::connection& db) {
  std::string encoding;
  {
    pqxx::nontransaction tx(db);
    encoding = tx.exec1("SELECT pg_catalog.current_setting('server_encoding')")[0].as<std::string>();
  }
  if (encoding != "SQL_ASCII") db.set_client_encoding("UTF8");
}

// Reading a table runs its row-security policies with our privileges: a
// policy whose functions another role owns is refused (locks every table).
void refuse_untrusted_code(pqxx::transaction_base& tx, const dihya::FkGraph& graph) {
  std::vector<std::string> tables{graph.users().quoted(tx)};
  for (const auto& t : graph.reached()) tables.push_back(t.quoted(tx));
  dihya::pg::refuse_untrusted_code(tx, tables, dihya::pg::TableUse::read);
}

std::string find_user(pqxx::transaction_base& tx, const dihya::FkGraph& graph, const ExportConfig& config,
                      const std::string& user) {
  const auto& users = graph.users_info();
  const auto& pk = users.primary_key.front();
  const bool by_email = user.find('@') != std::string::npos;
  if (by_email && !users.column(config.email_column)) {
    throw dihya::Error("users table has no column '" + config.email_column + "' to look up an email");
  }
  const std::string column = by_email ? config.email_column : pk;
  // Compared as text so that a malformed id is "not found", not a SQL error.
  auto rows = tx.exec_params("SELECT " + tx.quote_name(pk) + "::text FROM " + graph.users().quoted(tx) + " WHERE " +
                                 tx.quote_name(column) + "::text = $1 LIMIT 2",
                             user);
  if (rows.empty()) throw dihya::Error("no user '" + user + "'");
  if (rows.size() > 1) throw dihya::Error("several users match '" + user + "'");
  return rows[0][0].c_str();
}

// Cursor-based read: FETCH bounds the rows held in memory at once. Adds to
// `marked` the columns holding a value that is not UTF-8.
std::uint64_t export_table(pqxx::transaction_base& tx, const TableExport& e, const std::string& user_key,
                           long fetch_size, HashedFile& json, HashedFile& csv, std::set<std::string>& marked,
                           dihya::Context& ctx) {
  std::string header;
  for (const auto& c : e.columns) {
    if (!header.empty()) header += ',';
    append_csv_name(header, c);
  }
  csv.write(header + "\r\n");
  json.write("[");
  tx.exec_params("DECLARE dihya_export NO SCROLL CURSOR FOR " + e.query, user_key);
  const std::string fetch = "FETCH " + std::to_string(fetch_size) + " FROM dihya_export";
  std::uint64_t rows = 0;
  std::string line;
  std::string fixed;
  for (;;) {
    if (ctx.cancelled()) throw dihya::Error("cancelled while exporting " + e.table.display());
    auto batch = tx.exec(fetch);
    if (batch.empty()) break;
    for (const auto& r : batch) {
      json.write(rows == 0 ? "\n" : ",\n");
      const std::string_view row_json(r[0].c_str(), r[0].size());
      const bool utf8 = dihya::valid_utf8(row_json);
      if (utf8) {
        json.write(row_json);
      } else {
        fixed.clear();
        append_utf8_json(row_json, fixed);
        json.write(fixed);
      }
      line.clear();
      for (std::size_t i = 0; i < e.columns.size(); ++i) {
        if (i) line += ',';
        const auto& f = r[static_cast<pqxx::row::size_type>(i + 1)];
        if (!utf8 && !dihya::valid_utf8(std::string_view(f.c_str(), f.size()))) marked.insert(e.columns[i]);
        append_csv_field(line, f);
      }
      line += "\r\n";
      csv.write(line);
      ++rows;
    }
  }
  tx.exec("CLOSE dihya_export");
  json.write(rows == 0 ? "]\n" : "\n]\n");
  return rows;
}

const char* kReadme =
    "This archive holds the personal data about you that the platform stores,\n"
    "as required by Article 15 of the GDPR (right of access) and Article 20\n"
    "(right to data portability).\n"
    "\n"
    "- tables/ holds one JSON file and one CSV file per database table, with\n"
    "  exactly the rows about you. Dates are in UTC (ISO 8601); binary values\n"
    "  are base64-encoded. Text stored as bytes that are not valid UTF-8 is\n"
    "  written as {\"$bytes_base64\": \"...\"} (in CSV: $bytes_base64:...), the\n"
    "  base64 of those exact bytes; manifest.json names the columns concerned.\n"
    "- manifest.json lists the tables, their row counts, a SHA-256 checksum of\n"
    "  every file, and the columns left out because they are security secrets\n"
    "  (password hashes, tokens): they are not readable information about you.\n"
    "\n"
    "If something is missing or wrong, contact the data protection officer of\n"
    "the platform and quote the run id in manifest.json.\n";

class ExportUserData final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    ExportConfig config;
    try {
      config = load_config(params);
    } catch (const dihya::Error& e) {
      return {{"config", e.what()}};
    }
    if (params.get<std::string>("format") == "tar.zst" && !zstd_supported()) {
      return {{"format", "this libarchive has no zstd support: use format=zip"}};
    }
    if (params.has("output")) {
      const std::filesystem::path out = params.get<std::string>("output");
      std::error_code ec;
      // symlink_status: a dangling link exists too (the archive is never written through one).
      if (std::filesystem::exists(std::filesystem::symlink_status(out, ec))) {
        return {{"output", out.string() + " already exists (never overwritten)"}};
      }
      const auto dir = out.parent_path().empty() ? std::filesystem::path(".") : out.parent_path();
      if (!std::filesystem::is_directory(dir, ec)) return {{"output", "no directory " + dir.string()}};
    }
    // A database that cannot be reached is no parameter's fault: it throws,
    // and the run fails (exit 1) instead of blaming `user`.
    dihya::pg::pin_search_path(ctx.db());
    receive_utf8(ctx.db());
    try {
      pqxx::read_transaction tx(ctx.db());
      const auto graph = dihya::FkGraph::load(tx, config.graph);
      refuse_untrusted_code(tx, graph);
      find_user(tx, graph, config, params.get<std::string>("user"));
    } catch (const dihya::Error& e) {
      return {{"user", e.what()}};
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const auto config = load_config(params);
    const auto format = params.get<std::string>("format") == "tar.zst" ? ArchiveFormat::tar_zst : ArchiveFormat::zip;
    const auto fetch_size = params.get<long>("fetch_size");
    dihya::pg::pin_search_path(ctx.db());
    receive_utf8(ctx.db());
    // One snapshot for every table: the archive is a consistent picture.
    pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> tx(ctx.db());
    tx.exec("SET LOCAL TimeZone = 'UTC'");
    tx.exec("SET LOCAL DateStyle = 'ISO, YMD'");
    tx.exec("SET LOCAL IntervalStyle = 'iso_8601'");
    const auto graph = dihya::FkGraph::load(tx, config.graph);
    refuse_untrusted_code(tx, graph);
    const auto user_key = find_user(tx, graph, config, params.get<std::string>("user"));
    const auto tables = plan(tx, graph, config);

    std::filesystem::path target;
    if (params.has("output")) {
      target = std::filesystem::absolute(params.get<std::string>("output"));
    } else {
      target = ctx.output_dir() / ("user-data-" + ctx.run_id() + (format == ArchiveFormat::zip ? ".zip" : ".tar.zst"));
    }

    if (ctx.dry_run()) {
      std::string report;
      nlohmann::json counts = nlohmann::json::object();
      for (const auto& e : tables) {
        auto n = tx.exec_params1("SELECT count(*) FROM (" + e.query + ") c", user_key)[0].as<long long>();
        counts[e.table.display()] = n;
        report += e.table.display() + ": " + std::to_string(n) + " row(s)\n";
      }
      dihya::Result r = dihya::Result::success("would export " + std::to_string(tables.size()) + " table(s) to " +
                                                   target.string(),
                                               {{"tables", counts}, {"output", target.string()}});
      r.report = report;
      return r;
    }

    const auto spool = ctx.work_dir() / "export";
    std::filesystem::create_directories(spool);
    nlohmann::json manifest_tables = nlohmann::json::array();
    nlohmann::json omitted_all = nlohmann::json::object();
    std::vector<std::pair<std::string, std::filesystem::path>> entries;
    std::uint64_t total_rows = 0;
    std::string report;
    for (std::size_t i = 0; i < tables.size(); ++i) {
      const auto& e = tables[i];
      ctx.progress(i, tables.size(), "tables");
      const auto stem = safe_file_stem(i + 1, e.table);
      HashedFile json(spool / (stem + ".json"));
      HashedFile csv(spool / (stem + ".csv"));
      std::set<std::string> marked;
      const auto rows = export_table(tx, e, user_key, fetch_size, json, csv, marked, ctx);
      const auto json_sha = json.finish();
      const auto csv_sha = csv.finish();
      total_rows += rows;
      entries.emplace_back("tables/" + stem + ".json", json.path());
      entries.emplace_back("tables/" + stem + ".csv", csv.path());
      manifest_tables.push_back({{"schema", utf8_or_marked(e.table.schema)},
                                 {"table", utf8_or_marked(e.table.name)},
                                 {"rows", rows},
                                 {"columns", marked_names(e.columns)},
                                 {"omitted_columns", marked_names(e.omitted)},
                                 {"bytes_base64_columns", marked_names(in_column_order(e.columns, marked))},
                                 {"files",
                                  {{"json", {{"path", "tables/" + stem + ".json"}, {"sha256", json_sha}, {"bytes", json.bytes()}}},
                                   {"csv", {{"path", "tables/" + stem + ".csv"}, {"sha256", csv_sha}, {"bytes", csv.bytes()}}}}}});
      if (!e.omitted.empty()) omitted_all[utf8_or_marked(e.table.display())] = marked_names(e.omitted);
      report += e.table.display() + ": " + std::to_string(rows) + " row(s)\n";
    }
    ctx.progress(tables.size(), tables.size(), "tables");
    tx.commit();

    nlohmann::json manifest{{"schema_version", 1},
                            {"generated_at", dihya::format_utc(ctx.now())},
                            {"run_id", ctx.run_id()},
                            {"user", {{"key", utf8_or_marked(user_key)}, {"table", utf8_or_marked(graph.users().display())}}},
                            {"tables", manifest_tables},
                            {"omitted_columns", omitted_all},
                            {"bytes_base64", kBytesBase64Note}};
    {
      std::ofstream m(spool / "manifest.json", std::ios::binary);
      m << manifest.dump(2) << "\n";
      std::ofstream r(spool / "README.txt", std::ios::binary);
      r << kReadme;
      if (!m || !r) throw dihya::Error("cannot write the manifest in " + spool.string());
    }
    ArchiveWriter archive(target, format);
    archive.add_file("README.txt", spool / "README.txt");
    archive.add_file("manifest.json", spool / "manifest.json");
    for (const auto& [name, file] : entries) {
      if (ctx.cancelled()) throw dihya::Error("cancelled while writing the archive");
      archive.add_file(name, file);
    }
    archive.commit();
    dihya::Result r = dihya::Result::success(
        "exported " + std::to_string(total_rows) + " row(s) from " + std::to_string(tables.size()) + " table(s) to " +
            target.string(),
        {{"output", target.string()}, {"rows", total_rows}, {"tables", manifest_tables.size()}, {"user", utf8_or_marked(user_key)}});
    r.report = report;
    return r;
  }
};

}  // namespace

}  // namespace export_user_data

DIHYA_PLUGIN(export_user_data::ExportUserData)
