// SPDX-License-Identifier: AGPL-3.0-or-later
#include "params/schema_pattern.hpp"

#include <climits>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <dlfcn.h>

#include <hs/hs.h>

#include "errors.hpp"
#include "util/dynamic_symbol.hpp"
#include "util/printable.hpp"

namespace dihya::host {
namespace {

constexpr std::size_t kMaxPatternBytes = 4096;
// vectorscan unrolls a bounded repeat into that many copies of what it
// repeats, and its compile time grows faster than their number: ".{1000}x"
// takes 0.1 s, ".{10000}x" 3.4 s, and a few nested repeats multiply. Past
// this many characters once unrolled, a pattern is refused, not compiled.
// (migrate_data's version pattern unrolls to 496.)
constexpr std::uint64_t kMaxUnrolledSize = 1000;
constexpr std::size_t kMaxCachedPatterns = 256;
constexpr unsigned kPatternFlags = HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY;

const char* const kEngineHint =
    " (schema patterns are matched without backtracking, by vectorscan: no lookaround, no backreferences)";

std::uint64_t capped(std::uint64_t n) { return n > kMaxUnrolledSize ? kMaxUnrolledSize + 1 : n; }
std::uint64_t capped_product(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > kMaxUnrolledSize / b ? kMaxUnrolledSize + 1 : capped(a * b);
}

struct PatternTranslation {
  std::string expression;  // vectorscan's syntax
  std::string problem;     // why the pattern cannot be used; empty when it can
};

// "{n}", "{n,}", "{n,m}" at `at`: the largest count, and where it ends. A
// brace that opens no such quantifier is a literal, in ECMA-262 and PCRE alike.
bool read_repeat_count(const std::string& pattern, std::size_t at, std::uint64_t* count, std::size_t* end) {
  std::size_t i = at + 1;
  const auto number = [&](std::uint64_t* value) {
    const std::size_t first = i;
    *value = 0;
    for (; i < pattern.size() && pattern[i] >= '0' && pattern[i] <= '9'; ++i) {
      *value = capped(*value * 10 + static_cast<std::uint64_t>(pattern[i] - '0'));
    }
    return i > first;
  };
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  if (!number(&low)) return false;
  bool unbounded = false;
  if (i < pattern.size() && pattern[i] == ',') {
    ++i;
    unbounded = !number(&high);
  } else {
    high = low;
  }
  if (i >= pattern.size() || pattern[i] != '}') return false;
  *count = unbounded ? low + 1 : high;  // {n,} unrolls n copies and a loop
  *end = i;
  return true;
}

// A pattern as JSON Schema writes it (ECMA-262) in vectorscan's PCRE syntax.
// Where the two read the same text differently, ECMA-262's meaning is kept:
// `$` is the end of the text (PCRE's `$` also matches before a final newline,
// so "^[a-z]+$" would accept "abc\n"), `[]` matches nothing and `[^]` any
// character, a `[` inside a class is a literal (PCRE reads "[:alpha:]" as a
// POSIX class). The same walk counts what the pattern unrolls to.
PatternTranslation to_vectorscan(const std::string& pattern) {
  PatternTranslation out;
  if (pattern.size() > kMaxPatternBytes) {
    out.problem = "longer than " + std::to_string(kMaxPatternBytes) + " bytes";
    return out;
  }
  std::string& expr = out.expression;
  const auto emit = [&expr](char c) {
    if (c == '\0') {
      expr += "\\x00";  // hs_compile reads a C string
    } else {
      expr += c;
    }
  };
  // Per open group: its size so far (alternatives add up) and the size of
  // its last atom, which a quantifier multiplies.
  struct Group {
    std::uint64_t size = 0;
    std::uint64_t last = 0;
  };
  std::vector<Group> groups(1);
  const auto atom = [&groups](std::uint64_t size) {
    groups.back().last = size;
    groups.back().size = capped(groups.back().size + size);
  };
  const std::size_t n = pattern.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char c = pattern[i];
    if (c == '\\') {
      emit(c);
      if (i + 1 < n) emit(pattern[++i]);
      atom(1);
    } else if (c == '[') {
      std::size_t j = i + 1;
      const bool negated = j < n && pattern[j] == '^';
      if (negated) ++j;
      if (j < n && pattern[j] == ']') {
        if (!negated) {
          out.problem = "the empty class [] never matches";
          return out;
        }
        expr += "[\\s\\S]";
      } else {
        expr += negated ? "[^" : "[";
        for (; j < n && pattern[j] != ']'; ++j) {
          if (pattern[j] == '\\' && j + 1 < n) {
            emit('\\');
            emit(pattern[++j]);
          } else if (pattern[j] == '[') {
            expr += "\\[";
          } else {
            emit(pattern[j]);
          }
        }
        if (j < n) expr += ']';  // unterminated: vectorscan says so
      }
      i = j;
      atom(1);
    } else if (c == '$') {
      expr += "\\z";
      atom(0);
    } else if (c == '^') {
      emit(c);
      atom(0);
    } else if (c == '(') {
      emit(c);
      groups.emplace_back();
    } else if (c == ')') {
      emit(c);
      if (groups.size() > 1) {
        const std::uint64_t size = groups.back().size;
        groups.pop_back();
        atom(size);
      }
    } else if (c == '{') {
      std::uint64_t count = 0;
      std::size_t end = 0;
      if (read_repeat_count(pattern, i, &count, &end)) {
        expr.append(pattern, i, end - i + 1);
        Group& group = groups.back();
        const std::uint64_t copies = count == 0 ? 1 : count;
        group.size = capped(group.size + capped_product(group.last, copies - 1));
        group.last = capped_product(group.last, copies);
        i = end;
      } else {
        emit(c);
        atom(1);
      }
    } else {
      // '*', '+', '?' and '|' cost nothing: a loop is not unrolled, and
      // alternatives add up as their atoms come.
      emit(c);
      if (c != '*' && c != '+' && c != '?' && c != '|') atom(1);
    }
    for (const auto& group : groups) {
      if (group.size > kMaxUnrolledSize) {
        out.problem = "its bounded repeats ({n,m}) unroll to more than " + std::to_string(kMaxUnrolledSize) +
                      " characters, too many to compile quickly";
        return out;
      }
    }
  }
  return out;
}

// vectorscan is loaded when a pattern is first checked, as libpq is when a
// command first connects: linked into the host, the relocations of its tables
// cost every command's start ~10 % (--version 1.18x a bare loader, 1.08x
// without it), and only a schema with a pattern needs it.
struct Vectorscan {
  decltype(&::hs_compile) compile;
  decltype(&::hs_free_compile_error) free_compile_error;
  decltype(&::hs_free_database) free_database;
  decltype(&::hs_expression_info) expression_info;
  decltype(&::hs_alloc_scratch) alloc_scratch;
  decltype(&::hs_free_scratch) free_scratch;
  decltype(&::hs_scan) scan;
};

const Vectorscan& vectorscan() {
  static const Vectorscan api = [] {
    void* handle = ::dlopen("libhs.so.5", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw HostError(kExitRunFailed, "cannot load libhs.so.5: install the libvectorscan5 package");
    const auto fail = [](const std::string& message) { throw HostError(kExitRunFailed, message); };
    Vectorscan v{};
    resolve_symbol(handle, "libhs.so.5", "hs_compile", v.compile, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_free_compile_error", v.free_compile_error, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_free_database", v.free_database, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_expression_info", v.expression_info, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_alloc_scratch", v.alloc_scratch, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_free_scratch", v.free_scratch, fail);
    resolve_symbol(handle, "libhs.so.5", "hs_scan", v.scan, fail);
    return v;
  }();
  return api;
}

std::string vectorscan_problem(const hs_compile_error_t* error) {
  std::string message = error != nullptr && error->message != nullptr ? error->message : "not a valid pattern";
  if (!message.empty() && message.back() == '.') message.pop_back();
  return message + kEngineHint;
}

std::string pattern_error(const std::string& pattern, const std::string& problem) {
  return "pattern '" + printable(pattern, 100) + "' is not a valid regular expression here: " + problem;
}

struct CompiledPattern {
  std::unique_ptr<hs_database_t, decltype(&hs_free_database)> database{nullptr, vectorscan().free_database};
  std::string problem;
};

std::shared_ptr<const CompiledPattern> compile_pattern(const std::string& pattern) {
  auto compiled = std::make_shared<CompiledPattern>();
  const PatternTranslation translation = to_vectorscan(pattern);
  if (!translation.problem.empty()) {
    compiled->problem = translation.problem;
    return compiled;
  }
  hs_database_t* database = nullptr;
  hs_compile_error_t* error = nullptr;
  if (vectorscan().compile(translation.expression.c_str(), kPatternFlags, HS_MODE_BLOCK, nullptr, &database, &error) != HS_SUCCESS) {
    compiled->problem = vectorscan_problem(error);
    vectorscan().free_compile_error(error);
    return compiled;
  }
  compiled->database.reset(database);
  return compiled;
}

// Each pattern is compiled once per process: patternProperties match every
// key of a value, and each message naming a parameter looks its schema up
// again. A pattern that cannot be compiled is remembered as such.
std::shared_ptr<const CompiledPattern> cached_pattern(const std::string& pattern) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const CompiledPattern>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto found = cache.find(pattern); found != cache.end()) return found->second;
  if (cache.size() >= kMaxCachedPatterns) cache.clear();
  return cache.emplace(pattern, compile_pattern(pattern)).first->second;
}

const CompiledPattern& usable(const std::shared_ptr<const CompiledPattern>& compiled, const std::string& pattern) {
  if (!compiled->problem.empty()) throw usage_error(pattern_error(pattern, compiled->problem));
  return *compiled;
}

int stop_at_first_match(unsigned int, unsigned long long, unsigned long long, unsigned int, void* found) {
  *static_cast<bool*>(found) = true;
  return 1;
}

}  // namespace

