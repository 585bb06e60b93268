// SPDX-License-Identifier: AGPL-3.0-or-later
// The one copy of what util/json_instances.hpp declares extern.
#include "util/json_instances.hpp"

namespace nlohmann::detail {
template class serializer<json>;
template class lexer<json, iterator_input_adapter<std::string::const_iterator>>;
template class parser<json, iterator_input_adapter<std::string::const_iterator>>;
template class lexer<json, iterator_input_adapter<const char*>>;
template class parser<json, iterator_input_adapter<const char*>>;
}  // namespace nlohmann::detail
