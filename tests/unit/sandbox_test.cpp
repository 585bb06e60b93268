// SPDX-License-Identifier: AGPL-3.0-or-later
// The sandbox plan: what plugin.json's capabilities, a run's parameters and
// the kernel's Landlock ABI turn into. Applying it is tested end to end
// (tests/cli/test_sandbox.sh, with the hostile `escape` plugin).
#include <catch2/catch.hpp>

#include <algorithm>

#include "supervise/sandbox.hpp"

using dihya::host::Capabilities;
using dihya::host::PathAccess;
using dihya::host::SandboxInputs;
using dihya::host::SandboxMode;
using dihya::host::SandboxPlan;

namespace {

Capabilities parse_ok(const nlohmann::json& caps) {
  Capabilities out;
  REQUIRE(dihya::host::parse_capabilities({{"capabilities", caps}}, &out).empty());
  return out;
}

std::string parse_problem(const nlohmann::json& caps) {
  Capabilities out;
  return dihya::host::parse_capabilities({{"capabilities", caps}}, &out);
}

bool has_rule(const SandboxPlan& plan, const std::string& path, PathAccess access) {
  return std::any_of(plan.rules.begin(), plan.rules.end(),
                     [&](const auto& r) { return r.path == path && r.access == access; });
}

SandboxInputs inputs(int abi) {
  SandboxInputs in;
  in.abi = abi;
  in.work_dir = "/tmp";
  in.output_dir = "/var/tmp";
  return in;
}

}  // namespace

TEST_CASE("capabilities accept absolute paths, param references, ports and flags", "[sandbox]") {
  const Capabilities caps = parse_ok({{"read", {"/etc/ssl", "param:path"}},
                                      {"write", {"param:backup_dir"}},
                                      {"exec", {"/usr/lib/postgresql/15/bin/pg_dump", "dihya-host"}},
                                      {"connect", {25, "param:smtp_url"}},
                                      {"database", true},
                                      {"dns", true}});
  CHECK(caps.read.size() == 2);
  CHECK(caps.runs_host);
  CHECK(caps.connect == std::vector<std::string>{"25", "param:smtp_url"});
  CHECK(caps.database);
  CHECK(caps.dns);
  CHECK(dihya::host::capabilities_json(caps)["connect"][0] == 25);
}

TEST_CASE("capabilities refuse unknown keys and malformed entries with one line", "[sandbox]") {
  CHECK(parse_problem({{"network", true}}).find("unknown key 'network'") != std::string::npos);
  CHECK(parse_problem({{"read", {"etc/ssl"}}}).find("neither an absolute path") != std::string::npos);
  CHECK(parse_problem({{"read", {"/etc/../root"}}}).find("without '..'") != std::string::npos);
  CHECK(parse_problem({{"write", "/tmp"}}).find("expected an array") != std::string::npos);
  CHECK(parse_problem({{"connect", {70000}}}).find("port 1-65535") != std::string::npos);
  CHECK(parse_problem({{"connect", {"param:"}}}).find("param:NAME") != std::string::npos);
  CHECK(parse_problem({{"database", "yes"}}).find("true or false") != std::string::npos);
  CHECK(parse_problem({{"read", {"dihya-host"}}}).find("neither") != std::string::npos);
  CHECK(parse_problem(nlohmann::json::array()).find("expected an object") != std::string::npos);
}

TEST_CASE("nothing declared: the runtime, the work and output dirs, no network", "[sandbox]") {
  const SandboxPlan plan = dihya::host::build_sandbox_plan(Capabilities{}, inputs(7));
  CHECK(has_rule(plan, "/usr/lib", PathAccess::read));
  CHECK(has_rule(plan, "/tmp", PathAccess::write));
  CHECK(has_rule(plan, "/var/tmp", PathAccess::write));
  CHECK_FALSE(has_rule(plan, "/etc", PathAccess::read));
  CHECK_FALSE(has_rule(plan, "/etc/hosts", PathAccess::read));
  CHECK(plan.connect_ports.empty());
  CHECK_FALSE(plan.ip_sockets);
  CHECK(plan.seccomp);
  CHECK(plan.refusal.empty());
}

