// SPDX-License-Identifier: AGPL-3.0-or-later
// Parsing of operator-written parameter input (JSON, YAML, files) with hard
// budgets on size, depth and alias expansion, and one-line messages that never
// echo raw input bytes.
#include "params/json_input.hpp"
#include "util/printable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include <dihya/utf8.hpp>
#include <dihya/yaml_file.hpp>
#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion, not included by yaml.h
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "errors.hpp"
#include "util/unique_fd.hpp"

namespace dihya::host {
namespace {

using nlohmann::json;

std::string os_reason(int error) { return std::generic_category().message(error); }

std::string size_text(std::size_t bytes) {
  constexpr std::size_t kMiB = 1024 * 1024;
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return std::to_string(bytes) + " bytes";
}

// ---------------------------------------------------------------- JSON

// Thrown from inside the nlohmann parser callback; never leaves this file.
struct JsonTooDeep {};
struct JsonDuplicateKey {
  std::string key;
};

// Token names nlohmann puts after "; expected ": fixed texts, never input.
bool is_token_name(std::string_view name) {
  static const std::set<std::string_view> kNames = {
      "<uninitialized>", "true literal", "false literal", "null literal", "string literal",
      "number literal",  "'['",          "'{'",           "']'",          "'}'",
      "':'",             "','",          "<parse error>", "end of input", "'[', '{', or a literal",
      "unknown token"};
  return kNames.count(name) > 0;
}

// nlohmann's what() reads "[json.exception.parse_error.101] parse error at
// line 1, column 5: syntax error while parsing value - invalid literal; last
// read: 'tru'; expected ...". The "last read" part quotes the input, so it is
// cut; the prefix is noise. What remains is the reason proper.
std::string json_parse_reason(const std::string& what) {
  std::string_view text(what);
  if (text.find("attempting to parse an empty input") != std::string_view::npos) return "empty input";
  const auto column = text.find(", column ");
  if (column != std::string_view::npos) {
    const auto colon = text.find(": ", column);
    if (colon != std::string_view::npos) text.remove_prefix(colon + 2);
  }
  const auto dash = text.find(" - ");
  std::string_view context;
  if (text.substr(0, dash).find("syntax error") == 0 && dash != std::string_view::npos) {
    context = text.substr(0, dash);
    text.remove_prefix(dash + 3);
  }
  std::string expected;
  const auto expected_at = text.rfind("; expected ");
  if (expected_at != std::string_view::npos &&
      is_token_name(text.substr(expected_at + std::string_view("; expected ").size()))) {
    expected = std::string(text.substr(expected_at));
  }
  const auto last_read = text.find("; last read: ");
  if (last_read != std::string_view::npos) {
    text = text.substr(0, last_read);
  } else if (!expected.empty()) {
    text = text.substr(0, expected_at);
  }
  std::string reason(text);
  constexpr std::string_view kWhileParsing = "syntax error while parsing ";
  if (context.substr(0, kWhileParsing.size()) == kWhileParsing && context != "syntax error while parsing value") {
    reason += " in " + std::string(context.substr(kWhileParsing.size()));
  }
  return reason + expected;
}

// "line 3, column 7" from nlohmann's what(), or empty when absent.
std::string json_line_column(const std::string& what) {
  const auto at = what.find("at line ");
  if (at == std::string::npos) return {};
  const auto end = what.find(':', at);
  if (end == std::string::npos) return {};
  return what.substr(at + 3, end - at - 3);
}

// ---------------------------------------------------------------- YAML

const std::string kTagStr = "tag:yaml.org,2002:str";
const std::string kTagInt = "tag:yaml.org,2002:int";
const std::string kTagFloat = "tag:yaml.org,2002:float";
const std::string kTagBool = "tag:yaml.org,2002:bool";
const std::string kTagNull = "tag:yaml.org,2002:null";

using dihya::yaml_detail::core_bool;
using dihya::yaml_detail::core_float;
using dihya::yaml_detail::core_int;
using dihya::yaml_detail::core_null;
using dihya::yaml_detail::plain_scalar;

// "!!int" rather than "tag:yaml.org,2002:int", as the operator wrote it.
std::string short_tag(const std::string& tag) {
  constexpr std::string_view kCorePrefix = "tag:yaml.org,2002:";
  if (tag.compare(0, kCorePrefix.size(), kCorePrefix) == 0) return "!!" + tag.substr(kCorePrefix.size());
  return tag;
}

std::string position(const YAML::Mark& mark) {
  return "line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1);
}

// Builds JSON straight from yaml-cpp's parse events; yaml-cpp's own node
// graph is not used. An alias is expanded by copying what its anchor built,
// and the budgets are charged with the anchor's expanded size *before* the
// copy is made, so an alias bomb stops at the first copy over budget instead
// of after gigabytes. An alias inside the node it names (a cycle) is refused.
class YamlToJson final : public YAML::EventHandler {
 public:
  explicit YamlToJson(std::string where) : where_(std::move(where)) {}

