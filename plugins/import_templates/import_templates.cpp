// SPDX-License-Identifier: AGPL-3.0-or-later
// import_templates: the templates generate_project renders, kept in
// PostgreSQL as revisions. mode=import reads JSON, YAML or JS template files,
// checks every one before writing any, and stores new content as a new
// revision (the same content is a no-op); mode=export writes templates back
// as files that import to the same checksum; mode=list shows what is stored.
// Import journals each template's previous current revision first, so
// rollback puts those back and removes what the run added.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <dihya/advisory_lock.hpp>
#include <dihya/database.hpp>
#include <dihya/file_io.hpp>
#include <dihya/plugin.hpp>
#include <dihya/template_format.hpp>
#include <dihya/template_store.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "catalog.hpp"
#include "template_diff.hpp"
#include "template_files.hpp"

namespace fs = std::filesystem;

namespace import_templates {
namespace {

using dihya::templates::sha256_hex;

constexpr std::size_t kJournalChunk = 200;  // undo records per journal entry
constexpr std::size_t kMaxErrorsShown = 20;

struct Options {
  std::string mode, path, out, name, tag, format;
  bool force = false;
};

Options read_options(const dihya::Params& params) {
  Options o;
  o.mode = params.get_or<std::string>("mode", "import");
  o.path = params.get_or<std::string>("path", "");
  o.out = params.get_or<std::string>("out", "");
  o.name = params.get_or<std::string>("name", "");
  o.tag = params.get_or<std::string>("tag", "");
  o.format = params.get_or<std::string>("format", "json");
  o.force = params.get_or<bool>("force", false);
  return o;
}

// Writes `text` to `target` through a temporary file in the same directory,
// fsynced, then renamed (dihya::replace_file): a reader sees the old file or the new one, whole.
void write_file_atomically(const fs::path& target, const std::string& text, mode_t mode = 0644) {
  if (const std::error_code ec = dihya::replace_file(target, text, mode)) {
    throw dihya::Error(fmt::format("cannot write {}: {}", target.string(), ec.message()));
  }
}

// ---- import ----------------------------------------------------------------

std::string joined_errors(const std::vector<std::string>& errors) {
  std::string text = errors.front();
  if (errors.size() > 1) text += fmt::format(" (and {} more bad file(s))", errors.size() - 1);
  return text;
}

dihya::Result import_report(const std::vector<PlannedImport>& plan, bool dry_run) {
  std::string report;
  auto items = nlohmann::json::array();
  std::size_t counts[3] = {0, 0, 0};
  for (const auto& p : plan) {
    const auto& doc = p.source->doc;
    const std::string name = doc.at("name").get<std::string>();
    const std::string version = doc.at("version").get<std::string>();
    ++counts[static_cast<int>(p.change)];
    nlohmann::json item = {{"name", name},
                           {"file", p.source->file},
                           {"change", change_name(p.change)},
                           {"checksum", p.source->checksum},
                           {"revision", {{"old", p.previous_version ? nlohmann::json(*p.previous_version) : nlohmann::json()},
                                         {"new", p.new_version}}}};
    std::size_t files = doc.at("files").size() + (doc.contains("per_resource") ? doc.at("per_resource").size() : 0);
    switch (p.change) {
      case Change::added:
        report += fmt::format("added      {} {} ({} file(s), revision {})\n", name, version, files, p.new_version);
        item["declared_version"] = {{"old", nullptr}, {"new", version}};
        break;
      case Change::unchanged:
        report += fmt::format("unchanged  {} {} (revision {})\n", name, version, p.new_version);
        item["declared_version"] = {{"old", version}, {"new", version}};
        break;
      case Change::changed: {
        const TemplateDiff d = diff_templates(p.previous_content, doc);
        report += fmt::format("changed    {} {} -> {} (revision {} -> {}{}): files +{} -{} ~{}{}{}\n", name, d.old_version,
                              d.new_version, p.previous_version.value_or(0), p.new_version,
                              p.new_revision ? "" : ", an earlier revision", d.added.size(), d.removed.size(),
                              d.modified.size(), d.fields.empty() ? "" : "; fields: ",
                              fmt::format("{}", fmt::join(d.fields, ", ")));
        for (const auto& f : d.added) report += "    + " + f + "\n";
        for (const auto& f : d.removed) report += "    - " + f + "\n";
        for (const auto& f : d.modified) report += "    ~ " + f + "\n";
        item.update(d.to_json());
        break;
      }
    }
    items.push_back(std::move(item));
  }
  const std::string summary =
      fmt::format("{}{} template(s): {} added, {} changed, {} unchanged", dry_run ? "would import " : "imported ",
                  plan.size(), counts[0], counts[1], counts[2]);
  auto result = dihya::Result::success(
      summary, {{"mode", "import"},
                {"dry_run", dry_run},
                {"templates", items},
                {"added", counts[0]},
                {"changed", counts[1]},
                {"unchanged", counts[2]}});
  result.report = report;
  return result;
}

dihya::Result run_import(const std::vector<SourceTemplate>& sources, dihya::Context& ctx) {
  ctx.progress(0, sources.size(), "templates");
  auto& db = ctx.db();

  if (ctx.dry_run()) {
    pqxx::read_transaction tx(db);
    return import_report(plan_import(tx, sources, false), true);
  }

  pqxx::work tx(db);
  if (!catalog_exists(tx)) ctx.journal().record({"create_catalog", {{"run_id", ctx.run_id()}}});
  dihya::templates::ensure_schema(tx);
  dihya::templates::refuse_untrusted_code(tx, dihya::pg::TableUse::write);
  const auto plan = plan_import(tx, sources, true);
  // Undo records first (write-ahead), in chunks so 1000 templates are a few
  // fsyncs, not a thousand.
  auto chunk = nlohmann::json::array();
  for (const auto& p : plan) {
    if (p.change == Change::unchanged) continue;
    chunk.push_back(undo_record(p, ctx.run_id()));
    if (chunk.size() == kJournalChunk) {
      ctx.journal().record({"import_templates", {{"templates", chunk}}});
      chunk = nlohmann::json::array();
    }
  }
  if (!chunk.empty()) ctx.journal().record({"import_templates", {{"templates", chunk}}});
  std::vector<const PlannedImport*> batch;
  std::size_t done = 0;
  auto flush = [&] {
    if (ctx.cancelled()) throw dihya::Error(fmt::format("cancelled after {} of {} template(s); nothing committed", done, plan.size()));
    apply_imports(tx, batch, ctx.run_id());
    done += batch.size();
    batch.clear();
    ctx.progress(done, plan.size(), "templates");
  };
  for (const auto& p : plan) {
    if (p.change == Change::unchanged) {
      ++done;
      continue;
    }
    ctx.log().debug("{} {} from {}", change_name(p.change), p.source->doc.at("name").get<std::string>(), p.source->file);
    batch.push_back(&p);
    if (batch.size() == kJournalChunk) flush();
  }
  if (!batch.empty()) flush();
  tx.commit();
  return import_report(plan, false);
}

// What an export finds at the path of a file it is to write, or its rollback
// at the path of a file the export wrote.
struct FoundFile {
  enum Kind { nothing, file, other } kind = nothing;  // other: a symlink, a directory, a FIFO, a device...
  std::string text;                                   // of a file: up to about one byte past kMaxFileBytes
  // Of a file: its permission bits, never set-id or sticky ones, which the
  // file written in its place (owned by whoever runs the export, maybe root)
  // must not get.
  mode_t mode = 0644;
};

// Looks at `path` without following a symlink at it and opens nothing but a
// regular file, O_NONBLOCK and checked again with fstat: a FIFO put there
// meanwhile is reported, never read (which would block).
FoundFile find_exported_file(const fs::path& path) {
  FoundFile found;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return found;
    throw dihya::Error(fmt::format("cannot inspect {}: {}", path.string(), std::strerror(errno)));
  }
  found.kind = FoundFile::other;
  if (!S_ISREG(st.st_mode)) return found;
  dihya::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return {};    // removed meanwhile
    if (errno == ELOOP) return found;  // a symlink now
    throw dihya::Error(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno)));
  }
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return found;
  found.mode = st.st_mode & 0777;
  // Larger than any template file: not the exported one (its hash will not match).
  const std::error_code ec = dihya::read_all(fd.get(), &found.text, kMaxFileBytes + 1);
  if (ec && ec != std::errc::file_too_large) {
    throw dihya::Error(fmt::format("cannot read {}: {}", path.string(), ec.message()));
  }
  found.kind = FoundFile::file;
  return found;
}

