"""Sentiment of open-text survey answers, and their most frequent words.

English is scored by VADER, a rule-based scorer made for short informal text. Turkish has no
such package, so we ship a lexicon of customer-feedback stems (data/sentiment_tr.txt) and apply
the few grammar rules that turn a word's polarity around in Turkish: a word carries suffixes
(we match the stem), the verb suffix -me/-ma negates ("beğenmedim"), "değil" and "yok" negate
the word before them, -sız/-siz turns a noun into its lack ("sorunsuz"), intensifiers
strengthen, and the clause after "ama" counts more than the one before. Both languages give a
compound score in [-1, 1] and a label by VADER's thresholds, so answers in either language can
be compared. Pure Python, no database: analytics and segments call it per answer.
"""

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

DATA = Path(__file__).parent / "data"

POSITIVE, NEUTRAL, NEGATIVE = "positive", "neutral", "negative"
# VADER's recommended cut-off on its compound score; the Turkish sum is normalised like VADER's.
THRESHOLD = 0.05
# VADER's normalisation constant: score / sqrt(score² + 15) approaches ±1 as evidence piles up.
ALPHA = 15

# VADER's constants, for Turkish on the same scale: a negated word keeps 74% of its strength
# with the sign turned ("kötü değil" is mildly positive, not the opposite of "kötü"); an
# intensifier adds to the magnitude of the next sentiment word.
NEGATION = -0.74
BOOST = 0.5
# "ama" and its kin: what follows is what the writer means ("pahalı ama çok kaliteli").
BEFORE_CONTRAST, AFTER_CONTRAST = 0.5, 1.5
# A negated verb the lexicon does not know ("kargo gelmedi", "ulaşamadım") is a complaint in
# feedback: something expected did not happen.
UNMET = -1.0
# "yok" with nothing to negate ("aksesuar yok"): something is missing, a mild complaint.
MISSING = -0.5

CONTRAST = {"ama", "fakat", "ancak", "lakin", "rağmen"}
# "hiç" and "hiçbir" strengthen the negation Turkish requires after them ("hiç beğenmedim").
INTENSIFIERS = {
    *"çok gerçekten oldukça gayet aşırı fazla epey bayağı cidden kesinlikle tamamen".split(),
    *"inanılmaz hiç hiçbir pek en sakın resmen".split(),
    "son derece",
    "bir türlü",
}
# Words that negate the sentiment word before them: "iyi değil", "sorun yok", and a wish for
# what was missing ("daha hızlı olmalı", "keşke daha özenli olsaydı").
NEGATORS = {"yok", "yoktu", "yoktur", "yokmuş", "olmalı", "olmalıydı", "olsaydı", "olabilirdi"}

# The negative verb suffix right after a known verb stem: -me/-ma (beğen-me-dim, kal-ma-dı),
# -mı/-mi/-mu/-mü before -yor (çalış-mı-yor), with the "cannot" -(y)e/-(y)a in front
# (beğen-eme-dim). Not -mek/-mak (the infinitive), -mAcA or -mAlI (nouns, "must").
NEGATED_STEM = re.compile(r"(?:y?[ae])?(?:m[ae](?![kcl])|m[ıiuü]yor)")
# The same suffix inside a word whose stem we do not know, in the forms that cannot be anything
# else: past (-medi), continuous (-miyor), reported (-memiş), future (-meyecek), aorist (-mez),
# "don't" (-meyin), "who doesn't" (-meyen), and "I won't" (-mem) after a consonant, so that
# "tamam" stays out.
NEGATED_VERB = re.compile(
    r"..+?(?:m[ıiuü]yor|m[ae]d[ıi]|m[ae]m[ıi]ş|m[ae]y[ae]c[ae][kğ]|m[ae]y[ıi]n|m[ae]y[ae]n"
    r"|(?<=[^aeıioöuü])m[ae]z(?:$|l[ae]r|d[ıi]|s[ıi]n|m[ıi]ş)|(?<=[^aeıioöuü])m[ae]m$)"
)
# -sız/-siz/-suz/-süz: "without", which turns a stem's sentiment around (sorun → sorunsuz).
PRIVATIVE = re.compile(r"s[ıiuü]z")
SHORTEST_STEM = 3