std::string schema_pattern_problem(const std::string& pattern) {
  const PatternTranslation translation = to_vectorscan(pattern);
  if (!translation.problem.empty()) return translation.problem;
  hs_expr_info_t* info = nullptr;
  hs_compile_error_t* error = nullptr;
  if (vectorscan().expression_info(translation.expression.c_str(), kPatternFlags, &info, &error) != HS_SUCCESS) {
    std::string problem = vectorscan_problem(error);
    vectorscan().free_compile_error(error);
    return problem;
  }
  std::free(info);  // allocated by vectorscan's default allocator, malloc
  return "";
}

void compile_schema_pattern(const std::string& pattern) { usable(cached_pattern(pattern), pattern); }

bool schema_pattern_matches(const std::string& pattern, std::string_view text) {
  const auto held = cached_pattern(pattern);
  const CompiledPattern& pattern_db = usable(held, pattern);
  if (text.size() > UINT_MAX) throw usage_error(pattern_error(pattern, "the text is over 4 GiB"));
  // A scratch space per scan: one per database could not be shared between threads.
  hs_scratch_t* raw_scratch = nullptr;
  if (vectorscan().alloc_scratch(pattern_db.database.get(), &raw_scratch) != HS_SUCCESS) throw std::bad_alloc();
  const std::unique_ptr<hs_scratch_t, decltype(&hs_free_scratch)> scratch(raw_scratch, vectorscan().free_scratch);
  bool found = false;
  static const char kNothing[] = "";
  const hs_error_t status = vectorscan().scan(pattern_db.database.get(), text.empty() ? kNothing : text.data(),
                                    static_cast<unsigned int>(text.size()), 0, scratch.get(), stop_at_first_match, &found);
  if (status != HS_SUCCESS && status != HS_SCAN_TERMINATED) {
    throw usage_error(pattern_error(pattern, "vectorscan failed to scan (error " + std::to_string(status) + ")"));
  }
  return found;
}

}  // namespace dihya::host