// Puts `text` back at `path`, where nothing was found, unless something has
// appeared there since (then it is kept): the content goes to a new file
// beside it, which is renamed to `path` only if that name is still free.
// Returns how the file ended up, for the rollback's report.
std::string restore_missing_file(const fs::path& path, const std::string& text, mode_t mode) {
  std::error_code ec;
  if (!fs::is_directory(path.parent_path(), ec)) return "kept: its directory was removed since the export";
  const fs::path fresh = path.parent_path() / fmt::format(".{}.restore-{}-{}", path.filename().string().substr(0, 180),
                                                          ::getpid(), std::random_device()());
  write_file_atomically(fresh, text, mode);
  const std::error_code error = dihya::rename_noreplace(fresh, path);
  if (error) ::unlink(fresh.c_str());
  if (error == std::errc::file_exists) return "kept: replaced since the export";
  if (error) throw dihya::Error(fmt::format("cannot write {}: {}", path.string(), error.message()));
  if (const std::error_code sync = dihya::fsync_directory(path.parent_path())) {
    throw dihya::Error(fmt::format("cannot sync {}: {}", path.parent_path().string(), sync.message()));
  }
  return "restored";
}

// ---- export ----------------------------------------------------------------

struct ExportFile {
  fs::path target;
  std::string text;
  std::string name;
};

