from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import (
    canonical_name,
    validate_alias_name,
    validate_key,
    validate_model_name,
    validate_name,
    validate_user_name,
)


@pytest.mark.parametrize("key", ["acc", "train/loss", "lr@epoch-1", "a.b", "user:alice", "x=1+2"])
def test_valid_keys_pass_unchanged(key: str) -> None:
    assert validate_key("metric", key) == key


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "empty"),
        ("../etc/passwd", "'..'"),
        ("a/../b", "'..'"),
        ("./a", "'.'"),
        ("/abs/path", "absolute"),
        ("C:/windows", "absolute"),
        ("a\\b", "backslash"),
        ("nul\x00byte", "NUL"),
        ("bell\x07", "control"),
        ("line\nbreak", "control"),
        ("trailing newline\n", "control"),  # '$' in a regex would match before it
        ("a/./b", "'.'"),
        ("x:", "absolute"),
        ("a//b", "empty segment"),
        ("trailing/", "empty segment"),
        ("x" * 251, "longer than"),
        ("semi;colon", "unsupported characters"),
    ],
)
def test_bad_keys_are_refused_with_a_reason(key: str, fragment: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate_key("artifact", key)
    assert fragment in str(info.value)
    assert str(info.value).startswith("artifact name")


def test_non_string_key_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="must be a string, got int"):
        validate_key("param", 3)


def test_flat_names_refuse_slashes() -> None:
    assert validate_name("model", "fraud-detector") == "fraud-detector"
    with pytest.raises(InvalidInputError, match="must not contain '/'"):
        validate_name("model", "team/fraud")


@given(st.text(min_size=1, max_size=60))
def test_accepted_keys_never_escape_a_folder(key: str) -> None:
    """Whatever passes validation is a safe relative path: no traversal, no absolute, no NUL."""
    try:
        out = validate_key("artifact", key)
    except InvalidInputError:
        return
    parts = out.split("/")
    assert ".." not in parts and "." not in parts
    assert not out.startswith("/")
    assert "\x00" not in out and "\\" not in out


# ---- look-alike names (issue 12, hole 7) -------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "fraud",
        "Fraud",
        "FRAUD",
        "fraud ",
        " fraud",
        "fraud.",
        "fraud..",
        "\uff26\uff52\uff41\uff55\uff44",
        "fr\u200baud",
    ],
)
def test_variants_of_a_name_share_one_canonical_form(variant: str) -> None:
    assert canonical_name(variant) == "fraud"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("fraud-detector", "fraud_detector"),
        ("fraud-detector", "Fraud Detector"),
        ("fraud-detector", "fraud.detector"),
        ("fraud-detector", "fraud  -_ detector"),
        ("Stra\u00dfe", "STRASSE"),  # case folding, not lower(): ß folds to ss
        ("\u212bngstr\u00f6m", "\u00e5ngstr\u00f6m"),  # the Angstrom sign is NFKC-equivalent to Å
        ("model\u00a0v2", "model v2"),  # no-break space
    ],
)
def test_look_alikes_canonicalize_equal(a: str, b: str) -> None:
    assert canonical_name(a) == canonical_name(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("fraud", "frauds"), ("fraud-detector", "frauddetector"), ("user:alice", "user-alice"), ("a+b", "a=b")],
)
def test_names_that_differ_by_more_stay_apart(a: str, b: str) -> None:
    assert canonical_name(a) != canonical_name(b)


@pytest.mark.parametrize("text", ["e\u200b\u0301", "a\u00ad\u0308", "\u0131", "\ufb01", "x.\u0301"])
def test_canonical_name_is_idempotent_where_removing_a_character_lets_nfkc_compose(text: str) -> None:
    once = canonical_name(text)
    assert canonical_name(once) == once


@given(st.text(max_size=40))
def test_canonical_name_is_idempotent(text: str) -> None:
    once = canonical_name(text)
    assert canonical_name(once) == once


_SEPARATORS = st.sampled_from([" ", "  ", "\t", "-", "_", ".", "\u3000", "\u00a0"])


@given(
    st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=20),
    _SEPARATORS,
    _SEPARATORS,
)
def test_case_width_and_surrounding_space_do_not_change_the_canonical_form(
    core: str, before: str, after: str
) -> None:
    import unicodedata

    base = canonical_name(core)
    assert canonical_name(core.upper()) == canonical_name(core.lower()) == canonical_name(core.casefold())
    assert canonical_name(before + core + after) == base
    assert canonical_name(unicodedata.normalize("NFKD", core)) == base
    assert canonical_name(unicodedata.normalize("NFKC", core)) == base


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("fraud ", "ends with whitespace"),
        (" fraud", "starts with whitespace"),
        ("fraud.", "ends with '.'"),
        ("\uff26\uff52\uff41\uff55\uff44", "use 'Fraud'"),  # fullwidth letters
        ("\ufb01ne", "use 'fine'"),  # the 'fi' ligature
    ],
)
@pytest.mark.parametrize(
    "validate",
    [
        lambda n: validate_model_name(n, new=True),
        lambda n: validate_user_name(n, new=True),
        lambda n: validate_name("namespace", n, new=True),
        lambda n: validate_name("run", n, new=True),
    ],
)
def test_new_names_with_edges_or_unnormalized_letters_are_refused(
    validate: Callable[[object], str], name: str, fragment: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        validate(name)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_lookups_still_accept_names_stored_before_the_edge_rules() -> None:
    """A model named 'fraud.' before the rule existed can still be read and deleted by name."""
    assert validate_model_name("fraud.") == "fraud."
    assert validate_name("namespace", "user:alice ") == "user:alice "
    with pytest.raises(InvalidInputError, match="use 'Fraud'"):  # never storable: refused everywhere
        validate_model_name("\uff26\uff52\uff41\uff55\uff44")


def test_alias_names_follow_the_alias_rules_and_latest_is_reserved_in_any_case() -> None:
    assert validate_alias_name("champion", new=True) == "champion"
    assert validate_alias_name("Champion", new=True) == "Champion"  # refused beside 'champion' by the store
    for bad in ("latest", "Latest", "LATEST", "champion.", "1st", "my alias", "\uff43hampion"):
        with pytest.raises(InvalidInputError, match="alias"):
            validate_alias_name(bad, new=True)


def test_model_names_keep_their_spelling() -> None:
    assert validate_model_name("Fraud-Detector v2", new=True) == "Fraud-Detector v2"
    assert validate_user_name("alice.smith", new=True) == "alice.smith"
