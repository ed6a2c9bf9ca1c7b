"""Train and evaluate the generators on the genre build's event sequences (decision record 0021).

Every clip of the ``genre`` build carries its 10 s of performance events (:mod:`zoo.datasets.events`), its genre
and its piece's split. gen-lstm learns next events on random crops of them; gen-rbm learns 50-ms piano-roll frames
of whole clips. Both train on the train split's pieces, choose their best iteration on the validation split's, and
report on the test split's (held-out pieces):

* **NLL per event** (gen-lstm): teacher-forced cross-entropy over whole clips, nats per event;
* **frame-level accuracy** (both; Boulanger-Lewandowski et al., 2012): ΣTP / Σ(TP + FP + FN) over every 50-ms
  frame and key, predicting each frame from the true history before it. gen-rbm predicts a frame by mean-field
  iterations of its conditional RBM (keys > 0.5 are on); gen-lstm by greedy decoding from the true history until
  the frame has passed (keys sounding at the frame's start, plus the NOTE_ONs it decodes inside the frame; a
  true time shift spanning the frame's start holds the first decoded shift to outlast it).
  ``repeat`` — the previous true frame again — is given beside them as the floor any model must clear.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from zoo import config as config_lib
from zoo.datasets import build, tfrecords
from zoo.datasets import events as ev
from zoo.decoding import sampling
from zoo.models.generation import BOS, FRAME_SECONDS, GENRES, NO_GENRE, GenerationModel
from zoo.pretrained import write_manifest
from zoo.training import plots
from zoo.training.configs import GenerationConfig

CLIP_SECONDS = 10.0
FRAMES = int(round(CLIP_SECONDS / FRAME_SECONDS))
EVENTS_CACHE = "events"


@dataclass
class Clips:
    """One split's clips: event ids, genre index (into GENRES) and piece id."""
    events: list[np.ndarray]
    genre: np.ndarray
    piece_ids: list[str]
    sample_ids: list[str]

    def __len__(self) -> int:
        return len(self.events)

    def subset(self, index: np.ndarray) -> Clips:
        return Clips([self.events[i] for i in index], self.genre[index], [self.piece_ids[i] for i in index],
                     [self.sample_ids[i] for i in index])

    def notes(self, i: int) -> list[ev.Note]:
        return ev.notes_of(self.events[i], CLIP_SECONDS)

    def rolls(self) -> np.ndarray:
        return np.stack([ev.piano_roll(self.notes(i), FRAMES, FRAME_SECONDS) for i in range(len(self))])


def load_clips(data_dir: Path, split: str, genres: tuple[str, ...] = GENRES) -> Clips:
    """A split's event sequences, read from the TFRecords once and then from ``events/<split>.json``."""
    cache = Path(data_dir) / EVENTS_CACHE / f"{split}.json"
    records = tfrecords.files(data_dir, split, "genre") if split in tfrecords.splits_with_records(data_dir, "genre") \
        else []
    if not records:
        rows = []
    elif cache.is_file() and cache.stat().st_mtime >= max(Path(f).stat().st_mtime for f in records):
        rows = json.loads(cache.read_text(encoding="utf-8"))
    else:
        spec = {"events": tf.io.VarLenFeature(tf.int64), "genre": tf.io.FixedLenFeature([], tf.string),
                "piece_id": tf.io.FixedLenFeature([], tf.string), "sample_id": tf.io.FixedLenFeature([], tf.string)}
        rows = []
        for serialized in tf.data.TFRecordDataset(records):
            ex = tf.io.parse_single_example(serialized, spec)
            rows.append({"events": tf.sparse.to_dense(ex["events"]).numpy().tolist(),
                         "genre": ex["genre"].numpy().decode(), "piece_id": ex["piece_id"].numpy().decode(),
                         "sample_id": ex["sample_id"].numpy().decode()})
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows), encoding="utf-8")
        tmp.replace(cache)
    rows = [r for r in rows if r["genre"] in genres]
    return Clips([np.asarray(r["events"], np.int32) for r in rows],
                 np.array([genres.index(r["genre"]) for r in rows], int),
                 [r["piece_id"] for r in rows], [r["sample_id"] for r in rows])


# -- gen-lstm -------------------------------------------------------------------------------------------------

