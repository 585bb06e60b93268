// SPDX-License-Identifier: AGPL-3.0-or-later
// Mustache (kainjow) rendering whose output and work are bounded before they
// are spent. A template is a small program: five nested sections over a list
// of 200 items repeat their text 200^5 times. Counting what kainjow's
// streaming render hands out is not enough, because kainjow builds each
// output line in memory first and a one-line template is one line. So a
// render first measures: it walks kainjow's own parse tree the way kainjow's
// renderer does, counting bytes instead of keeping them, and stops as soon as
// the output would pass the limit or the walk its step budget. Only a
// template that fits is then rendered by kainjow itself, so the text is
// kainjow's, byte for byte. Header-only; kainjow/mustache.hpp must be on the
// include path. SDK support (Dihya::mustache), not plugin API: no stability
// promise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include <kainjow/mustache.hpp>

namespace dihya {

class BoundedMustache {
 public:
  using Data = kainjow::mustache::data;
  using Escape = std::function<std::string(const std::string&)>;

  enum class Outcome {
    kRendered,     // *out holds the text
    kTooLarge,     // the text would pass max_bytes; nothing kept
    kTooMuchWork,  // the walk would pass *steps_left (nested sections over long lists)
    kFailed,       // a template error: error_message() says which
  };

  // Partials name template text held in the data; each level is a parse and
  // a deeper walk, and one that includes itself would never end.
  static constexpr int kMaxPartialDepth = 16;
  // kainjow parses, renders and frees sections recursively: 50000 nested
  // levels overflow the stack.
  static constexpr int kMaxSectionDepth = 100;

  // Why `source` must not even be parsed, or "": sections nested deeper than
  // kMaxSectionDepth, or a delimiter change, which would hide tags from this
  // scan. Blanks inside a tag are trimmed as kainjow does (`{{ #a}}` opens a
  // section). Callers check this before constructing.
  static std::string nesting_problem(const std::string& source) {
    int depth = 0;
    for (std::size_t i = source.find("{{"); i != std::string::npos; i = source.find("{{", i + 2)) {
      const std::size_t at = source.find_first_not_of(" \t\r\n", i + 2);
      if (at == std::string::npos) break;
      const char c = source[at];
      if (c == '=') return "changing the mustache delimiters ({{=...=}}) is not supported";
      if (c == '#' || c == '^') {
        if (++depth > kMaxSectionDepth) return "sections nested more than " + std::to_string(kMaxSectionDepth) + " levels";
      } else if (c == '/') {
        depth = std::max(depth - 1, 0);
      }
    }
    return {};
  }

  // Parses `source` (nesting_problem() must be empty); is_valid() and
  // error_message() tell how that went.
  explicit BoundedMustache(const std::string& source) : template_(source) {
    kainjow::mustache::context<std::string> unused;
    kainjow::mustache::context_internal<std::string> parsing{unused};
    std::string error;
    kainjow::mustache::parser<std::string>{source, parsing, root_, error};
  }

  bool is_valid() const { return template_.is_valid(); }
  // What the last render's measure counted, and the most it held at once
  // (the text so far and the line being built): a render is refused when the
  // latter passes max_bytes. Its fuzz target checks both against kainjow.
  std::size_t measured_bytes() const { return measured_; }
  std::size_t measured_peak() const { return measured_peak_; }
  const std::string& error_message() const { return error_.empty() ? template_.error_message() : error_; }

  // How {{name}} values are escaped ({{{name}}} and {{&name}} never are);
  // kainjow's default is HTML escaping.
  void set_custom_escape(Escape escape) {
    template_.set_custom_escape(escape);
    escape_ = std::move(escape);
  }

  // Renders `data` into *out when the text fits in `max_bytes` and the walk in
  // *steps_left: one step per tag, piece of text or list item walked, taken
  // from *steps_left (callers may share one budget between renders). On any
  // other outcome *out is left empty. Memory stays within twice max_bytes
  // (kainjow's line buffer and the text) whatever the template. Not
  // thread-safe: kainjow keeps its error in the template.
  Outcome render(const Data& data, std::size_t max_bytes, std::size_t* steps_left, std::string* out) {
    out->clear();
    error_.clear();
    measured_ = 0;
    measured_peak_ = 0;
    if (!is_valid()) return Outcome::kFailed;
    try {
      Measure measure(data, escape_, max_bytes, steps_left, &error_);
      measure.walk(root_, 0);
      measure.flush(0);
      measured_ = measure.bytes();
      measured_peak_ = measure.peak();
      out->reserve(measure.bytes());
      template_.render(data, [&](const std::string& text) {
        if (text.size() > max_bytes - out->size()) throw Stop{Outcome::kTooLarge};
        out->append(text);
      });
    } catch (const Stop& stop) {
      out->clear();
      out->shrink_to_fit();
      return stop.outcome;
    }
    if (!template_.is_valid()) {
      out->clear();
      return Outcome::kFailed;
    }
    return Outcome::kRendered;
  }

 private:
  using Component = kainjow::mustache::component<std::string>;
  using Tag = kainjow::mustache::tag_type;

  struct Stop {
    Outcome outcome;
  };

