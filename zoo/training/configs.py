"""Typed training configurations, one per family: the model's architecture switches, the training loop, the
augmentations and the data mix, each a frozen dataclass (in the spirit of TF Model Garden's experiment configs).

``scorezoo train --set train.learning_rate=3e-4`` changes one field; an unknown key is an error naming the
closest keys, and a value must have the field's type (:mod:`zoo.config`). Recipes (:mod:`zoo.training.recipes`)
are these configs written as data, stage by stage.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from zoo import config as config_lib

OMR_SCHEDULES = ("constant", "cosine")
GENRE_SCHEDULES = ("plateau", "cosine")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise config_lib.ConfigError(message)


def check_range(name: str, values: Sequence[float] | None, zero_ok: bool) -> tuple[float, float] | None:
    """An augmentation's ``[low, high]`` as floats, or None (off): width factors must be > 0, margins >= 0."""
    if values is None:
        return None
    _check(len(values) == 2, f"{name} must be [low, high], got {list(values)}")
    low, high = (float(f) for f in values)
    _check((0 <= low if zero_ok else 0 < low) and low <= high,
           f"{name} must be [low, high] with {'0 <=' if zero_ok else '0 <'} low <= high, got {list(values)}")
    return low, high


def check_ink(values: Sequence[float] | None, name: str = "ink") -> tuple[int, int] | None:
    """The ink augmentation's ``[low, high]`` in whole pixels, or None (off)."""
    bold = check_range(name, values, zero_ok=True)
    _check(bold is None or all(v.is_integer() for v in bold), f"{name} must be [low, high] in whole pixels, got "
           f"{list(values or [])}")
    return None if bold is None else (int(bold[0]), int(bold[1]))


class ModelSwitches:
    """A family's architecture switches; a field left at None keeps the registered model's value."""

    def overrides(self) -> dict[str, Any]:
        """The switches set, as the model builder takes them."""
        return {k: v for k, v in config_lib.to_dict(self).items() if v is not None}


@dataclass(frozen=True)
class OmrModel(ModelSwitches):
    """Architecture switches of a score recognizer; None keeps the registered model's value (the ablations of
    bench-omr set ``fusion=false`` or ``rnn=lstm``)."""
    fusion: bool | None = None
    rnn: str | None = None  # sru | lstm
    filters: tuple[int, ...] | None = None
    rnn_units: int | None = None
    rnn_layers: int | None = None
    dropout: float | None = None
    leaky_alpha: float | None = None


@dataclass(frozen=True)
class OmrTrain:
    """The CTC training loop: stops at the wall-time budget, at ``max_epochs``, or when validation SER has not
    improved for ``patience`` epochs; keeps the best weights by validation SER."""
    minutes: float = 60.0
    max_epochs: int = 100
    steps_per_epoch: int = 500
    batch_size: int = 16
    learning_rate: float = 1e-3
    schedule: str = "constant"  # constant | cosine (over the wall-time budget)
    patience: int = 4
    val_samples: int = 400  # fixed random validation staves scored after each epoch
    ema_decay: float = 0.0  # > 0: validate and save a moving average of the weights
    train_only: tuple[str, ...] = ()  # layer name prefixes to train, the rest frozen (empty: all)
    seed: int = 0
    verbose: int = 1


@dataclass(frozen=True)
class OmrAugment:
    """Share of training staves given camera distortions, and the optional spacing, margin and ink
    augmentations ([low, high] ranges, each with the share of staves it is drawn for). ``photo`` widens the
    camera distortions to a phone photo's (rotation and skew up to ±5°, uneven light, paper grain: half of the
    distorted staves get each; :meth:`DistortionConfig.photo`)."""
    distort: float = 0.5
    photo: bool = False
    width_scale: tuple[float, ...] | None = None
    width_scale_probability: float = 0.5
    margin: tuple[float, ...] | None = None
    margin_probability: float = 0.5
    ink: tuple[int, ...] | None = None
    ink_probability: float = 0.5


