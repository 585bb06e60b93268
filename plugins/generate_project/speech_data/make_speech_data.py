#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Rebuilds the three data files the spoken-spec recogniser embeds (speech.cpp).

  make_speech_data.py lexicon WORDS >espeak_lexicon.dict
      espeak-ng's pronunciation of each word (one a line: the words of the
      recogniser's dictionary), mapped from its phoneme mnemonics to the
      acoustic model's CMU phones, in two readings (rhotic as en-us says
      "market", non-rhotic as en/en-gb say it); only the readings cmudict
      does not already give are written.
  make_speech_data.py adapt WORKDIR >espeak_mllr_matrix
      an MLLR transform of the US-English acoustic model towards espeak-ng's
      voices: ~110 spec-like sentences said by the five corpus voices at
      130-170 wpm, aligned with sphinxtrain's bw, solved with mllr_solve.
      The held-out specs of tests/fixtures/generate_project/spoken_specs.tsv
      stay held out mechanically: a sentence holding any word of a held-out
      spec (or its singular/plural), other than the grammar's own words, is
      dropped and never said; the assert below checks it again.

  make_speech_data.py means WORKDIR >espeak_map_means
      the acoustic model's Gaussian means MAP-adapted (sphinxtrain's
      map_adapt, binary s3 format, same shape as the model's means) to
      espeak-ng's voices: ~2000 clauses of 1000 spec-shaped sentences whose
      names and resource nouns are drawn from the general English model's
      20000 most probable words, said by the five corpus voices at 130-170
      wpm. Unlike the MLLR transform's sentences, the tuning specs are not
      among them (tuning scores then predict held-out ones), and the same
      held-out guard drops every sentence holding a held-out word. Each word
      is aligned with espeak-ng's own phonemes for that sentence and voice;
      clauses bw cannot align (espeak-ng phones shorter than the model's
      three-frame minimum, about half) are dropped by bw itself. At run time
      the MLLR transform is applied on top of these means (tuning specs: 0.93
      of fields with both, 0.91 with the means alone, 0.85 with the transform
      alone).