def lstm_batch(clips: Clips, rng: np.random.Generator, batch: int, length: int, genre_dropout: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random crops: inputs [B, T], targets [B, T], target weights [B, T], conditioning ids [B]."""
    x = np.zeros((batch, length), np.int32)
    y = np.zeros((batch, length), np.int32)
    w = np.zeros((batch, length), np.float32)
    picks = rng.integers(0, len(clips), batch)
    for b, i in enumerate(picks):
        seq = np.concatenate([[BOS], clips.events[i]])
        start = int(rng.integers(0, max(1, len(seq) - length)))
        piece = seq[start:start + length + 1]
        n = len(piece) - 1
        x[b, :n], y[b, :n], w[b, :n] = piece[:-1], piece[1:], 1.0
    genre = clips.genre[picks] + 1
    genre = np.where(rng.random(batch) < genre_dropout, NO_GENRE, genre)
    return x, y, w, genre.astype(np.int32)


def clip_nll(net: tf.keras.Model, events: tf.Tensor, lengths: tf.Tensor, genre: tf.Tensor
             ) -> tuple[tf.Tensor, tf.Tensor]:
    """Teacher-forced NLL of whole clips (graph code): events int [B, T] (padded), lengths [B] and conditioning ids
    [B] → NLL summed over each clip's events (nats) [B] and its event count [B]. The one definition that
    validation, the benchmarks and the pipeline's ``serving_examples`` signature use."""
    events = tf.cast(events, tf.int32)
    x = tf.concat([tf.fill([tf.shape(events)[0], 1], BOS), events[:, :-1]], 1)  # BOS, then all but the last
    weights = tf.sequence_mask(lengths, tf.shape(events)[1], tf.float32)
    logits = net({"tokens": x, "genre": tf.cast(genre, tf.int32)}, training=False)
    ce = tf.keras.losses.sparse_categorical_crossentropy(events, logits, from_logits=True)
    return tf.reduce_sum(ce * weights, -1), tf.reduce_sum(weights, -1)


def nll_per_event(model: GenerationModel, clips: Clips, batch: int = 32, conditioned: bool = True) -> float:
    """Teacher-forced negative log-likelihood of whole clips, nats per event."""
    total = count = 0.0
    order = np.argsort([len(e) for e in clips.events])  # similar lengths together: less padding
    for first in range(0, len(order), batch):
        index = order[first:first + batch]
        lengths = np.array([len(clips.events[i]) for i in index])
        events = np.zeros((len(index), lengths.max()), np.int32)
        for row, i in enumerate(index):
            events[row, :lengths[row]] = clips.events[i]
        genre = (clips.genre[index] + 1) if conditioned else np.zeros(len(index), int)
        nll, n = clip_nll(model.keras_model, tf.constant(events), tf.constant(lengths), tf.constant(genre, tf.int32))
        total += float(tf.reduce_sum(nll))
        count += float(tf.reduce_sum(n))
    return total / count


def lstm_train_step(net: tf.keras.Model, optimizer: tf.keras.optimizers.Optimizer) -> Any:
    """One teacher-forced step on crops ``(x, y, w, genre)`` (:func:`lstm_batch`) → the mean CE per event."""

    @tf.function
    def step(x, y, w, genre):
        with tf.GradientTape() as tape:
            logits = net({"tokens": x, "genre": genre}, training=True)
            ce = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            loss = tf.reduce_sum(ce * w) / tf.reduce_sum(w)
        grads = tape.gradient(loss, net.trainable_variables)
        optimizer.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    return step


def train_lstm(model: GenerationModel, train: Clips, val: Clips, config: GenerationConfig, out_dir: Path,
               log: Any) -> dict[str, Any]:
    cfg = config.train
    step = lstm_train_step(model.keras_model, tf.keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clip_norm))
    rng = np.random.default_rng(cfg.seed)

    def evaluate() -> float:
        return nll_per_event(model, val)

    return _loop(model, step, lambda: lstm_batch(train, rng, cfg.batch_size, cfg.sequence_length,
                                                 cfg.genre_dropout), evaluate, "val_nll", lower_is_better=True,
                 config=config, out_dir=out_dir, log=log, has_validation=len(val) > 0)


# -- gen-rbm --------------------------------------------------------------------------------------------------

