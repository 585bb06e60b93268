// SPDX-License-Identifier: AGPL-3.0-or-later
// Context::db(): the configured PostgreSQL database through libpqxx 6, for the
// plugins that use it (the target links libpqxx; Dihya::sdk carries it). Kept
// out of context.hpp so that a plugin source that does not touch the database
// does not parse libpqxx's headers.
//
//   #include <dihya/database.hpp>
//   pqxx::work tx(ctx.db());
#pragma once

#include <exception>
#include <memory>
#include <string>

#include <pqxx/connection>

#include "dihya/context.hpp"
#include "dihya/error.hpp"

namespace dihya {

// Opens database_url() on the first call unless the context hands out its
// own connection (Context::own_database). Not thread-safe, like the context.
inline pqxx::connection& Context::db() {
  if (pqxx::connection* own = own_database()) return *own;
  if (!db_) {
    if (database_url().empty()) {
      throw Error("no database configured: declare \"needs\": [\"database\"] in plugin.json");
    }
    try {
      db_ = std::make_shared<pqxx::connection>(database_url());
    } catch (const std::exception& e) {
      throw Error(std::string("cannot connect to the database: ") + e.what());
    }
  }
  return *static_cast<pqxx::connection*>(db_.get());
}

}  // namespace dihya
