// SPDX-License-Identifier: AGPL-3.0-or-later
// How the recogniser is built for each run (about 0.3 s, all in memory):
//  1. spoken_spec_corpus(): a few thousand sentences drawn from the spec
//     grammar below with a fixed seed; open slots are the class tokens
//     [name] and [res].
//  2. A trigram model estimated from it (absolute discounting, Katz
//     back-off), written as ARPA text into a memfd and read by sphinxbase.
//  3. The slots filled in turn from lists taken from the general English
//     model's unigrams: the kNameWords most probable content words for
//     [name], the plural-looking words among its kResourceWords most
//     probable for [res] (plus the parser's own resource nouns). This is how
//     the general model covers the open words the grammar cannot. (sphinxbase
//     class models, ngram_model_add_class, were tried first: with lists this
//     size the decoder crashed or heard slot words everywhere.)
//  4. A dictionary holding only those words (cmudict pronunciations, and
//     espeak-ng's where they differ: speech_data/espeak_lexicon.dict), plus
//     the technical words cmudict lacks, added with ps_add_word.
//  5. The acoustic model adapted to synthetic speech: its Gaussian means
//     replaced by MAP-adapted ones (speech_data/espeak_map_means, estimated
//     on ~1200 clauses said by the corpus's espeak-ng voices, none of them a
//     tuning spec, none holding a held-out spec's word), then moved by an
//     MLLR transform (speech_data/espeak_mllr_matrix: one global affine map
//     estimated on spec-like sentences, the same guard; make_speech_data.py).
//     The model's other files (mixture weights, variances...) are Debian's.
// The audio is then decoded in one call (whole-utterance normalisation, see
// below); cancellation is checked before it.
#include "speech.hpp"
#include "speech_data.hpp"

#include <pocketsphinx.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/err.h>
#include <sphinxbase/ngram_model.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include <dihya/error.hpp>
#include <dihya/file_io.hpp>

#ifndef DIHYA_POCKETSPHINX_MODELDIR
#define DIHYA_POCKETSPHINX_MODELDIR "/usr/share/pocketsphinx/model"
#endif

namespace generate_project {
namespace {

using Words = std::vector<std::string>;

// Measured on the tuning specs (tests/fixtures/generate_project/spoken_specs.tsv):
// larger lists let the open slots swallow the grammar's words, smaller ones
// miss ordinary names. With the whole-utterance normalisation and dither
// below, 3000/8000 was best: 0.76 of fields (0.74 with the fixed dither seed)
// vs 0.73 for 2000/5000 and 0.70 for 5000/15000 (1000/3000 without dither:
// 0.70). Keeping only WordNet nouns in the slots (wordnet-base) heard more
// resources but fewer names: 0.72, not kept.
constexpr std::size_t kNameWords = 3000;
constexpr std::size_t kResourceWords = 8000;
constexpr int kCorpusParagraphs = 6000;
// Little mass left for unseen n-grams: the corpus is the grammar itself, so
// what it never says is unlikely (0.7 let the slots run on: 0.57 vs 0.62;
// with whole-utterance normalisation 0.05 and 0.1 gave 0.72 and 0.74, no gain).
constexpr double kDiscount = 0.2;
// Decoder weights, measured on the tuning specs: the default language weight
// (6.5) made the decoder merge "named Shop" into one slot word; 4 with a
// higher word insertion probability (0.95 vs 0.65) kept more words and
// decoded faster (0.69 of fields vs 0.66; lw 3 gave the same). Measured
// again with whole-utterance normalisation: lw 3 and lw 6 both 0.73 vs 0.76.
// With the espeak-ng lexicon and the MLLR transform the acoustic scores are
// better and the default weight is back in front: 6.5 gave 0.82 of the
// tuning fields, 4 gave 0.81, 9 gave 0.75 (without the transform).
constexpr const char* kLanguageWeight = "6.5";
constexpr const char* kWordInsertion = "0.95";

// Gaussians scored per frame and codebook in the tied-mixture model (default
// 4): 8 heard more of the tuning specs (0.78 of fields vs 0.74; 16 gave 0.77)
// for about a sixth more CPU. Held-out specs, measured after: 0.66 vs 0.67
// with 4, so the gain is the tuning's own; kept as chosen, not re-tuned on
// the held-out set.
constexpr const char* kGaussians = "8";

// A small deterministic generator: the corpus (so the model) is the same on
// every machine, unlike std::uniform_int_distribution.
class Draw {
 public:
  std::size_t below(std::size_t n) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>((state_ >> 33) % n);
  }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }
  template <typename T>
  const T& pick(const std::vector<T>& v) { return v[below(v.size())]; }

