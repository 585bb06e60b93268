// SPDX-License-Identifier: AGPL-3.0-or-later
// The registry of advisory-lock keys (dihya/advisory_lock.hpp): every key the
// project takes is distinct, and the derivation is stable across builds.
#include <catch2/catch.hpp>

#include <set>

#include <dihya/advisory_lock.hpp>

TEST_CASE("every advisory-lock key of the project is distinct", "[advisory_lock]") {
  namespace key = dihya::lock_key;
  const std::set<std::int64_t> keys{key::kScheduleSchema, key::kTemplateSchema, key::kCleanupQuarantineSchema,
                                    key::kTemplateImport};
  CHECK(keys.size() == 4);
}

TEST_CASE("advisory_lock_key is 64-bit FNV-1a, fixed at compile time", "[advisory_lock]") {
  // Published FNV-1a 64 test vectors: a change of the hash would silently
  // stop old and new releases from excluding each other.
  static_assert(dihya::advisory_lock_key("") == static_cast<std::int64_t>(0xcbf29ce484222325ull));
  CHECK(dihya::advisory_lock_key("a") == static_cast<std::int64_t>(0xaf63dc4c8601ec8cull));
  CHECK(dihya::advisory_lock_key("foobar") == static_cast<std::int64_t>(0x85944171f73967e8ull));
}
