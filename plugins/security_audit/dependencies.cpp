// SPDX-License-Identifier: AGPL-3.0-or-later
// Dependencies against OSV advisories, offline. Pins come from
// requirements.txt (name==version) and package-lock.json (v1 "dependencies",
// v2/v3 "packages"); an advisory affects a pin through its `versions` list or
// its ECOSYSTEM/SEMVER `ranges` events.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>

#include <dihya/error.hpp>

#include "checks.hpp"

namespace security_audit {
namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t kMaxJsonBytes = 64u << 20;
constexpr int kMaxJsonDepth = 64;

struct Pin {
  std::string ecosystem;  // "PyPI" | "npm"
  std::string name;       // normalised
  std::string version;
  std::string file;       // relative
  int line = 0;
};

// PEP 503: names compare lowercase with runs of -_. as one '-'.
std::string normalise_pypi(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      if (out.empty() || out.back() != '-') out.push_back('-');
    } else {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

void read_requirements(const fs::path& file, const std::string& relative, std::vector<Pin>& pins) {
  std::ifstream in(file);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (auto hash = line.find(" #"); hash != std::string::npos) line.resize(hash);
    if (auto semi = line.find(';'); semi != std::string::npos) line.resize(semi);  // environment markers
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == '-') continue;
    const auto eq = line.find("==");
    if (eq == std::string::npos) continue;  // only exact pins can be matched against advisories
    std::string name = trim(line.substr(0, eq));
    if (auto bracket = name.find('['); bracket != std::string::npos) name.resize(bracket);  // extras
    std::string version = trim(line.substr(eq + 2));
    if (!version.empty() && version[0] == '=') continue;  // === arbitrary equality
    if (auto space = version.find_first_of(" \t,\\"); space != std::string::npos) version.resize(space);
    if (name.empty() || version.empty()) continue;
    pins.push_back({"PyPI", normalise_pypi(name), version, relative, number});
  }
}

void read_lock_v1(const nlohmann::json& deps, const std::string& relative, std::vector<Pin>& pins, int depth) {
  if (!deps.is_object() || depth > kMaxJsonDepth) return;
  for (const auto& [name, info] : deps.items()) {
    if (!info.is_object()) continue;
    if (info.contains("version") && info["version"].is_string()) {
      pins.push_back({"npm", name, info["version"].get<std::string>(), relative, 0});
    }
    if (info.contains("dependencies")) read_lock_v1(info["dependencies"], relative, pins, depth + 1);
  }
}

void read_package_lock(const fs::path& file, const std::string& relative, std::vector<Pin>& pins,
                       std::vector<std::string>& notes) {
  nlohmann::json lock;
  try {
    lock = read_json_file(file, kMaxJsonBytes, kMaxJsonDepth);
  } catch (const dihya::Error& e) {
    notes.push_back(std::string("dependencies: ") + e.what());
    return;
  }
  if (!lock.is_object()) return;
  if (lock.contains("packages") && lock["packages"].is_object()) {
    for (const auto& [key, info] : lock["packages"].items()) {
      if (key.empty() || !info.is_object() || info.value("link", false)) continue;  // the root project, workspaces
      const auto at = key.rfind("node_modules/");
      if (at == std::string::npos) continue;
      const std::string name = info.contains("name") && info["name"].is_string() ? info["name"].get<std::string>()
                                                                               : key.substr(at + 13);
      if (info.contains("version") && info["version"].is_string()) {
        pins.push_back({"npm", name, info["version"].get<std::string>(), relative, 0});
      }
    }
    return;
  }
  if (lock.contains("dependencies")) read_lock_v1(lock["dependencies"], relative, pins, 0);
}

// Splits "1.2.3-rc.1" / "2.0a1" into release numbers and a pre-release tail.
void split_version(const std::string& v, std::vector<long long>& release, std::string& pre) {
  std::size_t i = 0;
  if (i < v.size() && (v[i] == 'v' || v[i] == 'V')) ++i;
  while (i < v.size()) {
    if (!std::isdigit(static_cast<unsigned char>(v[i]))) break;
    long long n = 0;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) {
      n = std::min<long long>(n * 10 + (v[i] - '0'), 1000000000000LL);
      ++i;
    }
    release.push_back(n);
    if (i < v.size() && v[i] == '.' && i + 1 < v.size() && std::isdigit(static_cast<unsigned char>(v[i + 1]))) {
      ++i;
      continue;
    }
    break;
  }
  pre = v.substr(i);
  if (!pre.empty() && (pre[0] == '-' || pre[0] == '.')) pre.erase(0, 1);
  if (auto plus = pre.find('+'); plus != std::string::npos) pre.resize(plus);  // build metadata
  while (!release.empty() && release.back() == 0 && release.size() > 1) release.pop_back();
}