Needs espeak-ng, sox, sphinxtrain and sphinxbase-utils (Debian) — only to
rebuild these files, not to build or run the plugin.
"""
import os
import random
import re
import struct
import array
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MODEL = "/usr/share/pocketsphinx/model/en-us"
CMUDICT = f"{MODEL}/cmudict-en-us.dict"

# espeak-ng English phoneme mnemonics -> CMU phones; a pair is (rhotic, non-rhotic).
PHONES = {
    "a": "AE", "aa": "AE", "a#": "AH", "A:": "AA", "A@": ("AA R", "AA"), "@": "AH", "@L": "AH L", "@2": "AH",
    "@5": "AH", "3": ("ER", "AH"), "3:": "ER", "e": "EH", "E": "EH", "E2": "EH", "E#": "EH", "e@": ("EH R", "EH"),
    "eI": "EY", "i": "IY", "i:": "IY", "i@": ("IH R", "IY AH"), "i@3": ("IH R", "IY AH"), "I": "IH", "I#": "IH",
    "I2": "IH", "0": ("AA", "AO"), "0#": "AA", "O:": "AO", "O@": ("AO R", "AO"), "O": "AO", "O2": ("AA", "AO"),
    "oU": "OW", "oU#": "OW", "OI": "OY", "o@": ("AO R", "AO"), "U": "UH", "u:": "UW", "U@": ("UH R", "UH"),
    "V": "AH", "aI": "AY", "aI@": ("AY ER", "AY AH"), "aI3": ("AY ER", "AY AH"), "aU": "AW",
    "aU@": ("AW ER", "AW AH"), "@U": "OW", "o": "OW", "A~": "AA", "O~": "AO", "i::": "IY", "I2#": "IH", "i2": "IY",
    "p": "P", "b": "B", "t": "T", "d": "D", "k": "K", "g": "G", "f": "F", "v": "V", "s": "S", "z": "Z", "h": "HH",
    "m": "M", "n": "N", "l": "L", "r": "R", "r-": "R", "w": "W", "W": "W", "j": "Y", "T": "TH", "D": "DH",
    "S": "SH", "Z": "ZH", "N": "NG", "tS": "CH", "dZ": "JH", "t#": ("D", "T"), "t2": "T", "x": "K", "?": "T",
    "n-": "N", "l/": "L", "m-": "M", "@-": "AH", "r/": "R", "l#": "L", "3:r": "ER"}


def to_cmu(tokens, reading):
    out = []
    for t in tokens:
        t = t.replace("'", "").replace(",", "").replace("=", "").replace(";", "")
        if not t or t in ("_", "_:", "-", "||", "|"):
            continue
        m = PHONES.get(t)
        if m is None:
            return None
        out.append(m[reading] if isinstance(m, tuple) else m)
    return " ".join(out).replace("ER R", "ER")


def espeak_phonemes(words):
    text = "\n".join(w + "." for w in words)
    lines = subprocess.run(["espeak-ng", "-q", "-x", "--sep= ", "-v", "en-us"], input=text, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    lines = [l for l in lines if l.strip()]
    assert len(lines) == len(words), "espeak-ng did not give one line a word"
    return [l.split() for l in lines]


def lexicon(words_file):
    cmu = {}
    for line in open(CMUDICT):
        word, phones = line.split(None, 1)
        cmu.setdefault(word.split("(")[0], set()).add(phones.split("#")[0].strip())
    words = sorted({w.strip() for w in open(words_file) if re.fullmatch(r"[a-z']+", w.strip())})
    for word, tokens in zip(words, espeak_phonemes(words)):
        seen = set(cmu.get(word, ()))
        for reading in (0, 1):
            phones = to_cmu(tokens, reading)
            if phones and phones not in seen:
                seen.add(phones)
                print(word, phones)


def words_of(text):
    return re.findall(r"[a-z]+", text.lower())


def corpus_rows():
    return [l.rstrip("\n").split("\t") for l in open(f"{ROOT}/tests/fixtures/generate_project/spoken_specs.tsv")
            if l.strip() and not l.startswith("#")]


GRAMMAR = set(words_of("a an the api app flask express named called with and use add jwt authentication auth "
                       "postgresql postgres sqlite docker kubernetes ci continuous integration without single "
                       "page frontend backend machine learning project solidity blockchain"))


def stem(w):
    return w[:-1] if w.endswith("s") else w


def held_out_words(rows):
    """The held-out specs' words (singular/plural folded), minus the grammar's."""
    return {stem(w) for r in rows if r[1] == "held" for w in words_of(r[4])} - {stem(w) for w in GRAMMAR}


def leaks_held_out(text, held):
    return any(stem(w) in held for w in set(words_of(text)) - GRAMMAR)


def adaptation_texts():
    rows = corpus_rows()
    grammar = GRAMMAR
    held = held_out_words(rows)
    leaks = lambda t: leaks_held_out(t, held)
    names = ("Shop Store Studio Bank Hospital Planet Orbit Atlas Ocean River Summit Harbor Pixel Beacon Quest Nova "
             "Falcon Maple Cedar Phoenix Zen Pulse Echo Spark Bridge Tower Castle Village Academy Office Factory "
             "Theater Stadium Airport Station Gallery Journal Diary Pantry Studio Workshop Market Camp Club Lab").split()
    res = ("users products orders customers books authors notes tasks projects events teams students courses "
           "patients doctors vehicles drivers routes cities countries payments accounts messages photos videos "
           "comments posts tags reviews categories items carts shipments suppliers employees invoices sessions "
           "games players scores matches plants seeds").split()
    stacks = ["A Flask API", "An Express API", "A Flask app", "A machine learning project", "A Solidity project",
              "A blockchain project", "An Express backend", "A single page frontend and an Express backend"]
    feats = ["Use JWT authentication", "Use PostgreSQL", "Use Postgres", "Use SQLite", "Add Docker", "Add Kubernetes",
             "Add CI", "Add continuous integration", "Without Docker", "Use JWT auth and SQLite",
             "Add Docker and Kubernetes", "Use PostgreSQL and CI"]
    rnd = random.Random(7)
    texts = []
    while len(texts) < 100:
        n = rnd.randint(1, 3)
        rs = rnd.sample(res, n)
        listed = rs[0] if n == 1 else ", ".join(rs[:-1]) + " and " + rs[-1]
        t = f"{rnd.choice(stacks)} {rnd.choice(['named', 'called'])} {rnd.choice(names)} with {listed}. {rnd.choice(feats)}."
        if not leaks(t):
            texts.append(t)
    texts += [r[4] for r in rows if r[1] == "tune" and not leaks(r[4])]
    assert not any(leaks(t) for t in texts)
    assert not any(r[4] in texts for r in rows if r[1] == "held")
    return texts


def read_sendump(path):
    """The model's quantised mixture weights (pocketsphinx's sendump) as
    floats [senone][stream][density]: bw needs them and Debian ships only
    the quantised form (after sphinxtrain's python/cmusphinx/sendump.py)."""
    f = open(path, "rb")
    def read_int():
        return struct.unpack("<I", f.read(4))[0]
    def read_str():
        n = read_int()
        return None if n == 0 else f.read(n)[:-1].decode()
    read_str()
    header = {}
    while (h := read_str()) is not None:
        k = h.split()
        if len(k) == 2 and k[1].isdigit():
            header[k[0]] = int(k[1])
    shift, streams = header.get("mixw_shift", 10), header["feature_count"]
    densities, senones = read_int(), read_int()
    w = [[[0.0] * densities for _ in range(streams)] for _ in range(senones)]
    for i in range(streams):
        for j in range(densities):
            row = f.read(senones)
            for s in range(senones):
                w[s][i][j] = 1.0001 ** (-(row[s] << shift))
    return w, senones, streams, densities


def accumulate(work, hmm, name):
    """Baum-Welch statistics of the model `hmm` over WORK/NAME.{fileids,dict,transcription}
    (features computed from their WAV files) into WORK/acc, the first step of both
    adaptations; returns a runner of sphinxtrain's tools in WORK for the step that follows."""
    os.makedirs(f"{work}/acc", exist_ok=True)
    subprocess.run(["pocketsphinx_mdef_convert", "-text", f"{hmm}/mdef", f"{work}/mdef.txt"], check=True,
                   capture_output=True)
    write_mixw(f"{work}/mixture_weights", *read_sendump(f"{hmm}/sendump"))
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, cwd=work)
    run("sphinx_fe", "-argfile", f"{hmm}/feat.params", "-samprate", "16000", "-c", f"{name}.fileids", "-di", ".",
        "-do", ".", "-ei", "wav", "-eo", "mfc", "-mswav", "yes")
    run("/usr/lib/sphinxtrain/bw", "-hmmdir", hmm, "-moddeffn", "mdef.txt", "-ts2cbfn", ".ptm.", "-feat", "1s_c_d_dd",
        "-svspec", "0-12/13-25/26-38", "-cmn", "batch", "-agc", "none", "-dictfn", f"{name}.dict", "-fdictfn",
        f"{hmm}/noisedict", "-ctlfn", f"{name}.fileids", "-lsnfn", f"{name}.transcription", "-accumdir", "acc",
        "-mixwfn", "mixture_weights", "-cepdir", ".", "-cepext", "mfc")
    return run