 private:
  std::uint64_t state_ = 20;
};

void append(Words& to, const Words& from) { to.insert(to.end(), from.begin(), from.end()); }

// The spec grammar. Every phrase here must be understood by parse_text_spec
// (text_spec.cpp): the spoken path has no vocabulary of its own.
const std::vector<Words> kStacks = {
    {"flask"}, {"flask"}, {"express"}, {"express"}, {"express", "js"}, {"node", "js"}, {"node"},
    {"machine", "learning"}, {"artificial", "intelligence"}, {"ai"}, {"solidity"}, {"blockchain"},
    {"ethereum"}, {"smart", "contract"}};
const std::vector<Words> kKinds = {{"api"}, {"api"}, {"app"}, {"application"}, {"project"}, {"backend"},
                                   {"service"}, {"rest", "api"}, {"web", "app"}};
const std::vector<Words> kFrontends = {{"single", "page", "frontend"}, {"single", "page", "app"},
                                       {"single", "page", "application"}, {"frontend"}, {"front", "end"},
                                       {"web", "interface"}};
const std::vector<Words> kFeatures = {
    {"jwt", "authentication"}, {"jwt", "auth"}, {"jwt"}, {"authentication"}, {"login"}, {"postgresql"},
    {"postgres"}, {"postgresql", "database"}, {"sqlite"}, {"a", "sqlite", "database"}, {"a", "database"},
    {"docker"}, {"kubernetes"}, {"ci"}, {"continuous", "integration"}, {"github", "actions"},
    {"an", "admin", "panel"}, {"admin"}, {"docker", "compose"}};
const std::vector<Words> kFeatureLeads = {{"use"}, {"use"}, {"add"}, {"include"}, {"with"}, {"it", "uses"},
                                          {"plus"}, {"and"}, {"using"}, {"also", "add"}};

Words article_for(const Words& next) {
  static const std::set<std::string> kVowel = {"express", "ai", "api", "app", "application", "ethereum",
                                               "artificial", "admin"};
  return {kVowel.count(next.front()) ? "an" : "a"};
}

Words resource_list(Draw& d) {
  Words out;
  const std::size_t n = 1 + d.below(4);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && i + 1 == n) out.push_back("and");
    out.push_back("[res]");
  }
  return out;
}

Words intro(Draw& d) {
  Words s;
  const Words stack = d.pick(kStacks);
  const Words kind = d.pick(kKinds);
  const int shape = static_cast<int>(d.below(10));
  Words main = stack;
  append(main, kind);
  if (shape == 0) {  // "a single page frontend and an express backend ..."
    const Words fe = d.pick(kFrontends);
    append(s, article_for(fe));
    append(s, fe);
    s.push_back(d.chance(50) ? "and" : "with");
    append(s, article_for(main));
  } else {
    append(s, article_for(main));
  }
  append(s, main);
  if (d.chance(90)) {
    s.push_back(d.chance(50) ? "named" : "called");
    s.push_back("[name]");
  }
  if (d.chance(85)) {
    static const std::vector<Words> kLeads = {{"with"}, {"with"}, {"with"}, {"managing"}, {"for"}};
    append(s, d.pick(kLeads));
    append(s, resource_list(d));
  }
  if (shape == 1) {  // "... and a single page frontend"
    s.push_back(d.chance(50) ? "and" : "with");
    const Words fe = d.pick(kFrontends);
    append(s, article_for(fe));
    append(s, fe);
  }
  return s;
}

Words feature_sentence(Draw& d) {
  Words s;
  if (d.chance(20)) {
    s.push_back(d.chance(70) ? "without" : "no");
    append(s, d.pick(kFeatures));
    return s;
  }
  append(s, d.pick(kFeatureLeads));
  const std::size_t n = 1 + d.below(4);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0 && (i + 1 == n || d.chance(30))) s.push_back("and");
    append(s, d.pick(kFeatures));
  }
  return s;
}