_SENTENCE_END = re.compile(r"[.!?;:\n…]+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_CIRCUMFLEX = str.maketrans("âîû", "aiu")
_HARDENED = {"b": "p", "c": "ç", "d": "t", "ğ": "k"}


@dataclass(frozen=True)
class Sentiment:
    """A text's compound score in [-1, 1] and its label: positive, neutral or negative."""

    compound: float
    label: str


def score(text: str, language: str) -> Sentiment:
    """The sentiment of `text`, written in `language` ("en" or "tr")."""
    if _language(language) == "tr":
        compound = _normalise(sum(_turkish_sentence(s) for s in _SENTENCE_END.split(text)))
    else:
        compound = _vader().polarity_scores(text)["compound"]
    if compound >= THRESHOLD:
        label = POSITIVE
    elif compound <= -THRESHOLD:
        label = NEGATIVE
    else:
        label = NEUTRAL
    return Sentiment(round(compound, 4), label)


def top_words(texts: Iterable[str], language: str, limit: int = 20) -> list[tuple[str, int]]:
    """The `limit` most frequent words of `texts` without stop words, most frequent first (ties
    alphabetically, so the list is stable), lower-cased by the language's rules."""
    language = _language(language)
    stop = _stop_words(language)
    counts = Counter(
        word
        for text in texts
        for word in words(text, language)
        if len(word) > 1 and word not in stop
    )
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def lower(text: str, language: str) -> str:
    """`text` in lower case by the language's rules: in Turkish "I" is the capital of "ı" and
    "İ" of "i" (Python's lower() alone makes "İYİ" into "i̇yi̇" and "IŞIK" into "işik")."""
    text = unicodedata.normalize("NFC", text)
    if language == "tr":
        # Circumflexes are optional in Turkish spelling ("şikâyet" = "şikayet").
        text = text.replace("I", "ı").replace("İ", "i").translate(_CIRCUMFLEX)
    return text.lower()


def words(text: str, language: str) -> list[str]:
    """The words of `text`, lower case. A Turkish word loses the suffix after an apostrophe
    ("Trendyol'dan" is "trendyol"); an English one keeps its contraction ("don't")."""
    found = _WORD.findall(lower(text, language).replace("’", "'"))
    if language == "tr":
        return [word.split("'", 1)[0] for word in found]
    return found


def _language(language: str) -> str:
    base = language.replace("_", "-").split("-", 1)[0].lower()
    if base not in ("en", "tr"):
        raise ValueError(f"no sentiment model for language {language!r}")
    return base


def _normalise(total: float) -> float:
    return total / math.sqrt(total * total + ALPHA)


def _turkish_sentence(sentence: str) -> float:
    """The summed sentiment of one Turkish sentence: each sentiment word's score, intensified,
    negated and weighted by its side of "ama". Negation does not reach across a comma."""
    scores: list[float] = []
    weights: list[float] = []
    weight = 1.0
    for clause in sentence.split(","):
        tokens = words(clause, "tr")
        last = None  # the index in scores of the word a later "değil" or negated verb turns
        adjacent = False  # whether that word is the token just before
        boost = 0.0
        index = 0
        while index < len(tokens):
            token = tokens[index]
            pair = " ".join(tokens[index : index + 2]) if index + 1 < len(tokens) else None
            index += 1
            if token in CONTRAST:
                weights = [BEFORE_CONTRAST] * len(weights)
                weight, last, adjacent, boost = AFTER_CONTRAST, None, False, 0.0
                continue
            if pair in INTENSIFIERS:
                index += 1
                boost += BOOST
                continue
            if token in INTENSIFIERS:
                boost += BOOST
                continue
            if token == "değil" and tokens[index : index + 1] in (["mi"], ["mı"]):
                index += 1  # a tag question agrees: "güzel, değil mi?" is "it is nice, isn't it?"
                continue
            if token.startswith("değil") or token in NEGATORS:
                if last is not None:
                    scores[last] *= NEGATION
                elif token.startswith("yok"):
                    scores.append(MISSING)
                    weights.append(weight)
                last, adjacent = None, False
                continue
            valence = _stem_valence(token)
            if valence:
                scores.append(math.copysign(abs(valence) + boost, valence))
                weights.append(weight)
                last, adjacent, boost = len(scores) - 1, True, 0.0
                continue
            if NEGATED_VERB.match(token):
                # "memnun kalmadım", "sorun yaşamadım": the verb negates the word it completes.
                if adjacent:
                    scores[last] *= NEGATION
                    last = None
                else:
                    scores.append(UNMET - boost)
                    weights.append(weight)
                    boost = 0.0
            adjacent = False
    return sum(s * w for s, w in zip(scores, weights, strict=True))


def _stem_valence(word: str) -> float:
    """The lexicon score of the longest stem `word` begins with, turned around by a privative
    or a negative verb suffix right after it; 0 when no stem matches."""
    lexicon, whole_words = _turkish_lexicon()
    if word in whole_words:
        return whole_words[word]
    for end in range(len(word), SHORTEST_STEM - 1, -1):
        stem = word[:end]
        valence = lexicon.get(stem)
        # A stem's final p, ç, t, k softens before a vowel ("eksik" → "eksiği", "kırık" → "kırığı").
        if valence is None and stem[-1] in _HARDENED:
            valence = lexicon.get(stem[:-1] + _HARDENED[stem[-1]])
        if valence is not None:
            rest = word[end:]
            if PRIVATIVE.match(rest):
                return -valence
            if NEGATED_STEM.match(rest):
                return valence * NEGATION
            return valence
    return 0.0


@functools.cache
def _turkish_lexicon() -> tuple[dict[str, float], dict[str, float]]:
    """The Turkish lexicon as stems and whole words, each with its score."""
    stems: dict[str, float] = {}
    whole_words: dict[str, float] = {}
    for line in _data_lines("sentiment_tr.txt"):
        word, value, *flags = line.split("\t")
        (whole_words if "whole" in flags else stems)[word] = float(value)
    return stems, whole_words


@functools.cache
def _stop_words(language: str) -> frozenset[str]:
    return frozenset(_data_lines(f"stopwords_{language}.txt"))


def _data_lines(name: str) -> list[str]:
    """The lines of a data file without comments and blank lines."""
    text = (DATA / name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@functools.cache
def _vader() -> SentimentIntensityAnalyzer:
    """VADER with our customer-feedback words added (reading its lexicon takes tens of
    milliseconds: once per process)."""
    analyzer = SentimentIntensityAnalyzer()
    for line in _data_lines("sentiment_en.txt"):
        word, value = line.split("\t")
        analyzer.lexicon[word] = float(value)
    return analyzer