def write_mixw(path, w, senones, streams, densities):
    out = open(path, "wb")
    h = "s3\nversion 1.0\n"
    pad = (len(h) + len("endhdr\n")) & 3
    out.write((h + (" " * (4 - pad) if pad else "") + "endhdr\n").encode())
    out.write(struct.pack("=i", 0x11223344))
    out.write(struct.pack("=IIII", senones, streams, densities, senones * streams * densities))
    a = array.array("f")
    for s in range(senones):
        for i in range(streams):
            total = sum(w[s][i])
            a.extend(x / total for x in w[s][i])
    out.write(a.tobytes())


def adapt(work):
    hmm = f"{MODEL}/en-us"
    os.makedirs(f"{work}/wav", exist_ok=True)
    texts = adaptation_texts()
    voices = ["en-us", "en", "en-gb-x-rp", "en-us+f3", "en+m3"]
    ids, transcripts, spoken = [], [], {}
    for i, t in enumerate(texts):
        voice, wpm, u = voices[i % 5], 130 + (i * 7) % 41, f"a{i:03d}"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", f"{work}/wav/{u}.22k.wav", t], check=True)
        subprocess.run(["sox", "-q", "-D", f"{work}/wav/{u}.22k.wav", "-r", "16000", "-c", "1", "-b", "16", f"{work}/wav/{u}.wav"],
                       check=True)
        # Each word under two names: its rhotic reading for the US voices, non-rhotic for the others.
        suffix = "" if voice.startswith("en-us") else "_gb"
        for w in re.findall(r"[A-Za-z]+", t):
            spoken.setdefault(w.lower(), w)
        ids.append(f"wav/{u}")
        transcripts.append(f"<s> {' '.join(w + suffix for w in words_of(t))} </s> ({u})")
    open(f"{work}/adapt.fileids", "w").write("\n".join(ids) + "\n")
    open(f"{work}/adapt.transcription", "w").write("\n".join(transcripts) + "\n")
    words = sorted(spoken)
    with open(f"{work}/adapt.dict", "w") as d:
        # The written form ("CI", "SQLite") as the sentences said it.
        for w, tokens in zip(words, espeak_phonemes([spoken[w] for w in words])):
            d.write(f"{w} {to_cmu(tokens, 0)}\n{w}_gb {to_cmu(tokens, 1)}\n")
    run = accumulate(work, hmm, "adapt")
    run("/usr/lib/sphinxtrain/mllr_solve", "-meanfn", f"{hmm}/means", "-varfn", f"{hmm}/variances", "-outmllrfn",
        "mllr_matrix", "-accumdir", "acc")
    sys.stdout.write(open(f"{work}/mllr_matrix").read())


