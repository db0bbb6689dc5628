"""The opening verb of an operator message, as a nudge for the embedding classifier.

Chat commands are imperatives: the first word says most ("patch host", "quarantine host").
MiniLM sentence vectors weigh that verb no more than "host" or "the web servers", so
short commands drift to whichever example shares their nouns.  A small bonus for the
intent whose cue opens the message fixes that without overriding the model on longer
text; typos in the verb ("islate", "pacth") are matched fuzzily.  Never a cue for
confirm: approvals come only from the word list in graph/intent_rules.py.
"""

from __future__ import annotations

import difflib
import re

LEAD_BONUS = 0.15
FUZZY_CUTOFF = 0.8

LEAD_CUES: dict[str, tuple[str, ...]] = {
    "isolate": ("isolate", "quarantine", "disconnect", "cut off", "cut", "block", "fence off", "fence", "sever",
                "null route", "unplug", "segregate", "firewall off", "wall off", "pull the plug", "blackhole"),
    "patch": ("patch", "update", "upgrade", "hotfix", "harden", "fix", "apply", "install", "roll out", "deploy"),
    "reset": ("reset", "reimage", "re image", "wipe", "purge", "clean", "cleanse", "disinfect", "evict", "nuke",
              "rebuild", "reinstall", "sanitise", "sanitize", "factory reset", "kick", "eradicate"),
    "recover": ("recover", "reconnect", "un isolate", "unisolate", "unquarantine", "bring", "rejoin", "release",
                "lift", "undo", "re enable", "reenable", "restore service", "restore the links", "restore access"),
    "defend": ("defend", "respond", "fight", "counter", "handle", "mount", "engage", "repel", "take action"),
    "protect": ("protect", "shield", "guard", "safeguard", "secure", "keep", "prioritise", "prioritize",
                "make sure"),
    "explain": ("why", "explain", "justify", "elaborate", "eli5", "how come", "how did", "what does", "walk me through",
                "whats the risk", "what is the risk", "whats the reasoning", "what is the reasoning"),
    "simulate": ("simulate", "sim", "what if", "dry run", "war game", "wargame", "model", "rehearse", "play out",
                 "test", "try", "suppose", "what happens if", "what would happen if", "run a simulation"),
    "report": ("report", "generate", "export", "email", "send", "post", "write up", "schedule", "compile"),
    "status": ("status", "sitrep", "how is", "hows", "is", "are", "whats going on", "what is going on", "whats up",
               "show", "list", "check", "health check", "how bad", "any"),
    "stop": ("stop", "halt", "pause", "freeze", "cease", "suspend", "stand down"),
    "resume": ("resume", "continue", "carry on", "unpause", "restart", "go back"),
    "help": ("help", "usage", "how do i", "what can you"),
}
#: Politeness and address that may come before the verb.
_PREFIX = re.compile(r"^(?:(?:please|pls|plz|kindly|hey|hi|bot|ok|okay|now|so|then|and|lets|can you|could you|"
                     r"would you|will you|go ahead and|i want you to|i need you to|we need to|we should)\s+)+")
_PHRASES = sorted(((cue, intent) for intent, cues in LEAD_CUES.items() for cue in cues), key=lambda p: -len(p[0]))
_SINGLE = {cue: intent for cue, intent in _PHRASES if " " not in cue and len(cue) >= 5}


def lead_intent(norm: str) -> str | None:
    """The intent cued by the opening words of a normalised message ("pls islate host" -> isolate)."""
    text = _PREFIX.sub("", norm)
    for cue, intent in _PHRASES:
        if text == cue or text.startswith(cue + " "):
            return intent
    first = text.split(" ", 1)[0]
    if len(first) >= 5:  # a typo keeps the first letter and the length, give or take one
        near = [cue for cue in _SINGLE if cue[0] == first[0] and abs(len(cue) - len(first)) <= 1]
        close = difflib.get_close_matches(first, near, n=1, cutoff=FUZZY_CUTOFF)
        if close:
            return _SINGLE[close[0]]
    return None
