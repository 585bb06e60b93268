// SPDX-License-Identifier: AGPL-3.0-or-later
// Carries metadata and an ABI tag but no factory: loading must fail with a
// one-line error naming the missing symbol.
#include <dihya/plugin.hpp>

extern "C" BOOST_SYMBOL_EXPORT const char dihya_abi_tag[];
__attribute__((section(".dihya_abi"), used)) const char dihya_abi_tag[] = DIHYA_ABI_TAG;
