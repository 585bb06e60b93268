// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugin contract. A plugin is one class deriving from dihya::Plugin and one
// DIHYA_PLUGIN(Class) line; `dihya_add_plugin(...)` embeds its plugin.json in
// the .so so the host can list and describe it without running its code.
//
//   class Hello final : public dihya::Plugin {
//     dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
//       ctx.log().info("greeting {}", params.get<std::string>("name"));
//       return dihya::Result::success("greeted");
//     }
//   };
//   DIHYA_PLUGIN(Hello)
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include <boost/config.hpp>
#include <boost/dll/alias.hpp>
#include <nlohmann/json.hpp>

#include "dihya/abi.hpp"
#include "dihya/context.hpp"
#include "dihya/error.hpp"
#include "dihya/journal.hpp"
#include "dihya/params.hpp"
#include "dihya/result.hpp"

// Bounds of the plugin.json that dihya_add_plugin embeds in every plugin.
extern "C" {
__attribute__((visibility("hidden"))) extern const char dihya_embedded_metadata_begin[];
__attribute__((visibility("hidden"))) extern const char dihya_embedded_metadata_end[];
}

namespace dihya {

class Plugin {
 public:
  virtual ~Plugin() = default;

  // The plugin's plugin.json: name, version, summary, schema, flags. The default
  // returns the document embedded at build time; keep it that way.
  virtual nlohmann::json metadata() const {
    return nlohmann::json::parse(dihya_embedded_metadata_begin, dihya_embedded_metadata_end);
  }

  // Semantic checks on parameters already type-checked against the schema
  // (files exist, database reachable...). Must have no side effects.
  virtual std::vector<ValidationError> validate(const Params& /*params*/, Context& /*ctx*/) {
    return {};
  }

  // Does the work. Honours ctx.dry_run(), records an undo entry before each
  // destructive step, polls ctx.cancelled(). Throws dihya::Error on failure.
  virtual Result run(const Params& params, Context& ctx) = 0;

  // Undoes a run from its undo entries, newest first. Must be idempotent: a
  // rollback interrupted half-way is run again with the same entries.
  virtual Result rollback(const std::vector<UndoEntry>& /*newest_first*/, Context& /*ctx*/) {
    throw Error("this plugin is not reversible");
  }
};

using PluginFactory = std::unique_ptr<Plugin>();

}  // namespace dihya

// Exports the factory of `Class` and the ABI tag. The tag also lands in the
// `.dihya_abi` section, where the host reads it without loading the library.
#define DIHYA_PLUGIN(Class)                                                                  \
  namespace dihya_plugin_export {                                                            \
  inline std::unique_ptr<::dihya::Plugin> create() { return std::make_unique<Class>(); }    \
  }                                                                                          \
  BOOST_DLL_ALIAS(dihya_plugin_export::create, dihya_create_plugin)                          \
  extern "C" BOOST_SYMBOL_EXPORT const char dihya_abi_tag[];                                 \
  __attribute__((section(".dihya_abi"), used)) const char dihya_abi_tag[] = DIHYA_ABI_TAG;