def check_mix(folders: Sequence[str], shares: Sequence[float]) -> None:
    """One batch share per extra build, each > 0, leaving the main build some batches."""
    _check(len(folders) == len(shares), f"extra_share needs one share per extra_data folder: {len(folders)} "
           f"folders, {len(shares)} shares")
    _check(all(x > 0 for x in shares) and sum(shares) < 1,
           f"extra_share {list(shares)}: each share must be > 0 and together < 1")


@dataclass(frozen=True)
class DataMix:
    """Other staff builds (their train splits) and the share of batches each supplies. Validation stays on the
    main build unless ``validate_on_extra``: then the best weights are chosen on the pooled validation staves of
    the main build and of every extra one (``train.val_samples`` of each), so that a supplement meant to widen what
    the model reads (other engravers, printed clutter) is judged on that too, not on Verovio's staves alone."""
    extra_data: tuple[str, ...] = ()
    extra_share: tuple[float, ...] = ()
    validate_on_extra: bool = False


@dataclass(frozen=True)
class OmrConfig:
    model: OmrModel = field(default_factory=OmrModel)
    train: OmrTrain = field(default_factory=OmrTrain)
    augment: OmrAugment = field(default_factory=OmrAugment)
    data: DataMix = field(default_factory=DataMix)

    def check(self) -> OmrConfig:
        """This config, if its fields agree with each other (checked once every override is in)."""
        _check(self.train.schedule in OMR_SCHEDULES,
               f"train.schedule {self.train.schedule!r}: choose {' or '.join(OMR_SCHEDULES)}")
        _check(self.model.rnn in (None, "sru", "lstm"), f"model.rnn {self.model.rnn!r}: choose sru or lstm")
        check_range("augment.width_scale", self.augment.width_scale, zero_ok=False)
        check_range("augment.margin", self.augment.margin, zero_ok=True)
        check_ink(self.augment.ink, "augment.ink")
        check_mix(self.data.extra_data, self.data.extra_share)
        return self


@dataclass(frozen=True)
class GenreModel(ModelSwitches):
    """Architecture switches of genre-cnn; None keeps the registered model's value."""
    filters: tuple[int, ...] | None = None
    dropout: float | None = None
    temporal_units: int | None = None


@dataclass(frozen=True)
class GenreTrain:
    """Keras ``fit``: the best epoch by validation accuracy is kept; early stop after ``patience`` epochs."""
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: str = "plateau"  # plateau (halve on a stalled validation loss) | cosine (over the epochs)
    patience: int = 8
    ema_decay: float = 0.0
    mixup_alpha: float = 0.0  # > 0: mixup batches with soft labels
    seed: int = 0
    verbose: int = 2


@dataclass(frozen=True)
class GenreConfig:
    model: GenreModel = field(default_factory=GenreModel)
    train: GenreTrain = field(default_factory=GenreTrain)

    def check(self) -> GenreConfig:
        """This config, if its fields agree with each other."""
        _check(self.train.schedule in GENRE_SCHEDULES,
               f"train.schedule {self.train.schedule!r}: choose {' or '.join(GENRE_SCHEDULES)}")
        return self


@dataclass(frozen=True)
class RetrievalModel(ModelSwitches):
    """Architecture switches of the retrieval models; None keeps the registered model's value (bench-retrieval's
    ablation sets ``neighbours``)."""
    neighbours: int | None = None
    graph_weight: float | None = None
    embed_dim: int | None = None
    dropout: float | None = None


@dataclass(frozen=True)
class RetrievalTrain:
    """The retrieval training loop (decision record 0020).

    Without ``init``, the whole network trains from scratch (``retrieval-dual``). With ``init`` (a trained folder),
    its trunks are copied and frozen, so raw features are fixed, the reference bank is ``bank_size`` training
    snippets' raw features, and the encoders and shared layers train on them (``retrieval-gcn``). Losses: the
    seed's label loss (pitch of the centred note) and modality-invariance loss, plus a symmetric InfoNCE ranking
    term at ``temperature``. The best epoch by validation MRR is kept.
    """
    minutes: float = 40.0
    max_epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 1e-3
    temperature: float = 0.05
    label_weight: float = 0.2
    invariance_weight: float = 1.0
    ranking_weight: float = 1.0
    shift: int = 4  # training snippets and excerpts are shifted up to this many pixels / frames
    patience: int = 5
    val_candidates: int = 2000
    bank_size: int = 4000
    audio: str = "both"  # audio (the snippet's part) | audio_ensemble (every part) | both (each pair either, at random)
    init: str = ""
    seed: int = 0
    verbose: int = 1


