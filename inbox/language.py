"""Language detection for citizens' messages (py3langid ships its model in the package)."""

from __future__ import annotations

import re

import py3langid

# The languages a Catalan administration hears most; restricting the model avoids
# exotic guesses on short texts. Extend it when a channel serves other communities.
SUPPORTED = ["ca", "es", "en", "fr", "pl", "fa", "ar", "ro", "it", "pt", "de", "uk", "ru", "zh", "ur"]

_identifier = py3langid.langid.LanguageIdentifier.from_model_file(
    py3langid.langid.MODEL_FILE, norm_probs=True
)
_identifier.set_languages(SUPPORTED)
_NOISE = re.compile(r"(https?://\S+|[@#]\w+)")


def language_detect(text: str, *, min_confidence: float = 0.5) -> str:
    """The ISO 639-1 code of ``text``, or "" when it is too short or too uncertain to say."""
    cleaned = _NOISE.sub(" ", text).strip()
    if len(cleaned) < 8:
        return ""
    code, confidence = _identifier.classify(cleaned)
    return code if confidence >= min_confidence else ""
