// SPDX-License-Identifier: AGPL-3.0-or-later
// The Landlock ABI as the kernel defines it (include/uapi/linux/landlock.h):
// Debian 12's <linux/landlock.h> stops at ABI 2, so the later rights, the
// network and scope fields are spelt out here. The rights of the plan's
// three kinds of access, the ruleset a kernel of a given ABI handles, and
// what a rule on a file or device may grant, in one place for the plugin
// child's sandbox (sandbox_apply.cpp) and the confined floor of bench/.
// Header-only, no dependency beyond <cstdint>.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dihya::host::landlock {

constexpr std::uint64_t kFsExecute = 1ULL << 0;
constexpr std::uint64_t kFsWriteFile = 1ULL << 1;
constexpr std::uint64_t kFsReadFile = 1ULL << 2;
constexpr std::uint64_t kFsReadDir = 1ULL << 3;
constexpr std::uint64_t kFsRemoveDir = 1ULL << 4;
constexpr std::uint64_t kFsRemoveFile = 1ULL << 5;
constexpr std::uint64_t kFsMakeChar = 1ULL << 6;
constexpr std::uint64_t kFsMakeDir = 1ULL << 7;
constexpr std::uint64_t kFsMakeReg = 1ULL << 8;
constexpr std::uint64_t kFsMakeSock = 1ULL << 9;
constexpr std::uint64_t kFsMakeFifo = 1ULL << 10;
constexpr std::uint64_t kFsMakeBlock = 1ULL << 11;
constexpr std::uint64_t kFsMakeSym = 1ULL << 12;
constexpr std::uint64_t kFsRefer = 1ULL << 13;     // ABI 2
constexpr std::uint64_t kFsTruncate = 1ULL << 14;  // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;     // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ULL << 1;  // ABI 4
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ULL << 1;        // ABI 6
constexpr int kRuleNetPort = 2;

// What the sandbox grants for read, exec and write access to a path.
constexpr std::uint64_t kReadRights = kFsReadFile | kFsReadDir;
constexpr std::uint64_t kExecRights = kReadRights | kFsExecute;
constexpr std::uint64_t kWriteRights = kReadRights | kFsWriteFile | kFsRemoveDir | kFsRemoveFile | kFsMakeDir |
                                       kFsMakeReg | kFsMakeSock | kFsMakeFifo | kFsRefer | kFsTruncate;

struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;
  std::uint64_t scoped = 0;
};

struct NetPortAttr {
  std::uint64_t allowed_access = 0;
  std::uint64_t port = 0;
};

// Everything a kernel of Landlock ABI `abi` can restrict, and the size of
// the attribute it knows (landlock_create_ruleset refuses larger ones).
struct Ruleset {
  RulesetAttr attr;
  std::size_t size = 0;
};
constexpr Ruleset ruleset_for(int abi) {
  Ruleset r;
  r.attr.handled_access_fs = (kFsMakeSym << 1) - 1;  // ABI 1: bits 0..12
  if (abi >= 2) r.attr.handled_access_fs |= kFsRefer;
  if (abi >= 3) r.attr.handled_access_fs |= kFsTruncate;
  if (abi >= 5) r.attr.handled_access_fs |= kFsIoctlDev;
  if (abi >= 4) r.attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6) r.attr.scoped = kScopeAbstractUnix | kScopeSignal;
  r.size = abi >= 6 ? sizeof(RulesetAttr) : abi >= 4 ? 2 * sizeof(std::uint64_t) : sizeof(std::uint64_t);
  return r;
}

// `rights` as a rule on a directory, a file or a device may grant them: the
// kernel refuses directory rights on anything else, and a device's ioctls
// (a terminal's, /dev/null's) go with it.
constexpr std::uint64_t rule_rights(std::uint64_t rights, bool directory, bool device) {
  if (!directory) rights &= kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;
  if (device) rights |= kFsIoctlDev;
  return rights;
}

}  // namespace dihya::host::landlock