def general_vocabulary(limit):
    """The general English model's words, most probable first. sphinx_lm_convert
    fails an assertion while writing the higher orders (sphinxbase 5prealpha)
    and its unflushed tail is lost: the unigrams (alphabetical) stop at "zim",
    ~120 of 72547 short; the rest are kept."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["sphinx_lm_convert", "-i", f"{MODEL}/en-us.lm.bin", "-o", f"{tmp}/general.arpa", "-ofmt",
                        "arpa"], capture_output=True)
        arpa = open(f"{tmp}/general.arpa").read()
    declared = int(re.search(r"ngram 1=(\d+)", arpa).group(1))
    section = [l for l in arpa.split("\\1-grams:\n", 1)[1].split("\n\n", 1)[0].splitlines() if l.count("\t") >= 1]
    assert len(section) > 0.99 * declared, "sphinx_lm_convert wrote too few unigrams"
    ranked = sorted((-float(l.split("\t")[0]), l.split("\t")[1]) for l in section)
    return [w for _, w in ranked][:limit]


def clause_pronunciations(clause, voice):
    """espeak-ng's phonemes for each word of CLAUSE as VOICE says it there
    ("a" is AH in a sentence, EY alone), and whether a pause follows; None
    when the words and espeak-ng's do not pair up."""
    out = subprocess.run(["espeak-ng", "-q", "-x", "--sep=_", "-v", voice], input=clause, capture_output=True,
                         text=True, check=True).stdout
    tokens = []
    for line in out.splitlines():
        parts = line.split()
        tokens += [(tok, k == len(parts) - 1 or "__:" in tok) for k, tok in enumerate(parts)]
    words = words_of(clause)
    if len(tokens) != len(words):
        return None
    result = []
    for w, (tok, pause) in zip(words, tokens):
        phones = to_cmu([p for p in tok.split("_") if p and p != ":"], 0 if voice.startswith("en-us") else 1)
        if not phones:
            return None
        result.append((w, phones, pause))
    return result


