// SPDX-License-Identifier: AGPL-3.0-or-later
// The example's unit tests: the plugin class itself, run in-process with the
// SDK's FakeContext on the database in DIHYA_DATABASE_URL (the platform schema,
// with expired sessions). Each case leaves the sessions as it found them: what
// a run deletes, its own rollback puts back, which is itself checked.
#include <catch2/catch.hpp>
#include <dihya/database.hpp>
#include <dihya/plugin.hpp>
#include <dihya/testing/fake_context.hpp>
#include <pqxx/pqxx>

#include <cstdlib>
#include <string>

// The plugin class lives in its one source file, as a small plugin's does:
// the test compiles that file in (with the embedded plugin.json, see
// CMakeLists.txt) instead of loading the .so.
#include "../expire_sessions.cpp"

namespace {

std::string database_url() {
  const char* url = std::getenv("DIHYA_DATABASE_URL");
  if (url == nullptr || *url == '\0') FAIL("DIHYA_DATABASE_URL must name the test database");
  return url;
}

long long scalar(pqxx::connection& db, const std::string& sql) {
  pqxx::work tx(db);
  return tx.exec1(sql)[0].as<long long>();
}

std::string sessions_checksum(pqxx::connection& db) {
  pqxx::work tx(db);
  return tx.exec1("select md5(coalesce(string_agg(s::text, '|' order by id), '')) from public.sessions s")[0]
      .as<std::string>();
}

// The plugin as the host sees it: its overrides are private, the contract is dihya::Plugin's.
struct HostView {
  expire_sessions::ExpireSessions impl;
  dihya::Plugin& operator*() { return impl; }
  dihya::Plugin* operator->() { return &impl; }
};

const char* const kExpired = "select count(*) from public.sessions where expires_at < now()";

}  // namespace

TEST_CASE("metadata() is the plugin.json embedded at build time", "[expire_sessions]") {
  const nlohmann::json meta = HostView()->metadata();
  CHECK(meta.at("name") == "expire_sessions");
  CHECK(meta.at("destructive") == true);
}

TEST_CASE("a dry run plans every expired session and changes nothing", "[expire_sessions]") {
  pqxx::connection db(database_url());
  const long long expired = scalar(db, kExpired);
  REQUIRE(expired > 0);  // the seed has expired sessions, or this case proves nothing
  const std::string before = sessions_checksum(db);

  dihya::testing::FakeContext ctx;
  ctx.use_database(db).set_dry_run(true);
  const dihya::Result result = HostView()->run(dihya::Params({{"batch", 100}, {"older_than_days", 0}}), ctx);

  CHECK(result.ok);
  CHECK(result.data.at("sessions") == expired);
  CHECK(result.data.at("batches") == (expired + 99) / 100);
  CHECK(result.report.find("BATCH  SESSIONS") != std::string::npos);
  CHECK(ctx.journal_entries().empty());
  CHECK(sessions_checksum(db) == before);
}

TEST_CASE("a cancelled run stops between batches; each batch was journalled before it was deleted",
          "[expire_sessions]") {
  pqxx::connection db(database_url());
  pqxx::connection observer(database_url());  // sees only what the plugin committed
  REQUIRE(scalar(db, kExpired) > 100);
  const std::string before = sessions_checksum(db);

  dihya::testing::FakeContext ctx;
  ctx.use_database(db);
  long long present_when_recorded = -1;
  ctx.on_record = [&](const dihya::UndoEntry& entry) {
    pqxx::work tx(observer);
    present_when_recorded = tx.exec_params1("select count(*) from public.sessions where id in "
                                            "(select (r->>'id')::bigint from json_array_elements($1::json) r)",
                                            entry.data.at("rows").dump())[0]
                                .as<long long>();
  };
  ctx.on_progress = [&](const dihya::testing::ProgressReport&) { ctx.cancel(); };

  HostView plugin;
  CHECK_THROWS_WITH(plugin->run(dihya::Params({{"batch", 100}, {"older_than_days", 0}}), ctx),
                    Catch::Contains("cancelled after deleting 100 of"));
  REQUIRE(ctx.journal_entries().size() == 1);
  CHECK(ctx.journal_entries()[0].action == "reinsert_sessions");
  CHECK(ctx.journal_entries()[0].data.at("rows").size() == 100);
  CHECK(present_when_recorded == 100);  // recorded while all 100 rows were still there
  CHECK(ctx.progress_reports().size() == 1);
  CHECK(sessions_checksum(db) != before);

  SECTION("its rollback restores exactly what the run deleted, and again is a no-op") {
    dihya::testing::FakeContext undo;
    undo.use_database(db);
    const dihya::Result restored = plugin->rollback(ctx.entries_newest_first(), undo);
    CHECK(restored.ok);
    CHECK(restored.data.at("restored") == 100);
    CHECK(sessions_checksum(db) == before);
    const dihya::Result again = plugin->rollback(ctx.entries_newest_first(), undo);
    CHECK(again.data.at("restored") == 0);
    CHECK(sessions_checksum(db) == before);
  }
}

TEST_CASE("no database configured: the plugin gets one clear dihya::Error", "[expire_sessions]") {
  dihya::testing::FakeContext ctx;  // neither use_database nor set_database_url
  CHECK_THROWS_MATCHES(HostView()->validate(dihya::Params(), ctx), dihya::Error,
                       Catch::Matchers::Predicate<dihya::Error>([](const dihya::Error& e) {
                         return std::string(e.what()).find("no database configured") != std::string::npos;
                       }));
}
