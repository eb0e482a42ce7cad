"""Passwords in storage URLs, masked wherever a URL is shown: errors, logs, banners.

No Optuna or TensorFlow here: the command line's error handler masks every message with it.
"""

from __future__ import annotations

import re

# A password this long is masked wherever a message quotes it, not only inside a URL.
MIN_LOOSE_SECRET = 4


def secrets_of(url: str | None) -> list[str]:
    """The passwords a storage URL holds, in every form PostgreSQL and SQLAlchemy accept: in
    its user info (any characters, ``/`` and spaces too) and as ``?password=``."""
    if not url or "://" not in url:
        return []
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any URL SQLAlchemy cannot parse: the patterns below
        return []
    found = [str(parsed.password)] if parsed.password else []
    # Up to the last '@': what libpq reads as the password where SQLAlchemy stops at the first.
    raw = re.match(r"[\w+.-]+://[^:/@\s]*:(.*)@[^@]*$", url)
    found += [raw.group(1)] if raw else []
    query = parsed.query.get("password")
    found += [query] if isinstance(query, str) else list(query or ())
    return [secret for secret in found if secret]


def redact(text: str, *urls: str | None) -> str:
    """``text`` with every password masked: those of ``urls`` (and of ``text`` itself, when it
    is a URL) wherever they appear, then any ``user:password@`` or ``password=`` left in it.
    URLs are shown in errors, logs and banners, which people paste into issues."""
    for secret in sorted({s for url in (*urls, text) for s in secrets_of(url)}, key=len, reverse=True):
        text = text.replace(f":{secret}@", ":***@").replace(f"password={secret}", "password=***")
        if len(secret) >= MIN_LOOSE_SECRET:  # quoted bare: shorter ones would mask common letters
            text = text.replace(secret, "***")
    text = re.sub(r"(\w+://[^/:@\s]*:)\S*@", r"\1***@", text)
    return re.sub(r"([?&]password=)[^&\s]*", r"\1***", text)