// A post-release ("post1", PEP 440) sorts after the release; anything else after
// the numbers is a pre-release and sorts before it.
int pre_rank(const std::string& pre) {
  if (pre.empty()) return 1;
  if (pre.rfind("post", 0) == 0) return 2;
  if (pre.size() > 1 && (pre[0] == 'p' || pre[0] == 'r') && std::isdigit(static_cast<unsigned char>(pre[1]))) return 2;
  return 0;
}

int compare_pre(const std::string& a, const std::string& b) {
  // Dot/alpha/number-separated identifiers, numbers numerically (semver 11.4).
  std::size_t i = 0;
  std::size_t j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = std::isdigit(static_cast<unsigned char>(a[i])) != 0;
    const bool db = std::isdigit(static_cast<unsigned char>(b[j])) != 0;
    std::size_t ei = i;
    std::size_t ej = j;
    while (ei < a.size() && (std::isdigit(static_cast<unsigned char>(a[ei])) != 0) == da && a[ei] != '.') ++ei;
    while (ej < b.size() && (std::isdigit(static_cast<unsigned char>(b[ej])) != 0) == db && b[ej] != '.') ++ej;
    const std::string pa = a.substr(i, ei - i);
    const std::string pb = b.substr(j, ej - j);
    if (da && db) {
      const long long na = std::stoll(pa.substr(0, 15));
      const long long nb = std::stoll(pb.substr(0, 15));
      if (na != nb) return na < nb ? -1 : 1;
    } else if (da != db) {
      return da ? -1 : 1;
    } else if (pa != pb) {
      return pa < pb ? -1 : 1;
    }
    i = ei < a.size() && a[ei] == '.' ? ei + 1 : ei;
    j = ej < b.size() && b[ej] == '.' ? ej + 1 : ej;
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

bool in_ranges(const nlohmann::json& affected, const std::string& version, std::string& fixed) {
  if (!affected.contains("ranges") || !affected["ranges"].is_array()) return false;
  for (const auto& range : affected["ranges"]) {
    if (!range.is_object()) continue;
    const std::string type = range.value("type", "");
    if (type != "ECOSYSTEM" && type != "SEMVER") continue;  // GIT ranges name commits, not versions
    if (!range.contains("events") || !range["events"].is_array()) continue;
    // OSV's rule: walk the events in order; a version is affected when the last
    // introduced at or below it has no fixed (or last_affected) bound in between.
    bool inside = false;
    std::string bound_fixed;
    for (const auto& event : range["events"]) {
      if (!event.is_object()) continue;
      if (event.contains("introduced") && event["introduced"].is_string()) {
        const auto intro = event["introduced"].get<std::string>();
        if (intro == "0" || compare_versions(version, intro) >= 0) inside = true;
      } else if (event.contains("fixed") && event["fixed"].is_string()) {
        const auto fix = event["fixed"].get<std::string>();
        if (inside && compare_versions(version, fix) >= 0) {
          inside = false;
        } else if (inside) {
          bound_fixed = fix;
          break;
        }
      } else if (event.contains("last_affected") && event["last_affected"].is_string()) {
        if (inside && compare_versions(version, event["last_affected"].get<std::string>()) > 0) {
          inside = false;
        } else if (inside) {
          break;
        }
      }
    }
    if (inside) {
      fixed = bound_fixed;
      return true;
    }
  }
  return false;
}

Severity advisory_severity(const nlohmann::json& vuln) {
  std::string s;
  if (vuln.contains("database_specific") && vuln["database_specific"].is_object()) {
    s = vuln["database_specific"].value("severity", "");
  }
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "critical") return Severity::critical;
  if (s == "high") return Severity::high;
  if (s == "moderate" || s == "medium") return Severity::medium;
  if (s == "low") return Severity::low;
  return Severity::high;  // unknown: treat a known vulnerability as serious
}

void load_advisories(const fs::path& source, std::vector<nlohmann::json>& vulns, std::vector<std::string>& notes) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    for (fs::recursive_directory_iterator it(source, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file() && it->path().extension() == ".json") files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(source);
  }
  for (const auto& file : files) {
    nlohmann::json doc;
    try {
      doc = read_json_file(file, kMaxJsonBytes, kMaxJsonDepth);
    } catch (const dihya::Error& e) {
      notes.push_back(std::string("dependencies: ") + e.what());
      continue;
    }
    if (doc.is_object() && doc.contains("vulns") && doc["vulns"].is_array()) doc = doc["vulns"];
    if (doc.is_array()) {
      for (auto& v : doc) {
        if (v.is_object()) vulns.push_back(std::move(v));
      }
    } else if (doc.is_object()) {
      vulns.push_back(std::move(doc));
    }
  }
}

