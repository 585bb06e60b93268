// SPDX-License-Identifier: AGPL-3.0-or-later
#include "tree_walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <dihya/file_io.hpp>

namespace security_audit {
namespace {

constexpr std::size_t kExamples = 5;
constexpr std::size_t kExampleBytes = 120;  // a longer example keeps its end

std::string reason_of(int err) {
  switch (err) {
    case EACCES:
    case EPERM: return "permission denied";
    case ENAMETOOLONG: return "name too long";
    case ENOENT: return "vanished during the scan";
    case ELOOP: return "replaced by a symlink during the scan";
    case ENOTDIR: return "replaced by a file during the scan";
    default: return std::strerror(err);
  }
}

void walk_dir(int fd, const std::string& prefix, int depth, int max_depth, Unexamined& gaps,
              const std::function<bool(const TreeEntry&)>& visit) {
  const std::string here = prefix.empty() ? "." : prefix;
  std::vector<std::string> names;
  {
    // The listing reads a duplicate, closed at once: one descriptor per level stays open, no DIR buffer.
    const int listing = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR* dir = listing < 0 ? nullptr : ::fdopendir(listing);
    if (dir == nullptr) {
      gaps.add_errno(errno, here);
      if (listing >= 0) ::close(listing);
      return;
    }
    for (;;) {
      errno = 0;
      const dirent* e = ::readdir(dir);
      if (e == nullptr) {
        if (errno != 0) gaps.add_errno(errno, here);
        break;
      }
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.emplace_back(e->d_name);
    }
    ::closedir(dir);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::string relative = prefix.empty() ? name : prefix + "/" + name;
    struct stat st {};
    if (::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      gaps.add_errno(errno, relative);
      continue;
    }
    if (S_ISLNK(st.st_mode)) continue;
    const bool enter = visit(TreeEntry{fd, name, relative, st});
    if (!enter || !S_ISDIR(st.st_mode) || name == ".git") continue;
    if (depth + 1 > max_depth) {
      gaps.add("deeper than " + std::to_string(max_depth) + " levels", relative);
      continue;
    }
    const dihya::UniqueFd child(::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child) {
      gaps.add_errno(errno, relative);
      continue;
    }
    walk_dir(child.get(), relative, depth + 1, max_depth, gaps, visit);
  }
}

}  // namespace

void Unexamined::add(const std::string& reason, const std::string& relative) {
  ++by_reason[reason];
  ++total;
  if (examples.size() < kExamples) {
    examples.push_back(relative.size() <= kExampleBytes ? relative
                                                        : "..." + relative.substr(relative.size() - kExampleBytes));
  }
}

void Unexamined::add_errno(int err, const std::string& relative) { add(reason_of(err), relative); }

std::string Unexamined::note(const std::string& check) const {
  if (total == 0) return {};
  std::string out = check + ": " + std::to_string(total) + " path(s) not examined (";
  bool first = true;
  for (const auto& [reason, n] : by_reason) {
    out += (first ? "" : ", ") + std::to_string(n) + " " + reason;
    first = false;
  }
  out += "): ";
  for (std::size_t i = 0; i < examples.size(); ++i) out += (i ? ", " : "") + examples[i];
  if (total > examples.size()) out += ", ...";
  return out;
}

void walk_tree(const std::filesystem::path& root, int max_depth, Unexamined& gaps,
               const std::function<bool(const TreeEntry&)>& visit) {
  const dihya::UniqueFd fd(open_long_path(root.string(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    gaps.add_errno(errno, ".");
    return;
  }
  walk_dir(fd.get(), "", 0, max_depth, gaps, visit);
}

int open_long_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd >= 0 || errno != ENAMETOOLONG) return fd;
  // In pieces shorter than PATH_MAX, each opened relative to the one before
  // (the first as given: a sandbox may forbid opening its ancestors).
  // Intermediate symlinks are followed, as open(2) would.
  dihya::UniqueFd dir;
  std::size_t from = 0;
  for (;;) {
    const std::string rest = path.substr(from);
    if (rest.size() < PATH_MAX) return ::openat(dir ? dir.get() : AT_FDCWD, rest.c_str(), flags);
    const std::size_t cut = rest.rfind('/', PATH_MAX - 1);
    if (cut == std::string::npos || cut == 0) {
      errno = ENAMETOOLONG;  // one name longer than PATH_MAX: no file system has it
      return -1;
    }
    dihya::UniqueFd next(::openat(dir ? dir.get() : AT_FDCWD, rest.substr(0, cut).c_str(),
                                  O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!next) return -1;
    dir = std::move(next);
    from += cut + 1;
  }
}

}  // namespace security_audit
