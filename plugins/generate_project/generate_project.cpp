// SPDX-License-Identifier: AGPL-3.0-or-later
// generate_project: spec (YAML/JSON file, plain text, or audio transcribed to
// text) → normalised spec → templates (database or bundled) → files rendered
// in memory → written into a new directory with every step journaled.
// validate() runs the whole pipeline except the writing, so every refusal
// (hostile spec, unknown template, collision, non-empty target) is exit 2
// with nothing written; run() redoes it (it is deterministic) and writes.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <dihya/plugin.hpp>
#include <dihya/template_format.hpp>
#include <dihya/template_store.hpp>
#include <dihya/yaml_file.hpp>

#include "bundled.hpp"
#include "names.hpp"
#include "output.hpp"
#include "render.hpp"
#include "spec.hpp"
#include "text_spec.hpp"

namespace generate_project {
namespace fs = std::filesystem;
namespace {

// An error tied to the parameter it concerns, so validate() can name it.
struct ParamError : dihya::Error {
  ParamError(std::string param, const std::string& message) : dihya::Error(message), field(std::move(param)) {}
  std::string field;
};

std::string read_small_file(const std::string& path, std::size_t limit, const std::string& param) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ParamError(param, path + ": not a readable file");
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw ParamError(param, path + ": cannot be read: " + ec.message());
  if (size > limit) throw ParamError(param, path + ": larger than " + std::to_string(limit / 1024) + " KiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ParamError(param, path + ": cannot be read");
  // One byte more than announced: a file that grew meanwhile is noticed.
  std::string text(static_cast<std::size_t>(size) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw ParamError(param, path + ": changed while being read");
  text.resize(static_cast<std::size_t>(size));
  return text;
}

// Runs argv (no shell) and returns its standard output (at most 64 KiB).
std::string run_capture(const std::vector<std::string>& argv, const std::string& param) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw ParamError(param, std::string("pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) throw ParamError(param, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::dup2(fds[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < kMaxTextBytes) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw ParamError(param, argv[0] + " failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")");
  }
  return out;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((fs::path(dir) / program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// pocketsphinx 0.8 ships pocketsphinx_continuous; 5.x (Debian 13) a single
// `pocketsphinx` command printing JSON lines {"t": text}.
std::string transcribe(const std::string& wav) {
  std::error_code ec;
  if (!fs::is_regular_file(wav, ec)) throw ParamError("audio", wav + ": not a readable file");
  if (on_path("pocketsphinx_continuous")) {
    return run_capture({"pocketsphinx_continuous", "-infile", wav, "-logfn", "/dev/null"}, "audio");
  }
  if (on_path("pocketsphinx")) {
    std::string text;
    std::istringstream lines(run_capture({"pocketsphinx", "single", wav}, "audio"));
    std::string line;
    while (std::getline(lines, line)) {
      try {
        const auto j = nlohmann::json::parse(line);
        if (j.contains("t") && j["t"].is_string()) text += (text.empty() ? "" : " ") + j["t"].get<std::string>();
      } catch (const nlohmann::json::exception&) {
      }
    }
    return text;
  }
  throw ParamError("audio", "pocketsphinx is not installed (apt-get install pocketsphinx pocketsphinx-en-us); give the text with text= instead");
}

struct Loaded {
  Spec spec;
  std::string input;       // spec, text, text_file, audio
  std::string language;
  nlohmann::json understood = nlohmann::json::array();
  nlohmann::json ignored = nlohmann::json::array();
  std::string transcript;
};

Loaded load_spec(const dihya::Params& params) {
  std::vector<std::string> given;
  for (const char* key : {"spec", "text", "text_file", "audio"}) {
    if (params.has(key)) given.push_back(key);
  }
  if (given.size() != 1) throw ParamError("spec", "give exactly one of spec, text, text_file or audio");
  Loaded loaded;
  loaded.input = given.front();
  const std::string& input = loaded.input;
  if (input == "spec") {
    const std::string path = params.get<std::string>("spec");
    nlohmann::json doc;
    try {
      const std::string text = read_small_file(path, 4u << 20, "spec");
      const auto first = text.find_first_not_of(" \t\r\n");
      const bool json_name = path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0;
      if (json_name || (first != std::string::npos && text[first] == '{')) {
        doc = parse_json_limited(text, kMaxSpecDepth);
      } else {
        // yaml-cpp would guess UTF-16/32 from NUL bytes: plain UTF-8 only.
        if (!valid_utf8(text)) throw dihya::Error("not valid UTF-8");
        if (text.find('\0') != std::string::npos) throw dihya::Error("holds a NUL byte");
        doc = dihya::load_yaml_text(text, path);
      }
      loaded.spec = normalize_spec(doc);
    } catch (const ParamError&) {
      throw;
    } catch (const dihya::Error& e) {
      const std::string what = e.what();
      throw ParamError("spec", what.rfind(path, 0) == 0 ? what : path + ": " + what);
    }
    return loaded;
  }
  std::string text;
  if (input == "text") text = params.get<std::string>("text");
  if (input == "text_file") text = read_small_file(params.get<std::string>("text_file"), kMaxTextBytes, "text_file");
  if (input == "audio") {
    text = transcribe(params.get<std::string>("audio"));
    loaded.transcript = text;
    if (clean_text(text).empty()) throw ParamError("audio", "the transcription is empty");
  }
  try {
    TextSpec parsed = parse_text_spec(text);
    loaded.language = parsed.language;
    loaded.understood = parsed.understood;
    loaded.ignored = parsed.ignored;
    loaded.spec = normalize_spec(parsed.spec);
  } catch (const dihya::Error& e) {
    throw ParamError(input, e.what());
  }
  return loaded;
}

std::optional<nlohmann::json> bundled_template(const std::string& name) {
  for (const auto& t : bundled_templates()) {
    if (t.name == name) return nlohmann::json::parse(t.json);
  }
  return std::nullopt;
}

struct Choices {
  std::vector<TemplateChoice> templates;
  std::vector<std::string> notes;
};

Choices choose_templates(const Spec& spec, const std::string& from, dihya::Context& ctx) {
  Choices out;
  const auto needed = needed_templates(spec);
  std::map<std::string, dihya::templates::StoredTemplate> stored;
  if (from != "bundled") {
    if (ctx.database_url().empty()) {
      if (from == "database") throw ParamError("templates_from", "templates_from=database but no database is configured");
    } else {
      try {
        pqxx::read_transaction tx(ctx.db());
        for (const auto& [stack, name] : needed) {
          (void)stack;
          if (auto t = dihya::templates::current(tx, name)) stored.emplace(name, std::move(*t));
        }
      } catch (const std::exception& e) {
        if (from == "database") throw ParamError("templates_from", std::string("cannot read the templates: ") + e.what());
        out.notes.push_back(std::string("database not used (") + e.what() + "): bundled templates instead");
      }
    }
  }
  for (const auto& [stack, name] : needed) {
    TemplateChoice c;
    c.stack = stack;
    c.name = name;
    const auto it = stored.find(name);
    if (it != stored.end()) {
      c.doc = it->second.content;
      c.revision = it->second.version;
      c.checksum = it->second.checksum;
      c.source = "database";
    } else if (from == "database") {
      throw ParamError("templates_from", "template " + name + " (stack " + stack + ") has no current revision in the database; import it with import_templates");
    } else if (auto doc = bundled_template(name)) {
      c.doc = std::move(*doc);
      c.source = "bundled";
      c.checksum = dihya::templates::checksum(c.doc);
    } else {
      throw ParamError("spec", "no template " + name + " for stack " + stack +
                                   (from == "bundled" ? " among the bundled templates" : " in the database or among the bundled templates"));
    }
    try {
      dihya::templates::validate_template(c.doc, c.source + " template " + name);
    } catch (const dihya::Error& e) {
      throw ParamError("templates_from", e.what());
    }
    out.templates.push_back(std::move(c));
  }
  return out;
}

struct Plan {
  Loaded loaded;
  Choices choices;
  Rendering rendering;
  fs::path out;
  bool force = false;
};

Plan prepare(const dihya::Params& params, dihya::Context& ctx, const std::string& version) {
  Plan plan;
  plan.loaded = load_spec(params);
  plan.choices = choose_templates(plan.loaded.spec, params.get_or<std::string>("templates_from", "auto"), ctx);
  try {
    plan.rendering = render_project(plan.loaded.spec, plan.choices.templates, version, [&ctx] { return ctx.cancelled(); });
  } catch (const dihya::Error& e) {
    throw ParamError("spec", e.what());
  }
  plan.force = params.get_or<bool>("force", false);
  if (params.has("out")) {
    plan.out = fs::absolute(params.get<std::string>("out")).lexically_normal();
  } else {
    const fs::path base = ctx.output_dir().empty() ? fs::current_path() : ctx.output_dir();
    plan.out = base / build_context(plan.loaded.spec, version)["project"]["slug"].get<std::string>();
  }
  return plan;
}

std::string describe_spec(const Spec& s) {
  std::string text = "  name: " + s.name + "\n  stacks:";
  for (const auto& st : s.stacks) text += " " + st;
  text += "\n  features: auth=" + s.auth + " database=" + s.database;
  if (s.admin) text += " admin";
  if (s.docker) text += " docker";
  if (s.ci) text += " ci";
  if (s.kubernetes) text += " kubernetes";
  text += "\n  resources:";
  if (s.resources.empty()) text += " (none)";
  for (const auto& r : s.resources) {
    text += "\n    " + r.name + " (";
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      text += (i ? ", " : "") + r.fields[i].name + ":" + r.fields[i].type + (r.fields[i].required ? "!" : "");
    }
    text += ")";
  }
  return text + "\n";
}

std::string report_text(const Plan& plan, bool dry_run) {
  const auto& l = plan.loaded;
  std::string text = "Spec (from " + l.input + (l.language.empty() ? "" : ", " + l.language) + "):\n" + describe_spec(l.spec);
  if (!l.transcript.empty()) text += "Transcript: " + clean_text(l.transcript) + "\n";
  if (!l.understood.empty()) {
    text += "Understood:\n";
    for (const auto& u : l.understood) {
      const std::string words = u.value("words", "");
      text += "  " + u.value("rule", "") + ": " + (words.empty() ? "" : json_literal(words) + " -> ") +
              (u["value"].is_string() ? u["value"].get<std::string>() : u["value"].dump()) + "\n";
    }
  }
  if (l.input != "spec") {
    text += "Ignored words:";
    if (l.ignored.empty()) text += " (none)";
    for (const auto& w : l.ignored) text += " " + w.get<std::string>();
    text += "\n";
  }
  text += "Templates:\n";
  for (const auto& t : plan.choices.templates) {
    text += "  " + t.stack + ": " + t.name + " (" + t.source +
            (t.source == "database" ? " revision " + std::to_string(t.revision) : "") + ")\n";
  }
  for (const auto& n : plan.choices.notes) text += "  note: " + n + "\n";
  for (const auto& v : plan.rendering.ignored_variables) text += "  variable " + v + " ignored: no template declares it\n";
  text += std::string(dry_run ? "Would write " : "Wrote ") + std::to_string(plan.rendering.files.size()) + " files in " +
          plan.out.string() + ":\n";
  constexpr std::size_t kListed = 200;
  for (std::size_t i = 0; i < plan.rendering.files.size() && i < kListed; ++i) {
    text += "  " + plan.rendering.files[i].path + "\n";
  }
  if (plan.rendering.files.size() > kListed) {
    text += "  ... and " + std::to_string(plan.rendering.files.size() - kListed) + " more (--json lists them all)\n";
  }
  return text;
}

nlohmann::json result_data(const Plan& plan) {
  nlohmann::json templates = nlohmann::json::array();
  for (const auto& t : plan.choices.templates) {
    templates.push_back({{"stack", t.stack},
                         {"name", t.name},
                         {"version", t.doc.value("version", "")},
                         {"revision", t.revision},
                         {"source", t.source},
                         {"checksum", t.checksum}});
  }
  const auto& l = plan.loaded;
  return {{"spec", to_json(l.spec)},
          {"input", l.input},
          {"language", l.language},
          {"understood", l.understood},
          {"ignored", l.ignored},
          {"transcript", l.transcript},
          {"templates", templates},
          {"template_notes", plan.choices.notes},
          {"variables", plan.rendering.variables},
          {"ignored_variables", plan.rendering.ignored_variables},
          {"out", plan.out.string()}};
}

class GenerateProject final : public dihya::Plugin {
 public:
  std::vector<dihya::ValidationError> validate(const dihya::Params& params, dihya::Context& ctx) override {
    try {
      const Plan& plan = plan_for(params, ctx);
      inspect_target(plan.out, plan.rendering.files, plan.force);
    } catch (const ParamError& e) {
      return {{e.field, e.what()}};
    } catch (const dihya::Error& e) {
      return {{"out", e.what()}};
    }
    return {};
  }

  dihya::Result run(const dihya::Params& params, dihya::Context& ctx) override {
    const Plan& plan = plan_for(params, ctx);
    nlohmann::json data = result_data(plan);
    nlohmann::json files = nlohmann::json::array();
    if (ctx.dry_run()) {
      inspect_target(plan.out, plan.rendering.files, plan.force);
      for (const auto& f : plan.rendering.files) files.push_back({{"path", f.path}, {"bytes", f.content.size()}});
    } else {
      files = write_project(plan.out, plan.rendering.files, plan.force, ctx);
    }
    data["files"] = files;
    data["dry_run"] = ctx.dry_run();
    std::string summary = std::string(ctx.dry_run() ? "would generate " : "generated ") +
                          std::to_string(files.size()) + " files for " + plan.loaded.spec.name + " in " +
                          plan.out.string();
    ctx.log().info("{}", summary);
    dihya::Result result = dihya::Result::success(summary, data);
    result.report = report_text(plan, ctx.dry_run());
    return result;
  }

  dihya::Result rollback(const std::vector<dihya::UndoEntry>& newest_first, dihya::Context& ctx) override {
    return rollback_project(newest_first, ctx.log());
  }

 private:
  std::string version() const { return metadata().value("version", "0.0.0"); }

  // The host validates then runs in one process: the spec is read (or the
  // audio transcribed), the templates loaded and rendered once for both.
  const Plan& plan_for(const dihya::Params& params, dihya::Context& ctx) {
    const std::string key = params.json().dump();
    if (!prepared_ || prepared_key_ != key) {
      prepared_.reset();
      prepared_ = prepare(params, ctx, version());
      prepared_key_ = key;
    }
    return *prepared_;
  }

  std::string prepared_key_;
  std::optional<Plan> prepared_;
};

}  // namespace
}  // namespace generate_project

DIHYA_PLUGIN(generate_project::GenerateProject)
