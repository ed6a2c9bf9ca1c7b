"""Genre-conditioned generation (``make bench-generation``; figures with ``make figures``).

One run judges the shipped ``gen-lstm`` against the shipped ``gen-rbm`` (or the run folders given):

1. **Genre control** (the seed's Fig. 8): ``--per-genre`` 10-s clips per genre and model, rendered with the genre's
   program (FluidSynth, FluidR3), classified by the shipped ``genre-cnn``.
2. **Closeness to real music**, per genre, against the held-out pieces' clips (validation + test splits of the
   genre build, their events rendered the same way): Yang & Lerch statistics (overlapped area, KL) and the Fréchet
   distance on genre-cnn's penultimate embedding (projected on the 16 principal axes of the real clips' embeddings;
   the validation-vs-test distance is the floor two real sets reach).
3. **Originality**: the longest run of consecutive notes (pitch, duration on a 50-ms grid) a generated clip shares
   with any training clip.
4. **Same song** (the seed's Figs. 4, 6, 9): both models primed with the first 5 s of held-out test clips continue
   for 5 s; log-spectral distance of the continuation to the real one, beside an unrelated real clip's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import zoo
from benchmarks.report import RESULTS, ROOT, stamp, table, write_section
from zoo.datasets import events as ev
from zoo.generation import judge, render
from zoo.models.generation import GENRE_PROGRAMS, GENRES
from zoo.preprocessing import audio
from zoo.training import generation as trainer

PLOTS = RESULTS / "generation"
RUNS = ROOT / "runs"
CLIP = 10.0
PRIMER, CONTINUATION = 5.0, 5.0
MODELS = ("gen-lstm", "gen-rbm")
FD_DIMS = 16
ORIGINALITY_LIMIT = 12  # the bound: no clip may repeat this many consecutive training notes


def _render_job(job: tuple[list[tuple[int, float, float]], int, float]) -> np.ndarray:
    notes, program, seconds = job
    return render.render([ev.Note(*n) for n in notes], program, seconds)


def render_all(note_sets: list[list[ev.Note]], programs: list[int], seconds: float, workers: int = 2
               ) -> list[np.ndarray]:
    jobs = [([(n.pitch, n.start, n.end) for n in notes], p, seconds) for notes, p in zip(note_sets, programs)]
    with Pool(workers) as pool:
        return pool.map(_render_job, jobs, chunksize=8)


class GenreJudge:
    """genre-cnn's verdicts and penultimate embeddings of rendered clips (one window each)."""

    def __init__(self) -> None:
        self.model = zoo.load("genre-cnn")
        km = self.model.keras_model
        self.penultimate = tf.keras.Model(km.input, km.layers[-2].output)
        self.columns = [self.model.labels.index(g) for g in GENRES]  # scores in GENRES order

    def __call__(self, clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        scores, embs = [], []
        for first in range(0, len(clips), 32):
            windows = np.stack([self.model.preprocess(audio.wav_bytes(c, audio.SAMPLE_RATE))[0]
                                for c in clips[first:first + 32]])
            scores.append(self.model.keras_model(windows, training=False).numpy()[:, self.columns])
            embs.append(self.penultimate(windows, training=False).numpy())
        return np.concatenate(scores), np.concatenate(embs)


def load_model(name: str, folder: Path | None) -> Any:
    return zoo.load(name, str(folder) if folder else "pretrained")


def generate_sets(models: dict[str, Any], per_genre: int, seed: int) -> dict[str, dict[str, list[list[ev.Note]]]]:
    out: dict[str, dict[str, list[list[ev.Note]]]] = {}
    for name, model in models.items():
        out[name] = {}
        for g in GENRES:
            t = time.perf_counter()
            samples = model.generate(g, CLIP, per_genre, 1.0, seed)
            out[name][g] = [s.notes for s in samples]
            print(f"{name} {g}: {per_genre} clips in {time.perf_counter() - t:.0f} s", flush=True)
    return out


def genre_control(judge_: GenreJudge, sets: dict[str, dict[str, list[list[ev.Note]]]]
                  ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, dict[str, list]]]:
    results, embeddings, audio_sets = {}, {}, {}
    for name, by_genre in sets.items():
        results[name], embeddings[name], audio_sets[name] = {}, {}, {}
        for g, note_sets in by_genre.items():
            clips = render_all(note_sets, [GENRE_PROGRAMS[g]] * len(note_sets), CLIP)
            scores, emb = judge_(clips)
            verdicts = scores.argmax(1)
            results[name][g] = {"clips": len(clips), "accuracy": round(float((verdicts == GENRES.index(g)).mean()), 4),
                                "verdicts": {h: int((verdicts == i).sum()) for i, h in enumerate(GENRES)},
                                "silent": int(sum(1 for n in note_sets if not n))}
            embeddings[name][g] = emb
            audio_sets[name][g] = clips[:3]
            print(f"{name} {g}: genre-cnn accuracy {results[name][g]['accuracy']:.3f}", flush=True)
    return results, embeddings, audio_sets


