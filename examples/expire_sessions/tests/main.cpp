// SPDX-License-Identifier: AGPL-3.0-or-later
// The one translation unit that holds Catch2's main(): both test programs link
// its object instead of compiling Catch2's runner twice (its longest compile).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
