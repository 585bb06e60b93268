// SPDX-License-Identifier: AGPL-3.0-or-later
#include "catalog.hpp"

#include <map>

#include <dihya/advisory_lock.hpp>
#include <dihya/error.hpp>
#include <dihya/template_format.hpp>
#include <dihya/template_store.hpp>

namespace import_templates {

const char* change_name(Change change) {
  switch (change) {
    case Change::added: return "added";
    case Change::changed: return "changed";
    case Change::unchanged: return "unchanged";
  }
  return "?";
}

namespace {

// updated_at as exact UTC text, so rollback can put back the very value
// (whatever the session's DateStyle and TimeZone).
constexpr const char* kUpdatedAtText = "to_char(t.updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')";

std::optional<int> optional_int(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int>();
}

}  // namespace

bool catalog_exists(pqxx::transaction_base& tx) {
  return tx.exec1("select to_regclass('dihya.templates') is not null and to_regclass('dihya.template_versions') is not null")[0]
      .as<bool>();
}

std::vector<PlannedImport> plan_import(pqxx::transaction_base& tx, const std::vector<SourceTemplate>& sources, bool lock) {
  std::vector<PlannedImport> plan;
  plan.reserve(sources.size());
  struct Existing {
    long long id;
    std::optional<int> current;
    std::string checksum;
    nlohmann::json row;
    int max_version;
  };
  std::map<std::string, Existing> existing;
  if (catalog_exists(tx)) {
    // A write checked the tables for what writing runs; a dry run only reads.
    if (!lock) dihya::templates::refuse_untrusted_code(tx, dihya::pg::TableUse::read);
    // Every import takes this lock, so the plan stays true until commit.
    if (lock) tx.exec_params("select pg_advisory_xact_lock($1)", dihya::lock_key::kTemplateImport);
    auto names = nlohmann::json::array();
    for (const auto& s : sources) names.push_back(s.doc.at("name"));
    const std::string query = std::string(
        "select t.name, t.id, t.current_version, v.checksum, t.stack, t.description, "
        "to_json(t.tags)::text, t.current_set_by, ") + kUpdatedAtText + ", "
        "(select coalesce(max(w.version), 0) from dihya.template_versions w where w.template_id = t.id) "
        "from dihya.templates t left join dihya.template_versions v "
        "on v.template_id = t.id and v.version = t.current_version "
        "where t.name in (select jsonb_array_elements_text($1::jsonb))" + (lock ? " for update of t" : "");
    for (const auto& r : tx.exec_params(query, names.dump())) {
      Existing e;
      e.id = r[1].as<long long>();
      e.current = optional_int(r[2]);
      e.checksum = r[3].is_null() ? "" : r[3].as<std::string>();
      e.row = {{"stack", r[4].as<std::string>()},
               {"description", r[5].as<std::string>()},
               {"tags", nlohmann::json::parse(r[6].as<std::string>())},
               {"set_by", r[7].is_null() ? nlohmann::json() : nlohmann::json(r[7].as<std::string>())},
               {"updated_at", r[8].as<std::string>()}};
      e.max_version = r[9].as<int>();
      existing.emplace(r[0].as<std::string>(), std::move(e));
    }
  }
  for (const auto& s : sources) {
    PlannedImport p;
    p.source = &s;
    const auto found = existing.find(s.doc.at("name").get<std::string>());
    if (found == existing.end()) {
      p.change = Change::added;
      p.new_version = 1;
      p.new_revision = true;
      plan.push_back(std::move(p));
      continue;
    }
    const Existing& e = found->second;
    p.template_id = e.id;
    p.previous_version = e.current;
    p.previous_row = e.row;
    if (e.current && e.checksum == s.checksum) {
      p.change = Change::unchanged;
      p.new_version = *e.current;
      plan.push_back(std::move(p));
      continue;
    }
    p.change = e.current ? Change::changed : Change::added;
    p.new_version = e.max_version + 1;
    p.new_revision = true;
    plan.push_back(std::move(p));
  }
  // Content seen before (an import of an older version again) makes that
  // revision current instead of storing a duplicate.
  auto lookups = nlohmann::json::array();
  std::map<long long, PlannedImport*> by_id;
  for (auto& p : plan) {
    if (p.change == Change::unchanged || !p.template_id) continue;
    lookups.push_back({{"id", *p.template_id}, {"checksum", p.source->checksum}});
    by_id[*p.template_id] = &p;
  }
  // The previous content, for the diff, only of the templates that changed.
  auto changed = nlohmann::json::array();
  for (const auto& p : plan) {
    if (p.change == Change::changed) changed.push_back(*p.template_id);
  }
  if (!changed.empty()) {
    for (const auto& r : tx.exec_params(
             "select t.id, v.content::text from dihya.templates t join dihya.template_versions v "
             "on v.template_id = t.id and v.version = t.current_version "
             "where t.id in (select jsonb_array_elements_text($1::jsonb)::bigint)",
             changed.dump())) {
      by_id.at(r[0].as<long long>())->previous_content = nlohmann::json::parse(r[1].as<std::string>());
    }
  }
  if (!lookups.empty()) {
    for (const auto& r : tx.exec_params(
             "select x.id, max(v.version) from jsonb_to_recordset($1::jsonb) as x(id bigint, checksum text) "
             "join dihya.template_versions v on v.template_id = x.id and v.checksum = x.checksum group by x.id",
             lookups.dump())) {
      PlannedImport* p = by_id.at(r[0].as<long long>());
      p->new_version = r[1].as<int>();
      p->new_revision = false;
    }
  }
  return plan;
}

nlohmann::json undo_record(const PlannedImport& item, const std::string& run_id) {
  return {{"name", item.source->doc.at("name")},
          {"file", item.source->file},
          {"run_id", run_id},
          {"template_id", item.template_id ? nlohmann::json(*item.template_id) : nlohmann::json()},
          {"previous_version", item.previous_version ? nlohmann::json(*item.previous_version) : nlohmann::json()},
          {"new_version", item.new_version},
          {"new_revision", item.new_revision},
          {"checksum", item.source->checksum},
          {"previous_row", item.previous_row}};
}

void apply_imports(pqxx::transaction_base& tx, const std::vector<const PlannedImport*>& items, const std::string& run_id) {
  // One statement per kind of write for the whole batch: a round trip per
  // template would dominate an import of a thousand.
  auto fresh = nlohmann::json::array();
  for (const auto* item : items) {
    if (item->template_id) continue;
    const auto& doc = item->source->doc;
    fresh.push_back({{"name", doc.at("name")}, {"stack", doc.at("stack")}, {"description", doc.at("description")},
                     {"tags", doc.contains("tags") ? doc.at("tags") : nlohmann::json::array()}, {"v", item->new_version}});
  }
  std::map<std::string, long long> ids;
  if (!fresh.empty()) {
    for (const auto& r : tx.exec_params(
             "insert into dihya.templates (name, stack, description, tags, current_version, current_set_by) "
             "select x.name, x.stack, x.description, array(select jsonb_array_elements_text(x.tags)), x.v, $2 "
             "from jsonb_to_recordset($1::jsonb) as x(name text, stack text, description text, tags jsonb, v int) "
             "returning name, id",
             fresh.dump(), run_id)) {
      ids.emplace(r[0].as<std::string>(), r[1].as<long long>());
    }
  }
  auto revisions = nlohmann::json::array();
  auto moved = nlohmann::json::array();
  for (const auto* item : items) {
    const auto& doc = item->source->doc;
    const long long id = item->template_id ? *item->template_id : ids.at(doc.at("name").get<std::string>());
    if (item->new_revision) {
      revisions.push_back({{"id", id}, {"version", item->new_version}, {"declared", doc.at("version")},
                           {"content", doc}, {"checksum", item->source->checksum}});
    }
    if (item->template_id) {
      moved.push_back({{"id", id}, {"v", item->new_version}, {"stack", doc.at("stack")}, {"description", doc.at("description")},
                       {"tags", doc.contains("tags") ? doc.at("tags") : nlohmann::json::array()}});
    }
  }
  if (!revisions.empty()) {
    tx.exec_params(
        "insert into dihya.template_versions (template_id, version, declared_version, content, checksum, run_id) "
        "select x.id, x.version, x.declared, x.content, x.checksum, $2 "
        "from jsonb_to_recordset($1::jsonb) as x(id bigint, version int, declared text, content jsonb, checksum text)",
        revisions.dump(), run_id);
  }
  if (!moved.empty()) {
    tx.exec_params(
        "update dihya.templates t set current_version = x.v, stack = x.stack, description = x.description, "
        "tags = array(select jsonb_array_elements_text(x.tags)), current_set_by = $2, updated_at = now() "
        "from jsonb_to_recordset($1::jsonb) as x(id bigint, v int, stack text, description text, tags jsonb) where t.id = x.id",
        moved.dump(), run_id);
  }
}

std::string undo_import(pqxx::transaction_base& tx, const nlohmann::json& record) {
  const std::string name = record.at("name").get<std::string>();
  const std::string run_id = record.at("run_id").get<std::string>();
  const int new_version = record.at("new_version").get<int>();
  const bool created_template = record.at("template_id").is_null();
  const auto& prev = record.at("previous_version");
  auto rows = tx.exec_params("select id, current_version, current_set_by from dihya.templates where name = $1 for update",
                             name);
  if (rows.empty()) return created_template ? "already undone" : "kept: the template was deleted since";
  const long long id = rows[0][0].as<long long>();
  const std::optional<int> current = optional_int(rows[0][1]);
  const std::optional<std::string> set_by =
      rows[0][2].is_null() ? std::nullopt : std::optional<std::string>(rows[0][2].as<std::string>());
  const bool set_by_this_run = set_by == run_id;

  if (created_template) {
    // Removed only while every revision is this run's: a later import's
    // revisions are someone else's work.
    const auto others = tx.exec_params1(
        "select count(*) from dihya.template_versions where template_id = $1 and run_id is distinct from $2", id, run_id)[0]
                            .as<long long>();
    if (others > 0) return "kept: imported again by a later run";
    tx.exec_params("delete from dihya.templates where id = $1", id);
    return "removed";
  }
  if (id != record.at("template_id").get<long long>()) return "kept: the template was replaced since";

  // -1: no current revision (NULL), so plain ints compare.
  std::string outcome;
  const int previous = prev.is_null() ? -1 : prev.get<int>();
  const int now_current = current.value_or(-1);
  // The current revision is this run's to undo only while this run set it: a
  // later run may have made the same revision current again.
  const auto& row = record.at("previous_row");
  const auto& recorded_set_by = row.value("set_by", nlohmann::json());
  const std::optional<std::string> previous_set_by =
      recorded_set_by.is_null() ? std::nullopt : std::optional<std::string>(recorded_set_by.get<std::string>());
  if (now_current == new_version && now_current != previous && set_by_this_run) {
    // Whatever was done since, current_version must name a stored revision.
    if (previous >= 0 && tx.exec_params("select 1 from dihya.template_versions where template_id = $1 and version = $2", id,
                                        previous)
                             .empty()) {
      return "kept: its previous revision " + std::to_string(previous) + " was deleted since";
    }
    tx.exec_params(
        "update dihya.templates set current_version = nullif($2, '')::int, stack = $3, description = $4, "
        "tags = array(select jsonb_array_elements_text($5::jsonb)), current_set_by = nullif($6, ''), "
        "updated_at = ($7::timestamp at time zone 'UTC') where id = $1",
        id, previous < 0 ? std::string() : std::to_string(previous), row.at("stack").get<std::string>(),
        row.at("description").get<std::string>(), row.at("tags").dump(),
        previous_set_by.value_or(std::string()), row.at("updated_at").get<std::string>());
    outcome = "restored";
  } else if (now_current == previous && set_by == previous_set_by) {
    outcome = "already undone";
  } else {
    // Also when a later run made the previous revision current again: its own
    // rollback puts this run's revision back, which must still be there.
    return "kept: current revision moved by a later run";
  }
  if (record.at("new_revision").get<bool>()) {
    tx.exec_params("delete from dihya.template_versions where template_id = $1 and version = $2 and run_id = $3", id,
                   new_version, run_id);
  }
  return outcome;
}

std::string drop_catalog_if_empty(pqxx::transaction_base& tx) {
  if (!catalog_exists(tx)) return "already dropped";
  tx.exec("lock table dihya.templates in access exclusive mode");
  if (tx.exec1("select exists (select 1 from dihya.templates)")[0].as<bool>()) return "kept: holds templates";
  tx.exec("drop table dihya.template_versions, dihya.templates");
  // The schema only when nothing else lives in it.
  if (!tx.exec1("select exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'dihya') "
                "or exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'dihya') "
                "or exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'dihya')")[0]
           .as<bool>()) {
    tx.exec("drop schema if exists dihya");
  }
  return "dropped";
}

std::vector<StoredTemplate> stored_templates(pqxx::transaction_base& tx, const std::string& name, const std::string& tag,
                                             bool with_content) {
  std::vector<StoredTemplate> out;
  if (!catalog_exists(tx)) return out;
  dihya::templates::refuse_untrusted_code(tx, dihya::pg::TableUse::read);
  const auto rows = tx.exec_params(
      "select t.name, t.stack, t.description, to_json(t.tags)::text, t.current_version, "
      "coalesce(v.declared_version, ''), coalesce(v.checksum, ''), "
      "to_char(t.updated_at at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
      "(select count(*) from dihya.template_versions w where w.template_id = t.id)::int, "
      "case when $3 then v.content::text end "
      "from dihya.templates t left join dihya.template_versions v "
      "on v.template_id = t.id and v.version = t.current_version "
      "where ($1 = '' or t.name = $1) and ($2 = '' or $2 = any (t.tags)) order by t.name",
      name, tag, with_content);
  for (const auto& r : rows) {
    StoredTemplate t;
    t.name = r[0].as<std::string>();
    t.stack = r[1].as<std::string>();
    t.description = r[2].as<std::string>();
    t.tags = nlohmann::json::parse(r[3].as<std::string>());
    t.current_version = optional_int(r[4]);
    t.declared_version = r[5].as<std::string>();
    t.checksum = r[6].as<std::string>();
    t.updated_at = r[7].as<std::string>();
    t.revisions = r[8].as<int>();
    if (!r[9].is_null()) t.content = nlohmann::json::parse(r[9].as<std::string>());
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace import_templates