  json take_root() { return std::move(root_); }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if (documents_ > 0) {
      // yaml-cpp 0.7 starts an empty document at the same place, forever, when
      // a stray ',' opens the text (YAML::LoadAll never returns on ",x").
      if (mark.pos == first_document_pos_) {
        throw usage_error(where_ + ": invalid YAML at " + position(mark) + ": unexpected character");
      }
      throw usage_error(where_ + ": YAML holds more than one document; expected one");
    }
    ++documents_;
    first_document_pos_ = mark.pos;
  }

  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (expecting_key()) throw usage_error(where_ + ": YAML mapping key at " + position(mark) + " is null");
    charge(mark, 1, 0);
    add(json(nullptr), mark, anchor, 1, 0, 0);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    // Escapes such as "\xff" or a lone "\ud800" decode to bytes that are not
    // UTF-8 even when the document itself is.
    if (find_invalid_utf8(value)) {
      throw usage_error(where_ + ": YAML scalar at " + position(mark) + " decodes to invalid UTF-8");
    }
    charge(mark, 1, value.size());
    if (expecting_key()) {
      remember(anchor, json(value), 1, value.size(), 0);
      set_key(value, tag == "?" && value == "<<", mark);
      return;
    }
    add(convert_scalar(mark, tag, value), mark, anchor, 1, value.size(), 0);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (open_anchors_.count(anchor) > 0) {
      throw usage_error(where_ + ": YAML alias at " + position(mark) + " refers to a node that contains it");
    }
    const auto found = anchors_.find(anchor);
    if (found == anchors_.end()) throw usage_error(where_ + ": YAML alias at " + position(mark) + " has no anchor");
    const Anchored& anchored = found->second;
    charge(mark, anchored.nodes, anchored.bytes);
    if (expecting_key()) {
      if (!anchored.value.is_string()) {
        throw usage_error(where_ + ": YAML mapping key at " + position(mark) + " must be a string");
      }
      set_key(anchored.value.get<std::string>(), false, mark);
      return;
    }
    check_depth(mark, anchored.height);
    attach(json(anchored.value), mark, anchored.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, json::array());
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, json::object());
  }
  void OnMapEnd() override { close(); }

 private:
  struct Anchored {
    json value;
    std::size_t nodes;
    std::size_t bytes;
    int height;  // containers one inside the other, 0 for a scalar
  };

  struct Frame {
    json value;  // the array or object being built
    YAML::Mark mark;
    YAML::anchor_t anchor;
    std::size_t nodes_before;
    std::size_t bytes_before;
    int height = 1;
    std::optional<std::string> key = std::nullopt;  // a mapping's key waiting for its value
    bool key_is_merge = false;
    std::vector<std::pair<json, YAML::Mark>> merges = {};
  };

  bool expecting_key() const { return !stack_.empty() && stack_.back().value.is_object() && !stack_.back().key; }

  void charge(const YAML::Mark& mark, std::size_t nodes, std::size_t bytes) {
    if (nodes > kMaxYamlNodes - nodes_) {
      throw usage_error(where_ + ": YAML expands to more than " + std::to_string(kMaxYamlNodes) +
                        " nodes (alias bomb?)");
    }
    if (bytes > kMaxYamlExpandedBytes - bytes_) {
      throw usage_error(where_ + ": YAML expands to more than " + size_text(kMaxYamlExpandedBytes) +
                        " of text (alias bomb?) at " + position(mark));
    }
    nodes_ += nodes;
    bytes_ += bytes;
  }

  void check_depth(const YAML::Mark& mark, int height) const {
    if (static_cast<int>(stack_.size()) + height > kMaxDepth) {
      throw usage_error(where_ + ": YAML nested deeper than " + std::to_string(kMaxDepth) + " levels at " +
                        position(mark));
    }
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, json empty) {
    if (expecting_key()) {
      throw usage_error(where_ + ": YAML mapping key at " + position(mark) + " must be a string");
    }
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

  void remember(YAML::anchor_t anchor, const json& value, std::size_t nodes, std::size_t bytes, int height) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchored{value, nodes, bytes, height};
  }

  void add(json value, const YAML::Mark& mark, YAML::anchor_t anchor, std::size_t nodes, std::size_t bytes,
           int height) {
    remember(anchor, value, nodes, bytes, height);
    attach(std::move(value), mark, height);
  }

  void attach(json value, const YAML::Mark& mark, int height) {
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
    if (!is_merge && map.value.contains(key)) {
      throw usage_error(where_ + ": duplicate YAML key '" + printable(key) + "' at line " +
                        std::to_string(mark.line + 1));
    }
    map.key = key;
    map.key_is_merge = is_merge;
  }

  // `<<: *base` or `<<: [*a, *b]`: keys already present win, and among
  // several sources the earlier one wins, as the YAML merge-key spec says.
  void apply_merges(Frame& frame) const {
    for (auto& [source, mark] : frame.merges) {
      std::vector<json*> maps;
      if (source.is_object()) {
        maps.push_back(&source);
      } else if (source.is_array() && std::all_of(source.begin(), source.end(), [](const json& j) { return j.is_object(); })) {
        for (auto& item : source) maps.push_back(&item);
      } else {
        throw usage_error(where_ + ": YAML merge key '<<' at " + position(mark) + " needs a mapping or a list of mappings");
      }
      for (json* from : maps) {
        for (auto& [key, value] : from->items()) {
          if (!frame.value.contains(key)) frame.value[key] = std::move(value);
        }
      }
    }
  }

  json convert_scalar(const YAML::Mark& mark, const std::string& tag, const std::string& text) const {
    if (tag == "?" || tag.empty()) return plain_scalar(text);
    if (tag == "!" || tag == kTagStr) return json(text);
    std::optional<json> value;
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
      return json(text);  // an application tag (!secret, !!binary): keep the text
    }
    if (!value) {
      throw usage_error(where_ + ": YAML value at " + position(mark) + " does not match its tag " +
                        printable(short_tag(tag)));
    }
    return *value;
  }

  std::string where_;
  json root_;
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
std::optional<std::size_t> find_control_character(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return i;
  }
  return std::nullopt;
}

