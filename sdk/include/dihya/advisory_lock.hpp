// SPDX-License-Identifier: AGPL-3.0-or-later
// Every PostgreSQL advisory-lock key the project takes, in one place. Two
// parts of the system that take the same key serialize on each other for no
// reason (or, worse, one releases the other's lock), so a key is derived from
// a name "dihya:<owner>:<purpose>" by a fixed hash (64-bit FNV-1a) instead of
// being a literal in the code that takes it; the unit test proves the keys
// below distinct. A key is a bigint for pg_advisory_lock($1) and its kin:
// bind it, never format it into SQL.
#pragma once

#include <cstdint>
#include <string_view>

namespace dihya {

// The advisory-lock key of `name`. constexpr, so fixed keys are computed at
// compile time; the same name gives the same key in every build and version.
constexpr std::int64_t advisory_lock_key(std::string_view name) noexcept {
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  return static_cast<std::int64_t>(hash);
}

namespace lock_key {

// The two schema locks of the SDK's stores keep the literals they have always
// had, so that schedulers and importers of different releases sharing one
// database still exclude each other while creating the schema.
inline constexpr std::int64_t kScheduleSchema = 7366173720934;  // dihya/schedule_store.hpp
inline constexpr std::int64_t kTemplateSchema = 7366173720935;  // dihya/template_store.hpp

// cleanup: creating the dihya_quarantine schema and table.
inline constexpr std::int64_t kCleanupQuarantineSchema = advisory_lock_key("dihya:cleanup:quarantine-schema");
// import_templates: one import at a time plans and writes the template catalog.
inline constexpr std::int64_t kTemplateImport = advisory_lock_key("dihya:import_templates:import");

}  // namespace lock_key

// migrate_data takes one session-level lock per history table, derived on the
// server as hashtextextended('dihya migrate_data <table>', 0): a running
// migration of an older release, and an operator's psql, compute the same key.

}  // namespace dihya
