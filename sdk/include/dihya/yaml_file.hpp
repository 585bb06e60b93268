// SPDX-License-Identifier: AGPL-3.0-or-later
// The project's one YAML reader: an operator's YAML text — a parameter file
// for the host; a policy, a config, a spec or a template for a plugin — into
// JSON, by one rule set and within a budget. It builds JSON straight from
// yaml-cpp's parse events, never from yaml-cpp's node tree: that tree keeps an
// alias bomb as shared nodes that explode once expanded, and throws a
// misleading error on deep nesting. Here every budget is charged as the text
// is read, an alias with the size of what it names *before* it is copied.
// Every failure is a dihya::Error of one printable line that never echoes raw
// input bytes: "<where>:<line>:<column>: <what>", or "<where>: <what>" where
// no place applies. Header-only; a plugin that includes it links yaml-cpp.
//
// The rules (README, "YAML, the one reader"):
// - one document; several ("---" twice) are refused; an empty text is null;
// - plain scalars are typed by the YAML 1.2 core schema (plain_scalar below);
//   quoted and block scalars are strings;
// - tags: the core schema's (!!str, !!int, !!float, !!bool, !!null, !!seq,
//   !!map) are honoured, a value that does not match its tag is refused, and
//   any other tag (!!binary, !!set, !secret...) is refused;
// - a mapping key is a string (a plain `1:` is the key "1"); a null, list or
//   mapping key is refused, and so is a duplicate key;
// - merge keys are applied: `<<: *base` or `<<: [*a, *b]` copy the keys the
//   mapping does not write itself, an earlier source winning over a later one;
// - the text is UTF-8 without control characters other than tab, LF and CR,
//   and no escape may decode to invalid UTF-8;
// - budgets (YamlLimits): containers one inside the other, nodes and string
//   bytes, both counted with aliases expanded; load_yaml_file() reads at most
//   4 MiB.
#pragma once

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>
#include <dihya/utf8.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

namespace dihya {

// What a document may cost once aliases are expanded. The defaults suit an
// operator's policy or config file; a caller reading bigger documents (a
// template, a parameter file) passes its own.
struct YamlLimits {
  std::size_t max_nodes = 100000;           // scalars, nulls, lists and mappings, keys included
  std::size_t max_string_bytes = 8u << 20;  // all scalars and keys, an alias counted each time it is used
  int max_depth = 64;                       // lists and mappings one inside the other
};

namespace yaml_detail {

// The scalars of the YAML 1.2 core schema, one resolver each; nullopt when
// `text` is not one. Plain scalars try them in turn (plain_scalar); a !!int,
// !!float, !!bool or !!null tag asks for one.

inline bool is_decimal_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_octal_digit(char c) { return c >= '0' && c <= '7'; }
inline bool is_hex_digit(char c) { return is_decimal_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

inline bool all_of_chars(std::string_view text, bool (*pred)(char)) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}

inline std::optional<nlohmann::json> core_null(std::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nlohmann::json(nullptr);
  return std::nullopt;
}

inline std::optional<nlohmann::json> core_bool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return nlohmann::json(true);
  if (text == "false" || text == "False" || text == "FALSE") return nlohmann::json(false);
  return std::nullopt;
}

// [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. Decimal ones too large for 64 bits
// become numbers, as they would in JSON.
inline std::optional<nlohmann::json> core_int(std::string_view text) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
    if (text.front() == '-' || text.front() == '+') return std::nullopt;  // the core schema has no signed hex/octal
    if (!all_of_chars(digits, base == 16 ? is_hex_digit : is_octal_digit)) return std::nullopt;
  } else if (!all_of_chars(digits, is_decimal_digit)) {
    return std::nullopt;
  }
  std::uint64_t magnitude = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (error != std::errc() || end != digits.data() + digits.size()) {
    if (base != 10) return std::nullopt;
    double value = 0;
    const auto [fend, ferror] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ferror != std::errc() || fend != digits.data() + digits.size()) return std::nullopt;
    return nlohmann::json(negative ? -value : value);
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!negative) {
    if (magnitude <= kMax) return nlohmann::json(static_cast<std::int64_t>(magnitude));
    return nlohmann::json(magnitude);
  }
  if (magnitude <= kMax) return nlohmann::json(-static_cast<std::int64_t>(magnitude));
  if (magnitude == kMax + 1) return nlohmann::json(std::numeric_limits<std::int64_t>::min());
  return nlohmann::json(-static_cast<double>(magnitude));
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? -- .inf and .nan are
// left out on purpose (JSON has no way to hold them), and so is what
// overflows a double (1e999).
inline std::optional<nlohmann::json> core_float(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) rest.remove_prefix(1);
  std::size_t i = 0;
  std::size_t digits = 0;
  const auto skip_digits = [&rest, &i] {
    const std::size_t start = i;
    while (i < rest.size() && is_decimal_digit(rest[i])) ++i;
    return i - start;
  };
  digits += skip_digits();
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    digits += skip_digits();
  }
  if (digits == 0) return std::nullopt;
  if (i < rest.size() && (rest[i] == 'e' || rest[i] == 'E')) {
    ++i;
    if (i < rest.size() && (rest[i] == '-' || rest[i] == '+')) ++i;
    if (skip_digits() == 0) return std::nullopt;
  }
  if (i != rest.size()) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (error != std::errc() || end != rest.data() + rest.size() || !std::isfinite(value)) return std::nullopt;
  return nlohmann::json(text.front() == '-' ? -value : value);
}