def train_rbm(model: GenerationModel, train: Clips, val: Clips, config: GenerationConfig, out_dir: Path,
              log: Any) -> dict[str, Any]:
    cfg = config.train
    net = model.keras_model
    opt = tf.keras.optimizers.Adam(cfg.learning_rate, clipnorm=cfg.clip_norm)
    rng = np.random.default_rng(cfg.seed)
    rolls = train.rolls()
    val_rolls = val.rolls()

    @tf.function
    def step(v, genre, seed):
        with tf.GradientTape() as tape:
            u_prev = net({"roll": v, "genre": genre})
            flat_u = tf.reshape(u_prev, [-1, net.recurrent])
            flat_v = tf.reshape(v, [-1, v.shape[-1]])
            bv, bh = net.biases(flat_u)
            negative = tf.stop_gradient(net.gibbs(flat_v, bv, bh, cfg.cd_steps, seed))
            cost = tf.reduce_mean(net.free_energy(flat_v, bv, bh) - net.free_energy(negative, bv, bh))
        grads = tape.gradient(cost, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        # what the figures plot as training error: the squared error of the CD reconstruction, per frame
        return tf.reduce_mean(tf.reduce_sum(tf.square(flat_v - negative), -1))

    counter = {"n": 0}

    def batch() -> tuple[Any, ...]:
        picks = rng.integers(0, len(train), cfg.batch_size)
        genre = np.where(rng.random(cfg.batch_size) < cfg.genre_dropout, NO_GENRE, train.genre[picks] + 1)
        counter["n"] += 1
        return (tf.constant(rolls[picks]), tf.constant(genre, tf.int32),
                tf.constant([cfg.seed, counter["n"]], tf.int64))

    def evaluate() -> float:
        return rbm_frame_accuracy(model, val_rolls, val.genre)

    return _loop(model, step, batch, evaluate, "val_frame_accuracy", lower_is_better=False, config=config,
                 out_dir=out_dir, log=log, has_validation=len(val) > 0)


def rbm_predictions(model: GenerationModel, rolls: np.ndarray, genre: np.ndarray, batch: int = 64) -> np.ndarray:
    """Each frame predicted from the true frames before it: mean-field of the conditional RBM, thresholded."""
    net = model.keras_model
    out = []
    for first in range(0, len(rolls), batch):
        v = tf.constant(rolls[first:first + batch])
        u_prev = net({"roll": v, "genre": tf.constant(genre[first:first + batch] + 1, tf.int32)})
        bv, bh = net.biases(tf.reshape(u_prev, [-1, net.recurrent]))
        out.append(tf.reshape(net.mean_field(bv, bh, model.gibbs_steps), v.shape).numpy() > 0.5)
    return np.concatenate(out).astype(np.float32)


def frame_accuracy(predicted: np.ndarray, true: np.ndarray) -> float:
    """Boulanger-Lewandowski's accuracy: ΣTP / Σ(TP + FP + FN) over frames and keys."""
    tp = float((predicted * true).sum())
    fp = float((predicted * (1 - true)).sum())
    fn = float(((1 - predicted) * true).sum())
    return tp / max(1.0, tp + fp + fn)


def rbm_frame_accuracy(model: GenerationModel, rolls: np.ndarray, genre: np.ndarray) -> float:
    return frame_accuracy(rbm_predictions(model, rolls, genre)[:, 1:], rolls[:, 1:])


def repeat_frame_accuracy(rolls: np.ndarray) -> float:
    """The floor: every frame predicted as the true frame before it."""
    return frame_accuracy(rolls[:, :-1], rolls[:, 1:])


def lstm_frame_predictions(model: GenerationModel, clips: Clips, max_events: int = 12) -> np.ndarray:
    """gen-lstm's next-frame predictions [N, FRAMES, 88] from the true history (see the module docstring).

    For every frame start t, the network has read the true events before t (a TIME_SHIFT spanning t is cut at t),
    then decodes greedily (NOTE_OFF only for sounding pitches, NOTE_ON only for silent ones) until FRAME_SECONDS
    have passed or ``max_events`` events; the frame is the keys sounding at t plus those switched on meanwhile.
    """
    net = model.keras_model
    step = tf.function(net.step, reduce_retracing=True)
    greedy = sampling.GreedySampler()
    frame_steps = int(round(FRAME_SECONDS / ev.SHIFT_STEP))
    starts = np.arange(FRAMES) * frame_steps
    out = np.zeros((len(clips), FRAMES, ev.PIANO_HIGH - ev.PIANO_LOW + 1), np.float32)
    for c in range(len(clips)):
        seq = np.concatenate([[BOS], clips.events[c]]).astype(np.int32)
        is_shift = (seq >= ev.TIME_SHIFT) | (seq == BOS)
        clock, on = 0, np.zeros(128, bool)
        times, sounding = [], []  # the clock and the sounding pitches after reading seq[:j + 1]
        for i in seq:
            if ev.TIME_SHIFT <= i < BOS:
                clock += i - ev.TIME_SHIFT + 1
            elif ev.NOTE_OFF <= i < ev.TIME_SHIFT:
                on[i - ev.NOTE_OFF] = False
            elif i < ev.NOTE_OFF:
                on[i] = True
            times.append(clock)
            sounding.append(on.copy())
        times = np.array(times)
        genre = tf.constant([clips.genre[c] + 1], tf.int32)
        state, logits_after, states = net.zero_state(1), [], []
        for tok in seq:  # teacher-forced, keeping every prefix's state and next-event logits
            logits, state = step(tf.constant([tok]), genre, state)
            logits_after.append(logits)
            states.append(state)
        # the last token read before frame start t: a note event before t, or a shift ending at or before t
        read = np.where(is_shift[None], times[None] <= starts[:, None], times[None] < starts[:, None])
        k = read.sum(1) - 1
        gap = starts - times[k]
        gen = tf.tile(genre, [len(k)])
        state = [tf.concat([states[j][s] for j in k], 0) for s in range(len(states[0]))]
        logits = tf.concat([logits_after[j] for j in k], 0)
        # Where a true shift spans t, the history says no event happened between its start and t: the first
        # decoded token is held to a shift longer than the gap, and only its part after t counts. (Reading a
        # shift cut at t instead tells the model an event follows at t, and it decodes a phantom onset.)
        on = np.stack([sounding[j] for j in k])
        frame_on = on.copy()
        elapsed, done = np.zeros(len(k), int), np.zeros(len(k), bool)
        lengths = np.arange(1, ev.MAX_SHIFT_STEPS + 1)
        pending = np.minimum(gap, ev.MAX_SHIFT_STEPS - 1)  # the part of the spanning shift before t
        for _ in range(max_events):
            first = pending > 0
            allow = np.concatenate([~on & (np.arange(128) >= ev.PIANO_LOW)[None] & ~first[:, None],
                                    on & ~first[:, None],
                                    lengths[None] > pending[:, None]], 1)
            nxt = greedy(logits, tf.constant(allow)).numpy()
            live = ~done
            rows = np.nonzero((nxt < ev.NOTE_OFF) & live)[0]
            on[rows, nxt[rows]] = True
            frame_on[rows, nxt[rows]] = True
            rows = np.nonzero((nxt >= ev.NOTE_OFF) & (nxt < ev.TIME_SHIFT) & live)[0]
            on[rows, nxt[rows] - ev.NOTE_OFF] = False
            elapsed += np.where((nxt >= ev.TIME_SHIFT) & live, nxt - ev.TIME_SHIFT + 1 - pending, 0)
            pending = np.zeros_like(pending)
            done |= elapsed >= frame_steps
            if done.all():
                break
            logits, state = step(tf.constant(nxt.astype(np.int32)), gen, state)
        out[c] = frame_on[:, ev.PIANO_LOW:ev.PIANO_HIGH + 1]
    return out


# -- the shared loop, evaluation and the run folder -----------------------------------------------------------

def _loop(model: GenerationModel, step: Any, batch: Any, evaluate: Any, metric: str, lower_is_better: bool,
          config: GenerationConfig, out_dir: Path, log: Any, has_validation: bool = True) -> dict[str, Any]:
    """Train, validating every ``eval_every`` iterations and keeping the best (the last when the build has no
    validation clips)."""
    cfg = config.train
    weights = out_dir / f"{model.name}.weights.npz"
    state_file, last = out_dir / "state.json", out_dir / "last.npz"
    history: dict[str, list[float]] = {"step": [], "train_loss": [], metric: []}
    best, best_step, waited, running, first, spent = None, 0, 0, [], 1, 0.0
    if state_file.is_file() and last.is_file():  # resume an interrupted run (Adam's moments start afresh)
        state = json.loads(state_file.read_text(encoding="utf-8"))
        history = json.loads((out_dir / "history.json").read_text(encoding="utf-8"))
        best, best_step, waited, spent = state["best"], state["best_step"], state["waited"], state["seconds"]
        first = state["step"] + 1
        model.load_weights(last)
        log(f"{model.name}: resuming after iteration {state['step']}")
    start = time.perf_counter() - spent
    i = first - 1
    for i in range(first, cfg.steps + 1):
        running.append(float(step(*batch())))
        if i in cfg.checkpoints:
            model.save_weights(out_dir / f"checkpoint-{i}.npz")
        if i % cfg.eval_every == 0 or i == cfg.steps:
            value = evaluate() if has_validation else float("nan")
            history["step"].append(i)
            history["train_loss"].append(float(np.mean(running)))
            history[metric].append(value)
            running = []
            better = not has_validation or best is None or (value < best if lower_is_better else value > best)
            if better:
                best, best_step, waited = value, i, 0
                model.save_weights(weights)
            else:
                waited += 1
            elapsed = time.perf_counter() - start
            log(f"{model.name} step {i}: train {history['train_loss'][-1]:.4f}  {metric} {value:.4f}"
                f"{'  (best)' if better else ''}  {elapsed:.0f} s")
            model.save_weights(last)
            (out_dir / "history.json").write_text(json.dumps(history, indent=1), encoding="utf-8")
            state_file.write_text(json.dumps({"step": i, "best": best, "best_step": best_step, "waited": waited,
                                              "seconds": elapsed}), encoding="utf-8")
            if waited >= cfg.patience or elapsed > 60 * cfg.minutes:
                break
    model.load_weights(weights)
    return {"best_step": best_step, f"best_{metric}": best, "steps_run": i,
            "train_seconds": round(time.perf_counter() - start), "history": history}


def evaluate_split(model: GenerationModel, clips: Clips, frame_clips: int = 60, seed: int = 0) -> dict[str, float]:
    """The common-ground figures on a split: NLL per event (gen-lstm) and frame-level accuracy (both, on
    ``frame_clips`` clips drawn at random, with the repeat-last-frame floor)."""
    if not len(clips):
        return {"clips": 0}
    pick = np.sort(np.random.default_rng(seed).choice(len(clips), min(frame_clips, len(clips)), replace=False))
    sub = clips.subset(pick)
    rolls = sub.rolls()
    out: dict[str, float] = {"clips": len(clips), "frame_clips": len(sub)}
    if model.kind == "lstm":
        out["nll_per_event"] = round(nll_per_event(model, clips), 4)
        out["nll_per_event_unconditioned"] = round(nll_per_event(model, clips, conditioned=False), 4)
        predicted = lstm_frame_predictions(model, sub)
    else:
        predicted = rbm_predictions(model, rolls, sub.genre)
    out["frame_accuracy"] = round(frame_accuracy(predicted[:, 1:], rolls[:, 1:]), 4)
    out["frame_accuracy_repeat_floor"] = round(repeat_frame_accuracy(rolls), 4)
    return out


def train(model_name: str, data_dir: Path, out_dir: Path, config: GenerationConfig | None = None,
          warm_start: str | None = None) -> dict[str, Any]:
    """Train ``gen-lstm`` or ``gen-rbm`` on the genre build; write weights, manifest, history and plots."""
    config = config or GenerationConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_file = (out_dir / "train.log").open("a", encoding="utf-8")

    def log(message: str) -> None:
        log_file.write(message + "\n")
        log_file.flush()
        if config.train.verbose:
            print(message, flush=True)

    tf.keras.utils.set_random_seed(config.train.seed)
    train_clips, val, test = (load_clips(data_dir, s) for s in ("train", "validation", "test"))
    log(f"clips: train {len(train_clips)}, validation {len(val)}, test {len(test)}")
    if not len(train_clips):
        raise ValueError(f"{data_dir} has no training clips of the genres {', '.join(GENRES)}: build it with "
                         "`scorezoo data build genre`")
    model = zoo.create_model(model_name, **config.model.overrides())
    if warm_start:
        model.load_weights(warm_start)
    trainer = train_lstm if model.kind == "lstm" else train_rbm
    summary = trainer(model, train_clips, val, config, out_dir, log)
    history = summary.pop("history")
    results = {"validation": evaluate_split(model, val), "test": evaluate_split(model, test)}
    log(f"results: {json.dumps(results)}")
    plots.training_curves({k: v for k, v in history.items() if k != "step"}, out_dir / "training_curves.png",
                          f"{model_name}: every {config.train.eval_every} iterations")
    build_config = build.read_build_config(data_dir)
    write_manifest(
        out_dir, model_name, f"{model_name}.weights.npz", config=model.config, labels=list(model.labels),
        input_spec=zoo.get_spec(model_name).input_spec,
        preprocessing={"events": "zoo.datasets.events (NOTE_ON/NOTE_OFF/TIME_SHIFT 10 ms, 356 ids)",
                       "frame_seconds": FRAME_SECONDS},
        training_data={"dataset": "genre", "data_dir": str(data_dir), "build_config": build_config,
                       "clips": {"train": len(train_clips), "validation": len(val), "test": len(test)}},
        metrics={f"test_{k}": v for k, v in results["test"].items()}
        | {f"validation_{k}": v for k, v in results["validation"].items()},
        training={**summary, "config": config_lib.to_dict(config), "warm_start": warm_start},
    )
    return {**summary, "results": results}