struct ExportPlan {
  std::vector<ExportFile> files;
  std::vector<std::string> warnings;
};

ExportPlan plan_export(const Options& o, dihya::Context& ctx) {
  const Format format = parse_format(o.format);
  pqxx::read_transaction tx(ctx.db());
  ExportPlan plan;
  auto& files = plan.files;
  auto& warnings = plan.warnings;
  for (auto& t : stored_templates(tx, o.name, o.tag, true)) {
    // The name becomes a file name: a row edited in the database must not
    // lead the export out of `out` (`../x`, `/etc/x`).
    const std::string shown = nlohmann::json(t.name).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
    if (t.content.is_null()) {
      warnings.push_back(shown + ": no current revision, skipped");
      continue;
    }
    try {
      dihya::templates::validate_template(t.content, shown);
      if (t.content.at("name") != t.name) throw dihya::Error(shown + ": the stored content has another name");
    } catch (const dihya::Error& e) {
      warnings.push_back(std::string(e.what()) + " (edited in the database?), skipped");
      continue;
    }
    if (dihya::templates::checksum(t.content) != t.checksum) {
      warnings.push_back(shown + ": stored content does not match its checksum (edited in the database?)");
    }
    files.push_back({fs::path(o.out) / (t.name + "." + extension(format)), format_document(t.content, format), t.name});
  }
  return plan;
}

// Why `target` may not be written, or nullopt. Only a regular file is ever
// replaced (with force): through a symlink the export would write elsewhere
// and its rollback could not put the link back.
std::optional<std::string> target_problem(const fs::path& target, bool force) {
  std::error_code ec;
  const auto status = fs::symlink_status(target, ec);
  if (!fs::exists(status)) return std::nullopt;
  if (!fs::is_regular_file(status)) return target.string() + " exists and is not a regular file (a symlink?): not overwritten";
  if (!force) return target.string() + " exists: use -p force=true to overwrite";
  return std::nullopt;
}