// A plain scalar by the YAML 1.2 core schema: null (~, null, Null, NULL,
// empty), booleans (true/True/TRUE, false/False/FALSE), integers (decimal,
// 0o octal, 0x hex; 64-bit, larger decimal ones become numbers), floats
// (finite ones; .inf and .nan stay strings: JSON has neither). Anything else
// (yes, on, 1.2.3, -0x1F) is a string.
inline nlohmann::json plain_scalar(const std::string& s) {
  if (auto value = core_null(s)) return *value;
  if (auto value = core_bool(s)) return *value;
  if (auto value = core_int(s)) return *value;
  if (auto value = core_float(s)) return *value;
  return s;
}

// dihya::printable (utf8.hpp), cut at 80 bytes by default for messages.
inline std::string printable(std::string_view text, std::size_t max_bytes = 80) {
  return dihya::printable(text, max_bytes);
}

// "!!int" rather than "tag:yaml.org,2002:int", as the author wrote it.
inline std::string short_tag(const std::string& tag) {
  constexpr std::string_view kCorePrefix = "tag:yaml.org,2002:";
  if (tag.compare(0, kCorePrefix.size(), kCorePrefix) == 0) return "!!" + tag.substr(kCorePrefix.size());
  return tag;
}

// Builds JSON from yaml-cpp's parse events by the rules at the top of this
// file. An alias is expanded by copying what its anchor built, after the
// budgets were charged with the anchor's expanded size, so an alias bomb stops
// at the first copy over budget. An alias inside the node it names (a cycle)
// is refused. Throws dihya::Error; used once, then thrown away.
class JsonBuilder final : public YAML::EventHandler {
 public:
  JsonBuilder(std::string where, const YamlLimits& limits, std::string_view text)
      : where_(std::move(where)), limits_(limits), text_(text) {}

  nlohmann::json take_root() { return std::move(root_); }

