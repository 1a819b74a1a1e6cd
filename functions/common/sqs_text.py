"""The characters SQS accepts in a message body, so that what SQS would refuse is refused first.

SendMessage's documentation: "A message can include only XML, JSON, and unformatted text.
The following Unicode characters are allowed" (XML 1.0's ``Char``): ``#x9 | #xA | #xD |
#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF``; anything else, and SQS rejects
the message with ``InvalidMessageContents``. The ingest sends its message as UTF-8 JSON
with non-ASCII kept raw (:func:`functions.common.queue_messages.message_body`), so a
value's characters are the body's characters: each string value is checked here, and the
whole body once more before it is sent.
"""

from __future__ import annotations

import re

# The complement of SQS's set: C0 controls but tab, LF and CR; surrogates; U+FFFE, U+FFFF.
_REFUSED = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def first_refused(text: str) -> str | None:
    """The first character of ``text`` that SQS refuses in a message body, or None."""
    match = _REFUSED.search(text)
    return match.group() if match else None


def code_point(character: str) -> str:
    """``U+FFFF``: how a refusal names the character."""
    return f"U+{ord(character):04X}"
