// SPDX-License-Identifier: AGPL-3.0-or-later
// The search_path every connection of ours that touches tables another role
// may own sets first (the host's `schedule`, run_scheduler, the database
// plugins through dihya/pg_untrusted_code.hpp), and the event triggers such a
// connection's DDL would fire. No dependency: the host sends these through
// its own libpq wrapper.
//
// SDK support, not plugin API: no stability promise.
#pragma once

#include <string>

namespace dihya::pg {

// Unqualified functions, operators and types then resolve in pg_catalog only:
// a better-matching overload another role put in a schema of the search path
// (public.pg_try_advisory_lock(text) wins over the bigint one for an untyped
// parameter) is never called instead. pg_temp last, or it would come first.
inline constexpr const char* kPinnedSearchPathSql = "SET search_path = pg_catalog, pg_temp";
// The same for one transaction only, on a connection shared with code that
// expects the session's own.
inline constexpr const char* kPinnedSearchPathLocalSql = "SET LOCAL search_path = pg_catalog, pg_temp";

// One line naming each enabled event trigger whose function a role that is
// neither a superuser nor one holding our privileges owns: our DDL fires it,
// with our privileges (only a superuser creates an event trigger, but the
// function's owner may rewrite its body at any time); empty when none.
// Operators qualified: migrate_data runs it under the operator's search_path.
inline constexpr const char* kUntrustedEventTriggersSql = R"SQL(
SELECT COALESCE(pg_catalog.string_agg(pg_catalog.format('event trigger %s calls %s (owner %s)', e.evtname,
         p.oid::pg_catalog.regprocedure, pg_catalog.pg_get_userbyid(p.proowner)), ', ' ORDER BY e.evtname), '')
FROM pg_catalog.pg_event_trigger e JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) e.evtfoid
WHERE e.evtenabled OPERATOR(pg_catalog.<>) 'D'::pg_catalog."char"
  AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) p.proowner)
  AND NOT pg_catalog.pg_has_role(p.proowner, CURRENT_USER, 'USAGE')
)SQL";

// The refusal when kUntrustedEventTriggersSql found FOUND: "refusing to
// WHAT: FOUND would run with USER's privileges; ..." (one line).
inline std::string untrusted_event_triggers_message(const std::string& what, const std::string& found,
                                                    const std::string& user) {
  return "refusing to " + what + ": " + found.substr(0, 600) + " would run with " + user +
         "'s privileges; disable it (ALTER EVENT TRIGGER ... DISABLE) or give the function to " + user +
         " or a superuser (ALTER FUNCTION ... OWNER TO)";
}

}  // namespace dihya::pg
