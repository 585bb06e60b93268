#!/usr/bin/env python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Rebuilds the two data files the spoken-spec recogniser embeds (speech.cpp).

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


def adaptation_texts():
    rows = [l.rstrip("\n").split("\t") for l in open(f"{ROOT}/tests/fixtures/generate_project/spoken_specs.tsv")
            if l.strip() and not l.startswith("#")]
    grammar = set(words_of("a an the api app flask express named called with and use add jwt authentication auth "
                           "postgresql postgres sqlite docker kubernetes ci continuous integration without single "
                           "page frontend backend machine learning project solidity blockchain"))
    stem = lambda w: w[:-1] if w.endswith("s") else w
    held = {stem(w) for r in rows if r[1] == "held" for w in words_of(r[4])} - {stem(w) for w in grammar}
    leaks = lambda t: any(stem(w) in held for w in set(words_of(t)) - grammar)
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
    os.makedirs(f"{work}/acc", exist_ok=True)
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
    subprocess.run(["pocketsphinx_mdef_convert", "-text", f"{hmm}/mdef", f"{work}/mdef.txt"], check=True,
                   capture_output=True)
    write_mixw(f"{work}/mixture_weights", *read_sendump(f"{hmm}/sendump"))
    run = lambda *a: subprocess.run(list(a), check=True, capture_output=True, cwd=work)
    run("sphinx_fe", "-argfile", f"{hmm}/feat.params", "-samprate", "16000", "-c", "adapt.fileids", "-di", ".",
        "-do", ".", "-ei", "wav", "-eo", "mfc", "-mswav", "yes")
    run("/usr/lib/sphinxtrain/bw", "-hmmdir", hmm, "-moddeffn", "mdef.txt", "-ts2cbfn", ".ptm.", "-feat", "1s_c_d_dd",
        "-svspec", "0-12/13-25/26-38", "-cmn", "batch", "-agc", "none", "-dictfn", "adapt.dict", "-fdictfn",
        f"{hmm}/noisedict", "-ctlfn", "adapt.fileids", "-lsnfn", "adapt.transcription", "-accumdir", "acc",
        "-mixwfn", "mixture_weights", "-cepdir", ".", "-cepext", "mfc")
    run("/usr/lib/sphinxtrain/mllr_solve", "-meanfn", f"{hmm}/means", "-varfn", f"{hmm}/variances", "-outmllrfn",
        "mllr_matrix", "-accumdir", "acc")
    sys.stdout.write(open(f"{work}/mllr_matrix").read())


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("lexicon", "adapt"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    lexicon(sys.argv[2]) if sys.argv[1] == "lexicon" else adapt(sys.argv[2])