std::string package_name(const std::string& ecosystem, const std::string& name) {
  return ecosystem == "PyPI" ? normalise_pypi(name) : name;
}

// Pins under `root`, down to 64 levels; node_modules holds installed copies
// (the lockfile already lists them) and is not entered.
void collect_pins(const fs::path& root, const IgnoreRules& excludes, std::vector<Pin>& pins,
                  std::vector<std::string>& notes, Unexamined& gaps) {
  walk_tree(root, 64, gaps, [&](const TreeEntry& e) {
    const bool dir = S_ISDIR(e.st.st_mode);
    if (excludes.ignored(e.relative, dir)) return false;
    if (dir) return e.name != "node_modules";
    if (!S_ISREG(e.st.st_mode)) return false;
    const fs::path file = root / e.relative;
    if (e.name == "requirements.txt" || (e.name.rfind("requirements", 0) == 0 && file.extension() == ".txt")) {
      read_requirements(file, e.relative, pins);
    } else if (e.name == "package-lock.json" || e.name == "npm-shrinkwrap.json") {
      read_package_lock(file, e.relative, pins, notes);
    }
    return false;
  });
}

}  // namespace

int compare_versions(const std::string& a, const std::string& b) {
  std::vector<long long> ra;
  std::vector<long long> rb;
  std::string pa;
  std::string pb;
  split_version(a, ra, pa);
  split_version(b, rb, pb);
  for (std::size_t i = 0; i < std::max(ra.size(), rb.size()); ++i) {
    const long long x = i < ra.size() ? ra[i] : 0;
    const long long y = i < rb.size() ? rb[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  const int ka = pre_rank(pa);
  const int kb = pre_rank(pb);
  if (ka != kb) return ka < kb ? -1 : 1;
  return compare_pre(pa, pb);
}

std::vector<Finding> check_dependencies(const fs::path& root, const IgnoreRules& excludes, const fs::path& advisories,
                                        std::vector<std::string>& notes, Unexamined& gaps) {
  std::vector<Pin> pins;
  collect_pins(root, excludes, pins, notes, gaps);
  if (pins.empty()) {
    notes.push_back("dependencies: no requirements.txt or package-lock.json pins found");
    return {};
  }
  std::vector<nlohmann::json> vulns;
  load_advisories(advisories, vulns, notes);

  // Index advisories by (ecosystem, package) so each pin looks at its own only.
  std::multimap<std::pair<std::string, std::string>, std::pair<const nlohmann::json*, const nlohmann::json*>> index;
  for (const auto& v : vulns) {
    if (!v.contains("affected") || !v["affected"].is_array()) continue;
    for (const auto& a : v["affected"]) {
      if (!a.is_object() || !a.contains("package") || !a["package"].is_object()) continue;
      const std::string eco = a["package"].value("ecosystem", "");
      const std::string name = a["package"].value("name", "");
      index.emplace(std::make_pair(eco, package_name(eco, name)), std::make_pair(&v, &a));
    }
  }

  std::vector<Finding> out;
  for (const auto& pin : pins) {
    const auto range = index.equal_range({pin.ecosystem, pin.name});
    for (auto it = range.first; it != range.second; ++it) {
      const auto& vuln = *it->second.first;
      const auto& affected = *it->second.second;
      bool hit = false;
      std::string fixed;
      if (affected.contains("versions") && affected["versions"].is_array()) {
        for (const auto& v : affected["versions"]) {
          if (v.is_string() && v.get<std::string>() == pin.version) hit = true;
        }
      }
      if (in_ranges(affected, pin.version, fixed)) hit = true;
      if (!hit) continue;
      const std::string id = vuln.value("id", "OSV-unknown");
      Finding f;
      f.rule = id;
      f.check = "dependencies";
      f.severity = advisory_severity(vuln);
      f.title = vuln.value("summary", id);
      f.message = pin.ecosystem + " package " + pin.name + " " + pin.version + ": " + vuln.value("summary", id);
      f.path = pin.file;
      f.line = pin.line;
      f.column = pin.line > 0 ? 1 : 0;
      f.object = pin.ecosystem + ":" + pin.name + "@" + pin.version;
      f.evidence = pin.name + "==" + pin.version;
      f.fix = fixed.empty() ? "no fixed version is published: remove or replace " + pin.name
                            : "upgrade " + pin.name + " to " + fixed + " or later";
      f.fingerprint = fingerprint(id, pin.file, f.object);
      out.push_back(std::move(f));
    }
  }
  return out;
}

}  // namespace security_audit
