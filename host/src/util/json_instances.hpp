// SPDX-License-Identifier: AGPL-3.0-or-later
// nlohmann/json's parser, lexer and serializer, compiled once for the host
// (util/json_instances.cpp) instead of in every host unit and test file that
// parses or dumps a document: each such unit spent about a second of CPU at
// -O2 instantiating and optimising the same ~40 KB of code. The host's and
// the test programs' precompiled header includes this file, so every one of
// their files sees these declarations; a file that does not (built without
// the header) only instantiates its own copy again, which is still correct.
// Only these classes: an explicit instantiation of all of basic_json<> costs
// more to compile once (~9 s) than it saves, since each unit instantiates
// only the few members it uses.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

// The input adapters are those of parse(std::string) and of
// parse(const char*) / parse(std::string_view) with pointers.
namespace nlohmann::detail {
extern template class serializer<json>;
extern template class lexer<json, iterator_input_adapter<std::string::const_iterator>>;
extern template class parser<json, iterator_input_adapter<std::string::const_iterator>>;
extern template class lexer<json, iterator_input_adapter<const char*>>;
extern template class parser<json, iterator_input_adapter<const char*>>;
}  // namespace nlohmann::detail
