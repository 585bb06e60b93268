// SPDX-License-Identifier: AGPL-3.0-or-later
// The SDK's API as plugin authors see it since 2.0: the ABI tag, CronError in
// the dihya::Error family, and the FakeContext plugin unit tests are built on
// (sdk/testing/fake_context.hpp). The database side of FakeContext is covered
// by examples/expire_sessions' unit tests (tests/cli/test_example_sdk.sh).
#include <catch2/catch.hpp>

#include <dihya/abi.hpp>
#include <dihya/cron.hpp>
#include <dihya/error.hpp>
#include <dihya/testing/fake_context.hpp>

#include <filesystem>
#include <string>
#include <type_traits>

TEST_CASE("the ABI tag names SDK 2.0 and the C++ library ABI", "[sdk]") {
  CHECK(dihya::kAbiMajor == 2);
  CHECK(dihya::kAbiMinor == 0);
  CHECK(std::string(dihya::kAbiTag) == std::string("dihya-abi 2.0 ") + DIHYA_ABI_STDLIB);
}

TEST_CASE("a cron error is a dihya::Error, shown to the operator as is", "[sdk][cron]") {
  STATIC_REQUIRE(std::is_base_of<dihya::Error, dihya::cron::CronError>::value);
  try {
    dihya::cron::parse("61 * * * *");
    FAIL("an out-of-range minute was accepted");
  } catch (const dihya::Error& e) {
    CHECK(std::string(e.what()).find("61") != std::string::npos);
  }
}

TEST_CASE("FakeContext keeps what a plugin logs, journals and reports", "[sdk][fake_context]") {
  dihya::testing::FakeContext ctx;
  ctx.set_dry_run(true).set_secret("password", "s3cret");
  ctx.log().info("deleted {} rows", 3);
  ctx.journal().record({"reinsert", {{"id", 1}}});
  ctx.journal().record({"reinsert", {{"id", 2}}});
  ctx.progress(1, 2, "batches");

  CHECK(ctx.dry_run());
  CHECK(ctx.secret("password") == std::optional<std::string>("s3cret"));
  CHECK_FALSE(ctx.secret("salt").has_value());
  REQUIRE(ctx.log_lines().size() == 1);
  CHECK(ctx.log_lines()[0].level == dihya::LogLevel::info);
  CHECK(ctx.log_lines()[0].text == "deleted 3 rows");
  REQUIRE(ctx.journal_entries().size() == 2);
  CHECK(ctx.entries_newest_first().front().data.at("id") == 2);
  REQUIRE(ctx.progress_reports().size() == 1);
  CHECK(ctx.progress_reports()[0].what == "batches");
  CHECK(ctx.run_id() == "20261125T215000Z-test");
}

TEST_CASE("FakeContext: cancellation, a failing journal and the scratch directories", "[sdk][fake_context]") {
  std::filesystem::path root;
  {
    dihya::testing::FakeContext ctx;
    SECTION("cancel() from a progress hook is seen by the next poll") {
      ctx.on_progress = [&](const dihya::testing::ProgressReport&) { ctx.cancel(); };
      CHECK_FALSE(ctx.cancelled());
      ctx.progress(1, 3, "batches");
      CHECK(ctx.cancelled());
    }
    SECTION("an on_record hook that throws fails record() and keeps no entry") {
      ctx.on_record = [](const dihya::UndoEntry&) { throw dihya::Error("journal: disk full"); };
      CHECK_THROWS_AS(ctx.journal().record({"delete", {}}), dihya::Error);
      CHECK(ctx.journal_entries().empty());
    }
    REQUIRE(std::filesystem::is_directory(ctx.work_dir()));
    REQUIRE(std::filesystem::is_directory(ctx.output_dir()));
    CHECK(ctx.work_dir() != ctx.output_dir());
    root = ctx.work_dir().parent_path();
  }
  CHECK_FALSE(std::filesystem::exists(root));  // removed with the context
}
