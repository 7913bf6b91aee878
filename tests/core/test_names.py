from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key, validate_name


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
