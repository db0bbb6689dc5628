"""The rules that run before the embedding model: exact word lists for the control intents
(confirm, reject, stop, resume, help) and guards for messages that talk about approving.

Why rules: a wrong ``confirm`` changes the network, and the embedding model ignores
negation ("don't approve" sits next to "approve").  So ``confirm`` comes only from a whole
message in :data:`CONFIRM_PHRASES`; everything that merely mentions approval is steered to
reject, explain or unknown here, before the model sees it.
"""

from __future__ import annotations

import re

CONFIRM_PHRASES = frozenset({
    "confirm", "confirmed", "i confirm", "confirm please", "please confirm", "approve", "approved", "i approve",
    "approve please", "please approve", "yes", "y", "yep", "yup", "yeah", "yes please", "yes go ahead", "go ahead",
    "yes do it", "go for it", "lgtm", "ship it", "do it", "ok do it", "okay do it", "ok go ahead", "okay go ahead",
    "proceed", "please proceed", "yes proceed", "sure", "sure go ahead", "affirmative",
})
REJECT_PHRASES = frozenset({
    "no", "n", "nope", "nah", "no thanks", "no way", "reject", "rejected", "i reject", "deny", "denied", "decline",
    "declined", "cancel", "cancel it", "cancel that", "dont", "do not", "dont do it", "do not do it", "dont do that",
    "do not do that", "not approved", "abort", "veto", "negative", "absolutely not", "hold off", "not now", "not yet",
})
STOP_PHRASES = frozenset({
    "stop", "stop it", "stop now", "stop all", "stop everything", "halt", "halt all", "halt everything", "pause",
    "freeze", "stand down", "cease", "emergency stop", "kill switch", "stop the bot", "pause the bot", "stop all actions",
})
RESUME_PHRASES = frozenset({
    "resume", "resume please", "continue", "carry on", "unpause", "go on", "keep going", "start again", "back to work",
})
HELP_PHRASES = frozenset({"help", "help me", "commands", "usage", "help please", "what can you do", "man"})
WHOLE_MESSAGE = (("confirm", CONFIRM_PHRASES), ("reject", REJECT_PHRASES), ("stop", STOP_PHRASES),
                 ("resume", RESUME_PHRASES), ("help", HELP_PHRASES))

APPROVE_HINT = "To approve, reply with exactly `confirm` (or `approve`) in the incident's thread."
_MENTION = re.compile(r"<[@#!][^>]*>")
_APPROVAL = r"(?:approv\w*|confirm\w*|authori[sz]\w*|sign(?:ed)?\s+off|green\s*light\w*|lgtm|ship\s+it)"
_NEGATED_APPROVAL = re.compile(
    rf"\b(?:not|no|never|dont|wont|wouldnt|shouldnt|cant|cannot|didnt|refuse|refusing)\b(?:\s+\w+){{0,3}}?\s+{_APPROVAL}")
_CHECK_WORDS = frozenset({"that", "whether", "if", "status", "state", "health"})
_QUESTION_START = re.compile(r"^(?:what|why|how|who|when|where|which|is|are|can|could|should|would|will|do|does|"
                             r"did|shall|may|am)\b")
_INJECTION = re.compile(
    r"^\W*(?:system|assistant|user|admin|operator|developer)\s*:|\[\s*(?:system|admin|inst)\s*\]"
    r"|\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous|prior|above|earlier|"
    r"safety|your)\s+(?:instructions|rules|prompts?|guidelines)|\bdeveloper\s+mode\b|\bjailbreak|\byou\s+are\s+now\b"
    r"|\b(?:said|says|saying|told\s+you)\s+(?:yes|ok|okay|confirm|approve|go\s+ahead)\b", re.I)
_SOFT = r"(?:yes|yeah|yep|yup|sure|ok|okay|go\s+ahead|do\s+it|proceed)"
_CONDITIONAL = re.compile(rf"^{_SOFT}\s+(?:but|if|only|unless|once|when|after|as\s+long\s+as|provided)\b")
_SOFT_QUESTION = re.compile(rf"^\W*{_SOFT}\s*\?", re.I)
_NEGATED_COMMAND = re.compile(r"^(?:(?:no|nope|hold off|wait|please)\s+)*(?:dont|do not|never)\b(?!\s+touch)")
_PREFIX = (("reject", re.compile(r"^\W*(?:no|nope|nah|no\s+way|absolutely\s+not|never|cancel|reject|deny)\s*[,.!;:\u2014-]",
                                 re.I)),
           ("stop", re.compile(r"^\W*(?:stop|halt|freeze|pause)\s*[,.!;:\u2014-]", re.I)))


def strip_mentions(text: str) -> str:
    """Drop Slack/Discord mentions (``<@U123>``, ``<#C1>``, ``<!here>``), which carry no intent."""
    return _MENTION.sub(" ", text)


def normalise(text: str, *, keep_case: bool = False) -> str:
    """Lower case, apostrophes dropped ("don't" -> "dont"), punctuation and emoji to spaces."""
    text = text.replace("\u2019", "'").replace("'", "")
    if not keep_case:
        text = text.lower()
        return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())
    return " ".join(re.sub(r"[^\w\s.:/-]+", " ", text).split())


def _is_check(norm: str, hosts: frozenset[str]) -> bool:
    """ "confirm that srv-db-01 is up" / "confirm the status of ..." ask for a check, not an approval."""
    words = norm.split()
    for i, word in enumerate(words[:-1]):
        if not word.startswith("confirm"):
            continue
        j = i + 2 if words[i + 1] in ("the", "its") else i + 1
        if j + 1 < len(words) and words[j] in _CHECK_WORDS or "-".join(words[i + 1:i + 4]) in hosts:
            return True
    return False


def rule_intent(text: str, *, hosts: frozenset[str] = frozenset()) -> tuple[str, float, str | None] | None:
    """(intent, confidence, clarify) when a rule settles ``text``; None leaves it to the model.

    ``hosts`` (lower case) lets "confirm srv-db-01 is up" read as a check."""
    raw = strip_mentions(text).strip()
    if raw == "?":
        return "help", 1.0, None
    norm = normalise(raw)
    if not norm:
        return "unknown", 1.0, None
    if norm in CONFIRM_PHRASES and "?" in raw:  # "approve?" asks, it does not approve
        return "explain", 1.0, None
    for intent, phrases in WHOLE_MESSAGE:
        if norm in phrases:
            return intent, 1.0, None
    if _INJECTION.search(raw):
        return "unknown", 0.9, None
    question = "?" in raw or bool(_QUESTION_START.match(norm))
    if re.search(rf"\b{_APPROVAL}", norm) and not _is_check(norm, hosts):
        if _NEGATED_APPROVAL.search(norm):
            return "reject", 0.9, None
        if question:
            return "explain", 0.9, None
        return "unknown", 0.9, APPROVE_HINT
    if _SOFT_QUESTION.match(raw):
        return "explain", 0.9, None
    if _CONDITIONAL.match(norm):
        return "unknown", 0.9, APPROVE_HINT
    if _NEGATED_COMMAND.match(norm):
        return "reject", 0.9, None
    for intent, prefix in _PREFIX:
        if prefix.match(raw):
            return intent, 0.9, None
    return None
