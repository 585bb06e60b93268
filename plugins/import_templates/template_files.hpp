// SPDX-License-Identifier: AGPL-3.0-or-later
// Template files on disk: finding them (a file, or every *.json, *.yaml, *.yml
// and *.js under a directory, sorted, never through a symlink that leaves it),
// reading them within limits, parsing each format into the JSON document and
// validating it; and the reverse, a document as the text of one format.
// Everything is checked before anything is written, so one bad file stops
// the whole import.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace import_templates {

enum class Format { json, yaml, js };

Format parse_format(const std::string& name);  // "json", "yaml", "js"
const char* extension(Format format);          // "json", "yaml", "js"

constexpr std::size_t kMaxFileBytes = 8u << 20;
constexpr std::size_t kMaxFiles = 10000;

// One template read from a file, valid, with its checksum.
struct SourceTemplate {
  std::string file;  // as shown to the operator
  nlohmann::json doc;
  std::string checksum;
};

// The template files of `path`, sorted. Throws dihya::Error for a missing
// path, a symlink leaving the directory, a non-regular file, too many files.
std::vector<std::filesystem::path> find_template_files(const std::filesystem::path& path);

// Reads, parses and validates one file (format from its extension). Throws
// dihya::Error "<file>[:line:col]: <what>".
SourceTemplate load_template_file(const std::filesystem::path& file);

// Every template of `path`; `errors` receives one line per bad file (and per
// name defined twice). Returns the good ones.
std::vector<SourceTemplate> load_templates(const std::filesystem::path& path, std::vector<std::string>& errors);

// The document as a file of `format`: canonical JSON, YAML or a JS module,
// each reading back to the same document.
std::string format_document(const nlohmann::json& doc, Format format);

// Parses text of `format` (what load_template_file does after reading).
nlohmann::json parse_document(const std::string& text, Format format, const std::string& where);

}  // namespace import_templates