TEST_CASE("param paths and ports come from the run's parameters", "[sandbox]") {
  const Capabilities caps = parse_ok({{"read", {"param:path", "param:unset"}},
                                      {"write", {"param:out"}},
                                      {"connect", {"param:smtp_url", "param:port"}}});
  SandboxInputs in = inputs(7);
  in.params = {{"path", "/usr/share"}, {"out", "/tmp/not-made-yet/deeper"}, {"smtp_url", "smtp://mail.example:2525"},
               {"port", 587}};
  const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(has_rule(plan, "/usr/share", PathAccess::read));
  // Not made yet: the nearest existing directory, where it will be made.
  CHECK(has_rule(plan, "/tmp", PathAccess::write));
  CHECK(plan.connect_ports == std::vector<std::uint16_t>{587, 2525});
  CHECK(plan.ip_sockets);
  const auto notes = nlohmann::json(plan.notes).dump();
  CHECK(notes.find("param:unset: unset") != std::string::npos);
  CHECK(notes.find("does not exist yet") != std::string::npos);
}

TEST_CASE("a URL without a port gets its scheme's port", "[sandbox]") {
  const Capabilities caps = parse_ok({{"connect", {"param:url"}}});
  SandboxInputs in = inputs(7);
  in.params = {{"url", "smtps://user:pw@mail.example/"}};
  CHECK(dihya::host::build_sandbox_plan(caps, in).connect_ports == std::vector<std::uint16_t>{465});
}

TEST_CASE("the database: its TCP port, or its Unix socket dir", "[sandbox]") {
  const Capabilities caps = parse_ok({{"database", true}});
  SandboxInputs in = inputs(7);
  in.database_url = "postgresql://app:secret@db.example:6543/app";
  SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.connect_ports == std::vector<std::uint16_t>{6543});
  CHECK(has_rule(plan, "/etc/hosts", PathAccess::read));
  in.database_url = "postgresql:///app?host=/run/pg%2Dsock&user=postgres";
  plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.connect_ports.empty());
  CHECK_FALSE(plan.ip_sockets);
  CHECK(has_rule(plan, "/run/pg-sock", PathAccess::read));
  in.database_url = "postgresql://%2Fvar%2Frun%2Fpostgresql/app";
  plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.connect_ports.empty());
  CHECK(has_rule(plan, "/var/run/postgresql", PathAccess::read));
  in.database_url = "host=db.example port=7000 dbname=app";
  CHECK(dihya::host::build_sandbox_plan(caps, in).connect_ports == std::vector<std::uint16_t>{7000});
}

TEST_CASE("a socket dir that is not UTF-8 (percent-decoded) is kept exact in the plan, escaped in its record", "[sandbox]") {
  const Capabilities caps = parse_ok({{"database", true}});
  SandboxInputs in = inputs(7);
  in.database_url = "postgresql://%2Frun%2Fpg%AAsock/app";
  const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(has_rule(plan, "/run/pg\xAAsock", PathAccess::read));
  std::string dumped;
  REQUIRE_NOTHROW(dumped = dihya::host::sandbox_plan_json(plan).dump());
  CHECK(dumped.find("/run/pg\\\\xaasock") != std::string::npos);
}

TEST_CASE("an absolute path holding '#' is a path, not a reference into a document", "[sandbox]") {
  const SandboxPlan plan = dihya::host::build_sandbox_plan(parse_ok({{"read", {"/srv/a#b/"}}}), inputs(7));
  REQUIRE(plan.notes.size() == 1);
  CHECK(plan.notes[0] == "read /srv/a#b/: /srv/a#b/ does not exist, no rule");
}

TEST_CASE("require refuses what the kernel cannot enforce; best-effort notes it", "[sandbox]") {
  const Capabilities caps = parse_ok({{"connect", {25}}});
  SandboxInputs in = inputs(3);
  CHECK(dihya::host::build_sandbox_plan(caps, in).refusal.find("ABI 4") != std::string::npos);
  CHECK(dihya::host::build_sandbox_plan(Capabilities{}, inputs(0)).refusal.find("no Landlock") != std::string::npos);
  in.mode = SandboxMode::best_effort;
  const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.refusal.empty());
  CHECK(nlohmann::json(plan.notes).dump().find("best-effort") != std::string::npos);
}

TEST_CASE("off confines nothing; the scheduler gets seccomp without Landlock", "[sandbox]") {
  SandboxInputs in = inputs(7);
  in.mode = SandboxMode::off;
  const SandboxPlan off = dihya::host::build_sandbox_plan(Capabilities{}, in);
  CHECK_FALSE(off.seccomp);
  CHECK_FALSE(off.landlock);
  CHECK(dihya::host::sandbox_plan_line(off).find("off") == 0);
  in.mode = SandboxMode::require;
  // Unconfined files: only for a plugin that ships with the host or is signed.
  CHECK(dihya::host::build_sandbox_plan(parse_ok({{"exec", {"dihya-host"}}}), in).refusal.find("ships with the host") !=
        std::string::npos);
  in.vouched = true;
  const SandboxPlan scheduler = dihya::host::build_sandbox_plan(parse_ok({{"exec", {"dihya-host"}}}), in);
  CHECK_FALSE(scheduler.landlock);
  CHECK(scheduler.seccomp);
  CHECK(scheduler.refusal.empty());
  // Its jobs' hosts set their plugins' own memory limits and pid namespaces.
  CHECK(scheduler.runs_host);
  CHECK_FALSE(dihya::host::build_sandbox_plan(Capabilities{}, in).runs_host);
}

