"""Text rules: raw text split the way each data set's training text was split."""
import pytest

from n2r.config import ConfigError, RunConfig
from n2r.data import DATASETS, text_rule_of
from n2r.data.text_rules import TEXT_RULES, tokenize_text

RAW = "It's an off-white head, don't you think? Clichés... 7/10 -- 11.2%"


@pytest.mark.parametrize("rule, tokens", [
    ("simple", ["it's", "an", "off", "-", "white", "head", ",", "don't", "you", "think", "?", "clich", "é", "s",
                ".", ".", ".", "7", "/", "10", "-", "-", "11", ".", "2", "%"]),
    ("ptb", ["it", "'s", "an", "off-white", "head", ",", "do", "n't", "you", "think", "?", "clichés", "...",
             "7/10", "--", "11.2", "%"]),
    ("lower-words", ["it's", "an", "off-white", "head", ",", "don't", "you", "think", "?", "clichés", "...",
                     "7/10", "--", "11", ".", "2", "%"]),
    ("whitespace", ["It's", "an", "off-white", "head,", "don't", "you", "think?", "Clichés...", "7/10", "--",
                    "11.2%"]),
])
def test_each_rule_splits_raw_text_its_way(rule, tokens):
    assert tokenize_text(RAW, rule) == tokens


@pytest.mark.parametrize("rule, source", [
    # lines as the BeerAdvocate and SST-2 files hold them (ptb) and as the movie reviews do
    ("ptb", "appearance - solid black on the pour . a healthy lighter mocha head ... it 's off-white , "
            "i do n't mind -- 11.2 fl.oz brown/black"),
    ("ptb", "it 's a charming and often affecting journey . the production 's austere locales"),
    ("lower-words", "plot : two teen couples go to a church party , drink and then drive . what's the deal ? "
                    "watch the movie and \" sorta \" find out . . . a mind-bending 7/10"),
])
def test_the_rule_reproduces_its_data_sets_own_tokens(rule, source):
    assert tokenize_text(source, rule) == source.split()


def test_registered_data_sets_name_their_rule_and_the_config_can_override_it():
    rules = {name: DATASETS.get(name).text_rule for name in ("beer", "beer-heldout-split", "hotel", "sst2",
                                                              "movies", "agnews", "synthetic-text", "hf", "files")}
    assert rules == {"beer": "ptb", "beer-heldout-split": "ptb", "hotel": "ptb", "sst2": "ptb",
                     "movies": "lower-words", "agnews": "simple", "synthetic-text": "simple", "hf": "whitespace",
                     "files": "whitespace"}
    assert all(rule in TEXT_RULES for rule in rules.values())
    assert text_rule_of(RunConfig.from_dict({"data": {"name": "movies"}}).data) == "lower-words"
    assert text_rule_of(RunConfig.from_dict({"data": {"name": "movies", "text_rule": "ptb"}}).data) == "ptb"
    with pytest.raises(ConfigError, match=r"data\.text_rule: unknown text rule 'nope'; known: lower-words, ptb"):
        RunConfig.from_dict({"data": {"text_rule": "nope"}})