  static void take_step(std::size_t* steps_left) {
    if (*steps_left == 0) throw Stop{Outcome::kTooMuchWork};
    --*steps_left;
  }

  // kainjow's renderer (basic_mustache::render_component and its callees)
  // with a byte count where it has a line buffer: a line that holds a
  // section tag and only blanks is dropped, every other line is output.
  class Measure {
   public:
    Measure(const Data& data, const Escape& escape, std::size_t max_bytes, std::size_t* steps_left,
            std::string* error)
        : context_(&data), escape_(escape), max_bytes_(max_bytes), steps_left_(steps_left), error_(error) {}

    std::size_t bytes() const { return output_; }
    // The most it held at once: the text so far and the line being built
    // (a blank line kainjow drops at its end is held until then).
    std::size_t peak() const { return peak_; }

    void walk(const Component& parent, int partial_depth) {
      for (const auto& child : parent.children) visit(child, partial_depth);
    }

    // The end of a line: `newline` bytes of line break follow it.
    void flush(std::size_t newline) {
      if (!(line_has_section_ && line_blank_)) output_ += line_ + newline;
      peak_ = std::max(peak_, output_);
      if (output_ > max_bytes_) throw Stop{Outcome::kTooLarge};
      line_ = 0;
      line_blank_ = true;
      line_has_section_ = false;
    }

   private:
    void visit(const Component& c, int partial_depth) {
      take_step(steps_left_);
      if (c.is_text()) {
        if (c.is_newline()) {
          flush(c.text.size());
        } else {
          append(c.text);
        }
        return;
      }
      const Data* var = nullptr;
      switch (c.tag.type) {
        case Tag::variable:
        case Tag::unescaped_variable:
          if ((var = context_.get(c.tag.name)) == nullptr) return;
          refuse_lambda(*var);
          if (var->is_string()) append(c.tag.type == Tag::variable ? escape_(var->string_value()) : var->string_value());
          return;
        case Tag::section_begin:
          if ((var = context_.get(c.tag.name)) == nullptr) return;
          refuse_lambda(*var);
          if (!var->is_false() && !var->is_empty_list()) section(c, var, partial_depth);
          return;
        case Tag::section_begin_inverted:
          var = context_.get(c.tag.name);
          if (var == nullptr || var->is_false() || var->is_empty_list()) section(c, var, partial_depth);
          return;
        case Tag::partial:
          partial(c, partial_depth);
          return;
        default:
          return;  // comments; a delimiter change matters to lambdas only
      }
    }

    void section(const Component& c, const Data* var, int partial_depth) {
      if (var != nullptr && var->is_non_empty_list()) {
        for (const auto& item : var->list_value()) {
          take_step(steps_left_);
          enter(c, &item, partial_depth);
        }
      } else {
        enter(c, var, partial_depth);
      }
    }

    void enter(const Component& c, const Data* var, int partial_depth) {
      line_has_section_ = true;
      if (var != nullptr) context_.push(var);
      walk(c, partial_depth);
      if (var != nullptr) context_.pop();
      line_has_section_ = true;
    }

    void partial(const Component& c, int partial_depth) {
      const Data* var = context_.get_partial(c.tag.name);
      if (var == nullptr || !(var->is_partial() || var->is_string())) return;
      if (partial_depth >= kMaxPartialDepth) fail("partials nested more than " + std::to_string(kMaxPartialDepth) + " levels");
      const std::string text = var->is_partial() ? var->partial_value()() : var->string_value();
      kainjow::mustache::context<std::string> unused;
      kainjow::mustache::context_internal<std::string> parsing{unused};
      Component root;
      std::string error;
      kainjow::mustache::parser<std::string>{text, parsing, root, error};
      if (!error.empty()) fail(error);
      walk(root, partial_depth + 1);
    }

    // The plugins' data comes from JSON and holds none; a lambda's text
    // could only be known by calling it.
    void refuse_lambda(const Data& var) {
      if (var.is_lambda() || var.is_lambda2()) fail("lambdas are not supported");
    }

    void append(const std::string& text) {
      line_ += text.size();
      if (line_blank_) line_blank_ = text.find_first_not_of(" \t") == std::string::npos;
      // A dropped blank line is still held in memory until its end.
      peak_ = std::max(peak_, output_ + line_);
      if (line_ > max_bytes_ - std::min(output_, max_bytes_)) throw Stop{Outcome::kTooLarge};
    }

    [[noreturn]] void fail(const std::string& why) {
      *error_ = why;
      throw Stop{Outcome::kFailed};
    }

    kainjow::mustache::context<std::string> context_;
    const Escape& escape_;
    std::size_t max_bytes_;
    std::size_t* steps_left_;
    std::string* error_;
    std::size_t output_ = 0;
    std::size_t line_ = 0;
    std::size_t peak_ = 0;
    bool line_blank_ = true;
    bool line_has_section_ = false;
  };

  kainjow::mustache::mustache template_;
  Component root_;
  Escape escape_ = kainjow::mustache::html_escape<std::string>;
  std::string error_;
  std::size_t measured_ = 0;
  std::size_t measured_peak_ = 0;
};

}  // namespace dihya
