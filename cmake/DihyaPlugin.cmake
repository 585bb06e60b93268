# SPDX-License-Identifier: AGPL-3.0-or-later
# dihya_add_plugin(<name> SOURCES <src>... METADATA <plugin.json> [LIBRARIES <lib>...])
#
# Builds lib<name>.so, a dihya-host plugin: hidden visibility, linked against the
# SDK (Dihya::sdk, the plugin API), with <plugin.json> embedded in the
# `.dihya_meta` section so the host can read it without running plugin code.
# LIBRARIES adds what the plugin itself uses, including the SDK's support
# targets (Dihya::cron, Dihya::fk_graph, Dihya::templates, Dihya::schedule_store).
#
# The target's DIHYA_METADATA_SOURCE property names the generated source that
# embeds plugin.json: a unit test that compiles the plugin's classes into its
# own executable (with dihya::testing::FakeContext) adds it to its sources,
# since dihya::Plugin's constructor reads the embedded bytes.
set(_DIHYA_PLUGIN_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")
# The SDK headers (nlohmann/json and fmt, through plugin.hpp) are most of
# every plugin TU's compile time: they are precompiled once, in
# dihya_plugin_pch, and every plugin of the project reuses that header. On in
# this tree (~60 plugin files); off by default for a project using the
# installed SDK, where a plugin of one or two files would pay for the header
# more than it saves.
if(CMAKE_FIND_PACKAGE_NAME STREQUAL "DihyaSDK")
  option(DIHYA_PLUGIN_PCH "Precompile the SDK headers once for all plugins" OFF)
else()
  option(DIHYA_PLUGIN_PCH "Precompile the SDK headers once for all plugins" ON)
endif()

function(dihya_add_plugin name)
  cmake_parse_arguments(ARG "" "METADATA" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "dihya_add_plugin(${name}): SOURCES is required")
  endif()
  if(NOT ARG_METADATA)
    message(FATAL_ERROR "dihya_add_plugin(${name}): METADATA plugin.json is required")
  endif()
  get_filename_component(metadata "${ARG_METADATA}" ABSOLUTE)
  if(NOT EXISTS "${metadata}")
    message(FATAL_ERROR "dihya_add_plugin(${name}): ${metadata} does not exist")
  endif()
  if(metadata MATCHES "[\"\\\\]")
    message(FATAL_ERROR "dihya_add_plugin(${name}): the path of ${metadata} must not contain quotes or backslashes")
  endif()

  set(DIHYA_METADATA_FILE "${metadata}")
  set(embed "${CMAKE_CURRENT_BINARY_DIR}/${name}_embedded_metadata.cpp")
  configure_file("${_DIHYA_PLUGIN_CMAKE_DIR}/embed_metadata.cpp.in" "${embed}" @ONLY)
  set_source_files_properties("${embed}" PROPERTIES OBJECT_DEPENDS "${metadata}")

  add_library(${name} MODULE ${ARG_SOURCES} "${embed}")
  target_link_libraries(${name} PRIVATE Dihya::sdk ${ARG_LIBRARIES})
  set_target_properties(${name} PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  target_link_options(${name} PRIVATE "LINKER:--no-undefined")
  set_target_properties(${name} PROPERTIES DIHYA_METADATA_SOURCE "${embed}")
  # DIHYA_UNITY_BUILD (this tree; off for a project using the installed SDK
  # unless it sets it): all of a plugin's files in one unit.
  if(DIHYA_UNITY_BUILD)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 0)
    set_source_files_properties("${embed}" PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
  if(DIHYA_PLUGIN_PCH)
    _dihya_plugin_pch()
    target_precompile_headers(${name} REUSE_FROM dihya_plugin_pch)
    # The metadata stub has no #include: loading the header would only cost.
    set_source_files_properties("${embed}" PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
  endif()
endfunction()

# dihya_plugin_pch: an object library compiled with exactly a plugin's flags
# (PIC, hidden visibility, the SDK's include paths), so that its header is
# valid in every plugin; made on the first dihya_add_plugin call.
function(_dihya_plugin_pch)
  if(TARGET dihya_plugin_pch)
    return()
  endif()
  set(stub "${CMAKE_BINARY_DIR}/dihya_plugin_pch.cpp")
  file(CONFIGURE OUTPUT "${stub}" CONTENT "// Generated: the source that carries dihya_plugin_pch's header.\n")
  add_library(dihya_plugin_pch OBJECT "${stub}")
  target_link_libraries(dihya_plugin_pch PRIVATE Dihya::sdk)
  set_target_properties(dihya_plugin_pch PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 17
    CXX_STANDARD_REQUIRED ON
    CXX_EXTENSIONS OFF)
  target_precompile_headers(dihya_plugin_pch PRIVATE
    <dihya/plugin.hpp> <algorithm> <map> <memory> <optional> <string> <string_view> <vector>)
endfunction()