  // "<where>:<line>:<column>: " for a place in the text.
  static std::string at(const std::string& where, const YAML::Mark& mark) {
    if (mark.is_null()) return where + ": ";
    return where + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1) + ": ";
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0) {
      // yaml-cpp 0.7 starts an empty document at the same place, forever, when
      // a stray ',' opens the text (YAML::LoadAll never returns on ",x").
      if (mark.pos == first_document_pos_) fail(mark, "invalid YAML: unexpected character");
      throw Error(where_ + ": more than one YAML document (expected one)");
    }
    ++documents_;
    first_document_pos_ = mark.pos;
  }

  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (expecting_key()) fail(mark, "a mapping key is null; keys must be strings");
    charge(mark, 1, 0);
    add(nlohmann::json(nullptr), mark, anchor, 1, 0, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // The text is UTF-8, but escapes such as "\xff" or a lone "\ud800" decode
    // to bytes that are not.
    if (!valid_utf8(value)) fail(mark, "a scalar decodes to invalid UTF-8");
    // "\0", "\x00", "\u0000": no path, database text or C string can hold a
    // NUL; it would cut the value short where it is used.
    if (value.find('\0') != std::string::npos) fail(mark, "a scalar decodes to a NUL character");
    if (tag == "!" && !quote_closed(mark)) fail(mark, "invalid YAML: a quoted scalar has no closing quote");
    charge(mark, 1, value.size());
    if (expecting_key()) {
      if (tag != "?" && tag != "!" && tag != kTagStr) fail(mark, "a mapping key cannot have the tag " + shown_tag(tag));
      remember(anchor, nlohmann::json(value), 1, value.size(), 0);
      set_key(value, tag == "?" && value == "<<", mark);
      return;
    }
    add(convert_scalar(mark, tag, value), mark, anchor, 1, value.size(), 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (open_anchors_.count(anchor) > 0) fail(mark, "an alias refers to a node that contains it");
    const auto found = anchors_.find(anchor);
    if (found == anchors_.end()) fail(mark, "an alias has no anchor");
    const Anchored& anchored = found->second;
    charge(mark, anchored.nodes, anchored.bytes);
    if (expecting_key()) {
      if (!anchored.value.is_string()) fail(mark, "a mapping key must be a string");
      set_key(anchored.value.get<std::string>(), false, mark);
      return;
    }
    check_depth(mark, anchored.height);
    attach(nlohmann::json(anchored.value), mark, anchored.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    check_collection_tag(mark, tag, kTagSeq);
    open(mark, anchor, nlohmann::json::array());
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    check_collection_tag(mark, tag, kTagMap);
    open(mark, anchor, nlohmann::json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  static constexpr const char* kTagStr = "tag:yaml.org,2002:str";
  static constexpr const char* kTagInt = "tag:yaml.org,2002:int";
  static constexpr const char* kTagFloat = "tag:yaml.org,2002:float";
  static constexpr const char* kTagBool = "tag:yaml.org,2002:bool";
  static constexpr const char* kTagNull = "tag:yaml.org,2002:null";
  static constexpr const char* kTagSeq = "tag:yaml.org,2002:seq";
  static constexpr const char* kTagMap = "tag:yaml.org,2002:map";

  struct Anchored {
    nlohmann::json value;
    std::size_t nodes;
    std::size_t bytes;
    int height;  // containers one inside the other, 0 for a scalar
  };

  struct Frame {
    nlohmann::json value;  // the array or object being built
    YAML::Mark mark;
    YAML::anchor_t anchor;
    std::size_t nodes_before;
    std::size_t bytes_before;
    int height = 1;
    std::optional<std::string> key = std::nullopt;  // a mapping's key waiting for its value
    bool key_is_merge = false;
    bool has_merge = false;
    std::vector<std::pair<nlohmann::json, YAML::Mark>> merges = {};
  };

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& what) const { throw Error(at(where_, mark) + what); }

  static std::string shown_tag(const std::string& tag) { return printable(short_tag(tag)); }

  bool expecting_key() const { return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key; }

  void charge(const YAML::Mark& mark, std::size_t nodes, std::size_t bytes) {
    if (nodes > limits_.max_nodes - nodes_) {
      fail(mark, "more than " + std::to_string(limits_.max_nodes) + " nodes once aliases are expanded (alias bomb?)");
    }
    if (bytes > limits_.max_string_bytes - bytes_) {
      fail(mark, "more than " + byte_count(limits_.max_string_bytes) +
                     " of strings once aliases are expanded (alias bomb?)");
    }
    nodes_ += nodes;
    bytes_ += bytes;
  }

  static std::string byte_count(std::size_t bytes) {
    constexpr std::size_t kMiB = 1024 * 1024;
    if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
    return std::to_string(bytes) + " bytes";
  }

  void check_depth(const YAML::Mark& mark, int height) const {
    if (static_cast<int>(stack_.size()) + height > limits_.max_depth) {
      fail(mark, "nested more than " + std::to_string(limits_.max_depth) + " levels");
    }
  }

  void check_collection_tag(const YAML::Mark& mark, const std::string& tag, const char* core) const {
    if (tag == "?" || tag == "!" || tag.empty() || tag == core) return;
    fail(mark, "the tag " + shown_tag(tag) + " is not supported (only the YAML core schema's)");
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, nlohmann::json empty) {
    if (expecting_key()) fail(mark, "a mapping key is a list or a mapping; keys must be strings");
    check_depth(mark, 1);
    const std::size_t nodes_before = nodes_;
    const std::size_t bytes_before = bytes_;
    charge(mark, 1, 0);
    if (anchor != YAML::NullAnchor) open_anchors_.insert(anchor);
    stack_.push_back(Frame{std::move(empty), mark, anchor, nodes_before, bytes_before});
  }

  void close() {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.value.is_object()) apply_merges(frame);
    if (frame.anchor != YAML::NullAnchor) open_anchors_.erase(frame.anchor);
    add(std::move(frame.value), frame.mark, frame.anchor, nodes_ - frame.nodes_before, bytes_ - frame.bytes_before,
        frame.height);
  }

  void remember(YAML::anchor_t anchor, const nlohmann::json& value, std::size_t nodes, std::size_t bytes, int height) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchored{value, nodes, bytes, height};
  }

  void add(nlohmann::json value, const YAML::Mark& mark, YAML::anchor_t anchor, std::size_t nodes, std::size_t bytes,
           int height) {
    remember(anchor, value, nodes, bytes, height);
    attach(std::move(value), mark, height);
  }

  void attach(nlohmann::json value, const YAML::Mark& mark, int height) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& parent = stack_.back();
    parent.height = std::max(parent.height, height + 1);
    if (parent.value.is_array()) {
      parent.value.push_back(std::move(value));
    } else if (parent.key_is_merge) {
      parent.merges.emplace_back(std::move(value), mark);
    } else {
      parent.value[*parent.key] = std::move(value);
    }
    parent.key.reset();
    parent.key_is_merge = false;
  }

  void set_key(const std::string& key, bool is_merge, const YAML::Mark& mark) {
    Frame& map = stack_.back();
    if (is_merge ? map.has_merge : map.value.contains(key)) fail(mark, "duplicate key \"" + printable(key) + "\"");
    map.has_merge = map.has_merge || is_merge;
    map.key = key;
    map.key_is_merge = is_merge;
  }

  // `<<: *base` or `<<: [*a, *b]`: keys the mapping writes itself win, and
  // among several sources the earlier one wins, as the YAML merge-key
  // specification says.
  void apply_merges(Frame& frame) const {
    for (auto& [source, mark] : frame.merges) {
      std::vector<nlohmann::json*> maps;
      if (source.is_object()) {
        maps.push_back(&source);
      } else if (source.is_array() &&
                 std::all_of(source.begin(), source.end(), [](const nlohmann::json& j) { return j.is_object(); })) {
        for (auto& item : source) maps.push_back(&item);
      } else {
        fail(mark, "the merge key '<<' needs a mapping or a list of mappings");
      }
      for (nlohmann::json* from : maps) {
        for (auto& [key, value] : from->items()) {
          if (!frame.value.contains(key)) frame.value[key] = std::move(value);
        }
      }
    }
  }

  nlohmann::json convert_scalar(const YAML::Mark& mark, const std::string& tag, const std::string& text) const {
    if (tag == "?" || tag.empty()) return plain_scalar(text);
    if (tag == "!" || tag == kTagStr) return nlohmann::json(text);
    std::optional<nlohmann::json> value;
    if (tag == kTagInt) {
      value = core_int(text);
    } else if (tag == kTagFloat) {
      value = core_float(text);
      if (!value) value = core_int(text);
    } else if (tag == kTagBool) {
      value = core_bool(text);
    } else if (tag == kTagNull) {
      value = core_null(text);
    } else {
      fail(mark, "the tag " + shown_tag(tag) + " is not supported (only the YAML core schema's)");
    }
    if (!value) fail(mark, "the value does not match its tag " + shown_tag(tag));
    return *value;
  }

  // yaml-cpp 0.7 ends a quoted scalar left open at the end of the text
  // quietly when a newline follows it ("url: \"abc\nmode: x\n" reads as
  // one string): the closing quote is looked for in the text itself.
  bool quote_closed(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.pos < 0 || static_cast<std::size_t>(mark.pos) >= text_.size()) return true;
    const char quote = text_[static_cast<std::size_t>(mark.pos)];
    if (quote != '"' && quote != '\'') return true;  // a block scalar
    for (std::size_t i = static_cast<std::size_t>(mark.pos) + 1; i < text_.size(); ++i) {
      if (quote == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == quote) {
        if (quote == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;  // '' is a quote inside a single-quoted scalar
        } else {
          return true;
        }
      }
    }
    return false;
  }

  std::string where_;
  YamlLimits limits_;
  std::string_view text_;
  nlohmann::json root_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  std::set<YAML::anchor_t> open_anchors_;
  std::size_t nodes_ = 0;
  std::size_t bytes_ = 0;
  int documents_ = 0;
  int first_document_pos_ = 0;  // YAML::Mark::pos is an int
};

