"""How a recognizer's outputs are read into tokens: which reading rules run, and every threshold they use.

The thresholds were tuned on the fixed 1,200 staff validation staves and their distorted copies (and the key on
the staff-keys supplements' validation staves): docs/decisions/0012-sign-head.md, 0013-reading-rules.md. A
model's manifest saves its ``reading`` entry; a manifest without one reads with no rules (plain CTC), as such a
model was evaluated.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from zoo import config as config_lib


@dataclass(frozen=True)
class Rhythm:
    """A bar that overruns its time signature takes the one other duration that makes it fit; a short bar, the
    one dot that fills it (:mod:`zoo.decoding.rules.rhythm`). Needs no sign head."""
    on: bool = True
    cost: float = 5.0  # nats: log(p(read duration) / p(other duration)) at the sign's first frame, at most this


@dataclass(frozen=True)
class Key:
    """A key signature the token output doubts is replaced by the one the head counts sign by sign, where that is
    the output's second choice (:mod:`zoo.decoding.rules.key`)."""
    on: bool = True
    doubt: float = 0.6  # the read key's probability below which it is doubted


@dataclass(frozen=True)
class Place:
    """A note the token output doubts moves to the line or space the head is sure of
    (:mod:`zoo.decoding.rules.place`)."""
    on: bool = True
    doubt: float = 0.9  # the read note's probability below which it is doubted
    sure: float = 0.8  # the head's step probability (most over the note's first frame ± window) at least this
    window: int = 1  # frames either side of the note's first frame
    choices: int = 8  # the output's most probable classes there, among which the note on that step is looked for


@dataclass(frozen=True)
class Accidentals:
    """A note takes the alteration of a sign the head is sure is printed on it, and a note showing no sign takes
    the one its key signature, bar or tie implies (:mod:`zoo.decoding.rules.accidentals`)."""
    on: bool = True
    window: int = 4  # output frames (16 image columns) before a note's first frame where its sign is looked for
    threshold: float = 0.01  # below this much sign probability there, a note shows no sign
    printed_sure: float = 0.9  # one sign this probable there: the note takes its alteration


@dataclass(frozen=True)
class Ties:
    """A tie the head sees between two notes of one pitch, which the token output left out, is read
    (:mod:`zoo.decoding.rules.ties`)."""
    on: bool = True
    sure: float = 0.5  # the head's tie probability (most from the first note's frame to the second's) at least this


RULES = ("rhythm", "key", "place", "accidentals", "ties")  # in the order they run
HEAD_RULES = ("key", "place", "accidentals", "ties")  # the rules that read the sign head's output


@dataclass(frozen=True)
class ReadingConfig:
    """Every reading rule, each switchable by itself (``--set reading.place.on=false``, ``--rules rhythm,key``)."""
    rhythm: Rhythm = field(default_factory=Rhythm)
    key: Key = field(default_factory=Key)
    place: Place = field(default_factory=Place)
    accidentals: Accidentals = field(default_factory=Accidentals)
    ties: Ties = field(default_factory=Ties)

    @classmethod
    def none(cls) -> ReadingConfig:
        """Plain CTC: no rule runs."""
        return cls().only(())

    def only(self, rules: Iterable[str]) -> ReadingConfig:
        """This config with exactly ``rules`` switched on (their thresholds kept)."""
        rules = set(_known(rules))
        return dataclasses.replace(self, **{name: dataclasses.replace(getattr(self, name), on=name in rules)
                                            for name in RULES})

    @property
    def enabled(self) -> tuple[str, ...]:
        return tuple(name for name in RULES if getattr(self, name).on)

    def to_dict(self) -> dict[str, Any]:
        return config_lib.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReadingConfig:
        return config_lib.from_dict(cls, data, "reading")


def parse_rules(text: str) -> tuple[str, ...]:
    """``all``, ``none`` or a comma-separated list of rule names → the rules to switch on."""
    text = text.strip()
    if text == "all":
        return RULES
    if text in ("none", ""):
        return ()
    return _known(name.strip() for name in text.split(","))


def _known(names: Iterable[str]) -> tuple[str, ...]:
    """``names``, if each is a reading rule; else a ConfigError naming the ones that are not."""
    names = tuple(names)
    if unknown := [name for name in names if name not in RULES]:
        raise config_lib.ConfigError(f"unknown reading rule {', '.join(unknown)}; choose all, none or some of "
                                     f"{', '.join(RULES)}")
    return names