@dataclass(frozen=True)
class RetrievalConfig:
    model: RetrievalModel = field(default_factory=RetrievalModel)
    train: RetrievalTrain = field(default_factory=RetrievalTrain)

    def check(self) -> RetrievalConfig:
        _check(self.train.audio in RETRIEVAL_AUDIO,
               f"train.audio {self.train.audio!r}: choose {' or '.join(RETRIEVAL_AUDIO)}")
        _check(self.train.temperature > 0, f"train.temperature must be > 0, got {self.train.temperature}")
        _check(self.train.batch_size >= 2, "train.batch_size must be at least 2 (a batch holds its own negatives)")
        for name in ("label_weight", "invariance_weight", "ranking_weight"):
            _check(getattr(self.train, name) >= 0, f"train.{name} must be >= 0")
        return self


@dataclass(frozen=True)
class GenerationModelSwitches(ModelSwitches):
    """Sizes of the generators; None keeps the registered model's value (make figures sweeps ``units`` and
    ``layers`` of gen-lstm)."""
    layers: int | None = None
    units: int | None = None
    dropout: float | None = None
    hidden: int | None = None
    recurrent: int | None = None
    gibbs_steps: int | None = None


@dataclass(frozen=True)
class GenerationTrain:
    """The generators' training loop (decision record 0021).

    gen-lstm: teacher-forced cross-entropy on random crops of ``sequence_length`` events of the training clips;
    gen-rbm: CD-``cd_steps`` on whole clips' piano rolls. Both replace the genre by "none" with probability
    ``genre_dropout``, are validated every ``eval_every`` iterations (gen-lstm: NLL per event; gen-rbm: frame-level
    accuracy), keep the best, and stop after ``patience`` evaluations without gain, at ``steps`` or after
    ``minutes``. ``checkpoints`` are iterations whose weights are kept for the figures.
    """
    steps: int = 4000
    minutes: float = 60.0
    batch_size: int = 32
    sequence_length: int = 128
    learning_rate: float = 1e-3
    clip_norm: float = 1.0
    genre_dropout: float = 0.1
    cd_steps: int = 15
    eval_every: int = 400
    patience: int = 4
    checkpoints: tuple[int, ...] = (3200, 6400, 12800)
    seed: int = 0
    verbose: int = 1


@dataclass(frozen=True)
class GenerationConfig:
    model: GenerationModelSwitches = field(default_factory=GenerationModelSwitches)
    train: GenerationTrain = field(default_factory=GenerationTrain)

    def check(self) -> GenerationConfig:
        _check(0 <= self.train.genre_dropout < 1, "train.genre_dropout must be in [0, 1)")
        _check(self.train.sequence_length >= 2, "train.sequence_length must be at least 2")
        _check(self.train.eval_every >= 1, "train.eval_every must be at least 1")
        return self


RETRIEVAL_AUDIO = ("audio", "audio_ensemble", "both")
CONFIGS: dict[str, type] = {"genre-cnn": GenreConfig, "omr-resnet-bisru": OmrConfig, "omr-crnn-bilstm": OmrConfig,
                            "retrieval-gcn": RetrievalConfig, "retrieval-dual": RetrievalConfig,
                            "gen-lstm": GenerationConfig, "gen-rbm": GenerationConfig}


def training_config(model_name: str, assignments: list[str] | tuple[str, ...] = (),
                    base: dict[str, Any] | None = None) -> Any:
    """``model_name``'s training config: defaults, then ``base`` (a recipe's nested dict), then the dotted
    ``assignments``."""
    cls = CONFIGS[model_name]
    config = config_lib.from_dict(cls, base or {}, "")
    return config_lib.override(config, assignments).check()
