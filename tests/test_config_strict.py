"""Settings that are wrong do not start: unknown names, ambiguous amounts, contradictions, syntax slips."""

from datetime import date

import pytest

from helpers import campaign_toml
from pledgebox import config
from pledgebox.errors import ConfigError


def refusal(folder) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        config.load(folder)
    assert err.value.hint, "every refusal says what to do"
    return err.value


@pytest.mark.parametrize(
    "change, named, suggested",
    [
        (lambda t: t.replace("deadline =", "dealine ="), "campaign.dealine", "did you mean deadline?"),
        (lambda t: t.replace("[[organisers]]", "[[organiser]]"), "[[organiser]]", "did you mean [[organisers]]?"),
        (lambda t: t.replace("[[groups]]", "[[group]]"), "[[group]]", "did you mean [[groups]]?"),
        (lambda t: t + "\n[limit]\nmax_pending = 5\n", "[limit]", "did you mean [limits]?"),
        (lambda t: t + "\n[limits]\nmax_pendng = 5\n", "limits.max_pendng", "did you mean max_pending?"),
        (
            lambda t: t.replace('name = "Solidarity Zone"', 'nme = "Solidarity Zone"'),
            "groups[0].nme",
            "did you mean name?",
        ),
        (lambda t: t.replace('bic = "COBADEFFXXX"', 'bci = "COBADEFFXXX"'), "methods[0].bci", "did you mean bic?"),
        (lambda t: t.replace("recipient =", "recipent ="), "organisers[0].recipent", "did you mean recipient?"),
        (
            lambda t: t.replace("[campaign]", '[campaign]\ncolour = "red"'),
            "campaign.colour",
            "the known keys in campaign",
        ),
    ],
)
def test_an_unknown_name_is_refused_with_the_closest_known_one(write, identity, change, named, suggested):
    err = refusal(write(change(campaign_toml([identity]))))
    assert named in err.message and suggested in err.hint


@pytest.mark.parametrize(
    "goal, meant",
    [
        ('"2.500"', "2500"),
        ('"2,500"', "2500"),
        ('"1.000.000"', "1000000"),
        ('"2500,000"', "2500000"),
        ('"2.500,00"', "250000"),
    ],
)
def test_an_amount_with_a_thousands_separator_is_refused(write, identity, goal, meant):
    err = refusal(write(campaign_toml([identity]).replace('goal = "2500"', f"goal = {goal}")))
    assert "campaign.goal" in err.message and "ambiguous" in err.message
    assert f'"{meant}"' in err.hint


@pytest.mark.parametrize("key", ["min_amount", "max_amount"])
@pytest.mark.parametrize("value", ['"1.000"', '"5,000"'])
def test_ambiguous_limits_are_refused_too(write, identity, key, value):
    err = refusal(write(campaign_toml([identity]) + f"\n[limits]\n{key} = {value}\n"))
    assert f"limits.{key}" in err.message and "ambiguous" in err.message


@pytest.mark.parametrize("goal", ["2.500", "2.5", "2500.0"])
def test_a_bare_decimal_is_refused_because_toml_already_dropped_its_zeros(write, identity, goal):
    err = refusal(write(campaign_toml([identity]).replace('goal = "2500"', f"goal = {goal}")))
    assert "campaign.goal" in err.message and '"2500"' in err.hint


@pytest.mark.parametrize(
    "goal, amount",
    [
        ('"2500"', "2500"),
        ("2500", "2500"),
        ('"2500.50"', "2500.50"),
        ('"2500.5"', "2500.5"),
        ('"0.50"', "0.50"),
        ('" 2500 "', "2500"),
    ],
)
def test_unambiguous_amounts_are_read(write, identity, goal, amount):
    cfg = config.load(write(campaign_toml([identity]).replace('goal = "2500"', f"goal = {goal}")))
    assert str(cfg.goal) == amount