def means_texts():
    rows = corpus_rows()
    held = held_out_words(rows)
    cmu = {l.split()[0].split("(")[0] for l in open(CMUDICT)}
    pool = [w for w in general_vocabulary(20000)
            if re.fullmatch(r"[a-z]{3,}", w) and w in cmu and stem(w) not in held and w not in GRAMMAR]
    names = [w for w in pool if not w.endswith("s")][:6000]
    res = [w for w in pool if w.endswith("s") and len(w) >= 4][:3000]
    stacks = ["A Flask API", "An Express API", "A Flask app", "A machine learning project", "A Solidity project",
              "A blockchain project", "An Express backend", "A single page frontend and an Express backend",
              "A Flask backend"]
    feats = ["Use JWT authentication", "Use PostgreSQL", "Use Postgres", "Use SQLite", "Add Docker",
             "Add Kubernetes", "Add CI", "Add continuous integration", "Without Docker", "Use JWT auth and SQLite",
             "Add Docker and Kubernetes", "Use PostgreSQL and CI", "Use JWT authentication, SQLite and CI",
             "Add Docker and CI"]
    rnd = random.Random(11)
    texts = []
    for _ in range(1000):
        k = rnd.randint(1, 3)
        rs = rnd.sample(res, k)
        listed = rs[0] if k == 1 else ", ".join(rs[:-1]) + " and " + rs[-1]
        texts.append(f"{rnd.choice(stacks)} {rnd.choice(['named', 'called'])} {rnd.choice(names).capitalize()} "
                     f"with {listed}. {rnd.choice(feats)}.")
    texts = [t for t in texts if not leaks_held_out(t, held)]
    clauses = [c.strip() + "." for t in texts for c in re.split(r"[.,]", t) if c.strip()]
    assert not any(leaks_held_out(c, held) for c in clauses)
    assert not any(r[4] in texts for r in rows)
    return clauses


def means(work):
    hmm = f"{MODEL}/en-us"
    os.makedirs(f"{work}/wav", exist_ok=True)
    voices = ["en-us", "en", "en-gb-x-rp", "en-us+f3", "en+m3"]
    ids, transcripts, lexicon_lines = [], [], []
    for i, clause in enumerate(means_texts()):
        voice, wpm, u = voices[i % 5], 130 + (i * 7) % 41, f"m{i:04d}"
        words = clause_pronunciations(clause, voice)
        if words is None:
            continue
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", f"{work}/wav/{u}.22k.wav", clause], check=True)
        subprocess.run(["sox", "-q", "-D", f"{work}/wav/{u}.22k.wav", "-r", "16000", "-c", "1", "-b", "16",
                        f"{work}/wav/{u}.wav"], check=True, stderr=subprocess.DEVNULL)
        # One dictionary entry per spoken word: bw takes a word's first pronunciation only.
        said = []
        for k, (w, phones, pause) in enumerate(words):
            lexicon_lines.append(f"{w}_{u}_{k} {phones}")
            said.append(f"{w}_{u}_{k}")
            if pause and k + 1 < len(words):
                said.append("<sil>")
        ids.append(f"wav/{u}")
        transcripts.append(f"<s> {' '.join(said)} </s> ({u})")
    open(f"{work}/means.fileids", "w").write("\n".join(ids) + "\n")
    open(f"{work}/means.transcription", "w").write("\n".join(transcripts) + "\n")
    open(f"{work}/means.dict", "w").write("\n".join(lexicon_lines) + "\n")
    run = accumulate(work, hmm, "means")
    run("/usr/lib/sphinxtrain/map_adapt", "-moddeffn", "mdef.txt", "-ts2cbfn", ".ptm.", "-meanfn", f"{hmm}/means",
        "-varfn", f"{hmm}/variances", "-mixwfn", "mixture_weights", "-tmatfn", f"{hmm}/transition_matrices",
        "-accumdir", "acc", "-mapmeanfn", "map_means", "-mapvarfn", "map_variances", "-mapmixwfn", "map_mixw",
        "-maptmatfn", "map_tmat")
    sys.stdout.buffer.write(open(f"{work}/map_means", "rb").read())


if __name__ == "__main__":
    commands = {"lexicon": lexicon, "adapt": adapt, "means": means}
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    commands[sys.argv[1]](sys.argv[2])