// ---- trigram estimation -------------------------------------------------------

// The trigram model, as ARPA text. N-grams are counted as packed word ids:
// ids are given in string order and packed first word highest, so sorting
// the keys of one order sorts its n-grams as the ARPA file lists them, and
// every sum below runs in that order (the same rounding on every machine).
// About 0.05 s for the ~6600 paragraphs; a std::map keyed by word vectors
// took 0.5 s, most of a short spec's run.
std::string arpa_from_corpus(const std::vector<Words>& corpus) {
  constexpr int kBits = 21;
  constexpr std::uint64_t kMask = (std::uint64_t{1} << kBits) - 1;
  std::unordered_set<std::string_view> words = {"<s>", "</s>"};
  for (const auto& sentence : corpus) words.insert(sentence.begin(), sentence.end());
  std::vector<std::string_view> vocab(words.begin(), words.end());
  std::sort(vocab.begin(), vocab.end());
  if (vocab.size() > kMask) throw dihya::Error("speech: the spec corpus has too many words");
  std::unordered_map<std::string_view, std::uint64_t> id;
  id.reserve(vocab.size());
  for (std::size_t i = 0; i < vocab.size(); ++i) id.emplace(vocab[i], i);
  const std::uint64_t bos = id.at("<s>");
  const std::uint64_t eos = id.at("</s>");

  using Table = std::unordered_map<std::uint64_t, double>;
  Table grams[3], history_total[2], history_types[2];  // grams of order 1..3; bigram and trigram histories
  double unigram_total = 0;
  std::vector<std::uint64_t> s;
  for (const auto& sentence : corpus) {
    s.assign(1, bos);
    for (const auto& w : sentence) s.push_back(id.at(w));
    s.push_back(eos);
    for (std::size_t i = 0; i < s.size(); ++i) {
      std::uint64_t key = 0;
      for (std::size_t n = 1; n <= 3 && i + 1 >= n; ++n) {
        key |= s[i + 1 - n] << (kBits * (n - 1));  // the n-gram ending at i
        if (n == 1 && key == bos) {
          grams[0][key] += 0;
          continue;
        }
        if (n == 1) unigram_total += 1;
        if (grams[n - 1][key]++ == 0 && n > 1) history_types[n - 2][key >> kBits] += 1;
        if (n > 1) history_total[n - 2][key >> kBits] += 1;
      }
    }
  }
  std::vector<std::uint64_t> keys[3];
  for (int n = 0; n < 3; ++n) {
    keys[n].reserve(grams[n].size());
    for (const auto& entry : grams[n]) keys[n].push_back(entry.first);
    std::sort(keys[n].begin(), keys[n].end());
  }
  Table prob[3], backoff[2];
  for (std::uint64_t g : keys[0]) prob[0][g] = g == bos ? 0 : grams[0][g] / unigram_total;
  for (int order = 2; order <= 3; ++order) {
    Table seen_lower;  // sum over seen continuations of the lower-order probability
    const std::uint64_t lower_mask = (std::uint64_t{1} << (kBits * (order - 1))) - 1;
    for (std::uint64_t g : keys[order - 1]) {
      const std::uint64_t h = g >> kBits;
      prob[order - 1][g] = (grams[order - 1][g] - kDiscount) / history_total[order - 2][h];
      seen_lower[h] += prob[order - 2].at(g & lower_mask);
    }
    for (const auto& [h, total] : history_total[order - 2]) {
      const double left = kDiscount * history_types[order - 2][h] / total;
      backoff[order - 2][h] = left / std::max(1e-6, 1.0 - seen_lower[h]);
    }
  }
  std::string out;
  out.reserve(32 * (keys[0].size() + keys[1].size() + keys[2].size()) + 128);
  // As an ostream writes a double: printf's %g, six significant digits.
  const auto number = [&out](double v) {
    char buffer[32];
    const auto end = std::to_chars(buffer, buffer + sizeof buffer, v, std::chars_format::general, 6).ptr;
    out.append(buffer, end);
  };
  out += "\\data\\\n";
  for (int n = 1; n <= 3; ++n) out += "ngram " + std::to_string(n) + "=" + std::to_string(keys[n - 1].size()) + "\n";
  for (int n = 1; n <= 3; ++n) {
    out += "\n\\" + std::to_string(n) + "-grams:\n";
    for (std::uint64_t g : keys[n - 1]) {
      const double p = prob[n - 1].at(g);
      number(p > 0 ? std::log10(p) : -99.0);
      for (int k = n - 1; k >= 0; --k) {
        out += k == n - 1 ? '\t' : ' ';
        out += vocab[(g >> (kBits * k)) & kMask];
      }
      if (n < 3) {
        const auto b = backoff[n - 1].find(g);
        if (b != backoff[n - 1].end()) {
          out += '\t';
          number(std::log10(b->second));
        }
      }
      out += '\n';
    }
  }
  out += "\n\\end\\\n";
  return out;
}

