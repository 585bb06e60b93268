// SPDX-License-Identifier: AGPL-3.0-or-later
// Where a read-only audit may write its report and its baseline. It must
// destroy nothing it did not make: it writes nothing inside the tree it
// audits, and it replaces an existing file only when that file is one it wrote
// before (a report for `output`, a baseline for `baseline`), known by its
// format. So an audit scheduled to rewrite the same report keeps working, and a
// mistyped path never costs an operator a file.
#pragma once

#include <filesystem>
#include <string>

namespace security_audit {

enum class WrittenFile { report, baseline };

// Why `file` may not be written as `kind` ("" when it may): it is inside
// `audited` (the tree the checks read; empty when no check reads one), it
// exists and is not a regular file, or it exists and is not a `kind` this
// plugin wrote. Reads `file` when it exists; one line, naming the file.
std::string refusal_to_write(const std::filesystem::path& file, WrittenFile kind, const std::filesystem::path& audited);

}  // namespace security_audit
