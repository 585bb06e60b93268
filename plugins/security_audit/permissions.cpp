// SPDX-License-Identifier: AGPL-3.0-or-later
// File-mode checks: what a local user other than the owner could change or read.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include <dihya/file_io.hpp>

#include "checks.hpp"

namespace security_audit {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxPermissionDepth = 256;

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Key files by name; a .pem/.crt counts only if it really holds a private key
// (certificates are public and often 0644 on purpose). `name` is opened in
// `dir_fd`; a .pem/.crt that cannot be read is counted in `gaps`.
bool is_private_key_file(int dir_fd, const std::string& name, const std::string& relative, Unexamined& gaps) {
  static const char* const kKeyNames[] = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk"};
  for (const char* k : kKeyNames) {
    if (name == k) return true;
  }
  if (ends_with(name, ".key") || ends_with(name, ".p12") || ends_with(name, ".pfx") || ends_with(name, ".keystore") ||
      ends_with(name, ".jks")) {
    return true;
  }
  if (ends_with(name, ".pem") || ends_with(name, ".crt")) {
    constexpr std::size_t kHead = 65536;  // where a key block starts, if it is one
    const dihya::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    std::string head;
    // EFBIG: more than the head, which is all that is looked at.
    const std::error_code ec = fd ? dihya::read_all(fd.get(), &head, kHead) : std::error_code(errno, std::generic_category());
    if (ec && ec.value() != EFBIG) {
      gaps.add_errno(ec.value(), relative);
      return false;
    }
    head.resize(std::min(head.size(), kHead));
    return head.find("PRIVATE KEY-----") != std::string::npos;
  }
  return false;
}

bool is_secret_config(const std::string& name) {
  return name == ".env" || name.rfind(".env.", 0) == 0 || ends_with(name, ".env") || name == ".pgpass" ||
         name == ".netrc" || name == ".npmrc" || name == ".pypirc" || name == "credentials" ||
         name == "credentials.json" || name == "secrets.yaml" || name == "secrets.yml" || name == "secrets.json" ||
         name == ".htpasswd";
}

Finding permission_finding(const std::string& rule, Severity sev, const std::string& title, const std::string& relative,
             const std::string& message, const std::string& evidence, const std::string& fix) {
  Finding f;
  f.rule = rule;
  f.check = "permissions";
  f.severity = sev;
  f.title = title;
  f.message = message;
  f.path = relative.empty() ? "." : relative;
  f.evidence = evidence;
  f.fix = fix;
  f.fingerprint = fingerprint(rule, f.path, evidence);
  return f;
}

// `name` lies in `dir_fd`; `relative` is its raw path from the root ("" for the root).
void check_entry(int dir_fd, const std::string& name, const std::string& relative, const struct stat& st,
                 std::vector<Finding>& out, Unexamined& gaps) {
  const mode_t mode = st.st_mode;
  const std::string shown = relative.empty() ? "." : relative;
  // The fix is a command: it names the real file, quoted for the shell.
  const std::string quoted = shell_quote(shown);
  if (S_ISDIR(mode)) {
    if ((mode & S_IWOTH) && !(mode & S_ISVTX)) {
      out.push_back(permission_finding("perm-world-writable-dir", Severity::high, "World-writable directory without sticky bit",
                         relative, "any local user can create, replace or delete files in " + shown,
                         "mode " + octal(mode), "chmod o-w " + quoted + " (or chmod +t if it must be shared)"));
    }
    return;
  }
  if (!S_ISREG(mode)) return;
  if (mode & S_IWOTH) {
    out.push_back(permission_finding("perm-world-writable-file", Severity::high, "World-writable file", relative,
                       "any local user can change " + shown, "mode " + octal(mode), "chmod o-w " + quoted));
  }
  if (mode & (S_ISUID | S_ISGID)) {
    const bool uid = (mode & S_ISUID) != 0;
    out.push_back(permission_finding(uid ? "perm-setuid" : "perm-setgid", Severity::high,
                       uid ? "Set-user-ID file in an application tree" : "Set-group-ID file in an application tree",
                       relative, shown + " runs with its owner's " + std::string(uid ? "user" : "group") + " rights",
                       "mode " + octal(mode), std::string("chmod ") + (uid ? "u-s" : "g-s") + " " + quoted));
  }
  if (mode & (S_IRGRP | S_IROTH)) {
    const bool others = (mode & S_IROTH) != 0;
    if (is_private_key_file(dir_fd, name, relative, gaps)) {
      out.push_back(permission_finding("perm-private-key-readable", others ? Severity::high : Severity::medium,
                         "Private key readable by other users", relative,
                         shown + " is readable by " + (others ? "all local users" : "its group"),
                         "mode " + octal(mode), "chmod 600 " + quoted));
    } else if (is_secret_config(name)) {
      out.push_back(permission_finding("perm-secret-config-readable", others ? Severity::medium : Severity::low,
                         "Credentials file readable by other users", relative,
                         shown + " is readable by " + (others ? "all local users" : "its group"),
                         "mode " + octal(mode), "chmod 600 " + quoted));
    }
  }
}

void check_plugin_dir(const fs::path& dir, std::vector<Finding>& out, std::vector<std::string>& notes) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    notes.push_back("plugin dir " + dir.string() + " is not a directory: not checked");
    return;
  }
  const bool writable = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  const bool foreign_owner = st.st_uid != 0 && st.st_uid != ::geteuid();
  if (!writable && !foreign_owner) return;
  Finding f = permission_finding("perm-plugin-dir-untrusted", Severity::critical, "Plugin directory others can write to", "",
                   dir.string() + (writable ? " is writable by its group or others" : " is owned by another user") +
                       ": whoever can write there runs code as the host",
                   "mode " + octal(st.st_mode) + " uid " + std::to_string(st.st_uid),
                   "chown root: " + shell_quote(dir.string()) + " && chmod 755 " + shell_quote(dir.string()));
  f.path.clear();
  f.object = dir.string();
  out.push_back(std::move(f));
}

}  // namespace

std::vector<RuleInfo> permission_rules() {
  return {{"perm-world-writable-dir", "World-writable directory without sticky bit", Severity::high},
          {"perm-world-writable-file", "World-writable file", Severity::high},
          {"perm-setuid", "Set-user-ID file in an application tree", Severity::high},
          {"perm-setgid", "Set-group-ID file in an application tree", Severity::high},
          {"perm-private-key-readable", "Private key readable by other users", Severity::high},
          {"perm-secret-config-readable", "Credentials file readable by other users", Severity::medium},
          {"perm-plugin-dir-untrusted", "Plugin directory others can write to", Severity::critical}};
}

std::vector<Finding> check_permissions(const fs::path& root, const IgnoreRules& excludes,
                                       const std::vector<fs::path>& plugin_dirs, std::vector<std::string>& notes,
                                       Unexamined& gaps) {
  std::vector<Finding> out;
  struct stat st {};
  if (::lstat(root.c_str(), &st) != 0) {
    gaps.add_errno(errno, ".");
  } else {
    check_entry(AT_FDCWD, root.string(), "", st, out, gaps);
    if (S_ISDIR(st.st_mode)) {
      walk_tree(root, kMaxPermissionDepth, gaps, [&](const TreeEntry& e) {
        if (excludes.ignored(e.relative, S_ISDIR(e.st.st_mode))) return false;
        check_entry(e.dir_fd, e.name, e.relative, e.st, out, gaps);
        return true;
      });
    }
  }
  for (const auto& dir : plugin_dirs) check_plugin_dir(dir, out, notes);
  return out;
}

}  // namespace security_audit
