import pytest

from domain.tags import parse_tags

KEYS = ["bob", "bo", "alice", "dev_2"]


def test_tags_in_order_of_first_mention_each_once():
    assert parse_tags("@alice then @bob, and @alice again, @bob", KEYS) == ["alice", "bob"]


def test_unknown_keys_are_ignored():
    assert parse_tags("@carol @alice @zed", KEYS) == ["alice"]


def test_no_tag_gives_empty_list():
    assert parse_tags("hello everyone", KEYS) == []
    assert parse_tags("", KEYS) == []


@pytest.mark.parametrize("text", ["a@bob", "x.@bob", "x_@bob", "x-@bob", "9@bob", "mail bob@bob.com"])
def test_at_glued_to_a_word_is_not_a_tag(text):
    assert parse_tags(text, KEYS) == []


def test_email_address_is_not_a_tag():
    assert parse_tags("write to alice@bob.com", ["alice", "bob"]) == []


@pytest.mark.parametrize("previous", ["é", "Ж", "中", "٣"])
def test_unicode_letter_or_digit_before_at_blocks_the_tag(previous):
    assert parse_tags(f"{previous}@bob", KEYS) == []


@pytest.mark.parametrize("previous", [" ", "\n", "(", "@", "!", ",", "/", ":"])
def test_other_characters_before_at_allow_the_tag(previous):
    assert parse_tags(f"hi{previous}@bob", KEYS) == ["bob"]


@pytest.mark.parametrize("text", ["@bob", "@bob,", "@bob.", "@bob!", "(@bob)", "@bob?", "@bob's", "@bob-x"])
def test_key_followed_by_non_key_character_is_a_tag(text):
    assert parse_tags(text, KEYS) == ["bob"]


def test_longer_word_never_tags_its_prefix():
    assert parse_tags("@bob", ["bo"]) == []
    assert parse_tags("@bo_", ["bo"]) == []
    assert parse_tags("@bo1", ["bo"]) == []
    assert parse_tags("@bob @bo", ["bo", "bob"]) == ["bob", "bo"]


def test_keys_with_digits_and_underscores():
    assert parse_tags("ping @dev_2.", KEYS) == ["dev_2"]
    assert parse_tags("ping @dev_", KEYS) == []


def test_tags_are_case_sensitive():
    assert parse_tags("@Bob @BOB", KEYS) == []


def test_adjacent_tags():
    # The second @ follows a letter, so only the first counts.
    assert parse_tags("@bob@alice", KEYS) == ["bob"]
    assert parse_tags("@bob @alice", KEYS) == ["bob", "alice"]


def test_key_length_limit():
    long_key = "a" * 32
    assert parse_tags(f"@{long_key}", [long_key]) == [long_key]
    # 33 key characters is a different (invalid) word, not the 32-character key.
    assert parse_tags(f"@{long_key}b", [long_key]) == []


def test_agent_keys_may_be_any_iterable():
    assert parse_tags("@bob", iter(KEYS)) == ["bob"]
    assert parse_tags("@bob", {"bob": 1}) == ["bob"]