def real_sets(data: Path) -> dict[str, dict[str, list[list[ev.Note]]]]:
    """The held-out pieces' clips (validation and test splits) as notes, per split and genre."""
    out: dict[str, dict[str, list[list[ev.Note]]]] = {}
    for split in ("validation", "test"):
        clips = trainer.load_clips(data, split)
        out[split] = {g: [clips.notes(i) for i in range(len(clips)) if clips.genre[i] == k]
                      for k, g in enumerate(GENRES)}
    return out


def closeness(real: dict[str, dict[str, list[list[ev.Note]]]], real_emb: dict[str, np.ndarray],
              generated: dict[str, dict[str, list[list[ev.Note]]]], gen_emb: dict[str, dict[str, np.ndarray]]
              ) -> dict[str, Any]:
    """``real_emb[g]``: genre-cnn embeddings of ``real["validation"][g] + real["test"][g]``, in that order."""
    split_emb = {}
    for g in GENRES:
        n_val = len(real["validation"][g])
        split_emb[("validation", g)], split_emb[("test", g)] = real_emb[g][:n_val], real_emb[g][n_val:]
    held = np.concatenate(list(real_emb.values()))
    mean = held.mean(0)
    axes = np.linalg.svd(held - mean, full_matrices=False)[2][:FD_DIMS].T
    project = lambda e: (e - mean) @ axes  # noqa: E731
    out: dict[str, Any] = {"frechet": {}, "statistics": {}, "real_clips": {}}
    for g in GENRES:
        both = real["validation"][g] + real["test"][g]
        out["real_clips"][g] = len(both)
        real_feats = [judge.clip_features(n, CLIP) for n in both]
        real_all = project(real_emb[g])
        out["frechet"].setdefault("real validation vs test (floor)", {})[g] = round(judge.frechet_distance(
            project(split_emb[("validation", g)]), project(split_emb[("test", g)])), 2)
        for name in generated:
            out["frechet"].setdefault(name, {})[g] = round(judge.frechet_distance(
                project(gen_emb[name][g]), real_all), 2)
            gen_feats = [judge.clip_features(n, CLIP) for n in generated[name][g]]
            out["statistics"].setdefault(name, {})[g] = judge.compare_sets(real_feats, gen_feats)
    return out


def originality(data: Path, generated: dict[str, dict[str, list[list[ev.Note]]]]) -> dict[str, Any]:
    train = trainer.load_clips(data, "train")
    index = judge.NgramIndex([judge.note_tokens(train.notes(i)) for i in range(len(train))], longest=24)
    out = {}
    for name, by_genre in generated.items():
        longest = np.array([index.longest_match(judge.note_tokens(n)) for g in by_genre for n in by_genre[g]])
        out[name] = {"clips": len(longest), "median": float(np.median(longest)), "max": int(longest.max()),
                     f"share_ge_{ORIGINALITY_LIMIT}": round(float((longest >= ORIGINALITY_LIMIT).mean()), 4),
                     "histogram": {int(k): int(v) for k, v in zip(*np.unique(longest, return_counts=True))}}
    return out


def _window(notes: list[ev.Note], start: float, end: float) -> list[ev.Note]:
    return [ev.Note(n.pitch, max(n.start, start) - start, min(n.end, end) - start)
            for n in notes if n.end > start and n.start < end]