dihya::Result run_export(const Options& o, const ExportPlan& plan, dihya::Context& ctx) {
  const auto& files = plan.files;
  for (const auto& w : plan.warnings) ctx.log().warn("{}", w);
  std::string report;
  auto written = nlohmann::json::array();
  for (const auto& f : files) {
    if (const auto problem = target_problem(f.target, o.force)) throw dihya::Error(*problem);
    std::error_code ec;
    const bool exists = fs::exists(fs::symlink_status(f.target, ec));
    report += fmt::format("{} {}\n", exists ? "overwrite" : "write    ", f.target.string());
    written.push_back({{"name", f.name}, {"path", f.target.string()}, {"sha256", sha256_hex(f.text)}, {"overwrite", exists}});
  }
  if (!ctx.dry_run()) {
    std::error_code ec;
    if (!fs::exists(o.out, ec)) {
      // Each directory made is journalled, outermost first: the rollback
      // removes them innermost first, each while empty.
      std::vector<fs::path> missing;
      for (fs::path p = fs::path(o.out).lexically_normal(); !p.empty() && p != p.root_path() && !fs::exists(fs::symlink_status(p, ec));
           p = p.parent_path()) {
        if (p.filename().empty()) continue;  // "out/": the same directory
        missing.push_back(p);
      }
      for (auto it = missing.rbegin(); it != missing.rend(); ++it) ctx.journal().record({"create_directory", {{"path", it->string()}}});
      fs::create_directories(o.out, ec);
      if (ec) throw dihya::Error("cannot create " + o.out + ": " + ec.message());
    }
    std::size_t done = 0;
    for (const auto& f : files) {
      if (ctx.cancelled()) throw dihya::Error(fmt::format("cancelled after writing {} of {} file(s)", done, files.size()));
      nlohmann::json undo = {{"path", f.target.string()}, {"sha256", sha256_hex(f.text)}, {"previous", nullptr}};
      const FoundFile old = find_exported_file(f.target);
      if (old.kind == FoundFile::other) {
        throw dihya::Error(f.target.string() + " is not a regular file (a symlink?): not overwritten");
      }
      if (old.kind == FoundFile::file) {
        if (!dihya::templates::valid_utf8(old.text) || old.text.size() > kMaxFileBytes) {
          throw dihya::Error(f.target.string() + " is not a template file (binary or larger than 8 MiB): not overwritten");
        }
        undo["previous"] = old.text;
        undo["previous_mode"] = old.mode;
      }
      ctx.journal().record({"export_file", undo});
      // An overwritten file keeps its permissions (one the user made private stays so).
      write_file_atomically(f.target, f.text, old.mode);
      ctx.progress(++done, files.size(), "files");
    }
  }
  const std::string summary = fmt::format("{} {} template(s) to {} as {}", ctx.dry_run() ? "would export" : "exported",
                                          files.size(), o.out, o.format);
  auto result = dihya::Result::success(
      summary, {{"mode", "export"}, {"dry_run", ctx.dry_run()}, {"format", o.format}, {"files", written}, {"warnings", plan.warnings}});
  result.report = report;
  return result;
}

// ---- list ------------------------------------------------------------------

dihya::Result run_list(const Options& o, dihya::Context& ctx) {
  pqxx::read_transaction tx(ctx.db());
  const auto stored = stored_templates(tx, o.name, o.tag, false);
  auto items = nlohmann::json::array();
  std::string report = fmt::format("{:<32} {:<10} {:<12} {:>8} {:<20} {}\n", "NAME", "STACK", "VERSION", "REVISION",
                                   "UPDATED", "TAGS");
  for (const auto& t : stored) {
    std::vector<std::string> tags = t.tags.get<std::vector<std::string>>();
    report += fmt::format("{:<32} {:<10} {:<12} {:>8} {:<20} {}\n", t.name, t.stack,
                          t.declared_version.empty() ? "-" : t.declared_version,
                          t.current_version ? fmt::format("{}/{}", *t.current_version, t.revisions) : "-",
                          t.updated_at, fmt::join(tags, ","));
    items.push_back({{"name", t.name},
                     {"stack", t.stack},
                     {"description", t.description},
                     {"tags", t.tags},
                     {"declared_version", t.declared_version},
                     {"current_version", t.current_version ? nlohmann::json(*t.current_version) : nlohmann::json()},
                     {"revisions", t.revisions},
                     {"checksum", t.checksum},
                     {"updated_at", t.updated_at}});
  }
  auto result = dihya::Result::success(fmt::format("{} template(s)", stored.size()), {{"mode", "list"}, {"templates", items}});
  result.report = report;
  return result;
}

