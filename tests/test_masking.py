"""Storage passwords masked in every form a URL can hold them (sweep.search.masking), no database."""

from __future__ import annotations

import pytest

from sweep.search.masking import redact, secrets_of


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:s3cret@127.0.0.1:1/db", "postgresql://me:***@127.0.0.1:1/db"),
        # A password holding '/', a space, '@' or ':' (PostgreSQL accepts them all).
        ("postgresql://me:s3cret/x@127.0.0.1:1/db", "postgresql://me:***@127.0.0.1:1/db"),
        ("postgresql://me:s3cret x@127.0.0.1:1/db", "postgresql://me:***@127.0.0.1:1/db"),
        ("postgresql://me:s3c@ret@127.0.0.1:1/db", "postgresql://me:***@127.0.0.1:1/db"),
        ("postgresql://me:s3:cret@127.0.0.1/db", "postgresql://me:***@127.0.0.1/db"),
        # As a query parameter, alone or among others.
        ("postgresql://me@127.0.0.1:1/db?password=s3cret", "postgresql://me@127.0.0.1:1/db?password=***"),
        (
            "postgresql://me@h/db?sslmode=require&password=s3cret&x=1",
            "postgresql://me@h/db?sslmode=require&password=***&x=1",
        ),
        # Nothing to mask.
        ("sqlite:///results/study.db", "sqlite:///results/study.db"),
        ("postgresql://me@127.0.0.1/db", "postgresql://me@127.0.0.1/db"),
    ],
)
def test_every_form_of_password_is_masked(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert "s3cret" not in redact(f"storage {url}: connection refused", url)


def test_a_known_urls_password_is_masked_wherever_a_message_quotes_it() -> None:
    url = "postgresql://me:s3cret/x@127.0.0.1:1/db"
    assert set(secrets_of(url)) == {"s3cret/x"}
    message = "could not connect with password s3cret/x (user me)"
    assert redact(message, url) == "could not connect with password *** (user me)"
    assert secrets_of("not a url") == [] and secrets_of(None) == []


def test_a_short_password_is_masked_in_its_url_and_leaves_other_words_alone() -> None:
    url = "postgresql://u:p@127.0.0.1:1/db"
    message = f"storage {url}: connection to server at port 1 failed"
    assert redact(message, url) == "storage postgresql://u:***@127.0.0.1:1/db: connection to server at port 1 failed"
