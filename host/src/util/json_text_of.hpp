// SPDX-License-Identifier: AGPL-3.0-or-later
// Reading a text field of JSON someone else wrote (a plugin's plugin.json, a
// record of the state dir) without trusting its shape: nlohmann's value() and
// get() throw on a field of another type, which would end a command as an
// internal error instead of treating the field as absent.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dihya::host {

// The text of the string member `key` of `object`; `fallback` when `object` is
// not an object, has no such member, or it is not a string.
inline std::string text_of(const nlohmann::json& object, const char* key, const std::string& fallback = "") {
  if (!object.is_object()) return fallback;
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// True when `object` has no member `key`, or one for which `is` holds
// (&nlohmann::json::is_string...): a field read later with value() as that
// type, which would throw on another.
inline bool member_is(const nlohmann::json& object, const char* key, bool (nlohmann::json::*is)() const noexcept) {
  const auto it = object.find(key);
  return it == object.end() || ((*it).*is)();
}

}  // namespace dihya::host