// ---- the plugin --------------------------------------------------------------

class ImportTemplates final : public dihya::Plugin {
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    const Options o = read_options(params);
    std::vector<dihya::ValidationError> errors;
    auto only_for = [&](const char* key, const std::string& value, const char* modes) {
      if (!value.empty()) errors.push_back({key, fmt::format("only used by mode={}", modes)});
    };
    if (o.mode == "import") {
      only_for("out", o.out, "export");
      only_for("name", o.name, "export or list");
      only_for("tag", o.tag, "export or list");
      if (o.path.empty()) {
        errors.push_back({"path", "required for mode=import: a template file or a directory of them"});
        return errors;
      }
      std::vector<std::string> problems;
      validated_path_ = o.path;
      validated_ = load_templates(o.path, problems);
      if (!problems.empty()) validated_path_.clear();
      for (std::size_t i = 0; i < problems.size() && i < kMaxErrorsShown; ++i) errors.push_back({"path", problems[i]});
      if (problems.size() > kMaxErrorsShown) {
        errors.push_back({"path", fmt::format("... and {} more problem(s)", problems.size() - kMaxErrorsShown)});
      }
    } else if (o.mode == "export") {
      only_for("path", o.path, "import");
      if (o.out.empty()) {
        errors.push_back({"out", "required for mode=export: the directory to write <name>.<format> files to"});
        return errors;
      }
      std::error_code ec;
      if (fs::exists(o.out, ec) && !fs::is_directory(o.out, ec)) errors.push_back({"out", o.out + " is not a directory"});
      if (!errors.empty()) return errors;
      dihya::pg::pin_search_path(ctx.db());
      exported_ = plan_export(o, ctx);
      exported_key_ = params.json().dump();
      if (!o.name.empty() && exported_.files.empty()) errors.push_back({"name", "no stored template named '" + o.name + "'"});
      for (const auto& f : exported_.files) {
        if (const auto problem = target_problem(f.target, o.force)) errors.push_back({"out", *problem});
      }
    } else {
      only_for("path", o.path, "import");
      only_for("out", o.out, "export");
    }
    return errors;
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const Options o = read_options(params);
    dihya::pg::pin_search_path(ctx.db());
    if (o.mode == "export") {
      // Read and formatted by validate() on this object, right before.
      if (exported_key_ != params.json().dump()) {
        exported_ = plan_export(o, ctx);
        exported_key_ = params.json().dump();
      }
      return run_export(o, exported_, ctx);
    }
    if (o.mode == "list") return run_list(o, ctx);
    // The host calls validate() right before run() on this object: the
    // templates it read and checked are the ones imported, read once.
    if (validated_path_ != o.path) {
      std::vector<std::string> errors;
      validated_ = load_templates(o.path, errors);
      if (!errors.empty()) throw dihya::Error(joined_errors(errors));
      validated_path_ = o.path;
    }
    ctx.log().info("importing {} template(s) from {}", validated_.size(), o.path);
    return run_import(validated_, ctx);
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    dihya::pg::pin_search_path(ctx.db());
    std::map<std::string, std::size_t> outcomes;
    auto lines = nlohmann::json::array();
    std::string report;
    auto note = [&](const std::string& what, const std::string& outcome) {
      const std::string key = outcome.rfind("kept", 0) == 0 ? "kept" : outcome;
      ++outcomes[key];
      lines.push_back({{"what", what}, {"outcome", outcome}});
      report += fmt::format("{}: {}\n", what, outcome);
    };
    {
      pqxx::work tx(ctx.db());
      bool locked = false;
      for (const auto& entry : newest_first) {
        if (entry.action == "import_templates") {
          if (!locked && catalog_exists(tx)) {
            tx.exec_params("select pg_advisory_xact_lock($1)", dihya::lock_key::kTemplateImport);
            dihya::templates::refuse_untrusted_code(tx, dihya::pg::TableUse::write);
            locked = true;
          }
          const auto& records = entry.data.at("templates");
          for (auto it = records.rbegin(); it != records.rend(); ++it) {
            const std::string name = it->at("name").get<std::string>();
            note("template " + name, locked ? undo_import(tx, *it) : "already undone");
          }
        } else if (entry.action == "create_catalog") {
          note("tables dihya.templates, dihya.template_versions", drop_catalog_if_empty(tx));
        }
      }
      tx.commit();
    }
    for (const auto& entry : newest_first) {
      if (entry.action == "export_file") {
        note(entry.data.at("path").get<std::string>(), undo_export_file(entry.data));
      } else if (entry.action == "create_directory") {
        note(entry.data.at("path").get<std::string>(), undo_create_directory(entry.data.at("path").get<std::string>()));
      }
    }
    std::vector<std::string> parts;
    for (const auto& [outcome, count] : outcomes) parts.push_back(fmt::format("{} {}", count, outcome));
    auto result = dihya::Result::success(fmt::format("{}", parts.empty() ? "nothing to undo" : fmt::format("{}", fmt::join(parts, ", "))),
                                         {{"undone", lines}});
    result.report = report;
    return result;
  }

  std::string validated_path_;
  std::vector<SourceTemplate> validated_;
  std::string exported_key_;
  ExportPlan exported_;

  // A directory the export created is removed when empty; a symlink put in
  // its place is not followed (nor removed).
  static std::string undo_create_directory(const fs::path& dir) {
    std::error_code ec;
    const auto status = fs::symlink_status(dir, ec);
    if (!fs::exists(status)) return "already undone";
    if (!fs::is_directory(status)) return "kept: replaced since the export";
    return fs::is_empty(dir, ec) && fs::remove(dir, ec) ? "removed" : "kept: not empty";
  }

  // Only the exported file itself is put back (or removed), and a missing
  // file restored: whatever the user put at its path since (an edited or
  // another file, a symlink, a directory, a FIFO...) is theirs and is kept.
  static std::string undo_export_file(const nlohmann::json& data) {
    const fs::path path = data.at("path").get<std::string>();
    const bool had_previous = !data.at("previous").is_null();
    // Exports journalled before the mode was wrote every file 0644.
    const mode_t previous_mode = data.value("previous_mode", 0644u) & 0777;
    const FoundFile current = find_exported_file(path);
    if (current.kind == FoundFile::other) return "kept: replaced since the export";
    if (current.kind == FoundFile::nothing) {
      return had_previous ? restore_missing_file(path, data.at("previous").get<std::string>(), previous_mode)
                          : "already undone";
    }
    if (sha256_hex(current.text) != data.at("sha256").get<std::string>()) {
      if (had_previous && current.text == data.at("previous").get<std::string>()) return "already undone";
      return "kept: edited since the export";
    }
    if (had_previous) {
      write_file_atomically(path, data.at("previous").get<std::string>(), previous_mode);
      return "restored";
    }
    // unlink(), not remove(): an empty directory put there meanwhile is not removed.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      throw dihya::Error(fmt::format("cannot remove {}: {}", path.string(), std::strerror(errno)));
    }
    return "removed";
  }
};

}  // namespace
}  // namespace import_templates

DIHYA_PLUGIN(import_templates::ImportTemplates)
