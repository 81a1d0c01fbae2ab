"""Tests for grounding.quantities' number check: is every number of a claim in its evidence?"""

from __future__ import annotations

import pytest

from briefer.grounding.quantities import check_numbers_stated, find_missing_numbers
from briefer.grounding.support import check_support

# Sentences from the seed articles.
SBU = (
    "Vasul Malyuk, the head of the SBU, said the attack caused an estimated $7 billion in damage "
    "and had struck 34% of Russia’s strategic cruise missile carriers – a total of 41 aircraft."
)
BODIES = "However, both nations did agree to return the remains of approximately 12,000 soldiers."
FIRST_ROUND = (
    "During the first round of direct negotiations on May 16, the two countries failed to agree "
    "on how to halt the conflict, managing only a mutual exchange of 1,000 prisoners of war."
)
# The same sentence as a tokenizer leaves it, as model-written and research text often is.
FIRST_ROUND_TOKENIZED = FIRST_ROUND.replace("1,000", "1, 000").replace("war.", "war .")


@pytest.mark.parametrize(
    "claim",
    [
        "Both nations agreed to return the remains of 12,000 soldiers.",
        "Both nations agreed to return the remains of twelve thousand soldiers.",
        "Both nations agreed to return the remains of some 11,500 soldiers.",
        "Both nations agreed to return the remains of nearly 13,000 soldiers.",
    ],
)
def test_a_number_the_evidence_states_or_rounds_is_accepted(claim: str) -> None:
    assert find_missing_numbers(claim, [BODIES]) == []


@pytest.mark.parametrize(
    ("claim", "missing"),
    [
        ("Both nations agreed to return the remains of 15,000 soldiers.", "15,000"),
        ("Both nations agreed to return the remains of some 9,000 soldiers.", "9,000"),
        ("Both nations agreed to return the remains of nearly 15,000 soldiers.", "15,000"),
    ],
)
def test_a_number_the_evidence_does_not_state_is_rejected(claim: str, missing: str) -> None:
    assert find_missing_numbers(claim, [BODIES]) == [missing]
    reasons = check_support(claim, [BODIES])
    assert [r.code for r in reasons] == ["number_not_in_evidence"]
    assert f'"{missing}"' in reasons[0].message


def test_a_lower_bound_is_stated_by_a_value_above_it_only() -> None:
    assert find_missing_numbers("The attack struck more than 40 aircraft.", [SBU]) == []
    assert find_missing_numbers("The attack struck more than 50 aircraft.", [SBU]) == ["50"]
    assert find_missing_numbers("The attack struck fewer than 30 aircraft.", [SBU]) == ["30"]


def test_tokenized_thousands_are_read_either_way() -> None:
    claim = "The first round managed only an exchange of 1,000 prisoners of war."
    assert find_missing_numbers(claim, [FIRST_ROUND_TOKENIZED]) == []
    spaced = "The first round managed only an exchange of 1, 000 prisoners of war."
    assert find_missing_numbers(spaced, [FIRST_ROUND]) == []
    assert find_missing_numbers(spaced, [BODIES]) == ["1,000"]


def test_a_bare_number_may_leave_out_the_scale_of_an_amount() -> None:
    # Tokenized text drops currency signs and glued scales: "# 7 bn" for "$7bn".
    assert find_missing_numbers("The attack caused 7 bn in damage.", [SBU]) == []
    assert find_missing_numbers("The attack caused 8 bn in damage.", [SBU]) == ["8"]


def test_the_number_check_names_every_missing_number_once() -> None:
    reasons = check_numbers_stated(
        "On May 17, 900 and 900 prisoners were exchanged.", [FIRST_ROUND]
    )
    assert len(reasons) == 1
    assert reasons[0].message == 'Numbers "17", "900" not in the evidence.'
    assert check_numbers_stated("On May 16, 1,000 prisoners were exchanged.", [FIRST_ROUND]) == []