def same_song(models: dict[str, Any], data: Path, per_genre: int, seed: int) -> tuple[dict[str, Any], dict]:
    test = trainer.load_clips(data, "test")
    rng = np.random.default_rng(seed)
    picks = [int(i) for k in range(len(GENRES)) for i in rng.permutation(np.nonzero(test.genre == k)[0])[:per_genre]]
    lsd: dict[str, list[float]] = {name: [] for name in models} | {"unrelated real clip": []}
    example = {}
    for n, i in enumerate(picks):
        g = GENRES[test.genre[i]]
        program = GENRE_PROGRAMS[g]
        notes = test.notes(i)
        primer = _window(notes, 0.0, PRIMER)
        if not primer:
            continue
        truth = render.log_mel(render.render(_window(notes, PRIMER, CLIP), program, CONTINUATION))
        others = [int(j) for j in np.nonzero(test.genre == test.genre[i])[0] if j != i]
        other = render.log_mel(render.render(_window(test.notes(others[0]), PRIMER, CLIP), program, CONTINUATION))
        lsd["unrelated real clip"].append(judge.log_spectral_distance(truth, other))
        continuations = {}
        for name, model in models.items():
            sample = model.generate(g, CONTINUATION, 1, 1.0, seed, primer=primer, primer_cut=PRIMER)[0]
            continuations[name] = sample.notes
            lsd[name].append(judge.log_spectral_distance(
                truth, render.log_mel(render.render(sample.notes, program, CONTINUATION))))
        if n == 0 or g == "chorale" and "notes" not in example:
            example = {"genre": g, "sample_id": test.sample_ids[i], "notes": notes, "primer": primer,
                       "continuations": continuations, "program": program}
    out = {name: {"clips": len(v), "mean_lsd_db": round(float(np.mean(v)), 2), "sd": round(float(np.std(v)), 2)}
           for name, v in lsd.items()}
    return out, example


# ------------------------------------------------------------------------------------------------------ figures

def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


REAL_ROW = "real held-out clips"


