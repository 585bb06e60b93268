// SPDX-License-Identifier: AGPL-3.0-or-later
// Carries metadata and an ABI tag but no factory: loading must fail with a
// one-line error naming the missing symbol.
#include <dihya/plugin.hpp>

DIHYA_EXPORT_ABI_TAG(DIHYA_ABI_TAG)
