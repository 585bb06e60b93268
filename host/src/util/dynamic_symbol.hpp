// SPDX-License-Identifier: AGPL-3.0-or-later
// A function of a library the host opens with dlopen on first use (libpq,
// libcrypto for signatures): only the commands that need one pay for loading
// it. Each caller keeps a table of the pointers it resolved once.
#pragma once

#include <dlfcn.h>

#include <string>

#include <fmt/format.h>

namespace dihya::host {

// Looks NAME up in HANDLE (from dlopen of LIBRARY) into TARGET, a pointer of
// the function's own type. A missing symbol calls fail(message), which throws
// the caller's error (its exit code is the caller's to choose).
template <typename F, typename Fail>
void resolve_symbol(void* handle, const char* library, const char* name, F& target, Fail fail) {
  void* symbol = ::dlsym(handle, name);
  if (symbol == nullptr) fail(fmt::format("{} lacks {}", library, name));
  target = reinterpret_cast<F>(symbol);
}

}  // namespace dihya::host