def figure_genre_bars(control: dict[str, Any], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(control)
    for k, (name, by_genre) in enumerate(control.items()):
        ax.bar(np.arange(len(GENRES)) + k * width, [by_genre[g]["accuracy"] for g in GENRES], width, label=name)
    ax.axhline(0.9, color="k", ls="--", lw=0.8, label="target 0.9")
    ax.set_xticks(np.arange(len(GENRES)) + width * (len(control) - 1) / 2, GENRES)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share classified as the asked genre")
    ax.set_title("Fig. 8: genre-cnn's verdict on generated clips (seed: LSTM high in every genre)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def figure_same_song(example: dict[str, Any], out: Path, title: str) -> Path:
    """Original vs each model's continuation of the same primer: log-mel spectrograms of the whole 10 s."""
    plt = _plt()
    rows = [("original", example["notes"])] + [
        (name, example["primer"] + [ev.Note(n.pitch, n.start + PRIMER, n.end + PRIMER) for n in notes])
        for name, notes in example["continuations"].items()]
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.6 * len(rows)), sharex=True)
    for ax, (name, notes) in zip(axes, rows):
        mel = render.log_mel(render.render(notes, example["program"], CLIP))
        ax.imshow(mel.T, origin="lower", aspect="auto", cmap="magma", extent=(0, CLIP, 0, audio.N_MELS))
        ax.axvline(PRIMER, color="w", ls="--", lw=1)
        ax.set_ylabel(name)
    axes[0].set_title(textwrap.fill(title, 110), fontsize=9)
    axes[-1].set_xlabel("seconds (primer before the dashed line)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def figure_training(history_files: dict[str, Path], out: Path, title: str, key: str = "train_loss") -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, path in history_files.items():
        h = json.loads(path.read_text(encoding="utf-8"))
        ax.plot(h["step"], h[key], marker="o", label=label)
    ax.set_xlabel("iterations")
    ax.set_ylabel(key.replace("_", " ") + " (gen-lstm: nats per event)")
    ax.set_title(textwrap.fill(title, 90), fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# ------------------------------------------------------------------------------------- the seed's figures 3-6

DATA = ROOT / "data" / "cache" / "genre-dance-merged"
SWEEP_STEPS = 1200  # every size trains this many iterations (batch 32, 128 events) for Figs. 5 and 6
# run folder → settings, cheapest first so that an interrupted `make figures` has drawn the most figures. Figs. 3
# and 4 come from the shipped run (runs/gen-lstm, `make train-shipped-generation`): it trains the shipped size
# for 12,800 iterations and keeps the best by validation NLL
_SHORT = [f"train.steps={SWEEP_STEPS}", "train.eval_every=200", "train.patience=1000", "train.minutes=120",
          "train.checkpoints=[]"]
SWEEP: dict[str, list[str]] = {
    **{f"gen-lstm-u{u}": [f"model.units={u}", *_SHORT] for u in (64, 128, 256)},
    **{f"gen-lstm-l{n}": [f"model.layers={n}", *_SHORT] for n in (2, 3)},
    "gen-lstm-u400": ["model.units=400", *_SHORT],
    "gen-lstm-u800": ["model.units=800", *_SHORT],
}
SEED_SAYS = {
    3: "seed: training error falls as iterations grow to 12,800",
    4: "seed: the generated spectrogram looks more like the original as iterations grow",
    5: "seed: 400 hidden units gave the lowest error",
    6: "seed: 4 layers gave the best music",
}


def train_sweep(data: Path) -> None:
    """The runs the figures need, one after another; each resumes where it stopped (``make figures``)."""
    for name, settings in SWEEP.items():
        state = RUNS / name / "state.json"
        if (RUNS / name / "manifest.json").is_file():
            print(f"{name}: done already", flush=True)
            continue
        command = [sys.executable, "-m", "zoo", "train", "gen-lstm", "--data", str(data), "--out", str(RUNS / name)]
        for setting in settings:
            command += ["--set", setting]
        print(("resuming: " if state.is_file() else "") + " ".join(command), flush=True)
        subprocess.run(command, check=True)


def _primer_clip(data: Path, seed: int = 0) -> tuple[str, list[ev.Note], int]:
    test = trainer.load_clips(data, "test")
    i = int(np.random.default_rng(seed).choice(np.nonzero(test.genre == GENRES.index("chorale"))[0]))
    return "chorale", test.notes(i), GENRE_PROGRAMS["chorale"]


def _continuations(models: dict[str, Any], genre: str, notes: list[ev.Note], seed: int) -> dict[str, Any]:
    primer = _window(notes, 0.0, PRIMER)
    return {"notes": notes, "primer": primer, "program": GENRE_PROGRAMS[genre], "genre": genre,
            "continuations": {name: m.generate(genre, CONTINUATION, 1, 1.0, seed, primer=primer,
                                               primer_cut=PRIMER)[0].notes for name, m in models.items()}}


def draw_figures(data: Path, seed: int = 0) -> dict[str, str]:
    """Figs. 3-6 from the runs that exist (8 and 9 come from bench-generation); says what is missing."""
    notes: dict[str, str] = {}
    long_run = RUNS / "gen-lstm"
    histories = {"gen-lstm (runs/gen-lstm; cross-entropy)": long_run / "history.json",
                 "gen-rbm (runs/gen-rbm; CD reconstruction error)": RUNS / "gen-rbm" / "history.json"}
    histories = {k: v for k, v in histories.items() if v.is_file()}
    if histories:
        last = json.loads((long_run / "history.json").read_text())["step"][-1] if long_run.is_dir() else 0
        figure_training(histories, PLOTS / "fig3-training-error.png",
                        f"Fig. 3: training error vs iterations (up to {last:,} here). {SEED_SAYS[3]}")
        notes["fig3"] = f"training curves of {', '.join(histories)}; iterations run: {last:,} of 12,800"
    genre, clip, _ = _primer_clip(data, seed)
    checkpoints = {f"{n:,} iterations": long_run / f"checkpoint-{n}.npz" for n in (3200, 6400, 12800)}
    have = {k: p for k, p in checkpoints.items() if p.is_file()}
    if have:
        models = {}
        for label, path in have.items():
            m = zoo.load("gen-lstm", str(long_run))
            m.load_weights(path)
            models[label] = m
        example = _continuations(models, genre, clip, seed)
        figure_same_song(example, PLOTS / "fig4-iterations.png",
                         f"Fig. 4: one held-out {genre} clip's opening continued after "
                         f"{', '.join(have)}. {SEED_SAYS[4]}")
        notes["fig4"] = f"checkpoints drawn: {', '.join(have)}; missing: " + \
            (", ".join(k for k in checkpoints if k not in have) or "none")
    units = {int(n.split("-u")[1]): RUNS / n for n in SWEEP if "-u" in n}
    done = {u: json.loads((r / "history.json").read_text())
            for u, r in units.items() if (r / "manifest.json").is_file()}
    if done:
        plt = _plt()
        fig, ax = plt.subplots(figsize=(7, 4))
        xs = sorted(done)
        ax.plot(xs, [min(done[u]["val_nll"]) for u in xs], marker="o", label="validation NLL/event")
        ax.plot(xs, [done[u]["train_loss"][-1] for u in xs], marker="s", label="training error (last)")
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(xs, [str(u) for u in xs])
        ax.set_xlabel("hidden units per layer (4 layers)")
        ax.set_ylabel("nats per event")
        ax.set_title(f"Fig. 5: error vs hidden units after {SWEEP_STEPS:,} iterations. {SEED_SAYS[5]}", fontsize=9)
        ax.legend()
        fig.tight_layout()
        fig.savefig(PLOTS / "fig5-hidden-units.png", dpi=100)
        plt.close(fig)
    notes["fig5"] = f"sizes trained: {sorted(done) or 'none'}; missing: {sorted(set(units) - set(done)) or 'none'}"
    layer_runs = {"2 layers": RUNS / "gen-lstm-l2", "3 layers": RUNS / "gen-lstm-l3",
                  "4 layers": RUNS / "gen-lstm-u400"}
    ready = {k: r for k, r in layer_runs.items() if (r / "manifest.json").is_file()}
    if ready:
        models = {f"{k} (val NLL {min(json.loads((r / 'history.json').read_text())['val_nll']):.2f})":
                  zoo.load("gen-lstm", str(r)) for k, r in ready.items()}
        figure_same_song(_continuations(models, genre, clip, seed), PLOTS / "fig6-layers.png",
                         f"Fig. 6: the same opening continued by LSTMs of 2, 3 and 4 layers ({SWEEP_STEPS:,} "
                         f"iterations each). {SEED_SAYS[6]}")
    notes["fig6"] = f"layer counts trained: {sorted(ready) or 'none'}; missing: " + \
        (", ".join(sorted(set(layer_runs) - set(ready))) or "none")
    return notes


# ------------------------------------------------------------------------------------------------------ report

def markdown(r: dict[str, Any]) -> str:
    c = r["genre_control"]
    out = [f"## Generation (`make bench-generation`)\n\nGenre control: {r['per_genre']} 10-s clips per genre and "
           f"model (seed 0, temperature 1; gen-lstm with genre guidance {r.get('guidance', 1.0):g}), rendered with "
           "the genre's program (FluidR3), classified by the shipped genre-cnn; share classified as the asked "
           f"genre. The last row is the ceiling: the held-out pieces' own clips rendered the same way:\n",
           table(["model"] + list(GENRES) + ["mean"],
                 [[name] + [f"{v[g]['accuracy']:.3f}" for g in GENRES]
                  + [f"{np.mean([v[g]['accuracy'] for g in GENRES]):.3f}"] for name, v in c.items()])]
    f = r["closeness"]["frechet"]
    real_counts = ", ".join(f"{g} {n}" for g, n in r["closeness"]["real_clips"].items())
    out += [f"\nFréchet distance to the held-out pieces' clips ({real_counts}"
            f"), genre-cnn penultimate embedding on {FD_DIMS} principal axes (lower is closer):\n",
            table(["set"] + list(GENRES), [[name] + [v[g] for g in GENRES] for name, v in f.items()])]
    stats = r["closeness"]["statistics"]
    rows = []
    for feat in judge.FEATURES:
        row = [feat.replace("_", " ")]
        for name in stats:
            row.append(" / ".join(f"{stats[name][g][feat]['overlap']:.2f}" for g in GENRES))
        rows.append(row)
    out += ["\nYang & Lerch statistics, overlapped area with the real clips' own spread (1 is best), per genre "
            f"({' / '.join(GENRES)}):\n", table(["feature"] + list(stats), rows)]
    wins = r["closeness"]["lstm_closer"]
    out += [f"\ngen-lstm closer than gen-rbm: Fréchet in {wins['frechet']} of {len(GENRES)} genres; statistics "
            f"(overlap) in {wins['statistics']} of {wins['statistics_total']} feature × genre cells.\n"]
    o = r["originality"]
    out += [f"Originality: longest run of consecutive notes (pitch, duration) shared with any training clip; the "
            f"bound is {ORIGINALITY_LIMIT}:\n",
            table(["model", "clips", "median", "max", f"share ≥ {ORIGINALITY_LIMIT}"],
                  [[name, v["clips"], v["median"], v["max"], v[f"share_ge_{ORIGINALITY_LIMIT}"]]
                   for name, v in o.items()])]
    s = r["same_song"]
    out += [f"\nSame song: primed with the first {PRIMER:g} s of held-out test clips, {CONTINUATION:g} s continued; "
            "log-spectral distance (dB) of the continuation's log-mel to the real continuation's:\n",
            table(["continuation", "clips", "mean LSD (dB)", "sd"],
                  [[name, v["clips"], v["mean_lsd_db"], v["sd"]] for name, v in s.items()])]
    e = r["evaluation"]
    out += ["\nCommon-ground figures on the test split (held-out pieces); frame-level accuracy is Boulanger-"
            "Lewandowski's on next-frame prediction (50-ms frames), with the repeat-the-last-frame floor:\n",
            table(["model", "NLL/event (nats)", "NLL/event unconditioned", "frame accuracy", "repeat floor"],
                  [[name, v.get("nll_per_event", "—"), v.get("nll_per_event_unconditioned", "—"),
                    v["frame_accuracy"], v["frame_accuracy_repeat_floor"]] for name, v in e.items()])]
    out.append("\n- Targets (issue 39): gen-lstm ≥ 0.9 of every genre's clips classified as that genre; gen-lstm "
               "closer than gen-rbm on the Fréchet distance in every genre and on most statistics; no clip repeats 12 "
               "or "
               "more consecutive training notes.")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=["evaluate", "sweep", "figures"], default="evaluate")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "cache" / "genre-dance-merged")
    parser.add_argument("--lstm", type=Path, default=None, help="a gen-lstm run folder [default: shipped]")
    parser.add_argument("--rbm", type=Path, default=None, help="a gen-rbm run folder [default: shipped]")
    parser.add_argument("--per-genre", type=int, default=200)
    parser.add_argument("--same-song", type=int, default=6, help="held-out clips per genre for the same-song test")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    PLOTS.mkdir(parents=True, exist_ok=True)
    if args.what == "sweep":
        train_sweep(args.data)
        return
    if args.what == "figures":
        notes = draw_figures(args.data, args.seed)
        (PLOTS / "figures.json").write_text(json.dumps(notes, indent=1) + "\n", encoding="utf-8")
        print(json.dumps(notes, indent=1))
        return
    t0 = time.perf_counter()
    models: dict[str, Any] = {"gen-lstm": load_model("gen-lstm", args.lstm), "gen-rbm": load_model("gen-rbm", args.rbm)}
    results: dict[str, Any] = {"measured": stamp(), "per_genre": args.per_genre,
                               "evaluation": {n: {k.removeprefix("test_"): v for k, v in m.manifest.metrics.items()
                                                  if k.startswith("test_")} for n, m in models.items()}}
    results["guidance"] = models["gen-lstm"].guidance
    generated = generate_sets(models, args.per_genre, args.seed)
    judge_ = GenreJudge()
    results["genre_control"], gen_emb, _ = genre_control(judge_, generated)
    real = real_sets(args.data)
    # the ceiling: held-out real clips' events rendered exactly as the generated ones are (rendered and judged
    # once: their embeddings are the closeness reference too)
    reference = {g: real["validation"][g] + real["test"][g] for g in GENRES}
    real_control, real_emb, _ = genre_control(judge_, {REAL_ROW: reference})
    results["genre_control"][REAL_ROW] = real_control[REAL_ROW]
    figure_genre_bars(results["genre_control"], PLOTS / "fig8-genre-control.png")
    results["closeness"] = closeness(real, real_emb[REAL_ROW], generated, gen_emb)
    f, st = results["closeness"]["frechet"], results["closeness"]["statistics"]
    cells = [(g, feat) for g in GENRES for feat in judge.FEATURES]
    results["closeness"]["lstm_closer"] = {
        "frechet": sum(f["gen-lstm"][g] < f["gen-rbm"][g] for g in GENRES),
        "statistics": sum(st["gen-lstm"][g][feat]["overlap"] > st["gen-rbm"][g][feat]["overlap"] for g, feat in cells),
        "statistics_total": len(cells)}
    results["originality"] = originality(args.data, generated)
    results["same_song"], example = same_song(models, args.data, args.same_song, args.seed)
    figure_same_song(example, PLOTS / "fig9-same-song.png",
                     f"Fig. 9: a held-out {example['genre']} clip and both models' continuations of its first 5 s")
    for name, by_genre in generated.items():  # one example clip per genre, to listen to
        for g in GENRES:
            render.write_sample(PLOTS / "samples", f"{name}-{g}", by_genre[g][0], GENRE_PROGRAMS[g], CLIP,
                                f"{name}, {g} (bench sample 0)")
    results["wall_seconds"] = round(time.perf_counter() - t0)
    write_section("bench-generation", markdown(results), results, RESULTS)
    print(json.dumps({k: results[k] for k in ("genre_control", "originality", "same_song")}, indent=1))


if __name__ == "__main__":
    main()
