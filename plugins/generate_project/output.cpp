// SPDX-License-Identifier: AGPL-3.0-or-later
#include "output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>

namespace generate_project {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kFilesPerEntry = 500;

using Fd = dihya::UniqueFd;

std::vector<std::string> components(const std::string& rel) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= rel.size()) {
    const auto slash = rel.find('/', start);
    out.push_back(rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

std::string dir_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string base_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

Fd open_root(const fs::path& root) {
  return Fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// Opens directory `rel` under `root` without following any symbolic link.
// An invalid Fd with errno set (ENOENT: missing, ELOOP/ENOTDIR: a link or a file).
Fd open_dir(int root, const std::string& rel) {
  Fd current(::dup(root));
  if (rel.empty() || !current) return current;
  for (const auto& part : components(rel)) {
    Fd next(::openat(current.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return next;
    current = std::move(next);
  }
  return current;
}

// False (errno set) when `name` cannot be read or is not a regular file.
bool read_file_at(int dir, const std::string& name, std::string* content, mode_t* mode) {
  // O_NONBLOCK: a generated file swapped for a fifo must not hang rollback.
  Fd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return false;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return false;
  }
  // A regular file: reads block as usual again.
  if (::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0) return false;
  if (mode != nullptr) *mode = st.st_mode & 07777;
  content->clear();
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) break;
    content->append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Writes `content` as `name` in `dir`: a temporary file then a rename, so a
// reader never sees half a file and a symlink at `name` is replaced, not
// followed. Not fsynced: a generated tree interrupted by a crash is made again.
void write_file_at(int dir, const std::string& name, const std::string& content, unsigned mode,
                   const std::string& shown) {
  if (const std::error_code ec =
          dihya::replace_file_at(dir, name, content, static_cast<mode_t>(mode), dihya::Durability::kAtomicOnly)) {
    throw dihya::Error(shown + ": cannot write: " + ec.message());
  }
}

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

std::string unbase64(const std::string& in) {
  std::string out;
  unsigned v = 0;
  int bits = 0;
  for (const char c : in) {
    const char* p = std::strchr(kB64, c);
    if (c == '=' || p == nullptr || c == '\0') continue;
    v = (v << 6) | static_cast<unsigned>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((v >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

fs::path normal_out(const fs::path& out) {
  fs::path p = fs::absolute(out).lexically_normal();
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

TargetState inspect_target(const fs::path& out_in, const std::vector<RenderedFile>& files, bool force) {
  const fs::path out = normal_out(out_in);
  TargetState state;
  struct stat st {};
  if (::lstat(out.c_str(), &st) != 0) {
    if (errno != ENOENT) throw dihya::Error("out: " + out.string() + ": " + std::strerror(errno));
    // The nearest existing ancestor must be a directory we can create in.
    fs::path parent = out.parent_path();
    while (!parent.empty() && ::lstat(parent.c_str(), &st) != 0 && parent != parent.root_path()) parent = parent.parent_path();
    // A link to a directory (/home -> /data/home) is fine to create under; a
    // dangling one would only fail at mkdir, after the run has started.
    if (S_ISLNK(st.st_mode) && ::stat(parent.c_str(), &st) != 0) {
      throw dihya::Error("out: " + parent.string() + " is a symbolic link to nothing (" + std::strerror(errno) +
                         "); give a directory that exists or can be created");
    }
    if (!S_ISDIR(st.st_mode)) throw dihya::Error("out: " + parent.string() + " is not a directory");
    return state;
  }
  state.exists = true;
  if (S_ISLNK(st.st_mode)) throw dihya::Error("out: " + out.string() + " is a symbolic link; give the directory it points to");
  if (!S_ISDIR(st.st_mode)) throw dihya::Error("out: " + out.string() + " exists and is not a directory");
  Fd root = open_root(out);
  if (!root) throw dihya::Error("out: " + out.string() + ": " + std::strerror(errno));
  std::error_code ec;
  const bool empty = fs::directory_iterator(out, ec) == fs::directory_iterator();
  if (ec) throw dihya::Error("out: " + out.string() + ": " + ec.message());
  if (!empty && !force) {
    throw dihya::Error("out: " + out.string() + " is not empty (give a new directory, or force=true: replaced files are journaled and restored by rollback)");
  }
  if (empty) return state;

  std::map<std::string, bool> dir_exists;  // checked directories
  for (const auto& f : files) {
    const auto parts = components(f.path);
    std::string rel;
    bool missing = false;
    for (std::size_t i = 0; i + 1 < parts.size() && !missing; ++i) {
      rel += (rel.empty() ? "" : "/") + parts[i];
      const auto it = dir_exists.find(rel);
      if (it != dir_exists.end()) {
        missing = !it->second;
        continue;
      }
      struct stat ds {};
      if (::fstatat(root.get(), rel.c_str(), &ds, AT_SYMLINK_NOFOLLOW) != 0) {
        dir_exists[rel] = false;
        missing = true;
      } else if (S_ISLNK(ds.st_mode)) {
        throw dihya::Error("out: " + rel + " is a symbolic link; refusing to write through it");
      } else if (!S_ISDIR(ds.st_mode)) {
        throw dihya::Error("out: " + rel + " is a file where the project needs a directory");
      } else {
        dir_exists[rel] = true;
      }
    }
    if (missing) continue;
    struct stat fst {};
    if (::fstatat(root.get(), f.path.c_str(), &fst, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISLNK(fst.st_mode)) throw dihya::Error("out: " + f.path + " is a symbolic link; refusing to replace it");
    if (!S_ISREG(fst.st_mode)) throw dihya::Error("out: " + f.path + " exists and is not a regular file");
    if (static_cast<std::size_t>(fst.st_size) > kMaxReplacedBytes) {
      throw dihya::Error("out: " + f.path + " exists and is larger than 4 MiB; move it away first");
    }
    state.replaced.push_back(f.path);
  }
  return state;
}

nlohmann::json write_project(const fs::path& out_in, const std::vector<RenderedFile>& files, bool force,
                             dihya::Context& ctx) {
  const fs::path out = normal_out(out_in);
  const TargetState state = inspect_target(out, files, force);
  auto& journal = ctx.journal();

  if (!state.exists) {
    std::vector<fs::path> missing;
    for (fs::path p = out; !p.empty() && !fs::exists(fs::symlink_status(p)); p = p.parent_path()) {
      missing.insert(missing.begin(), p);
      if (p == p.root_path()) break;
    }
    nlohmann::json dirs = nlohmann::json::array();
    for (const auto& p : missing) dirs.push_back(p.string());
    journal.record({"create_dirs", {{"root", ""}, {"dirs", dirs}}});
    for (const auto& p : missing) {
      if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) {
        throw dihya::Error("out: cannot create " + p.string() + ": " + std::strerror(errno));
      }
    }
  }
  Fd root = open_root(out);
  if (!root) throw dihya::Error("out: " + out.string() + ": " + std::strerror(errno));

  // Directories, parents first (a std::set orders "a" before "a/b").
  std::set<std::string> needed;
  for (const auto& f : files) {
    for (std::string d = dir_of(f.path); !d.empty(); d = dir_of(d)) needed.insert(d);
  }
  nlohmann::json new_dirs = nlohmann::json::array();
  std::set<std::string> missing_dirs;
  for (const auto& d : needed) {
    if (missing_dirs.count(dir_of(d))) {
      missing_dirs.insert(d);
    } else {
      struct stat st {};
      if (::fstatat(root.get(), d.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) missing_dirs.insert(d);
    }
    if (missing_dirs.count(d)) new_dirs.push_back(d);
  }
  if (!new_dirs.empty()) journal.record({"create_dirs", {{"root", out.string()}, {"dirs", new_dirs}}});
  for (const auto& d : new_dirs) {
    const std::string rel = d.get<std::string>();
    Fd parent = open_dir(root.get(), dir_of(rel));
    if (!parent || (::mkdirat(parent.get(), base_of(rel).c_str(), 0755) != 0 && errno != EEXIST)) {
      throw dihya::Error("out: cannot create directory " + rel + ": " + std::strerror(errno));
    }
  }

  // Replaced files keep their previous content in the journal.
  const std::set<std::string> replaced(state.replaced.begin(), state.replaced.end());
  for (const auto& f : files) {
    if (!replaced.count(f.path)) continue;
    Fd dir = open_dir(root.get(), dir_of(f.path));
    std::string previous;
    mode_t mode = 0644;
    if (!dir || !read_file_at(dir.get(), base_of(f.path), &previous, &mode)) {
      const std::string why = errno == EINVAL ? "not a regular file" : std::strerror(errno);
      throw dihya::Error("out: cannot read " + f.path + " before replacing it: " + why);
    }
    journal.record({"replace_file",
                    {{"root", out.string()},
                     {"path", f.path},
                     {"sha256", sha256_hex(f.content)},
                     {"previous_sha256", sha256_hex(previous)},
                     {"previous_mode", mode},
                     {"previous_base64", base64(previous)}}});
  }
  nlohmann::json batch = nlohmann::json::array();
  for (const auto& f : files) {
    if (replaced.count(f.path)) continue;
    batch.push_back({{"path", f.path}, {"sha256", sha256_hex(f.content)}, {"mode", f.mode}});
    if (batch.size() == kFilesPerEntry) {
      journal.record({"create_files", {{"root", out.string()}, {"files", batch}}});
      batch = nlohmann::json::array();
    }
  }
  if (!batch.empty()) journal.record({"create_files", {{"root", out.string()}, {"files", batch}}});

  nlohmann::json written = nlohmann::json::array();
  std::size_t done = 0;
  for (const auto& f : files) {
    if (ctx.cancelled()) throw dihya::Error("cancelled after " + std::to_string(done) + " files");
    Fd dir = open_dir(root.get(), dir_of(f.path));
    if (!dir) throw dihya::Error("out: " + dir_of(f.path) + ": " + std::strerror(errno) + " (a symbolic link?)");
    write_file_at(dir.get(), base_of(f.path), f.content, f.mode, f.path);
    written.push_back({{"path", f.path}, {"bytes", f.content.size()}, {"replaced", replaced.count(f.path) > 0}});
    if (++done % 100 == 0 || done == files.size()) ctx.progress(done, files.size(), "files");
  }
  return written;
}

dihya::Result rollback_project(const std::vector<dihya::UndoEntry>& newest_first, dihya::Logger& log) {
  nlohmann::json removed = nlohmann::json::array(), kept = nlohmann::json::array(),
                 restored = nlohmann::json::array(), dirs_removed = nlohmann::json::array();
  for (const auto& entry : newest_first) {
    const auto& d = entry.data;
    const std::string root_path = d.value("root", "");
    if (entry.action == "create_files" || entry.action == "replace_file") {
      Fd root = open_root(root_path);
      if (!root) continue;  // the whole target is gone: nothing of ours is left
      const nlohmann::json list = entry.action == "create_files" ? d.at("files") : nlohmann::json::array({d});
      for (const auto& f : list) {
        const std::string rel = f.at("path").get<std::string>();
        const std::string shown = (fs::path(root_path) / rel).string();
        Fd dir = open_dir(root.get(), dir_of(rel));
        std::string content;
        if (!dir || !read_file_at(dir.get(), base_of(rel), &content, nullptr)) {
          struct stat st {};
          if (dir && ::fstatat(dir.get(), base_of(rel).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            kept.push_back({{"path", shown}, {"why", "replaced by something that is not a regular file"}});
          }
          continue;  // absent: never written, or already removed
        }
        const std::string sha = sha256_hex(content);
        if (entry.action == "create_files") {
          if (sha == f.at("sha256").get<std::string>()) {
            if (::unlinkat(dir.get(), base_of(rel).c_str(), 0) == 0) removed.push_back(shown);
          } else {
            kept.push_back({{"path", shown}, {"why", "edited since it was generated"}});
          }
        } else if (sha == f.at("sha256").get<std::string>()) {
          write_file_at(dir.get(), base_of(rel), unbase64(f.at("previous_base64").get<std::string>()),
                        f.value("previous_mode", 0644u), shown);
          restored.push_back(shown);
        } else if (sha != f.value("previous_sha256", "")) {
          kept.push_back({{"path", shown}, {"why", "edited since it was generated (previous content not restored)"}});
        }
      }
    } else if (entry.action == "create_dirs") {
      const auto& dirs = d.at("dirs");
      // Under the target, through directory descriptors: a directory swapped
      // for a symlink since is not followed.
      Fd root = root_path.empty() ? Fd(-1) : open_root(root_path);
      if (!root_path.empty() && !root) continue;
      for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
        const std::string rel = it->get<std::string>();
        if (root_path.empty()) {
          if (::rmdir(rel.c_str()) == 0) dirs_removed.push_back(rel);
          continue;
        }
        Fd parent = open_dir(root.get(), dir_of(rel));
        if (parent && ::unlinkat(parent.get(), base_of(rel).c_str(), AT_REMOVEDIR) == 0) {
          dirs_removed.push_back((fs::path(root_path) / rel).string());
        }
      }
    }
  }
  std::string kept_names;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    log.warn("kept {}: {}", kept[i]["path"].get<std::string>(), kept[i]["why"].get<std::string>());
    if (i < 3) kept_names += (i ? ", " : " (") + kept[i]["path"].get<std::string>();
  }
  if (!kept_names.empty()) kept_names += kept.size() > 3 ? ", ...)" : ")";
  dihya::Result result = dihya::Result::success(
      "removed " + std::to_string(removed.size()) + " generated files, kept " + std::to_string(kept.size()) +
      " edited" + kept_names + ", restored " + std::to_string(restored.size()) + " replaced, removed " +
      std::to_string(dirs_removed.size()) + " empty directories");
  result.data = {{"removed", removed}, {"kept_edited", kept}, {"restored", restored}, {"dirs_removed", dirs_removed}};
  if (!kept.empty()) {
    result.report = "Kept (edited after generation; delete them yourself if unwanted):\n";
    for (const auto& k : kept) result.report += "  " + k["path"].get<std::string>() + "  (" + k["why"].get<std::string>() + ")\n";
  }
  return result;
}

}  // namespace generate_project
