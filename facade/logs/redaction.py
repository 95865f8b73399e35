"""Safety-net redaction of log text: what must never reach a log even if some code logs it by mistake.

Masked:
* INS / NIR / NIA-shaped numbers: any run of 13 to 15 digits (13-character body, optional 2-digit key), the
  Corsican 2A/2B shapes and the usual spaced or dotted writing ("1 84 12 76 451 089 46"). This over-masks other long
  digit runs (epoch milliseconds, 14-digit HL7 timestamps): acceptable for a safety net.
* PEM blocks (keys and certificates), SAML assertions (XML, and base64 starting with "<saml:Assertion"/"<saml2:"),
  JWTs, "Bearer"/"Basic" credentials, and the value of password=/secret=/token=/api_key= style pairs.

Kept on purpose: RPPS (11 digits) and ADELI / FINESS (9 digits) and IdNat_PS / Struct_IdNat (up to 12 characters).
They identify professionals and structures, not patients, and the audit trail needs "who". Patient names cannot be
recognised by a pattern: they are kept out of logs by design (no bodies, no resources are ever logged).
"""

from __future__ import annotations

import logging
import re
from typing import Any

INS_MASK = "[redacted:ins]"
PEM_MASK = "[redacted:pem]"
SAML_MASK = "[redacted:saml]"
JWT_MASK = "[redacted:jwt]"
SECRET_MASK = "[redacted]"  # noqa: S105 - the mask, not a secret

_NO_DIGIT_BEFORE = r"(?<!\d)"
_NO_DIGIT_AFTER = r"(?!\d)"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # multi-line blocks first, so that digits inside them do not matter
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(?:-----END [A-Z0-9 ]+-----|\Z)"), PEM_MASK),
    (re.compile(r"<(?:[\w.-]+:)?Assertion\b[\s\S]*?(?:</(?:[\w.-]+:)?Assertion\s*>|\Z)"), SAML_MASK),
    # base64 of "<saml:Assertion" / "<saml2:Assertion" (a VIHF carried in a header or a field)
    (re.compile(r"PHNhbWw(?:6QXNzZXJ0aW9u|yOkFzc2VydGlvb)[A-Za-z0-9+/=]*"), SAML_MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), JWT_MASK),
    (re.compile(r"\b([Bb]earer|Basic)(\s+)[A-Za-z0-9._~+/=-]{12,}"), rf"\1\2{SECRET_MASK}"),
    # the key's prefix ("db_password") is left outside the match: a leading [\w.-]* made this pattern quadratic
    (
        re.compile(
            r"(?i)((?:password|passwd|passphrase|secret|token|api[_-]?key|pwd)[\w-]*[\"']?)(\s*[=:]\s*)"
            r"(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)"
        ),
        rf"\1\2{SECRET_MASK}",
    ),
    # NIR / NIA: 13-15 digits, Corsica 2A/2B in the department, or the spaced/dotted writing of the same
    (re.compile(_NO_DIGIT_BEFORE + r"\d{13,15}" + _NO_DIGIT_AFTER), INS_MASK),
    (re.compile(_NO_DIGIT_BEFORE + r"\d{5}2[ABab]\d{6}(?:\d{2})?" + _NO_DIGIT_AFTER), INS_MASK),
    (
        re.compile(
            _NO_DIGIT_BEFORE
            + r"\d[ .]\d{2}[ .]\d{2}[ .](?:\d{2}|2[ABab])[ .]\d{3}[ .]\d{3}(?:[ .]?\d{2})?"
            + _NO_DIGIT_AFTER
        ),
        INS_MASK,
    ),
)


# What every pattern above needs before it can match: the start of a NIR/NIA shape (13 digits in a row, 5 digits
# and 2A/2B, or the spaced writing) or one of these words (lower case; the gate may say yes wrongly, never no
# wrongly). Text without them (an access line, a UUID, a state change) is returned as is: the safety net costs one
# short scan and a few substring tests per string instead of nine regular expressions.
_NIR_START = re.compile(r"\d(?:\d{12}|\d{4}2[ABab]|[ .]\d\d[ .]\d\d[ .])")
_MARKERS = ("-----begin ", "assertion", "phnhbww", "eyj", "bearer", "basic", "pass", "secret", "token", "api", "pwd")


def _may_hold_secrets(text: str) -> bool:
    if _NIR_START.search(text):
        return True
    low = text.lower()
    return any(marker in low for marker in _MARKERS)


def redact(text: str) -> str:
    if not _may_hold_secrets(text):
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings, recursively inside lists/tuples/dicts; other values unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


class RedactionFilter(logging.Filter):
    """Attach to a handler: rewrites the record's message, extra string fields, traceback and stack in place.

    The message is rendered once (``msg % args``) and stored back with ``args = None``, so no formatter downstream
    can re-insert an unredacted argument.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the line (nor crash logging)
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                record.__dict__[key] = redact_value(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._facade_redacted = True  # the JSON formatter need not redact again
        return True