TEST_CASE("processes, in a pid namespace of their own, only for a plugin that starts programs or forks", "[sandbox]") {
  SandboxInputs in = inputs(7);
  in.params = {{"tool", "/usr/bin/true"}};
  const Capabilities exec = parse_ok({{"exec", {"param:tool"}}});
  SandboxPlan plan = dihya::host::build_sandbox_plan(exec, in);
  CHECK(plan.processes);
  CHECK(plan.pid_namespace);
  plan = dihya::host::build_sandbox_plan(parse_ok({{"processes", true}}), in);
  CHECK(plan.processes);
  CHECK(plan.pid_namespace);
  plan = dihya::host::build_sandbox_plan(Capabilities{}, in);
  CHECK_FALSE(plan.processes);
  CHECK_FALSE(plan.pid_namespace);
  CHECK(dihya::host::sandbox_plan_line(plan).find("no new processes") != std::string::npos);
  CHECK(dihya::host::sandbox_plan_json(plan)["processes"] == false);
  // The grant's parameter unset: nothing to start.
  in.params = nlohmann::json::object();
  CHECK_FALSE(dihya::host::build_sandbox_plan(exec, in).processes);
  // The scheduler forks its jobs, whose hosts record their pids as seen from outside.
  plan = dihya::host::build_sandbox_plan(parse_ok({{"exec", {"dihya-host"}}}), in);
  CHECK(plan.processes);
  CHECK_FALSE(plan.pid_namespace);
  in.params = {{"tool", "/usr/bin/true"}};
  in.mode = SandboxMode::off;
  CHECK_FALSE(dihya::host::build_sandbox_plan(exec, in).pid_namespace);
  CHECK(parse_problem({{"processes", "yes"}}) == "capabilities.processes: expected true or false");
}

TEST_CASE("a permission error gets a hint naming the path outside the plan", "[sandbox]") {
  const SandboxPlan plan = dihya::host::build_sandbox_plan(Capabilities{}, inputs(7));
  const std::string hint = dihya::host::sandbox_denial_hint(plan, "cannot read /etc/shadow: Permission denied");
  CHECK(hint.find("sandbox may have denied") != std::string::npos);
  CHECK(hint.find("/etc/shadow") != std::string::npos);
  CHECK(hint.find(R"({"read": ["/etc/shadow"]})") != std::string::npos);
  CHECK(dihya::host::sandbox_denial_hint(plan, "cannot create /srv/out/a.txt: Permission denied")
            .find(R"({"write": ["/srv/out/a.txt"]})") != std::string::npos);
  CHECK(dihya::host::sandbox_denial_hint(plan, "cannot start /opt/tool: Permission denied")
            .find(R"({"exec": ["/opt/tool"]})") != std::string::npos);
  CHECK(dihya::host::sandbox_denial_hint(plan, "no such table: users").empty());
  SandboxInputs in = inputs(7);
  in.mode = SandboxMode::off;
  CHECK(dihya::host::sandbox_denial_hint(dihya::host::build_sandbox_plan(Capabilities{}, in), "Permission denied").empty());
}

TEST_CASE("paths listed in a file a parameter names (cleanup's policy)", "[sandbox]") {
  const Capabilities caps = parse_ok({{"write", {"param:policy#logs[].dir"}}});
  CHECK_FALSE(parse_problem({{"write", {"param:policy#logs[]..dir"}}}).empty());
  CHECK_FALSE(parse_problem({{"connect", {"param:policy#port"}}}).empty());
  SandboxInputs in = inputs(7);
  in.params = {{"policy", "/etc/dihya/policy.yaml"}};
  std::string asked;
  in.read_document = [&](const std::string& path) {
    asked = path;
    return nlohmann::json{{"logs", {{{"dir", "/var/tmp"}}, {{"dir", "relative/dir"}}, {{"patterns", {"*.log"}}}}}};
  };
  const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(asked == "/etc/dihya/policy.yaml");
  CHECK(std::count_if(plan.rules.begin(), plan.rules.end(),
                      [](const auto& r) { return r.path == "/var/tmp" && r.access == PathAccess::write; }) == 1);
  CHECK(nlohmann::json(plan.notes).dump().find("not an absolute path") != std::string::npos);
}