void check_text(std::string_view text, const std::string& where, const char* format) {
  if (text.size() > kMaxInputBytes) {
    throw usage_error(where + ": " + format + " text is larger than " + size_text(kMaxInputBytes));
  }
  if (auto bad = find_invalid_utf8(text)) {
    throw usage_error(where + ": invalid UTF-8 at byte " + std::to_string(*bad + 1));
  }
}

}  // namespace

std::string read_text_file(const std::filesystem::path& path, std::size_t max_bytes, const std::string& what) {
  // O_NONBLOCK: a FIFO without a writer must be refused, not waited for.
  const UniqueFd file(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (file.get() < 0) throw usage_error(what + ": cannot open: " + os_reason(errno));
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) throw usage_error(what + ": cannot read: " + os_reason(errno));
  if (S_ISDIR(info.st_mode)) throw usage_error(what + ": is a directory, not a file");
  if (!S_ISREG(info.st_mode)) throw usage_error(what + ": is not a regular file (a FIFO, socket or device)");
  const std::string too_large = what + ": is larger than " + size_text(max_bytes);
  if (S_ISREG(info.st_mode) && static_cast<std::uintmax_t>(info.st_size) > max_bytes) throw usage_error(too_large);
  // Read until EOF rather than trusting st_size: /proc files report 0.
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t got = ::read(file.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw usage_error(what + ": cannot read: " + os_reason(errno));
    if (got == 0) break;
    if (text.size() + static_cast<std::size_t>(got) > max_bytes) throw usage_error(too_large);
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

nlohmann::json parse_json_text(std::string_view text, const std::string& origin) {
  const std::string where = printable(origin, 200);
  check_text(text, where, "JSON");
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) throw usage_error(where + ": empty JSON text");
  // The callback runs while the value is being built, so a too-deep input
  // stops before anything (dump, copy, ==) can recurse through it.
  std::vector<std::set<std::string>> keys_seen;
  const json::parser_callback_t limit = [&keys_seen](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxDepth) throw JsonTooDeep{};
        if (event == json::parse_event_t::object_start) keys_seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys_seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys_seen.empty() && parsed.is_string() &&
            !keys_seen.back().insert(parsed.get_ref<const std::string&>()).second) {
          throw JsonDuplicateKey{parsed.get<std::string>()};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.data(), text.data() + text.size(), limit);
  } catch (const JsonTooDeep&) {
    throw usage_error(where + ": JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
  } catch (const JsonDuplicateKey& duplicate) {
    throw usage_error(where + ": duplicate JSON key '" + printable(duplicate.key) + "'");
  } catch (const json::parse_error& error) {
    const std::string what = error.what();
    std::string position = "at byte " + std::to_string(error.byte);
    const std::string line_column = json_line_column(what);
    if (!line_column.empty()) position += " (" + line_column + ")";
    throw usage_error(printable(where + ": invalid JSON " + position + ": " + json_parse_reason(what), 400));
  } catch (const json::out_of_range&) {
    throw usage_error(where + ": invalid JSON: a number is too large");
  } catch (const json::exception& error) {
    // Not expected from parse(); keep only the category, never the detail.
    throw usage_error(where + ": invalid JSON (error " + std::to_string(error.id) + ")");
  }
}

