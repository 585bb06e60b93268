// SPDX-License-Identifier: AGPL-3.0-or-later
// The one translation unit that holds Catch2's main(); every other file in
// tests/unit only adds TEST_CASEs.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
