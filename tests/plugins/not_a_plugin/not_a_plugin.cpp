// SPDX-License-Identifier: AGPL-3.0-or-later
// An ordinary shared library: no metadata, no factory. The host must refuse it.
extern "C" int not_a_plugin_answer() { return 42; }