// yaml-cpp guesses UTF-16/32 from NUL bytes and acts on other control
// characters in odd ways; YAML does not allow them unescaped anyway.
inline void check_text(std::string_view text, const std::string& where) {
  const std::size_t bad = first_invalid_utf8(text);
  if (bad != std::string_view::npos) throw Error(where + ": invalid UTF-8 at byte " + std::to_string(bad + 1));
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      throw Error(where + ": a control character at byte " + std::to_string(i + 1));
    }
  }
}

}  // namespace yaml_detail

// The YAML document `text` as JSON, by the rules at the top of this file.
// `where` (a file name) starts every message; it is shown escaped. Throws
// dihya::Error "<where>:<line>:<column>: <what>" or "<where>: <what>".
// Thread-safe (no shared state).
inline nlohmann::json load_yaml_text(std::string_view text, const std::string& where, const YamlLimits& limits = {}) {
  const std::string shown = yaml_detail::printable(where, 200);
  yaml_detail::check_text(text, shown);
  std::istringstream in{std::string(text)};
  yaml_detail::JsonBuilder builder(shown, limits, text);
  try {
    YAML::Parser parser(in);
    // A second document makes the builder throw, so this runs at most twice.
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::DeepRecursion&) {
    // yaml-cpp says "bad file" at line 1: say what happened instead.
    throw Error(shown + ": nested too deeply for the YAML parser");
  } catch (const YAML::Exception& e) {
    throw Error(yaml_detail::JsonBuilder::at(shown, e.mark) + "invalid YAML: " + yaml_detail::printable(e.msg, 200));
  }
  return builder.take_root();
}

// The YAML document in the regular file `path` (at most 4 MiB) as JSON, by
// load_yaml_text()'s rules. Throws dihya::Error "<path>: <what>".
inline nlohmann::json load_yaml_file(const std::filesystem::path& path, const YamlLimits& limits = {}) {
  constexpr std::size_t kMaxFileBytes = 4u << 20;
  const std::string shown = yaml_detail::printable(path.string(), 200);
  // O_NONBLOCK: a FIFO put where the file was expected is refused, not waited on.
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (file.get() < 0) throw Error(shown + ": not a readable file (" + std::generic_category().message(errno) + ")");
  struct stat info {};
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) throw Error(shown + ": not a readable file");
  if (static_cast<std::uintmax_t>(info.st_size) > kMaxFileBytes) throw Error(shown + ": larger than 4 MiB");
  std::string text;
  const std::error_code error = read_all(file.get(), &text, kMaxFileBytes);
  if (error.value() == EFBIG) throw Error(shown + ": larger than 4 MiB");
  if (error) throw Error(shown + ": cannot be read: " + error.message());
  return load_yaml_text(text, path.string(), limits);
}

}  // namespace dihya
