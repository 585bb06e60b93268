// SPDX-License-Identifier: AGPL-3.0-or-later
// Context::db(): the configured PostgreSQL database through libpqxx 6, for the
// plugins that use it (the target links libpqxx; Dihya::sdk carries it). Kept
// out of context.hpp so that a plugin source that does not touch the database
// does not parse libpqxx's headers.
//
//   #include <dihya/database.hpp>
//   pqxx::work tx(ctx.db());
//
// A statement must not outlive the run that sent it: one left waiting on the
// server (for a lock, say) keeps its locks and its session's advisory locks,
// and every later reader queues behind it. So the session db() opens has its
// running statement cancelled once the run is asked to stop, and asks the
// server to end that statement as soon as the plugin's process is gone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <pqxx/connection>
#include <pqxx/except>
#include <pqxx/nontransaction>

#include "dihya/context.hpp"
#include "dihya/error.hpp"

namespace dihya {
namespace detail {

// PostgreSQL 14 and later check, while a statement runs, that its client is
// still there; without it a statement of a killed process runs (or waits)
// until it first writes to the socket. Linux only: elsewhere, and on older
// servers, the session keeps the default.
inline void end_statements_of_gone_clients(pqxx::connection& db) {
  if (db.server_version() < 140000) return;
  try {
    pqxx::nontransaction tx(db);
    tx.exec("set client_connection_check_interval = 1000");
  } catch (const pqxx::sql_error&) {
  }
}

// A connection of db() and the thread that cancels its running statement once
// the context says cancelled(): a plugin polls cancelled() between statements,
// not during one that waits for a lock.
class WatchedConnection {
 public:
  WatchedConnection(const std::string& url, const Context& ctx) : db_(url) {
    end_statements_of_gone_clients(db_);
    watcher_ = std::thread([this, &ctx] { watch(ctx); });
  }
  ~WatchedConnection() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      closing_ = true;
    }
    wake_.notify_one();
    watcher_.join();
  }
  WatchedConnection(const WatchedConnection&) = delete;
  WatchedConnection& operator=(const WatchedConnection&) = delete;

  pqxx::connection& db() { return db_; }

 private:
  void watch(const Context& ctx) {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, std::chrono::milliseconds(100), [this] { return closing_; })) {
      if (!ctx.cancelled()) continue;
      try {  // libpq's cancel request is made for use from another thread
        db_.cancel_query();
      } catch (const std::exception&) {
      }
      return;
    }
  }

  pqxx::connection db_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool closing_ = false;
  std::thread watcher_;
};

}  // namespace detail

// Opens database_url() on the first call unless the context hands out its
// own connection (Context::own_database). Not thread-safe, like the context.
inline pqxx::connection& Context::db() {
  if (pqxx::connection* own = own_database()) return *own;
  if (!db_) {
    if (database_url().empty()) {
      throw Error("no database configured: declare \"needs\": [\"database\"] in plugin.json");
    }
    try {
      db_ = std::make_shared<detail::WatchedConnection>(database_url(), *this);
    } catch (const std::exception& e) {
      throw Error(std::string("cannot connect to the database: ") + e.what());
    }
  }
  return static_cast<detail::WatchedConnection*>(db_.get())->db();
}

}  // namespace dihya
