// SPDX-License-Identifier: AGPL-3.0-or-later
// The search_path every connection of ours that touches tables another role
// may own sets first (the host's `schedule`, run_scheduler, the database
// plugins through dihya/pg_untrusted_code.hpp). No dependency: the host sends
// it through its own libpq wrapper.
//
// SDK support, not plugin API: no stability promise.
#pragma once

namespace dihya::pg {

// Unqualified functions, operators and types then resolve in pg_catalog only:
// a better-matching overload another role put in a schema of the search path
// (public.pg_try_advisory_lock(text) wins over the bigint one for an untyped
// parameter) is never called instead. pg_temp last, or it would come first.
inline constexpr const char* kPinnedSearchPathSql = "SET search_path = pg_catalog, pg_temp";
// The same for one transaction only, on a connection shared with code that
// expects the session's own.
inline constexpr const char* kPinnedSearchPathLocalSql = "SET LOCAL search_path = pg_catalog, pg_temp";

}  // namespace dihya::pg
