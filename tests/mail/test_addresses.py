"""One canonical form per address: what headers, payloads, lookups and limits use; the Unicode form is shown."""

from __future__ import annotations

import pytest

from service.mail.addresses import (
    InvalidEmail,
    canonical_address,
    display_address,
    envelope_address,
    normalise_email,
)


@pytest.mark.parametrize(
    "typed",
    [
        "reader@bücher.example",
        "Reader@Bücher.Example",
        "reader@xn--bcher-kva.example",
        "READER@XN--BCHER-KVA.EXAMPLE",
        "ｒｅａｄｅｒ@ｂüｃｈｅｒ.example",  # fullwidth, as an IME types it
        "reader@bu\u0308cher.example",  # decomposed ü
        "  reader@bücher.example ",
    ],
)
def test_every_spelling_of_one_address_has_one_ascii_form(typed):
    assert canonical_address(typed) == "reader@xn--bcher-kva.example"
    assert normalise_email(typed) == "reader@xn--bcher-kva.example"
    assert display_address(canonical_address(typed)) == "reader@bücher.example"


@pytest.mark.parametrize("typed", ["jörg@example.org", "KYÖSTI@example.org", "用户@example.cn"])
def test_a_non_ascii_local_part_is_refused_with_a_clear_reason(typed):
    with pytest.raises(InvalidEmail, match="before the @"):
        canonical_address(typed)
    with pytest.raises(InvalidEmail, match="before the @"):
        envelope_address(typed)  # a row stored before this rule cannot be built into a message either
    assert normalise_email(typed) == typed.casefold()  # still a stable lookup key


def test_the_envelope_form_is_ascii():
    assert envelope_address("reader@bücher.example") == "reader@xn--bcher-kva.example"
    assert envelope_address("plain@example.org") == "plain@example.org"