TEST_CASE("a rollback may remove what the run made: write grants go to the parent", "[sandbox]") {
  const Capabilities caps = parse_ok({{"write", {"param:out"}}});
  SandboxInputs in = inputs(7);
  in.params = {{"out", "/usr/share"}};
  CHECK(has_rule(dihya::host::build_sandbox_plan(caps, in), "/usr/share", PathAccess::write));
  in.rollback = true;
  const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(has_rule(plan, "/usr", PathAccess::write));
  CHECK_FALSE(has_rule(plan, "/usr/share", PathAccess::write));
}

TEST_CASE("a rollback gets back the grant the run had on a parent it made", "[sandbox]") {
  const Capabilities caps = parse_ok({{"write", {"param:out"}}});
  SandboxInputs in = inputs(7);
  in.params = {{"out", "/usr/share/doc"}};
  in.rollback = true;
  // The run made /usr/share/doc and its parent: it was granted /usr.
  in.run_write_grants = {{"write param:out", "/usr"}};
  CHECK(has_rule(dihya::host::build_sandbox_plan(caps, in), "/usr", PathAccess::write));
  // Another entry's grant, one not above the path, a file: the parent as before.
  for (const auto& grant : std::vector<std::pair<std::string, std::string>>{
           {"write param:other", "/usr"}, {"write param:out", "/var"},
           {"write param:out", "/usr/sh"}, {"write param:out", "/etc/hostname"}}) {
    in.run_write_grants = {grant};
    const SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
    CHECK(has_rule(plan, "/usr/share", PathAccess::write));
    CHECK_FALSE(has_rule(plan, grant.second, PathAccess::write));
  }
}

TEST_CASE("no write grant reaches the host's own dirs; a rollback falls back to the path itself", "[sandbox]") {
  const Capabilities caps = parse_ok({{"write", {"param:out"}}});
  SandboxInputs in = inputs(7);
  in.protected_dirs = {{"state dir", "/usr/share/dihya-state"}};
  // An existing dir beside the state dir: granted as it is.
  in.params = {{"out", "/usr/share/doc"}};
  SandboxPlan plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.forbidden.empty());
  CHECK(has_rule(plan, "/usr/share/doc", PathAccess::write));
  // Not there yet: its nearest parent, /usr/share, would hold the state dir.
  in.params = {{"out", "/usr/share/no-such-dir-here/x"}};
  plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.forbidden.find("the grant on /usr/share holds the host's state dir /usr/share/dihya-state") !=
        std::string::npos);
  CHECK(plan.forbidden.find("or create /usr/share/no-such-dir-here/x first") != std::string::npos);
  CHECK_FALSE(has_rule(plan, "/usr/share", PathAccess::write));
  // Inside it, or the dir itself: no "create it first" advice.
  for (const char* inside : {"/usr/share/dihya-state", "/usr/share/dihya-state/runs"}) {
    in.params = {{"out", inside}};
    plan = dihya::host::build_sandbox_plan(caps, in);
    CHECK(plan.forbidden.find("the host's state dir") != std::string::npos);
    CHECK(plan.forbidden.find("first") == std::string::npos);
  }
  // / covers everything.
  in.params = {{"out", "/"}};
  CHECK_FALSE(dihya::host::build_sandbox_plan(caps, in).forbidden.empty());
  // A rollback of /usr/share/doc would be granted /usr/share: the path itself instead, noted.
  in.params = {{"out", "/usr/share/doc"}};
  in.rollback = true;
  plan = dihya::host::build_sandbox_plan(caps, in);
  CHECK(plan.forbidden.empty());
  CHECK(has_rule(plan, "/usr/share/doc", PathAccess::write));
  CHECK_FALSE(has_rule(plan, "/usr/share", PathAccess::write));
  CHECK(std::any_of(plan.notes.begin(), plan.notes.end(),
                    [](const std::string& n) { return n.find("granted on /usr/share/doc only") != std::string::npos; }));
  // Read grants may cover it (a scan of the whole file system).
  const Capabilities reads = parse_ok({{"read", {"param:out"}}});
  in.rollback = false;
  in.params = {{"out", "/"}};
  CHECK(dihya::host::build_sandbox_plan(reads, in).forbidden.empty());
}
