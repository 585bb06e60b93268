// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugin contract. A plugin is one class deriving from dihya::Plugin and one
// DIHYA_PLUGIN(Class) line; `dihya_add_plugin(...)` embeds its plugin.json in
// the .so so the host can list and describe it without running its code. A
// plugin that uses the database also includes <dihya/database.hpp>.
//
//   class Hello final : public dihya::Plugin {
//     dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
//       ctx.log().info("greeting {}", params.get<std::string>("name"));
//       return dihya::Result::success("greeted");
//     }
//   };
//   DIHYA_PLUGIN(Hello)
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

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
  // Reads the embedded plugin.json's bounds; inline, so only plugin code (which
  // links the embedded bytes) ever runs it.
  Plugin()
      : metadata_(dihya_embedded_metadata_begin,
                  static_cast<std::size_t>(dihya_embedded_metadata_end - dihya_embedded_metadata_begin)) {}
  virtual ~Plugin() = default;

  // The plugin's plugin.json (name, version, summary, schema, flags): the bytes
  // embedded at build time, which the host also reads from the file without
  // loading it. Not virtual, so the two can never disagree. Throws
  // nlohmann::json::exception only if the build embedded invalid JSON.
  nlohmann::json metadata() const { return nlohmann::json::parse(metadata_.begin(), metadata_.end()); }

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

 private:
  std::string_view metadata_;
};

// What the host calls, through the `dihya_create_plugin` symbol.
using PluginFactory = std::unique_ptr<Plugin>();

// Whether `name` may name a plugin (plugin.json's "name"):
// [a-z][a-z0-9_]{0,63}. It becomes a file name (locks) and a CLI word; the
// host refuses any other, and so does whatever names plugins in a row or a
// record (the scheduler's schedules, a run record to roll back).
inline bool is_plugin_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

}  // namespace dihya

// The two symbols the host looks up, with C linkage so their names are stable.
// DIHYA_PLUGIN uses both; a test plugin that must carry a wrong tag or no
// factory uses one alone.
//
// `dihya_create_plugin` is a pointer variable holding the factory's address:
// the layout of Boost.DLL's aliases, which the host's loader reads with
// get_alias<PluginFactory>, without plugins including Boost.DLL.
#define DIHYA_EXPORT_FACTORY(function)                                                       \
  extern "C" __attribute__((visibility("default"))) const void* dihya_create_plugin;         \
  const void* dihya_create_plugin =                                                          \
      reinterpret_cast<const void*>(reinterpret_cast<std::intptr_t>(&function));

// `dihya_abi_tag` is also put in the `.dihya_abi` section, where the host reads
// it without loading the library.
#define DIHYA_EXPORT_ABI_TAG(tag)                                                            \
  extern "C" __attribute__((visibility("default"))) const char dihya_abi_tag[];              \
  __attribute__((section(".dihya_abi"), used)) const char dihya_abi_tag[] = tag;

// Exports the factory of `Class` and the ABI tag of the SDK it is built with.
#define DIHYA_PLUGIN(Class)                                                                  \
  namespace dihya_plugin_export {                                                            \
  std::unique_ptr<::dihya::Plugin> create();                                                 \
  std::unique_ptr<::dihya::Plugin> create() { return std::make_unique<Class>(); }            \
  }                                                                                          \
  DIHYA_EXPORT_FACTORY(dihya_plugin_export::create)                                          \
  DIHYA_EXPORT_ABI_TAG(DIHYA_ABI_TAG)