// ---- the files sphinxbase reads, kept in memory --------------------------------

class MemoryFile {
 public:
  explicit MemoryFile(std::string_view content) : fd_(::memfd_create("generate_project", MFD_CLOEXEC)) {
    if (!fd_) throw dihya::Error("speech: memfd_create failed");
    if (dihya::write_all(fd_.get(), content)) throw dihya::Error("speech: cannot write the generated model");
  }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_.get()); }

 private:
  dihya::UniqueFd fd_;
};

// Pronunciations cmudict lacks or gives only as the everyday word: both the
// way people say them and the way espeak-ng does.
const std::vector<std::pair<std::string, std::string>>& technical_words() {
  static const std::vector<std::pair<std::string, std::string>> kWords = {
      {"postgres", "P OW S T G R EH S"},       {"postgres", "P OW S T G ER Z"},
      {"postgresql", "P OW S T G R EH S K Y UW EH L"}, {"postgresql", "P OW S T G R EH S K AH L"},
      {"postgresql", "P OW S T G R EH S K W AH L"},
      {"sqlite", "EH S K Y UW L AY T"},        {"sqlite", "S IY K W AH L AY T"},
      {"sqlite", "EH S K Y UW EH L AY T"},
      {"jwt", "JH EY D AH B AH L Y UW T IY"},  {"jwt", "JH EY D AH B AH Y UW T IY"},
      {"jwt", "JH EY D AH B Y UW T IY"},       {"postgresql", "P OW S T G ER EH S K Y UW EH L"},
      {"kubernetes", "K UW B ER N EH T IY Z"}, {"kubernetes", "K Y UW B ER N IY T S"},
      {"kubernetes", "K UW B ER N IY T IY Z"},
      {"ci", "S IY AY"},                       {"ci", "S AY"},
      {"js", "JH EY EH S"},                    {"ai", "EY AY"},
      {"frontend", "F R AH N T EH N D"},       {"ethereum", "IH TH IH R IY AH M"},
      {"api", "EY P IY AY"},                   {"sqlite", "S K Y UW L AY T"},
  };
  return kWords;
}

// Each word's phone strings, as views into the texts read (cmudict is kept
// here, in a vector: its buffer survives a move; espeak-ng's lexicon is static).
struct Pronunciations {
  std::vector<char> cmudict;
  std::unordered_map<std::string_view, std::vector<std::string_view>> of;
};

void read_pronunciations(std::string_view text, Pronunciations& p) {
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    const auto space = line.find(' ');
    if (space == std::string_view::npos || space == 0) continue;
    std::string_view word = line.substr(0, space);
    word = word.substr(0, word.find('('));
    std::string_view phones = line.substr(space + 1);
    phones = phones.substr(0, phones.find('#'));
    while (!phones.empty() && phones.back() == ' ') phones.remove_suffix(1);
    auto& known = p.of[word];
    if (std::find(known.begin(), known.end(), phones) == known.end()) known.push_back(phones);
  }
}

// cmudict, then espeak-ng's readings as alternatives: a word said "M AA K IH
// T" by a British voice keeps "M AA R K IH T" and gains the other.
Pronunciations read_dictionaries(const std::string& cmudict_path) {
  std::ifstream in(cmudict_path, std::ios::binary);
  if (!in) throw dihya::Error("speech: cannot read " + cmudict_path + " (apt-get install pocketsphinx-en-us)");
  Pronunciations p;
  p.cmudict.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  p.of.reserve(150000);
  read_pronunciations({p.cmudict.data(), p.cmudict.size()}, p);
  read_pronunciations(kEspeakLexicon, p);
  return p;
}

