// SPDX-License-Identifier: AGPL-3.0-or-later
// Rules, in the order they apply to each position of the text:
//  1. a phrase from the keyword table (stacks, features), longest first;
//     "sans"/"without"/"no"/"pas de" before it (across articles) negates it
//     and every keyword joined to it by or/ni/and/et... ("sans Docker ni CI");
//  2. a name: "called|named|nommé(e)|appelé(e) X" or the first quoted text;
//  3. a resource list after "with|managing|for|avec|gérant|pour|gestion
//     des|resources:": nouns joined by commas/and/et, articles skipped, each
//     optionally followed by a field list "(total:number, status)"; a noun is
//     a word of the FR→EN lexicon or a plural-looking word (ends in s/x);
//     the list ends at the first other word or at . ; ! ?
// Words no rule used are reported as ignored (articles and connectors are not).
#include "text_spec.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <dihya/error.hpp>

#include "names.hpp"
#include "spec.hpp"

namespace generate_project {
namespace {

struct Token {
  std::string text;  // as written
  std::string key;   // lower-case ASCII (accents folded)
  bool word = false;
  bool used = false;
};

bool is_word_byte(unsigned char c) {
  return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string lower_key(const std::string& s) {
  std::string k = fold_ascii(s, '?');
  for (auto& c : k) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return k;
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    // Typographic quotes and apostrophes (UTF-8 sequences) are punctuation.
    static const char* const kMarks[] = {"\xE2\x80\x99", "\xE2\x80\x9C", "\xE2\x80\x9D", "\xC2\xAB", "\xC2\xBB"};
    bool mark = false;
    for (const char* m : kMarks) {
      const std::string_view mv(m);
      if (text.substr(i, mv.size()) == mv) {
        tokens.push_back({std::string(mv), mv == "\xE2\x80\x99" ? "'" : "\"", false, false});
        i += mv.size();
        mark = true;
        break;
      }
    }
    if (mark) continue;
    if (is_word_byte(c)) {
      std::size_t j = i;
      // '-', '.' and '/' join words only between word characters: front-end, node.js, ci/cd.
      while (j < text.size()) {
        const auto d = static_cast<unsigned char>(text[j]);
        if (is_word_byte(d)) {
          if (d >= 0x80 && text.substr(j, 3) == "\xE2\x80\x99") break;
          if (d >= 0x80 && (text.substr(j, 3) == "\xE2\x80\x9C" || text.substr(j, 3) == "\xE2\x80\x9D" ||
                            text.substr(j, 2) == "\xC2\xAB" || text.substr(j, 2) == "\xC2\xBB")) {
            break;
          }
          ++j;
        } else if ((d == '-' || d == '.' || d == '/') && j + 1 < text.size() &&
                   is_word_byte(static_cast<unsigned char>(text[j + 1])) && j > i) {
          ++j;
        } else {
          break;
        }
      }
      const std::string w(text.substr(i, j - i));
      tokens.push_back({w, lower_key(w), true, false});
      i = j;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    const std::string p(1, static_cast<char>(c));
    tokens.push_back({p, c == '\'' || c == '`' ? "'" : c == '"' ? "\"" : p, false, false});
    ++i;
  }
  return tokens;
}

struct Phrase {
  std::vector<std::string> words;
  const char* kind;   // stack | feature
  const char* value;  // flask... | auth, postgresql, sqlite, database, admin, docker, kubernetes, ci
};

const std::vector<Phrase>& phrases() {
  static const std::vector<Phrase> kPhrases = {
      {{"flask"}, "stack", "flask"},
      {{"express"}, "stack", "express"}, {{"expressjs"}, "stack", "express"}, {{"express.js"}, "stack", "express"},
      {{"node"}, "stack", "express"}, {{"nodejs"}, "stack", "express"}, {{"node.js"}, "stack", "express"},
      {{"spa"}, "stack", "spa"}, {{"frontend"}, "stack", "spa"}, {{"front-end"}, "stack", "spa"},
      {{"front", "end"}, "stack", "spa"}, {{"single-page"}, "stack", "spa"}, {{"single", "page"}, "stack", "spa"},
      {{"interface", "web"}, "stack", "spa"}, {{"web", "interface"}, "stack", "spa"},
      {{"ai"}, "stack", "ai"}, {{"ia"}, "stack", "ai"}, {{"ml"}, "stack", "ai"},
      {{"intelligence", "artificielle"}, "stack", "ai"}, {{"artificial", "intelligence"}, "stack", "ai"},
      {{"machine", "learning"}, "stack", "ai"}, {{"apprentissage", "automatique"}, "stack", "ai"},
      {{"solidity"}, "stack", "solidity"}, {{"blockchain"}, "stack", "solidity"}, {{"ethereum"}, "stack", "solidity"},
      {{"smart", "contract"}, "stack", "solidity"}, {{"smart", "contracts"}, "stack", "solidity"},
      {{"smart-contract"}, "stack", "solidity"}, {{"smart-contracts"}, "stack", "solidity"},
      {{"contrat", "intelligent"}, "stack", "solidity"}, {{"contrats", "intelligents"}, "stack", "solidity"},
      {{"jwt"}, "feature", "auth"}, {{"authentification"}, "feature", "auth"},
      {{"authentication"}, "feature", "auth"}, {{"auth"}, "feature", "auth"}, {{"login"}, "feature", "auth"},
      {{"connexion"}, "feature", "auth"},
      {{"postgresql"}, "feature", "postgresql"}, {{"postgres"}, "feature", "postgresql"},
      {{"sqlite"}, "feature", "sqlite"}, {{"sqlite3"}, "feature", "sqlite"},
      {{"database"}, "feature", "database"}, {{"base", "de", "donnees"}, "feature", "database"},
      {{"bdd"}, "feature", "database"},
      {{"admin"}, "feature", "admin"}, {{"administration"}, "feature", "admin"},
      {{"back-office"}, "feature", "admin"}, {{"backoffice"}, "feature", "admin"},
      {{"back", "office"}, "feature", "admin"},
      {{"docker"}, "feature", "docker"}, {{"dockerfile"}, "feature", "docker"},
      {{"docker-compose"}, "feature", "docker"}, {{"conteneur"}, "feature", "docker"},
      {{"conteneurs"}, "feature", "docker"}, {{"container"}, "feature", "docker"},
      {{"containers"}, "feature", "docker"},
      {{"kubernetes"}, "feature", "kubernetes"}, {{"k8s"}, "feature", "kubernetes"},
      {{"ci"}, "feature", "ci"}, {{"ci/cd"}, "feature", "ci"}, {{"github", "actions"}, "feature", "ci"},
      {{"integration", "continue"}, "feature", "ci"}, {{"continuous", "integration"}, "feature", "ci"},
  };
  return kPhrases;
}

// French (and a few English) nouns for resources → English plural.
const std::map<std::string, std::string>& resource_lexicon() {
  static const std::map<std::string, std::string> kLexicon = {
      {"utilisateur", "users"}, {"utilisateurs", "users"}, {"produit", "products"}, {"produits", "products"},
      {"commande", "orders"}, {"commandes", "orders"}, {"client", "customers"}, {"clients", "customers"},
      {"article", "articles"}, {"articles", "articles"}, {"categorie", "categories"},
      {"categories", "categories"}, {"commentaire", "comments"}, {"commentaires", "comments"},
      {"facture", "invoices"}, {"factures", "invoices"}, {"paiement", "payments"}, {"paiements", "payments"},
      {"fournisseur", "suppliers"}, {"fournisseurs", "suppliers"}, {"employe", "employees"},
      {"employes", "employees"}, {"tache", "tasks"}, {"taches", "tasks"}, {"projet", "projects"},
      {"projets", "projects"}, {"livre", "books"}, {"livres", "books"}, {"auteur", "authors"},
      {"auteurs", "authors"}, {"message", "messages"}, {"messages", "messages"}, {"evenement", "events"},
      {"evenements", "events"}, {"reservation", "bookings"}, {"reservations", "bookings"},
      {"avis", "reviews"}, {"etiquette", "tags"}, {"etiquettes", "tags"}, {"fichier", "files"},
      {"fichiers", "files"}, {"equipe", "teams"}, {"equipes", "teams"}, {"etudiant", "students"},
      {"etudiants", "students"}, {"cours", "courses"}, {"vehicule", "vehicles"}, {"vehicules", "vehicles"},
      {"patient", "patients"}, {"patients", "patients"}, {"medecin", "doctors"}, {"medecins", "doctors"},
      {"rendez-vous", "appointments"}, {"stock", "stocks"}, {"magasin", "stores"}, {"magasins", "stores"},
      {"panier", "carts"}, {"paniers", "carts"}, {"user", "users"}, {"product", "products"},
      {"order", "orders"}, {"customer", "customers"}, {"post", "posts"}, {"comment", "comments"},
      {"category", "categories"}, {"task", "tasks"}, {"book", "books"}, {"author", "authors"},
      {"invoice", "invoices"}, {"event", "events"}, {"team", "teams"}, {"student", "students"}};
  return kLexicon;
}

const std::map<std::string, std::string>& field_lexicon() {
  static const std::map<std::string, std::string> kFields = {
      {"prix", "price"},      {"nom", "name"},           {"titre", "title"},     {"statut", "status"},
      {"etat", "status"},     {"quantite", "quantity"},  {"courriel", "email"},  {"actif", "active"},
      {"montant", "amount"},  {"adresse", "address"},    {"telephone", "phone"}, {"ville", "city"},
      {"pays", "country"},    {"contenu", "content"},    {"auteur", "author"},   {"prenom", "first_name"},
      {"poids", "weight"},    {"couleur", "color"},      {"taille", "size"},     {"date", "date"},
      {"description", "description"}, {"publie", "published"}, {"note", "rating"}};
  return kFields;
}

const std::set<std::string>& connectors() {
  static const std::set<std::string> kWords = {
      "a", "an", "the", "some", "and", "or", "of", "with", "for", "to", "in", "on", "its", "their", "also",
      "as", "by", "using", "plus", "un", "une", "des", "les", "le", "la", "l", "d", "de", "du", "et", "ou",
      "avec", "pour", "en", "sur", "leurs", "aussi", "au", "aux", "par", "via", "that", "which", "qui", "et/ou",
      "&", "is", "est", "it", "il", "elle", "ses", "son", "sa"};
  return kWords;
}

const std::set<std::string>& list_triggers() {
  static const std::set<std::string> kWords = {"with", "managing", "manages", "manage", "for", "handling",
                                               "resources", "entities", "avec", "gerant", "gere", "gerer",
                                               "pour", "ressources", "entites", "gestion", "management"};
  return kWords;
}

// Plural-looking words that are never resources.
const std::set<std::string>& not_nouns() {
  static const std::set<std::string> kWords = {
      "tests", "routes", "endpoints", "fields", "champs", "features", "fonctionnalites", "options", "services",
      "tables", "apis", "things", "choses", "resources", "ressources", "entities", "entites", "uses", "needs",
      "supports", "includes", "contains", "allows", "lets", "runs", "works", "this", "thus", "tous", "toutes",
      "les", "des", "mes", "tes", "ses", "nos", "vos", "leurs", "dans", "sous", "sans", "tres", "plusieurs",
      "quelques", "autres", "others", "apres", "depuis", "alors", "mais", "jamais", "toujours", "has", "was",
      "does", "is", "its", "plus", "pas", "aux", "was", "yes", "always", "various", "etc", "simples", "basics",
      "deployments", "scripts", "tokens", "nous", "vous", "puis", "moins", "besides", "across", "unless", "perhaps", "towards", "sometimes", "afterwards", "thanks", "merci", "details", "details", "etc", "versus", "bonus", "focus", "jwts", "containers", "conteneurs"};
  return kWords;
}

const std::set<std::string>& kind_words() {
  static const std::set<std::string> kWords = {"api", "apis", "rest", "restful", "application", "app",
                                               "project", "projet", "backend", "back-end", "service", "web"};
  return kWords;
}

const std::set<std::string>& negations() {
  static const std::set<std::string> kWords = {"sans", "without", "no", "not", "pas", "aucun", "aucune", "except",
                                               "neither"};
  return kWords;
}

// What a negation reaches across to the keyword it governs ("without a
// database", "pas d'authentification") and what joins the next keywords it
// also governs ("sans Docker ni Kubernetes", "without Docker or CI"). Any other
// word or punctuation ends it, so "without Docker, use CI" keeps CI.
const std::set<std::string>& negation_links() {
  static const std::set<std::string> kWords = {"a",  "an", "any", "the", "de", "d",  "du", "des", "un", "une",
                                               "le", "la", "les", "l",  "'",  "or", "nor", "ni", "ou", "and",
                                               "et", "et/ou", "&"};
  return kWords;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  TextSpec run(std::string_view text) {
    detect_language();
    for (std::size_t i = 0; i < t_.size();) i = step(i);
    return finish(text);
  }

 private:
  bool is_word(std::size_t i) const { return i < t_.size() && t_[i].word; }
  bool is_punct(std::size_t i, const char* p) const { return i < t_.size() && !t_[i].word && t_[i].key == p; }
  bool sentence_end(std::size_t i) const {
    return i < t_.size() && !t_[i].word && (t_[i].key == "." || t_[i].key == ";" || t_[i].key == "!" || t_[i].key == "?");
  }

  void note(const std::string& rule, std::size_t from, std::size_t to, const nlohmann::json& value) {
    std::string words;
    for (std::size_t k = from; k < to && k < t_.size(); ++k) {
      t_[k].used = true;
      if (!words.empty() && t_[k].word && (k == 0 || t_[k - 1].word)) words.push_back(' ');
      words += t_[k].text;
    }
    understood_.push_back({{"rule", rule}, {"words", words}, {"value", value}});
  }

  void detect_language() {
    static const std::set<std::string> kFr = {"une", "des", "avec", "et", "les", "pour", "de", "du", "la", "le", "sans"};
    static const std::set<std::string> kEn = {"a", "an", "with", "and", "the", "for", "of", "without", "some"};
    int fr = 0, en = 0;
    for (const auto& t : t_) {
      fr += kFr.count(t.key) > 0;
      en += kEn.count(t.key) > 0;
    }
    language_ = fr > en ? "fr" : "en";
  }

  // The longest keyword phrase starting at i: its length, 0 when none.
  std::size_t match_phrase(std::size_t i, const Phrase** found) const {
    std::size_t best = 0;
    for (const auto& p : phrases()) {
      if (p.words.size() <= best) continue;
      bool ok = true;
      for (std::size_t k = 0; k < p.words.size() && ok; ++k) ok = is_word(i + k) && t_[i + k].key == p.words[k];
      if (ok) {
        best = p.words.size();
        *found = &p;
      }
    }
    return best;
  }

  // "sans Docker", "without a database", "pas d'auth"; and a keyword joined to
  // a negated one stays negated: "no JWT authentication", "without Docker
  // containers", "sans Docker ni Kubernetes".
  bool negated_before(std::size_t i, std::size_t* from) const {
    std::size_t k = i;
    while (k > 0 && negation_links().count(t_[k - 1].key)) --k;
    if (k > 0 && t_[k - 1].word && negations().count(t_[k - 1].key)) {
      *from = k - 1;
      return true;
    }
    if (k > 0 && k == negated_end_) {
      *from = k;
      return true;
    }
    return false;
  }

  std::size_t apply_phrase(std::size_t i, std::size_t len, const Phrase& p) {
    std::size_t from = i;
    const bool negative = negated_before(i, &from);
    const std::string value = p.value;
    if (std::string(p.kind) == "stack") {
      if (negative) excluded_stacks_.insert(value); else stacks_.insert(value);
    } else if (value == "postgresql" || value == "sqlite" || value == "database") {
      if (negative) database_ = "none";
      else if (value != "database" || database_ == "none") database_ = value == "database" ? "sqlite" : value;
    } else {
      features_[value] = !negative;
    }
    nlohmann::json shown;
    const bool db = value == "postgresql" || value == "sqlite" || value == "database";
    if (std::string(p.kind) == "stack") {
      shown = negative ? "not " + value : value;
    } else if (db) {
      shown = {{"database", negative ? "none" : value == "database" ? "sqlite" : value}};
    } else {
      shown = {{value, !negative}};
    }
    note(negative ? "negation" : p.kind, from, i + len, shown);
    if (negative) negated_end_ = i + len;
    return i + len;
  }

  std::size_t step(std::size_t i) {
    if (!t_[i].word) {
      if (t_[i].key == "\"" && name_.empty()) return quoted_name(i);
      return i + 1;
    }
    const Phrase* p = nullptr;
    if (const std::size_t len = match_phrase(i, &p)) return apply_phrase(i, len, *p);
    const std::string& k = t_[i].key;
    if (k == "called" || k == "named" || k == "nommee" || k == "nomme" || k == "appelee" || k == "appele" ||
        k == "intitulee" || k == "intitule" || ((k == "name" || k == "nom") && is_punct(i + 1, ":"))) {
      return name_rule(i);
    }
    if (kind_words().count(k)) {
      note("kind", i, i + 1, k == "rest" || k == "restful" ? "rest" : "api");
      return i + 1;
    }
    if (list_triggers().count(k)) return resource_list(i + 1, i);
    return i + 1;
  }

  std::size_t quoted_name(std::size_t i) {
    std::size_t j = i + 1;
    std::string name;
    while (j < t_.size() && !(t_[j].key == "\"" && !t_[j].word)) {
      if (!name.empty() && t_[j].word && t_[j - 1].word) name.push_back(' ');
      name += t_[j].text;
      ++j;
    }
    if (j >= t_.size() || name.empty()) return i + 1;
    name_ = name;
    note("name", i, j + 1, name_);
    return j + 1;
  }

  std::size_t name_rule(std::size_t i) {
    std::size_t j = i + 1;
    if (is_punct(j, ":")) ++j;
    if (j < t_.size() && !t_[j].word && t_[j].key == "\"") {
      const std::size_t end = quoted_name(j);
      if (!name_.empty()) {
        t_[i].used = true;
        if (is_punct(i + 1, ":")) t_[i + 1].used = true;
      }
      return end;
    }
    if (is_word(j)) {
      name_ = t_[j].text;
      note("name", i, j + 1, name_);
      return j + 1;
    }
    return i + 1;
  }

  bool noun_candidate(std::size_t i) const {
    if (!is_word(i)) return false;
    const std::string& k = t_[i].key;
    if (resource_lexicon().count(k)) return true;
    if (is_punct(i + 1, "(")) return true;
    if (k.find_first_of("?/.") != std::string::npos) return false;
    if (not_nouns().count(k) || connectors().count(k) || kind_words().count(k)) return false;
    return k.size() >= 4 && (looks_plural(k) || (k.back() == 'x' && language_ == "fr"));
  }

  std::size_t resource_list(std::size_t i, std::size_t trigger) {
    t_[trigger].used = true;
    while (i < t_.size() && !sentence_end(i)) {
      if (!t_[i].word) {
        if (t_[i].key == "," || t_[i].key == "&" || t_[i].key == ":" || t_[i].key == "'") {
          t_[i].used = true;
          ++i;
          continue;
        }
        break;
      }
      const Phrase* p = nullptr;
      if (const std::size_t len = match_phrase(i, &p)) {
        i = apply_phrase(i, len, *p);
        continue;
      }
      const std::string& k = t_[i].key;
      if (connectors().count(k) || negations().count(k)) {
        ++i;
        continue;
      }
      if (!noun_candidate(i)) break;
      i = resource(i);
    }
    return i;
  }

  std::size_t resource(std::size_t i) {
    const std::string& k = t_[i].key;
    const auto lex = resource_lexicon().find(k);
    std::string name = lex != resource_lexicon().end() ? lex->second : k;
    nlohmann::json r = {{"name", name}};
    const std::size_t start = i;
    ++i;
    if (is_punct(i, "(")) {
      nlohmann::json fields = nlohmann::json::array();
      i = field_list(i + 1, fields);
      if (!fields.empty()) r["fields"] = fields;
    }
    // The same noun twice ("users ... users") is one resource.
    for (const auto& existing : resources_) {
      if (existing["name"] == name) {
        note("resource (again)", start, i, name);
        return i;
      }
    }
    if (resources_.size() < kMaxResources) resources_.push_back(r);
    note("resource", start, i, r);
    return i;
  }

  std::size_t field_list(std::size_t i, nlohmann::json& fields) {
    t_[i - 1].used = true;
    std::set<std::string> seen;
    while (i < t_.size() && !is_punct(i, ")") && !sentence_end(i)) {
      if (!t_[i].word) {
        if (t_[i].key == ",") t_[i].used = true;
        ++i;
        continue;
      }
      const std::string& k = t_[i].key;
      if (k == "and" || k == "et") {
        t_[i].used = true;
        ++i;
        continue;
      }
      const std::size_t start = i;
      const auto lex = field_lexicon().find(k);
      const std::string name = lex != field_lexicon().end() ? lex->second : k;
      ++i;
      std::string type;
      if (is_punct(i, ":") && is_word(i + 1)) {
        type = field_type_from_word(t_[i + 1].key);
        if (!type.empty()) i += 2;
      } else if (is_word(i) && !field_type_from_word(t_[i].key).empty() && !is_punct(i + 1, ":")) {
        type = field_type_from_word(t_[i].key);
        ++i;
      }
      if (name == "id" || name.find_first_of("/.") != std::string::npos || !seen.insert(name).second ||
          fields.size() >= kMaxFields) {
        continue;  // left unused: reported as ignored
      }
      nlohmann::json f = {{"name", name}};
      if (!type.empty()) f["type"] = type;
      fields.push_back(f);
      note("field", start, i, f);
    }
    if (is_punct(i, ")")) {
      t_[i].used = true;
      ++i;
    }
    return i;
  }

  TextSpec finish(std::string_view text) {
    TextSpec out;
    out.language = language_;
    std::vector<std::string> stacks;
    for (const auto& s : known_stacks()) {
      if (stacks_.count(s) && !excluded_stacks_.count(s)) stacks.push_back(s);
    }
    if (stacks.empty()) {
      stacks.push_back("flask");
      understood_.push_back({{"rule", "default"}, {"words", ""}, {"value", "no stack named: flask"}});
    }
    if (name_.empty()) {
      name_ = language_ == "fr" ? "Mon projet" : "My project";
      understood_.push_back({{"rule", "default"}, {"words", ""}, {"value", "no name given: " + name_}});
    }
    nlohmann::json features = {{"auth", features_.count("auth") && features_["auth"] ? "jwt" : "none"},
                               {"database", database_}};
    for (const char* f : {"admin", "docker", "ci", "kubernetes"}) features[f] = features_.count(f) && features_[f];
    out.spec = {{"name", utf8_prefix(name_, 200)},
                {"description", utf8_prefix(clean_text(text), 500)},
                {"stacks", stacks},
                {"features", features},
                {"resources", resources_}};
    out.understood = understood_;
    for (const auto& t : t_) {
      if (t.word && !t.used && !connectors().count(t.key)) out.ignored.push_back(t.text);
    }
    return out;
  }

  std::vector<Token> t_;
  std::string language_ = "en";
  std::string name_;
  std::set<std::string> stacks_, excluded_stacks_;
  std::map<std::string, bool> features_;
  std::string database_ = "none";
  std::size_t negated_end_ = 0;  // just past the last negated keyword
  nlohmann::json resources_ = nlohmann::json::array();
  nlohmann::json understood_ = nlohmann::json::array();
};

}  // namespace

TextSpec parse_text_spec(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    throw dihya::Error("text spec: longer than " + std::to_string(kMaxTextBytes / 1024) + " KiB");
  }
  if (!valid_utf8(text)) throw dihya::Error("text spec: not valid UTF-8");
  if (text.find('\0') != std::string_view::npos) throw dihya::Error("text spec: holds a NUL character");
  auto tokens = tokenize(text);
  if (std::none_of(tokens.begin(), tokens.end(), [](const Token& t) { return t.word; })) {
    throw dihya::Error("text spec: no words to understand");
  }
  return Parser(std::move(tokens)).run(text);
}

}  // namespace generate_project
