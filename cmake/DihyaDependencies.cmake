# SPDX-License-Identifier: AGPL-3.0-or-later
# Finds every third-party library the SDK, host, plugins and tests build against.
find_package(Boost 1.74 REQUIRED COMPONENTS filesystem program_options)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(valijson REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
# Howard Hinnant's date/tz on the OS tzdb: the time zones of the SDK's Dihya::cron.
find_package(date CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
# The plugin sandbox's system-call filter (supervise/sandbox.cpp).
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
# vectorscan (the Hyperscan API): security_audit's secret scan, and the host's
# JSON Schema patterns, matched without backtracking (params/schema_pattern.hpp).
pkg_check_modules(HS REQUIRED IMPORTED_TARGET libhs)