struct RankedWord {
  std::string word;
  double prob;
};

// The general model's vocabulary, most probable first.
std::vector<RankedWord> general_vocabulary(const std::string& lm_path, logmath_t* lmath) {
  ngram_model_t* general = ngram_model_read(nullptr, lm_path.c_str(), NGRAM_AUTO, lmath);
  if (general == nullptr) throw dihya::Error("speech: cannot read " + lm_path + " (apt-get install pocketsphinx-en-us)");
  std::vector<RankedWord> out;
  const auto n = static_cast<int32>(ngram_model_get_counts(general)[0]);
  out.reserve(static_cast<std::size_t>(n));
  for (int32 wid = 0; wid < n; ++wid) {
    int32 used = 0;
    const int32 p = ngram_ng_prob(general, wid, nullptr, 0, &used);
    const char* w = ngram_word(general, wid);
    if (w != nullptr) out.push_back({w, logmath_exp(lmath, p)});
  }
  ngram_model_free(general);
  std::stable_sort(out.begin(), out.end(), [](const RankedWord& a, const RankedWord& b) { return a.prob > b.prob; });
  return out;
}

bool plain_word(const std::string& w) {
  return w.size() >= 3 && std::all_of(w.begin(), w.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

// Words a slot must never take: the grammar's own words and function words
// (a name "with" would swallow the resource list).
const std::set<std::string>& slot_stop_words() {
  static const std::set<std::string> kWords = {
      "the", "and", "for", "with", "that", "this", "you", "not", "are", "was", "but", "have", "has", "had",
      "they", "his", "her", "she", "him", "its", "our", "your", "their", "from", "what", "who", "which",
      "will", "would", "there", "been", "were", "all", "can", "could", "one", "about", "out", "into", "than",
      "then", "them", "these", "those", "also", "just", "some", "such", "use", "uses", "add", "include",
      "using", "plus", "named", "called", "without", "managing", "his", "hers", "ours", "yours", "theirs",
      "does", "was", "is", "isn't", "yes", "this", "thus", "always", "perhaps", "besides", "across", "unless",
      "towards", "sometimes", "afterwards", "thanks", "versus", "tests", "routes", "endpoints", "fields",
      "features", "options", "services", "tables", "things", "resources", "entities", "needs", "supports",
      "includes", "contains", "allows", "lets", "runs", "works", "its", "various", "details"};
  return kWords;
}

struct DecoderDeleter {
  void operator()(ps_decoder_t* ps) const { ps_free(ps); }
};
struct ConfigDeleter {
  void operator()(cmd_ln_t* c) const { cmd_ln_free_r(c); }
};

std::string written_form(const std::string& raw) {
  std::string w = raw;
  const auto paren = w.find('(');
  if (paren != std::string::npos) w.resize(paren);
  return w;
}

}  // namespace

std::vector<Words> spoken_spec_corpus() {
  Draw d;
  std::vector<Words> corpus;
  corpus.reserve(kCorpusParagraphs);
  for (int i = 0; i < kCorpusParagraphs; ++i) {
    Words p = intro(d);
    const std::size_t sentences = d.below(4);
    for (std::size_t k = 0; k < sentences; ++k) append(p, feature_sentence(d));
    corpus.push_back(std::move(p));
  }
  // A spec may also start with its features: "use flask and postgres ...".
  for (int i = 0; i < kCorpusParagraphs / 10; ++i) {
    Words p = feature_sentence(d);
    append(p, intro(d));
    corpus.push_back(std::move(p));
  }
  return corpus;
}

Recognition recognise_spec(const SpokenAudio& audio, const std::function<bool()>& cancelled) {
  const auto started = std::chrono::steady_clock::now();
  const std::string model_dir = std::string(DIHYA_POCKETSPHINX_MODELDIR) + "/en-us";
  std::error_code ec;
  if (!std::filesystem::is_directory(model_dir + "/en-us", ec)) {
    throw dihya::Error("speech: the English acoustic model is not installed (apt-get install pocketsphinx-en-us)");
  }
  err_set_logfp(nullptr);  // sphinxbase logs to stderr by default

  // 1-2. The domain model.
  const auto corpus = spoken_spec_corpus();
  std::set<std::string> grammar_words;
  for (const auto& s : corpus) grammar_words.insert(s.begin(), s.end());

  // 3. Open classes from the general model.
  std::unique_ptr<logmath_t, int (*)(logmath_t*)> lmath(logmath_init(1.0001, 0, 0), logmath_free);
  const auto general = general_vocabulary(model_dir + "/en-us.lm.bin", lmath.get());
  const auto dict = read_dictionaries(model_dir + "/cmudict-en-us.dict");
  std::vector<RankedWord> names, resources;
  std::set<std::string> resource_seen;
  for (const char* w : {"users", "products", "orders", "customers", "articles", "categories", "comments",
                        "invoices", "payments", "suppliers", "employees", "tasks", "projects", "books",
                        "authors", "messages", "events", "bookings", "reviews", "tags", "files", "teams",
                        "students", "courses", "vehicles", "patients", "doctors", "appointments", "stocks",
                        "stores", "carts", "posts"}) {
    resources.push_back({w, 1e-4});
    resource_seen.insert(w);
  }
  for (std::size_t i = 0; i < general.size() && (names.size() < kNameWords || i < kResourceWords); ++i) {
    const auto& w = general[i];
    if (!plain_word(w.word) || slot_stop_words().count(w.word) || grammar_words.count(w.word) ||
        !dict.of.count(w.word)) {
      continue;
    }
    // A word belongs to one class at most: sphinxbase maps each word to one.
    const bool plural = w.word.size() >= 4 && w.word.back() == 's';
    if (plural) {
      if (i < kResourceWords && resource_seen.insert(w.word).second) resources.push_back(w);
    } else if (names.size() < kNameWords) {
      names.push_back(w);
    }
  }

  // 4. The dictionary: only what the model can say.
  std::string dict_text;
  std::set<std::string> technical;
  for (const auto& [w, phones] : technical_words()) technical.insert(w);
  auto add_word = [&](const std::string& w) {
    if (technical.count(w)) return;
    const auto it = dict.of.find(w);
    if (it == dict.of.end()) return;
    for (std::size_t k = 0; k < it->second.size(); ++k) {
      dict_text += w + (k ? "(" + std::to_string(k + 1) + ")" : "") + " ";
      dict_text.append(it->second[k]).append("\n");
    }
  };
  for (const auto& w : grammar_words) add_word(w);
  for (const auto& w : names) add_word(w.word);
  for (const auto& w : resources) add_word(w.word);
  {
    // cmudict lines must be unique: drop the repeats a word in both classes made.
    std::istringstream lines(dict_text);
    std::set<std::string> seen;
    std::string line, unique;
    while (std::getline(lines, line)) {
      if (seen.insert(line).second) unique += line + "\n";
    }
    dict_text = std::move(unique);
  }
  // The slots are filled in turn from each list, so every candidate word
  // gets its contexts ("named X with", "with X and") in the model.
  auto filled = corpus;
  std::size_t next_name = 0, next_resource = 0;
  for (auto& sentence : filled) {
    for (auto& w : sentence) {
      if (w == "[name]") w = names.empty() ? "project" : names[next_name++ % names.size()].word;
      if (w == "[res]") w = resources[next_resource++ % resources.size()].word;
    }
  }
  MemoryFile dict_file(dict_text);
  MemoryFile mllr_file(kEspeakMllrMatrix);
  MemoryFile means_file(espeak_map_means());
  const std::string arpa = arpa_from_corpus(filled);
  MemoryFile lm_file(arpa);

  std::unique_ptr<cmd_ln_t, ConfigDeleter> config(
      cmd_ln_init(nullptr, ps_args(), TRUE, "-hmm", (model_dir + "/en-us").c_str(), "-dict", dict_file.path().c_str(),
                  "-samprate", "16000", "-logfn", "/dev/null", "-bestpath", "yes", "-lw", kLanguageWeight, "-wip", kWordInsertion,
                  "-dither", "yes", "-seed", "20", "-topn", kGaussians, "-mean", means_file.path().c_str(),
                  "-mllr", mllr_file.path().c_str(), nullptr));
  if (!config) throw dihya::Error("speech: cannot configure pocketsphinx");
  std::unique_ptr<ps_decoder_t, DecoderDeleter> ps(ps_init(config.get()));
  if (!ps) throw dihya::Error("speech: cannot load the acoustic model from " + model_dir);
  for (const auto& [w, phones] : technical_words()) {
    // The first call adds the word; later ones add alternative pronunciations
    // under cmudict's "word(2)" convention.
    std::string name = w;
    auto known = [&ps](const std::string& word) {
      char* found = ps_lookup_word(ps.get(), word.c_str());  // allocated for the caller
      ckd_free(found);
      return found != nullptr;
    };
    for (int k = 2; known(name); ++k) name = w + "(" + std::to_string(k) + ")";
    ps_add_word(ps.get(), name.c_str(), phones.c_str(), FALSE);
  }
  ngram_model_t* lm = ngram_model_read(config.get(), lm_file.path().c_str(), NGRAM_ARPA, ps_get_logmath(ps.get()));
  if (lm == nullptr) throw dihya::Error("speech: the generated spec language model does not load");
  const int set = ps_set_lm(ps.get(), "spec", lm);
  ngram_model_free(lm);  // the decoder holds its own reference
  if (set < 0 || ps_set_search(ps.get(), "spec") < 0) throw dihya::Error("speech: pocketsphinx refused the spec model");

  // The whole utterance in one call: the model's cepstral mean normalisation
  // is "batch", and sphinxbase applies it over the whole utterance only when
  // it gets it at once; fed in chunks it falls back to a running mean that
  // starts from the model's prior, and the first words of a spec (the stack,
  // the name) were misheard (tuning specs: 0.65 of fields chunked, 0.70 at
  // once). Cancellation is checked before: decoding takes about 0.2 s of
  // CPU per second of speech, so up to ~25 s at the 2-minute cap. Dither
  // (fixed seed: same audio, same words) keeps the exact digital silence of
  // synthetic speech out of the mean (3000/8000 lists: 0.72 -> 0.76).
  if (cancelled && cancelled()) return {};
  if (ps_start_utt(ps.get()) < 0) throw dihya::Error("speech: cannot start decoding");
  if (ps_process_raw(ps.get(), audio.samples.data(), audio.samples.size(), FALSE, TRUE) < 0) {
    throw dihya::Error("speech: decoding failed");
  }
  ps_end_utt(ps.get());

  Recognition out;
  logmath_t* ps_math = ps_get_logmath(ps.get());
  int frame_rate = cmd_ln_int32_r(config.get(), "-frate");
  if (frame_rate <= 0) frame_rate = 100;
  for (ps_seg_t* seg = ps_seg_iter(ps.get()); seg != nullptr; seg = ps_seg_next(seg)) {
    const std::string raw = ps_seg_word(seg);
    if (raw.empty() || raw[0] == '<' || raw[0] == '[') continue;  // <s>, </s>, <sil>, [NOISE]
    int sf = 0, ef = 0;
    ps_seg_frames(seg, &sf, &ef);
    int32 ascr = 0, lscr = 0, lback = 0;
    const int32 post = ps_seg_prob(seg, &ascr, &lscr, &lback);
    HeardWord h;
    h.word = written_form(raw);
    h.confidence = std::clamp(logmath_exp(ps_math, post), 0.0, 1.0);
    h.start = static_cast<double>(sf) / frame_rate;
    h.end = static_cast<double>(ef + 1) / frame_rate;
    out.words.push_back(std::move(h));
  }
  // Names are written capitalised ("named shop" -> "named Shop").
  for (std::size_t i = 1; i < out.words.size(); ++i) {
    const auto& before = out.words[i - 1].word;
    auto& w = out.words[i].word;
    if ((before == "named" || before == "called") && !w.empty() && w[0] >= 'a' && w[0] <= 'z') {
      w[0] = static_cast<char>(w[0] - 'a' + 'A');
    }
  }
  for (const auto& w : out.words) out.text += (out.text.empty() ? "" : " ") + w.word;
  out.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace generate_project
