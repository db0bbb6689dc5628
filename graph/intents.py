"""Operator intents from plain language, offline: word lists and rules first, then MiniLM
nearest neighbours, then slots from the twin's names.

Safety first: only a whole message from ``graph.intent_rules.CONFIRM_PHRASES`` approves anything.  The
embedding model has no ``confirm`` examples, so it cannot approve; messages that mention
approving without being a plain approval are read as reject (negated), explain
(questions) or unknown (with a hint to reply ``confirm``).  If the model cannot load,
:class:`~graph.intent_model.IntentModelError` is raised: there is no silent fallback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from graph.intent_cues import LEAD_BONUS, lead_intent
from graph.intent_model import IntentModelError, SentenceEmbedder
from graph.intent_rules import normalise, rule_intent, strip_mentions
from graph.intent_schedule import parse_schedule
from graph.intent_slots import TwinNames, extract_slots, mask_hosts
from twin.errors import InputError

__all__ = ["INTENTS", "IntentModelError", "IntentRecogniser", "TwinNames", "read_messages", "recognise",
           "shared_recogniser"]

INTENTS = ("status", "report", "isolate", "patch", "reset", "recover", "defend", "protect", "confirm", "reject",
           "stop", "resume", "explain", "simulate", "help", "unknown")
EXAMPLES_PATH = Path(__file__).resolve().parent / "data" / "intent_examples.yaml"
NEIGHBOURS = 2
#: Below this cosine similarity to the nearest example, the message is out of scope.
MIN_SIMILARITY = 0.30
#: Top two intents closer than this (cosine): ask "did you mean X or Y?" (research: 0.03).
CLARIFY_MARGIN = 0.03
#: Softmax temperature turning per-intent similarities into confidences.
TEMPERATURE = 0.05
BATCH = 64


def load_examples(path: Path = EXAMPLES_PATH) -> tuple[list[str], list[str]]:
    """(texts, intents) from the examples file; refuses ``confirm`` examples (see module doc)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    texts, labels = [], []
    for intent, examples in data.items():
        if intent not in INTENTS or intent == "confirm":
            raise ValueError(f"{path}: {intent!r} cannot have examples")
        for text in examples:
            texts.append(str(text))
            labels.append(intent)
    return texts, labels


class IntentRecogniser:
    """Loads the model and embeds the examples once (about 1 s); each message then costs a few ms."""

    def __init__(self, *, names: TwinNames | None = None, embedder: SentenceEmbedder | None = None,
                 examples_path: Path = EXAMPLES_PATH) -> None:
        self.names = names
        self.embedder = embedder or SentenceEmbedder()
        texts, labels = load_examples(examples_path)
        self.labels = sorted(set(labels), key=INTENTS.index)
        self._owner = np.array([self.labels.index(label) for label in labels])
        self._examples = self.embedder.embed(texts)

    def recognise(self, text: str, *, names: TwinNames | None = None) -> dict:
        """The intent contract of ARCHITECTURE.md for one message."""
        return self.recognise_many([text], names=names)[0]

    def recognise_many(self, texts: Sequence[str], *, names: TwinNames | None = None) -> list[dict]:
        """Like :meth:`recognise` for many messages, embedding the ones rules can't settle in batches."""
        names = names or self.names or TwinNames.demo()
        results: list[dict | None] = [None] * len(texts)
        pending: list[int] = []
        for i, text in enumerate(texts):
            ruled = rule_intent(text, hosts=_lower_hosts(names))
            if ruled is None:
                pending.append(i)
            else:
                intent, confidence, clarify = ruled
                results[i] = _result(text, names, intent, confidence, [], clarify)
        for start in range(0, len(pending), BATCH):
            chunk = pending[start:start + BATCH]
            masked = [mask_hosts(strip_mentions(texts[i]), names) for i in chunk]
            scores, nearest = self._scores([normalise(m, keep_case=True) for m in masked])
            for i, row, near, m in zip(chunk, scores, nearest, masked):
                results[i] = self._from_scores(texts[i], names, row, float(near), lead_intent(normalise(m)))
        return [r for r in results if r is not None]

    def _scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(len(texts), intents) mean cosine similarity to each intent's NEIGHBOURS closest examples
        (two beat one: a single lucky example no longer decides), and each text's nearest example."""
        sims = self.embedder.embed(texts) @ self._examples.T
        best = np.full((len(texts), len(self.labels)), -1.0, dtype=np.float32)
        for j in range(len(self.labels)):
            own = np.sort(sims[:, self._owner == j], axis=1)
            best[:, j] = own[:, -NEIGHBOURS:].mean(axis=1)
        return best, sims.max(axis=1)

    def _from_scores(self, text: str, names: TwinNames, raw: np.ndarray, nearest: float, cue: str | None) -> dict:
        scores = raw.copy()
        if cue in self.labels:  # the opening verb's nudge (graph/intent_cues.py)
            scores[self.labels.index(cue)] += LEAD_BONUS
        order = np.argsort(-scores)
        probs = np.exp((scores - scores.max()) / TEMPERATURE)
        probs /= probs.sum()
        alternatives = [{"intent": self.labels[j], "confidence": round(float(probs[j]), 3)} for j in order[:3]]
        top, second = self.labels[order[0]], self.labels[order[1]]
        if top == "confirm":  # impossible by construction (load_examples); never let it through
            raise RuntimeError("the embedding model must never approve")
        if nearest < MIN_SIMILARITY:  # out of scope, whatever the opening verb
            return _result(text, names, "unknown", 1.0 - nearest, alternatives, None)
        clarify = None
        if scores[order[0]] - scores[order[1]] < CLARIFY_MARGIN and "unknown" not in (top, second):
            clarify = f"Did you mean {top} or {second}?"
        return _result(text, names, top, float(probs[order[0]]), alternatives, clarify)


@lru_cache(maxsize=16)
def _lower_hosts(names: TwinNames) -> frozenset[str]:
    return frozenset(h.lower() for h in names.hosts)


def _result(text: str, names: TwinNames, intent: str, confidence: float, alternatives: list[dict],
            clarify: str | None) -> dict:
    targets, exclude = extract_slots(strip_mentions(text), names)
    return {"intent": intent, "confidence": round(confidence, 3), "targets": targets, "exclude": exclude,
            "schedule": parse_schedule(text), "text": text, "alternatives": alternatives, "clarify": clarify}


@lru_cache(maxsize=1)
def shared_recogniser() -> IntentRecogniser:
    """One recogniser per process: the model and the example vectors load once (about 1 s)."""
    return IntentRecogniser()


def recognise(text: str, *, names: TwinNames | None = None) -> dict:
    """Recognise one message with the shared recogniser; ``names`` default to the demo twin's."""
    return shared_recogniser().recognise(text, names=names)


def read_messages(path: str | Path, *, labelled: bool = False) -> list[dict]:
    """The objects of a JSONL file, one ``{"text": ...}`` per line (``"intent"`` too when
    ``labelled``); blank lines are skipped.  Raises InputError naming ``file:line``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(path, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, "", f"cannot read: {exc}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(where, "", f"bad JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise InputError(where, "", 'expected an object with a string "text"')
        if labelled and row.get("intent") not in INTENTS:
            raise InputError(where, "", f"unknown intent {row.get('intent')!r}")
        rows.append(row)
    return rows
