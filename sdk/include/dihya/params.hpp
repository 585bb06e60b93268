// SPDX-License-Identifier: AGPL-3.0-or-later
// Parameters of one run. The host has already coerced them to the types of the
// plugin's JSON Schema, filled defaults and validated them, so a plugin reads
// them without re-checking types.
//
// Secrets: read a secret parameter (`writeOnly` in the schema) with
// ctx.secret(name), never from here. Params holds the whole validated
// document, so get() does return a secret's value in clear; that is why a
// plugin must not log or return json() as a whole. The host redacts secret
// values from logs, results, history and audit anyway.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "dihya/error.hpp"

namespace dihya {

class Params {
 public:
  Params() : values_(nlohmann::json::object()) {}
  explicit Params(nlohmann::json values) : values_(std::move(values)) {}

  // True when the parameter was given or has a default.
  bool has(std::string_view key) const { return values_.is_object() && values_.contains(key); }

  // The value of `key` as T. Throws dihya::Error naming the key when it is
  // absent or of another type.
  template <typename T>
  T get(std::string_view key) const {
    if (!has(key)) throw Error("parameter '" + std::string(key) + "' is not set");
    try {
      return values_.at(std::string(key)).template get<T>();
    } catch (const nlohmann::json::exception&) {
      throw Error("parameter '" + std::string(key) + "' has an unexpected type");
    }
  }

  // The value of `key` as T, or `fallback` when the parameter is absent.
  template <typename T>
  T get_or(std::string_view key, T fallback) const {
    return has(key) ? get<T>(key) : fallback;
  }

  const nlohmann::json& json() const { return values_; }

 private:
  nlohmann::json values_;
};

}  // namespace dihya
