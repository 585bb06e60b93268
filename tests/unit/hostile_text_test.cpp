// SPDX-License-Identifier: AGPL-3.0-or-later
// Text a plugin author or a file name controls, made safe to print: besides
// control characters, the bidirectional formatting characters that make a
// terminal lay out what follows them backwards ("Trojan Source").
#include <catch2/catch.hpp>

#include <string>

#include "util/printable.hpp"

using dihya::host::printable;
using dihya::host::printable_text;

TEST_CASE("bidirectional formatting characters are escaped", "[util][printable][hostile]") {
  CHECK(printable("safe\xe2\x80\xae" "txt.exe") == "safe\\xe2\\x80\\xaetxt.exe");  // U+202E RIGHT-TO-LEFT OVERRIDE
  CHECK(printable("a\xe2\x81\xa6" "b\xe2\x81\xa9") == "a\\xe2\\x81\\xa6b\\xe2\\x81\\xa9");  // U+2066, U+2069 isolates
  CHECK(printable("\xe2\x80\x8f" "x") == "\\xe2\\x80\\x8fx");                                 // U+200F RIGHT-TO-LEFT MARK
  CHECK(printable("\xd8\x9c" "x") == "\\xd8\\x9cx");                                          // U+061C ARABIC LETTER MARK
  CHECK(printable_text("line\xe2\x80\xae\nnext") == "line\\xe2\\x80\\xae\nnext");
  // Cut like any other text: the escape counts as what it prints.
  CHECK(printable("\xe2\x80\xae" "abcdef", 14) == "\\xe2\\x80\\xaeab...");
}

TEST_CASE("right-to-left text and other characters are kept", "[util][printable][hostile]") {
  const std::string arabic = "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7";  // marhaba
  CHECK(printable(arabic) == arabic);
  CHECK(printable("caf\xc3\xa9 \xe2\x80\x94 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x80\x94 \xe2\x82\xac");  // é, em dash, euro
  CHECK(printable("\xe2\x80\xaf") == "\xe2\x80\xaf");  // U+202F NARROW NO-BREAK SPACE, beside the overrides
  // Already safe text is left as it is.
  CHECK(printable(printable("x\xe2\x80\xae")) == printable("x\xe2\x80\xae"));
}
