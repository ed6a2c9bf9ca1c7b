"""``gen-lstm`` and ``gen-rbm``: music generated in a chosen genre.

* ``gen-lstm`` — the seed paper's generator: an LSTM over performance events (:mod:`zoo.datasets.events`: NOTE_ON,
  NOTE_OFF, TIME_SHIFT of 10 ms) with a genre embedding concatenated to every input. The conditioning id 0 means
  "no genre": training replaces the genre by it at random (conditioning dropout), so the same network also runs
  unconditioned. 4 layers × 400 units by default, as the seed found best.
* ``gen-rbm`` — the baseline the seed compares against: an RNN-RBM (Boulanger-Lewandowski et al., 2012) over
  88-key piano-roll frames of ``FRAME_SECONDS``. A simple RNN ``u_t = tanh(b_u + W_uu u_{t-1} + W_vu v_t + E g)``
  (``E g`` the genre embedding) sets the biases of an RBM per frame; trained by contrastive divergence (CD-k), it
  samples each frame by k Gibbs steps.

The sampling loops are graph code (``tf.while_loop``): the library runs them eagerly, the ``generate`` serving
signature runs the same function, so a seed gives the same music from both. Sampling keeps the events playable:
a NOTE_OFF is only drawn for a sounding pitch, a NOTE_ON only for a silent one inside the instrument's range, and
at most ``MAX_POLYPHONY`` notes sound at once; :func:`zoo.datasets.events.notes_of` cleans what remains.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from zoo.datasets import events as ev
from zoo.decoding import sampling
from zoo.pretrained import WeightsError
from zoo.registry import ZooModel, register_model

GENRES: tuple[str, ...] = ("chorale", "classical", "fiddle", "folk", "renaissance")  # the genre build's labels
NO_GENRE = 0  # conditioning id of "no genre"; genre i of ``labels`` is i + 1
BOS = ev.EVENT_VOCAB_SIZE  # the start token the LSTM reads first (an input id, never an output)
FRAME_SECONDS = 0.05  # gen-rbm's piano-roll frame: 20 frames a second, shorter than a fiddle tune's semiquaver
KEYS = ev.PIANO_HIGH - ev.PIANO_LOW + 1
MAX_POLYPHONY = 8
EVENTS_PER_SECOND = 100  # the LSTM's loop stops after this many events a second even if time has not run out
MAX_SECONDS = 120.0

# General MIDI programs suited to each genre (all from the genre build's instrument pool, so genre-cnn has heard
# every one of them in every genre), and the written range of each program the generator may use.
GENRE_PROGRAMS = {"chorale": 19, "classical": 0, "fiddle": 40, "folk": 73, "renaissance": 52}
PROGRAM_RANGES = {0: (21, 108), 6: (29, 89), 11: (53, 89), 19: (36, 96), 24: (40, 83), 40: (55, 103),
                  42: (36, 76), 48: (28, 103), 52: (36, 84), 68: (58, 91), 71: (50, 94), 73: (60, 96)}
DEFAULT_RANGE = (ev.PIANO_LOW, ev.PIANO_HIGH)


def program_range(program: int) -> tuple[int, int]:
    """The lowest and highest pitch General MIDI ``program`` may play."""
    return PROGRAM_RANGES.get(int(program), DEFAULT_RANGE)


def key_range_of(program: tf.Tensor | int) -> tuple[tf.Tensor, tf.Tensor]:
    """The lowest and highest pitch a General MIDI program may play (graph code: the served sampler uses it too)."""
    table = np.tile(np.array(DEFAULT_RANGE, np.int32), (128, 1))
    for p, r in PROGRAM_RANGES.items():
        table[p] = r
    row = tf.gather(tf.constant(table), tf.clip_by_value(tf.cast(program, tf.int32), 0, 127))
    return row[0], row[1]


def same_shapes(body: Any) -> Any:
    """A ``tf.while_loop`` body whose tensors leave with the static shapes they entered with: a batch of one
    stays one (a tensor batch size would otherwise make the loop variables' shapes unknown and the loop fail)."""
    def wrapped(*loop: Any) -> tuple[Any, ...]:
        return tuple(tf.ensure_shape(new, old.shape) if isinstance(new, tf.Tensor) else new
                     for new, old in zip(body(*loop), loop))
    return wrapped


class GenerationInputError(ValueError):
    """A request the generators cannot honour: the message names the setting and what is accepted."""


def check_settings(seconds: float, temperature: float, count: int = 1) -> None:
    if not 0 < seconds <= MAX_SECONDS:
        raise GenerationInputError(f"seconds must be in (0, {MAX_SECONDS:g}], got {seconds:g}")
    if not 0.05 <= temperature <= 5.0:
        raise GenerationInputError(f"temperature must be in [0.05, 5], got {temperature:g}")
    if not 1 <= count <= 10000:
        raise GenerationInputError(f"count must be in [1, 10000], got {count}")


class EventLSTM(tf.keras.Model):
    """Event ids [B, T] + genre ids [B] → next-event logits [B, T, 356]; :meth:`step` runs one event at a time."""

    def __init__(self, layers: int, units: int, token_dim: int, genre_dim: int, dropout: float, n_genres: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.n_layers = units, layers
        self.token_embedding = tf.keras.layers.Embedding(ev.EVENT_VOCAB_SIZE + 1, token_dim, name="tokens")
        self.genre_embedding = tf.keras.layers.Embedding(n_genres + 1, genre_dim, name="genre")
        self.lstms = [tf.keras.layers.LSTM(units, return_sequences=True, name=f"lstm{i}") for i in range(layers)]
        self.drops = [tf.keras.layers.Dropout(dropout) for _ in range(layers)]
        self.head = tf.keras.layers.Dense(ev.EVENT_VOCAB_SIZE, name="events")

    def _inputs(self, tokens: tf.Tensor, genre: tf.Tensor) -> tf.Tensor:
        x = self.token_embedding(tokens)
        g = self.genre_embedding(genre)
        if len(tokens.shape) == 2:
            g = tf.broadcast_to(g[:, None, :], tf.concat([tf.shape(x)[:2], tf.shape(g)[-1:]], 0))
        return tf.concat([x, g], -1)

    def call(self, inputs: dict[str, tf.Tensor], training: bool | None = None) -> tf.Tensor:
        x = self._inputs(inputs["tokens"], inputs["genre"])
        for lstm, drop in zip(self.lstms, self.drops):
            x = drop(lstm(x), training=training)
        return self.head(x)

    def zero_state(self, batch: tf.Tensor) -> list[tf.Tensor]:
        return [tf.zeros([batch, self.units]) for _ in range(2 * self.n_layers)]

    def step(self, token: tf.Tensor, genre: tf.Tensor, state: list[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """One event [B] → logits [B, 356] and the next state (h, c per layer), through the layers' own cells."""
        x = self._inputs(token, genre)
        new = []
        for i, lstm in enumerate(self.lstms):
            x, (h, c) = lstm.cell(x, [state[2 * i], state[2 * i + 1]])
            new += [h, c]
        return self.head(x), new


class RnnRbm(tf.keras.Model):
    """An RNN-RBM over 88-key frames with the genre fed to its recurrent part."""

    def __init__(self, hidden: int, recurrent: int, n_genres: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        seeds = iter(range(100))

        def init(shape: Any, dtype: Any = None) -> tf.Tensor:  # a fresh stream per matrix: one unseeded
            # initializer called again would repeat its values
            return tf.keras.initializers.RandomNormal(stddev=0.01, seed=next(seeds))(shape, dtype)

        self.hidden, self.recurrent = hidden, recurrent
        self.W = self.add_weight(name="W", shape=(KEYS, hidden), initializer=init)
        self.bv = self.add_weight(name="bv", shape=(KEYS,), initializer="zeros")
        self.bh = self.add_weight(name="bh", shape=(hidden,), initializer="zeros")
        self.Wuh = self.add_weight(name="Wuh", shape=(recurrent, hidden), initializer=init)
        self.Wuv = self.add_weight(name="Wuv", shape=(recurrent, KEYS), initializer=init)
        self.Wvu = self.add_weight(name="Wvu", shape=(KEYS, recurrent), initializer=init)
        self.Wuu = self.add_weight(name="Wuu", shape=(recurrent, recurrent), initializer=init)
        self.bu = self.add_weight(name="bu", shape=(recurrent,), initializer="zeros")
        self.genre_embedding = self.add_weight(name="genre", shape=(n_genres + 1, recurrent), initializer=init)

    def call(self, inputs: dict[str, tf.Tensor], training: bool | None = None) -> tf.Tensor:
        """Rolls [B, T, 88] + genre [B] → the RNN's state before each frame, u_{t-1} [B, T, U]."""
        roll, genre = inputs["roll"], inputs["genre"]
        g = tf.gather(self.genre_embedding, genre)
        u0 = tf.zeros([tf.shape(roll)[0], self.recurrent])

        def advance(u: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
            return self.next_u(u, v, g)

        after = tf.scan(advance, tf.transpose(roll, [1, 0, 2]), initializer=u0)  # u_t for t = 0..T-1
        before = tf.concat([u0[None], after[:-1]], 0)
        return tf.transpose(before, [1, 0, 2])

    def next_u(self, u: tf.Tensor, v: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
        return tf.tanh(self.bu + tf.matmul(u, self.Wuu) + tf.matmul(v, self.Wvu) + g)

    def biases(self, u_prev: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The RBM's visible and hidden biases for a frame, from the RNN state before it."""
        return self.bv + tf.matmul(u_prev, self.Wuv), self.bh + tf.matmul(u_prev, self.Wuh)

    def free_energy(self, v: tf.Tensor, bv: tf.Tensor, bh: tf.Tensor) -> tf.Tensor:
        return -tf.reduce_sum(v * bv, -1) - tf.reduce_sum(tf.nn.softplus(tf.matmul(v, self.W) + bh), -1)

    def gibbs(self, v: tf.Tensor, bv: tf.Tensor, bh: tf.Tensor, steps: int, seed: tf.Tensor,
              temperature: float | tf.Tensor = 1.0) -> tf.Tensor:
        """``steps`` block-Gibbs steps from ``v``; stateless draws from ``seed`` (int32[2])."""
        for k in range(steps):
            ph = tf.sigmoid((tf.matmul(v, self.W) + bh) / temperature)
            h = tf.cast(tf.random.stateless_uniform(tf.shape(ph), seed + [0, 2 * k]) < ph, tf.float32)
            pv = tf.sigmoid((tf.matmul(h, self.W, transpose_b=True) + bv) / temperature)
            v = tf.cast(tf.random.stateless_uniform(tf.shape(pv), seed + [0, 2 * k + 1]) < pv, tf.float32)
        return v

    def mean_field(self, bv: tf.Tensor, bh: tf.Tensor, steps: int) -> tf.Tensor:
        """The frame's deterministic prediction: mean-field iterations from sigmoid(bv); keys > 0.5 are on."""
        v = tf.sigmoid(bv)
        for _ in range(steps):
            h = tf.sigmoid(tf.matmul(v, self.W) + bh)
            v = tf.sigmoid(tf.matmul(h, self.W, transpose_b=True) + bv)
        return v


@dataclass
class Sample:
    """One generated piece: its notes (cleaned), and for gen-lstm the raw events."""
    genre: str
    notes: list[ev.Note]
    events: list[int]
    seconds: float

    def midi(self, program: int) -> bytes:
        return ev.notes_to_midi(self.notes, program)


class GenerationModel(ZooModel):
    """A genre-conditioned generator: :meth:`generate` writes notes; :meth:`serving_signatures` the ``generate``
    signature (gen-lstm)."""

    def __init__(self, name: str, network: tf.keras.Model, config: dict[str, Any], kind: str) -> None:
        super().__init__(name, network, config, labels=list(config.get("genres", GENRES)))
        self.kind = kind
        self.gibbs_steps = int(config.get("gibbs_steps", 25))
        # gen-lstm's genre guidance: next-event logits = unconditioned + guidance × (conditioned − unconditioned),
        # possible because conditioning dropout taught the same network both (1 = plain conditioning; 0021)
        self.guidance = float(config.get("guidance", 1.0))
        self.sampler: sampling.Sampler = sampling.RandomSampler()  # gen-lstm's; swap for TopKSampler, GreedySampler

    # -- weights: float16 arrays in model.weights order (half the bytes of an h5 of float32)

    def load_weights(self, path: str | Path) -> None:
        path = Path(path)
        if path.suffix != ".npz":
            return super().load_weights(path)
        if not path.is_file():
            raise WeightsError(f"Weights file not found: {path}")
        with np.load(path) as data:
            arrays = [data[f"w{i:03d}"] for i in range(len(data.files))]
        weights = self.keras_model.weights
        if len(arrays) != len(weights) or any(a.shape != tuple(w.shape) for a, w in zip(arrays, weights)):
            raise WeightsError(f"{path} does not fit {self.name!r} with config {self.config}: "
                               f"{len(arrays)} arrays for {len(weights)} weights")
        for w, a in zip(weights, arrays):
            w.assign(a.astype(np.float32))

    def save_weights(self, path: str | Path) -> None:
        np.savez(path, **{f"w{i:03d}": w.numpy().astype(np.float16) for i, w in enumerate(self.keras_model.weights)})

    # -- genres

    def genre_id(self, genre: str | None) -> int:
        if genre is None or genre == "none":
            return NO_GENRE
        if genre not in self.labels:
            raise GenerationInputError(f"unknown genre {genre!r}; choose one of {', '.join(self.labels)} (or none)")
        return self.labels.index(genre) + 1

    def genre_ids_tensor(self, genres: tf.Tensor) -> tf.Tensor:
        """Genre names string[B] → conditioning ids (graph code; an unknown name is an InvalidArgument)."""
        names = tf.constant(["none"] + list(self.labels))
        match = tf.cast(tf.equal(genres[:, None], names[None, :]), tf.int32)
        tf.debugging.assert_equal(tf.reduce_sum(match, 1), tf.ones_like(genres, tf.int32),
                                  message=f"genre must be one of {', '.join(self.labels)} or none")
        return tf.argmax(match, 1, output_type=tf.int32)

    # -- sampling (graph code)

    def sample_events(self, genre_ids: tf.Tensor, seconds: tf.Tensor, temperature: tf.Tensor, seed: tf.Tensor,
                      program: tf.Tensor | int = 0, primer: tf.Tensor | None = None,
                      sounding: tf.Tensor | None = None, guidance: float | None = None
                      ) -> tuple[tf.Tensor, tf.Tensor]:
        """gen-lstm: events int32[B, T] (padded with -1) and lengths int32[B] for ``seconds`` of music on General
        MIDI ``program`` (NOTE_ONs stay inside its range).

        ``primer`` (int32[P], the same for every row) is read first; ``sounding`` (bool[128]) says which pitches
        it leaves on. Events are drawn by ``self.sampler`` (:mod:`zoo.decoding.sampling`); row b of a batch is the
        same whatever the batch size, so sample k of ``--count N --seed S`` does not depend on N. ``guidance``
        (a Python float; default the model's) other than 1 runs every row twice, with its genre and with none.
        """
        net: EventLSTM = self.keras_model
        batch = tf.shape(genre_ids)[0]
        guidance = self.guidance if guidance is None else float(guidance)
        guided = guidance != 1.0
        # guided: the network runs on [rows with their genre; the same rows with none]; the state is 2B tall
        net_ids = tf.concat([genre_ids, tf.zeros_like(genre_ids) + NO_GENRE], 0) if guided else genre_ids

        def step(tok: tf.Tensor, st: list[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
            logits, new = net.step(tf.concat([tok, tok], 0) if guided else tok, net_ids, st)
            if guided:
                conditioned, plain = logits[:batch], logits[batch:]
                logits = plain + guidance * (conditioned - plain)
            return logits, new

        state = net.zero_state(tf.shape(net_ids)[0])
        token = tf.zeros_like(genre_ids) + BOS
        if primer is not None:
            @same_shapes
            def prime(i, tok, *st):
                _, new = step(tok, list(st))
                return (i + 1, tf.zeros_like(tok) + primer[i], *new)

            out = tf.while_loop(lambda i, *_: i < tf.shape(primer)[0], prime, (0, token, *state))
            token, state = out[1], list(out[2:])
        on = tf.zeros([batch, 128], tf.bool) if sounding is None else tf.tile(sounding[None], [batch, 1])
        limit = tf.cast(tf.round(tf.cast(seconds, tf.float32) / ev.SHIFT_STEP), tf.int32)
        max_steps = EVENTS_PER_SECOND * tf.cast(tf.math.ceil(tf.cast(seconds, tf.float32)), tf.int32)
        pitches = tf.range(128)
        low, high = key_range_of(program)
        in_range = (pitches >= low) & (pitches <= high)
        shift_steps = tf.range(1, ev.MAX_SHIFT_STEPS + 1)
        seed2 = tf.cast(tf.stack([seed, 0]), tf.int64)

        @same_shapes
        def body(i, tok, elapsed, on, done, written, *st):
            logits, new = step(tok, list(st))
            crowded = tf.reduce_sum(tf.cast(on, tf.int32), 1, keepdims=True) >= MAX_POLYPHONY
            allow_on = ~on & in_range[None] & ~crowded
            allow = tf.concat([allow_on, on, tf.ones([batch, ev.MAX_SHIFT_STEPS], tf.bool)], 1)
            nxt = self.sampler(logits, allow, temperature, seed2 + tf.cast([0, i], tf.int64))
            is_on, is_off = nxt < ev.NOTE_OFF, (nxt >= ev.NOTE_OFF) & (nxt < ev.TIME_SHIFT)
            hot = tf.one_hot(nxt % 128, 128, on_value=True, off_value=False)
            on = tf.where(is_on[:, None], on | hot, tf.where(is_off[:, None], on & ~hot, on))
            step_ms = tf.where(nxt >= ev.TIME_SHIFT, tf.gather(shift_steps, tf.maximum(nxt - ev.TIME_SHIFT, 0)), 0)
            written = written.write(i, tf.where(done, -1, nxt))
            elapsed = elapsed + tf.where(done, 0, step_ms)
            done = done | (elapsed >= limit)
            return (i + 1, nxt, elapsed, on, done, written, *new)

        init = (0, token, tf.zeros([batch], tf.int32), on, tf.zeros([batch], tf.bool),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True), *state)
        out = tf.while_loop(lambda i, tok, el, on, done, *_: (i < max_steps) & ~tf.reduce_all(done), body, init)
        events = tf.transpose(out[5].stack())  # [B, T]
        lengths = tf.reduce_sum(tf.cast(events >= 0, tf.int32), 1)
        return events, lengths

    def sample_rolls(self, genre_ids: tf.Tensor, seconds: tf.Tensor | float, temperature: tf.Tensor | float,
                     seed: tf.Tensor | int, primer: tf.Tensor | None = None) -> tf.Tensor:
        """gen-rbm: rolls float[B, frames, 88] for ``seconds`` (frames of FRAME_SECONDS) by ``gibbs_steps`` Gibbs
        steps a frame, after an optional primer roll [P, 88] (the same for every row). Graph code."""
        net: RnnRbm = self.keras_model
        batch = tf.shape(genre_ids)[0]
        frames = tf.cast(tf.round(tf.cast(seconds, tf.float32) / FRAME_SECONDS), tf.int32)
        seed = tf.cast(seed, tf.int64)
        g = tf.gather(net.genre_embedding, genre_ids)
        u = tf.zeros([batch, net.recurrent])
        if primer is not None:
            u = tf.foldl(lambda u, v: tf.ensure_shape(net.next_u(u, tf.tile(v[None], [batch, 1]), g), u.shape),
                         primer, initializer=u)

        @same_shapes
        def frame(t, u, rolls):
            bv, bh = net.biases(u)
            v = net.gibbs(tf.zeros([batch, KEYS]), bv, bh, self.gibbs_steps,
                          tf.stack([seed, 1000 * tf.cast(t, tf.int64)]), temperature)
            return t + 1, net.next_u(u, v, g), rolls.write(t, v)

        _, _, rolls = tf.while_loop(lambda t, *_: t < frames, frame,
                                    (0, u, tf.TensorArray(tf.float32, size=frames, element_shape=[None, KEYS])))
        return tf.transpose(rolls.stack(), [1, 0, 2])

    # -- the library

    def generate(self, genre: str | None, seconds: float = 10.0, count: int = 1, temperature: float = 1.0,
                 seed: int = 0, primer: list[ev.Note] | None = None, program: int | None = None,
                 batch_size: int = 64, primer_cut: float | None = None, guidance: float | None = None
                 ) -> list[Sample]:
        """``count`` samples of ``seconds`` in ``genre`` (None: unconditioned); with ``primer`` notes, each sample
        continues them (the primer is not part of the returned notes). ``guidance``: gen-lstm's genre guidance
        (default the model's, which the served signature uses)."""
        check_settings(seconds, temperature, count)
        gid = self.genre_id(genre)
        if guidance is not None and self.kind != "lstm":
            raise GenerationInputError(f"guidance applies to gen-lstm only; {self.name} samples an RBM")
        guidance = self.guidance if guidance is None else float(guidance)
        program = GENRE_PROGRAMS.get(genre or "", 0) if program is None else program
        samples: list[Sample] = []
        for first in range(0, count, batch_size):
            n = min(batch_size, count - first)
            ids = tf.fill([n], gid)
            if self.kind == "lstm":
                primer_ids = sounding = None
                if primer:
                    primer_ids, sounding = primer_events(primer, primer_cut)
                rows = self._sample_lstm(ids, float(seconds), float(temperature), int(seed) + first, program,
                                         primer_ids, sounding, guidance)
                for row in rows:
                    samples.append(Sample(genre or "none", notes_of_events(row, seconds, program), row, seconds))
            else:
                primer_roll = None
                if primer:
                    end = max(n.end for n in primer) if primer_cut is None else primer_cut
                    primer_roll = ev.piano_roll(primer, int(round(end / FRAME_SECONDS)), FRAME_SECONDS)
                fn = self._compiled(primer_roll is not None, guidance)
                args = [ids, tf.constant(float(seconds)), tf.constant(float(temperature)),
                        tf.constant(int(seed) + first, tf.int64), tf.constant(program, tf.int32)]
                if primer_roll is not None:
                    args.append(tf.constant(primer_roll))
                for roll in fn(*args).numpy():
                    notes = notes_of_roll(roll, seconds, program)
                    samples.append(Sample(genre or "none", notes, ev.events_of_notes(notes), seconds))
        return samples

    def _sample_lstm(self, ids: tf.Tensor, seconds: float, temperature: float, seed: int, program: int,
                     primer_ids: list[int] | None, sounding: np.ndarray | None,
                     guidance: float) -> list[list[int]]:
        fn = self._compiled(primer_ids is not None, guidance)
        args = [ids, tf.constant(seconds), tf.constant(temperature), tf.constant(seed, tf.int64),
                tf.constant(program, tf.int32)]
        if primer_ids is not None:
            args += [tf.constant(primer_ids, tf.int32), tf.constant(sounding)]
        events, lengths = fn(*args)
        return [list(map(int, row[:n])) for row, n in zip(events.numpy(), lengths.numpy())]

    def _compiled(self, primed: bool, guidance: float) -> Any:
        """One traced sampler per kind of call (primed or not, guidance); shapes and values are tensors."""
        cache = self.__dict__.setdefault("_fns", {})
        key = (primed, guidance)
        if key not in cache:
            if self.kind == "lstm":
                def fn(ids, seconds, temperature, seed, program, primer=None, sounding=None):
                    return self.sample_events(ids, seconds, temperature, seed, program, primer, sounding, guidance)
            else:
                def fn(ids, seconds, temperature, seed, program, primer=None):
                    return self.sample_rolls(ids, seconds, temperature, seed, primer)
            cache[key] = tf.function(fn, reduce_retracing=True)
        return cache[key]

    def predict(self, inputs: Any) -> Any:
        """``inputs`` = a genre name: one 10-second sample."""
        return self.generate(inputs)[0]

    def serving_signatures(self, formats: Sequence[str] = ("wav",)) -> dict[str, Any]:
        """``generate``: genre string[B], seconds float, temperature float, seed int64, program int32 (the General
        MIDI program whose range the notes keep to) → events int32[B, T] (-1 after each row's end) and lengths
        int32[B]; the sampling loop runs inside the graph. gen-rbm answers ``rolls`` float[B, frames, 88] (frames
        of FRAME_SECONDS, keys from A0) instead: a piano roll is what it generates."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="genre"),
                                      tf.TensorSpec([], tf.float32, name="seconds"),
                                      tf.TensorSpec([], tf.float32, name="temperature"),
                                      tf.TensorSpec([], tf.int64, name="seed"),
                                      tf.TensorSpec([], tf.int32, name="program")])
        def generate(genre: tf.Tensor, seconds: tf.Tensor, temperature: tf.Tensor, seed: tf.Tensor,
                     program: tf.Tensor):
            tf.debugging.assert_greater(seconds, 0.0, message="seconds must be > 0")
            tf.debugging.assert_less_equal(seconds, MAX_SECONDS, message=f"seconds must be <= {MAX_SECONDS:g}")
            tf.debugging.assert_greater_equal(temperature, 0.05, message="temperature must be in [0.05, 5]")
            tf.debugging.assert_less_equal(temperature, 5.0, message="temperature must be in [0.05, 5]")
            tf.debugging.assert_greater_equal(program, 0, message="program must be in [0, 127]")
            tf.debugging.assert_less_equal(program, 127, message="program must be in [0, 127]")
            ids = self.genre_ids_tensor(genre)
            if self.kind == "rbm":
                return {"rolls": self.sample_rolls(ids, seconds, temperature, seed)}
            events, lengths = self.sample_events(ids, seconds, temperature, seed, program)
            return {"events": events, "lengths": lengths}

        return {"generate": generate, "serving_default": generate}


def notes_of_events(events: Sequence[int], seconds: float, program: int) -> list[ev.Note]:
    """gen-lstm's events → cleaned notes inside ``program``'s range (the library and the serving client)."""
    low, high = program_range(program)
    return ev.notes_of(events, seconds, low, high)


def notes_of_roll(roll: np.ndarray, seconds: float, program: int) -> list[ev.Note]:
    """gen-rbm's roll [frames, 88] → cleaned notes inside ``program``'s range (the library and the serving client)."""
    return notes_of_events(ev.events_of_notes(ev.notes_of_roll(roll, FRAME_SECONDS)), seconds, program)


def primer_events(notes: list[ev.Note], cut: float | None = None) -> tuple[list[int], np.ndarray]:
    """A primer's event ids up to ``cut`` seconds (default: its last note's end) and the pitches still sounding
    there (bool[128]): the sampler starts from that state, so a held note can be released by the continuation."""
    cut = max(n.end for n in notes) if cut is None else cut
    marks = [ev.NoteEvent(n.start, n.pitch, True) for n in notes] + [ev.NoteEvent(n.end, n.pitch, False)
                                                                       for n in notes]
    ids = ev.encode_window(marks, 0.0, cut)
    steps = round(cut / ev.SHIFT_STEP) - round(ev.event_seconds(ids) / ev.SHIFT_STEP)
    while steps > 0:
        k = min(steps, ev.MAX_SHIFT_STEPS)
        ids.append(ev.TIME_SHIFT + k - 1)
        steps -= k
    sounding = np.zeros(128, bool)
    for n in notes:
        if n.start < cut <= n.end:
            sounding[n.pitch] = True
    return ids, sounding


LSTM_CONFIG: dict[str, Any] = {"layers": 4, "units": 400, "token_dim": 64, "genre_dim": 16, "dropout": 0.2,
                               "guidance": 2.0, "genres": list(GENRES)}
RBM_CONFIG: dict[str, Any] = {"hidden": 150, "recurrent": 100, "gibbs_steps": 25, "genres": list(GENRES)}
INPUT_SPEC = {"genre": f"one of {', '.join(GENRES)} or none", "seconds": f"(0, {MAX_SECONDS:g}]",
              "temperature": "[0.05, 5]", "seed": "int64", "program": "General MIDI program 0-127"}


@register_model(task="generation", input_spec=INPUT_SPEC, default_config=LSTM_CONFIG)
def gen_lstm(layers: int = 4, units: int = 400, token_dim: int = 64, genre_dim: int = 16, dropout: float = 0.2,
             guidance: float = 2.0, genres: Sequence[str] = GENRES) -> GenerationModel:
    """Genre-conditioned event LSTM (the seed's generator; 4 × 400 by default)."""
    net = EventLSTM(layers, units, token_dim, genre_dim, dropout, len(genres), name="gen_lstm")
    net({"tokens": tf.zeros([1, 2], tf.int32), "genre": tf.zeros([1], tf.int32)})
    config = {"layers": layers, "units": units, "token_dim": token_dim, "genre_dim": genre_dim, "dropout": dropout,
              "guidance": float(guidance), "genres": list(genres)}
    return GenerationModel("gen-lstm", net, config, "lstm")


@register_model(task="generation", input_spec=INPUT_SPEC, default_config=RBM_CONFIG)
def gen_rbm(hidden: int = 150, recurrent: int = 100, gibbs_steps: int = 25,
            genres: Sequence[str] = GENRES) -> GenerationModel:
    """Genre-conditioned RNN-RBM on 88-key piano-roll frames of 50 ms (the seed's baseline)."""
    net = RnnRbm(hidden, recurrent, len(genres), name="gen_rbm")
    net({"roll": tf.zeros([1, 2, KEYS]), "genre": tf.zeros([1], tf.int32)})
    config = {"hidden": hidden, "recurrent": recurrent, "gibbs_steps": gibbs_steps, "genres": list(genres)}
    return GenerationModel("gen-rbm", net, config, "rbm")
