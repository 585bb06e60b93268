// SPDX-License-Identifier: AGPL-3.0-or-later
// Spoken specs → text, offline, with the pocketsphinx library and Debian's
// US-English acoustic model (pocketsphinx-en-us). The general English
// language model hears "you skip the ah you know" where a spec says "a Flask
// API"; what a spec says is small and known, so the recogniser is aimed at
// it: a trigram language model generated at run time from the spec grammar
// (stacks, features, linking words, the parser's own vocabulary), with two
// open classes filled from the general model's vocabulary ranked by its
// unigram probability — project names after "named"/"called" and resource
// nouns in lists — and a dictionary that adds the technical words cmudict
// lacks (postgres, kubernetes, jwt, sqlite...) and espeak-ng's readings of
// the others where they differ; the acoustic model is adapted to synthetic
// voices by MAP-adapted Gaussian means and an MLLR transform
// (speech_data.hpp). Every heard word carries its lattice posterior, so the
// caller can report how sure each field is.
// English only: Debian ships no other acoustic model (see the README).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "audio_input.hpp"

namespace generate_project {

struct HeardWord {
  std::string word;        // written form ("postgresql", "Shop")
  double confidence = 0;   // posterior probability, 0..1
  double start = 0;        // seconds
  double end = 0;
};

struct Recognition {
  std::string text;               // the words joined: input of parse_text_spec
  std::vector<HeardWord> words;
  double decode_seconds = 0;      // model loading included
};

// The words of the spoken-spec grammar, one sentence a line, class slots
// written [name] and [res]. Deterministic; exposed for tests and the manual.
std::vector<std::vector<std::string>> spoken_spec_corpus();

// Throws dihya::Error when the model is not installed or decoding fails;
// returns nothing heard when cancelled() is true before decoding starts
// (the decoding itself, a few seconds at most, is one library call).
Recognition recognise_spec(const SpokenAudio& audio, const std::function<bool()>& cancelled);

}  // namespace generate_project
