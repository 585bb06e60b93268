// SPDX-License-Identifier: AGPL-3.0-or-later
// The host's file descriptor owner and I/O loops are the SDK's (dihya/file_io.hpp):
// one implementation for the host and every plugin. Host code in dihya::host
// names them unqualified (UniqueFd, write_all, read_all, fsync_directory).
#pragma once

#include <dihya/file_io.hpp>