def test_min_amount_above_max_amount_is_refused(write, identity):
    err = refusal(write(campaign_toml([identity]) + '\n[limits]\nmin_amount = "500"\nmax_amount = "100"\n'))
    assert "min_amount" in err.message and "max_amount" in err.message


def test_min_amount_equal_to_max_amount_is_allowed(write, identity):
    cfg = config.load(write(campaign_toml([identity]) + '\n[limits]\nmin_amount = "50"\nmax_amount = "50"\n'))
    assert cfg.limits.min_amount == cfg.limits.max_amount


@pytest.mark.parametrize(
    "old, new, section, twice",
    [
        ('id = "abc-irkutsk"', 'id = "solidarity-zone"', "[[groups]]", "solidarity-zone"),
        ('id = "cash"', 'id = "sepa"', "[[methods]]", "sepa"),
    ],
)
def test_duplicate_ids_are_refused_naming_the_id(write, identity, old, new, section, twice):
    err = refusal(write(campaign_toml([identity]).replace(old, new)))
    assert section in err.message and repr(twice) in err.message


@pytest.mark.parametrize("name", ['""', '"   "'])
def test_an_empty_group_name_is_refused(write, identity, name):
    err = refusal(write(campaign_toml([identity]).replace('name = "ABC Irkutsk"', f"name = {name}")))
    assert "groups[1].name" in err.message and 'name = "' in err.hint


def test_a_deadline_before_today_is_a_warning_at_first_start_only(write, identity):
    cfg = config.load(write(campaign_toml([identity], deadline="2025-12-31")))
    [warning] = config.warnings(cfg, date(2026, 3, 1), first_start=True)
    assert "2025-12-31" in warning and "before today" in warning
    assert config.warnings(cfg, date(2026, 3, 1), first_start=False) == []
    assert config.warnings(cfg, date(2025, 12, 31), first_start=True) == []  # the last day is not over


@pytest.mark.parametrize(
    "text, lineno, col, shown",
    [
        ('[campaign]\nid = "x"\ngoal = \u201c2500\u201d\n', 3, 8, "goal = \u201c2500\u201d"),
        ("[campaign]\nid = 'x\n", 2, 8, "id = 'x"),
        ('[campaign\nid = "x"\n', 1, 10, "[campaign"),
        ("x = 1\n\n\ty = = 2\n", 3, 6, " y = = 2"),
    ],
)
def test_a_syntax_error_shows_the_line_and_a_caret_under_the_column(write, text, lineno, col, shown):
    err = refusal(write(text))
    assert f"line {lineno}, column {col}" in err.message
    lines = err.message.splitlines()
    assert lines[-2] == "    " + shown
    assert lines[-1] == "    " + " " * (col - 1) + "^"


@pytest.mark.parametrize("quote", ["\u201c\u201d", "\u201e\u201c", "\u2018\u2019", "\u00ab\u00bb"])
def test_smart_quotes_are_named_as_the_cause(write, quote):
    err = refusal(write(f"[campaign]\nid = {quote[0]}x{quote[1]}\n"))
    assert "typographic quotes" in err.hint and quote[0] in err.hint and "straight" in err.hint


def test_a_syntax_error_without_smart_quotes_does_not_blame_them(write):
    err = refusal(write("[campaign]\nid = x\n"))
    assert "typographic" not in err.hint and "caret" in err.hint


def test_a_very_long_line_is_cut_around_the_caret(write):
    err = refusal(write('[campaign]\nid = "' + "a" * 500 + '" \u201cx\n'))
    shown, caret = err.message.splitlines()[-2:]
    assert len(shown) <= 104 and shown[len(caret) - 1] == "\u201c"


def test_a_file_that_is_not_utf8_is_refused_with_a_hint(tmp_path):
    (tmp_path / "campaign.toml").write_bytes(b'[campaign]\nid = "M\xfcnchen"\n')
    err = refusal(tmp_path)
    assert "not UTF-8" in err.message and "UTF-8" in err.hint