nlohmann::json parse_yaml_text(std::string_view text, const std::string& origin) {
  const std::string where = printable(origin, 200);
  check_text(text, where, "YAML");
  if (auto bad = find_control_character(text)) {
    throw usage_error(where + ": YAML contains a control character at byte " + std::to_string(*bad + 1));
  }
  std::istringstream stream{std::string(text)};
  YamlToJson builder(where);
  try {
    YAML::Parser parser(stream);
    // A second document makes the builder throw, so this loop runs at most twice.
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::DeepRecursion&) {
    // yaml-cpp reports this as "bad file" at line 1: say what happened instead.
    throw usage_error(where + ": YAML nested too deeply");
  } catch (const YAML::ParserException& error) {
    throw usage_error(printable(where + ": invalid YAML at " + position(error.mark) + ": " + error.msg, 400));
  } catch (const YAML::Exception& error) {
    throw usage_error(printable(where + ": invalid YAML: " + error.msg, 400));
  }
  return builder.take_root();
}

nlohmann::json load_params_file(const std::filesystem::path& path) {
  const std::string shown = printable(path.string(), 200);
  const std::string text = read_text_file(path, kMaxInputBytes, "params file " + shown);
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  bool as_json = extension == ".json";
  if (extension != ".json" && extension != ".yaml" && extension != ".yml") {
    std::string_view body(text);
    if (body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);  // UTF-8 byte order mark
    const auto first = body.find_first_not_of(" \t\r\n");
    as_json = first != std::string_view::npos && body[first] == '{';
  }
  json values = as_json ? parse_json_text(text, shown) : parse_yaml_text(text, shown);
  if (!as_json && values.is_null()) return json::object();  // a YAML file with nothing (or only comments) in it
  if (!values.is_object()) {
    throw usage_error(shown + ": the top level must map parameter names to values, not be " +
                      (values.is_array() ? "a list" : "a single value"));
  }
  return values;
}

}  // namespace dihya::host
