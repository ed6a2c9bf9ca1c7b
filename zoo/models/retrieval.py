"""``retrieval-gcn`` and ``retrieval-dual``: audio and sheet snippets embedded in one space, so either finds the other.

The seed paper's method, per modality:

1. **raw features**: a small CNN over the input (the 80 × 100 sheet snippet, or the 83 × 128 log-mel of a 2-s
   excerpt) → 256 numbers;
2. **encoders**: a single fully connected layer (ReLU) over the raw features, and — ``retrieval-gcn`` only — a
   symmetric graph-convolution encoder (two spektral ``GCNConv`` layers) over a k-nearest-neighbour graph of raw
   features; their outputs are fused by a weighted sum (``graph_weight``);
3. a **common-representation layer whose weights both modalities share**, L2-normalised: the embedding;
4. a shared linear classifier on the common representation, for the label loss (the centred note's pitch).

The graph is **inductive**: the model carries a reference bank (raw features of training snippets, per modality,
shipped beside the weights). A query joins its ``neighbours`` nearest bank nodes; over those 1 + k nodes each node
links to its ``neighbours // 2`` nearest, the query to all of its k, and the GCN runs on that neighbourhood
(:func:`neighbourhood`). No test label and no test graph is needed. :meth:`RetrievalModel.encode_transductive`
runs the same layers on one graph over a whole gallery instead (reported apart).

The adjacency is normalised as spektral's ``gcn_filter`` does (D^-1/2 (A + I) D^-1/2, Kipf & Welling), written in
TensorFlow (:func:`gcn_filter`) so that the serving graph builds neighbourhoods too; a test holds it to spektral's.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from spektral.layers import GCNConv

from zoo.models.inputs import read_bytes
from zoo.preprocessing import audio, image, snippets
from zoo.preprocessing.errors import AudioInputError, ImageInputError, plain_message
from zoo.pretrained import Manifest, WeightsError
from zoo.registry import ZooModel, register_model

MODALITIES: tuple[str, ...] = ("sheet", "audio")
LOWEST_PITCH, HIGHEST_PITCH = 21, 108  # the label loss's classes: piano range, A0-C8 (pitches outside are clipped)
DEFAULT_CONFIG: dict[str, Any] = {"filters": [16, 32, 64, 96], "raw_dim": 256, "hidden_dim": 256, "embed_dim": 128,
                                  "neighbours": 10, "graph_weight": 0.5, "dropout": 0.3}
INPUT_SPEC = {
    "sheet": f"PNG/JPEG/BMP of a snippet: a {snippets.SNIPPET_HEIGHT} × {snippets.SNIPPET_WIDTH} window of a page "
             f"scaled so that its staff is {snippets.STAFF_HEIGHT_PX} px high, centred on the staff",
    "audio": f"WAV (16-bit PCM), FLAC, Ogg Vorbis or MP3; the centre {snippets.EXCERPT_SECONDS:g} s is embedded",
    "sheet_input": list(snippets.SHEET_SHAPE),
    "audio_input": list(snippets.AUDIO_SHAPE),
}


def pitch_class_index(pitch: np.ndarray | tf.Tensor) -> Any:
    """The label-loss class of MIDI pitches: its index in the piano range (clipped)."""
    if isinstance(pitch, tf.Tensor):
        return tf.clip_by_value(tf.cast(pitch, tf.int32), LOWEST_PITCH, HIGHEST_PITCH) - LOWEST_PITCH
    return np.clip(np.asarray(pitch, np.int64), LOWEST_PITCH, HIGHEST_PITCH) - LOWEST_PITCH


N_LABELS = HIGHEST_PITCH - LOWEST_PITCH + 1


# ------------------------------------------------------------------------------------------------------- graphs


def gcn_filter(adjacency: tf.Tensor) -> tf.Tensor:
    """D^-1/2 (A + I) D^-1/2 of dense adjacencies [..., N, N] (spektral.utils.gcn_filter, symmetric)."""
    a = adjacency + tf.eye(tf.shape(adjacency)[-1], dtype=adjacency.dtype)
    inv_sqrt = tf.math.rsqrt(tf.reduce_sum(a, axis=-1))
    return a * inv_sqrt[..., :, None] * inv_sqrt[..., None, :]


def knn_adjacency(features: tf.Tensor, k: int) -> tf.Tensor:
    """Symmetric 0/1 adjacency [..., N, N] linking each node to its ``k`` nearest others by cosine similarity."""
    unit = tf.math.l2_normalize(features, axis=-1)
    sims = tf.linalg.matmul(unit, unit, transpose_b=True)
    n = tf.shape(sims)[-1]
    sims = sims - 3.0 * tf.eye(n, dtype=sims.dtype)  # never one's own neighbour
    _, nearest = tf.math.top_k(sims, k=tf.minimum(k, n - 1))
    linked = tf.reduce_max(tf.one_hot(nearest, n, dtype=features.dtype), axis=-2)
    return tf.maximum(linked, tf.linalg.matrix_transpose(linked))


def neighbourhood(raw: tf.Tensor, bank: tf.Tensor, k: int, exclude: tf.Tensor | None = None
                  ) -> tuple[tf.Tensor, tf.Tensor]:
    """Each query's graph: nodes [B, 1 + k, F] (the query first, then its ``k`` nearest bank rows) and their
    normalised adjacency [B, 1 + k, 1 + k]. ``exclude`` [B] names a bank row a query may not take (itself, in
    training; -1 for none)."""
    sims = tf.linalg.matmul(tf.math.l2_normalize(raw, -1), tf.math.l2_normalize(bank, -1), transpose_b=True)
    if exclude is not None:
        sims = sims - 3.0 * tf.one_hot(exclude, tf.shape(bank)[0], dtype=sims.dtype)
    _, nearest = tf.math.top_k(sims, k=k)
    nodes = tf.concat([raw[:, None, :], tf.gather(bank, nearest)], axis=1)
    links = knn_adjacency(nodes, max(1, k // 2))
    star = tf.concat([tf.ones([1, k + 1]), tf.concat([tf.ones([k, 1]), tf.zeros([k, k])], axis=1)], axis=0)
    return nodes, gcn_filter(tf.maximum(links, star[None] - tf.eye(k + 1)[None]))


# ------------------------------------------------------------------------------------------------------ network


def _trunk(name: str, shape: Sequence[int], filters: Sequence[int], raw_dim: int, dropout: float) -> tf.keras.Model:
    """Conv blocks (conv → BN → ReLU → max-pool), flattened (where a thing is in the window matters), dense."""
    inputs = tf.keras.Input(tuple(shape), name=f"{name}_input")
    x = tf.keras.layers.BatchNormalization(name=f"{name}_input_norm")(inputs)  # per mel band for audio
    x = x if len(shape) == 3 else tf.keras.layers.Reshape((*shape, 1))(x)
    for i, f in enumerate(filters):
        x = tf.keras.layers.Conv2D(f, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = tf.keras.layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = tf.keras.layers.ReLU()(x)
        x = tf.keras.layers.MaxPool2D(2, name=f"{name}_pool{i}")(x)
    x = tf.keras.layers.Flatten()(x)
    x = tf.keras.layers.Dropout(dropout)(x)
    x = tf.keras.layers.Dense(raw_dim, activation="relu", name=f"{name}_raw")(x)
    return tf.keras.Model(inputs, x, name=f"{name}_trunk")


class ModalEncoder(tf.keras.layers.Layer):
    """One modality's encoders over raw features: FC (ReLU), and with a graph two GCNConv layers whose query-node
    output is fused with it as ``(1 - graph_weight) · fc + graph_weight · gcn``."""

    def __init__(self, hidden_dim: int, graph: bool, graph_weight: float, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph, self.graph_weight = graph, graph_weight
        self.fc = tf.keras.layers.Dense(hidden_dim, activation="relu", name="fc")
        self.drop = tf.keras.layers.Dropout(dropout)
        if graph:
            self.gcn1 = GCNConv(hidden_dim, activation="relu", name="gcn1")
            self.gcn2 = GCNConv(hidden_dim, activation="relu", name="gcn2")

    def call(self, raw: tf.Tensor, graph: tuple[tf.Tensor, tf.Tensor] | None = None, node: int | None = 0,
             training: bool | None = None) -> tf.Tensor:
        """``raw`` [B, F]; ``graph`` = (nodes [G, N, F], adjacency [G, N, N]). ``node`` 0 takes each graph's first
        node (inductive: G = B); None takes every node of one graph (transductive: G = 1, N = B)."""
        fc = self.fc(raw)
        if not self.graph or graph is None:
            return self.drop(fc, training=training)
        nodes, adjacency = graph
        h = self.gcn2([self.gcn1([nodes, adjacency]), adjacency])
        g = h[:, node] if node is not None else h[0]
        return self.drop((1.0 - self.graph_weight) * fc + self.graph_weight * g, training=training)


class RetrievalNetwork(tf.keras.Model):
    """Both modalities' trunks and encoders, the shared common layer and the shared classifier."""

    def __init__(self, filters: Sequence[int], raw_dim: int, hidden_dim: int, embed_dim: int, graph: bool,
                 graph_weight: float, dropout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trunks = {"sheet": _trunk("sheet", snippets.SHEET_SHAPE, filters, raw_dim, dropout),
                       "audio": _trunk("audio", snippets.AUDIO_SHAPE, filters, raw_dim, dropout)}
        self.encoders = {m: ModalEncoder(hidden_dim, graph, graph_weight, dropout, name=f"{m}_encoder")
                         for m in MODALITIES}
        self.common = tf.keras.layers.Dense(embed_dim, name="common")  # one layer, both modalities
        self.classifier = tf.keras.layers.Dense(N_LABELS, name="classifier")

    def common_representation(self, modality: str, raw: tf.Tensor, graph: Any = None, node: int | None = 0,
                              training: bool | None = None) -> tf.Tensor:
        return self.common(self.encoders[modality](raw, graph, node, training=training))

    def call(self, inputs: dict[str, tf.Tensor], training: bool | None = None) -> dict[str, tf.Tensor]:
        """Embeddings without a graph (builds every variable of the trunks, FC encoders and shared layers)."""
        out = {}
        for m in MODALITIES:
            common = self.common_representation(m, self.trunks[m](inputs[m], training=training), training=training)
            out[m] = tf.math.l2_normalize(common, -1)
            out[f"{m}_logits"] = self.classifier(common)
        return out


# -------------------------------------------------------------------------------------------------------- model


class RetrievalModel(ZooModel):
    """Embeds sheet snippets and audio excerpts into one space (L2-normalised, inner product = cosine).

    ``bank`` (per modality, [M, raw_dim]) is the reference bank the graph encoders join queries to; a model without
    a graph (``retrieval-dual``) has none.
    """

    def __init__(self, name: str, network: RetrievalNetwork, config: dict[str, Any]) -> None:
        super().__init__(name, network, config)
        self.neighbours = int(config["neighbours"])
        self.bank: dict[str, tf.Variable] = {}

    @property
    def uses_graph(self) -> bool:
        return self.neighbours > 0

    def set_bank(self, bank: dict[str, np.ndarray]) -> None:
        """Install reference-bank raw features ({modality: [M, raw_dim]})."""
        for m in MODALITIES:
            values = np.asarray(bank[m], np.float32)
            if values.ndim != 2 or values.shape[1] != self.config["raw_dim"] or len(values) <= self.neighbours:
                raise WeightsError(f"{self.name!r}: the {m} bank has shape {values.shape}; it needs more than "
                                   f"{self.neighbours} rows of {self.config['raw_dim']} raw features")
            if m in self.bank and self.bank[m].shape == values.shape:
                self.bank[m].assign(values)
            else:
                self.bank[m] = tf.Variable(values, trainable=False, name=f"{m}_bank")

    def load_manifest_extras(self, manifest: Manifest) -> None:
        """A graph model's manifest names its bank ({file, sha256}: an .npz with one array per modality)."""
        if not self.uses_graph:
            return
        entry = manifest.extra.get("bank")
        if entry is None:
            raise WeightsError(f"{manifest.directory / 'manifest.json'} names no reference bank; "
                               f"{self.name!r} needs one (it joins every query to its nearest bank snippets)")
        path = manifest.verified_file(entry["file"], entry["sha256"], "reference bank")
        with np.load(path) as data:
            self.set_bank({m: data[m] for m in MODALITIES})

    def trackable(self) -> Any:
        module = tf.Module()
        module.network = self.keras_model
        module.bank = dict(self.bank)
        return module

    # -- embedding tensors (graph code: the library runs it eagerly, the serving signatures in the graph)

    def raw_features(self, modality: str, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.keras_model.trunks[modality](inputs, training=training)

    def encode(self, modality: str, raw: tf.Tensor, exclude: tf.Tensor | None = None,
               training: bool = False) -> tf.Tensor:
        """Raw features [B, F] → (common representation [B, D], unnormalised), inductively through the bank."""
        graph = None
        if self.uses_graph:
            if modality not in self.bank:
                raise WeightsError(f"{self.name!r} has no reference bank loaded; load it with zoo.load()")
            graph = neighbourhood(raw, self.bank[modality], self.neighbours, exclude)
        return self.keras_model.common_representation(modality, raw, graph, training=training)

    def embed_inputs(self, modality: str, inputs: tf.Tensor) -> tf.Tensor:
        """Network inputs [B, ...] → L2-normalised embeddings [B, D]."""
        return tf.math.l2_normalize(self.encode(modality, self.raw_features(modality, inputs)), -1)

    def encode_transductive(self, modality: str, raw: tf.Tensor) -> tf.Tensor:
        """Embeddings [N, D] of a whole gallery through one kNN graph over it (no bank): the transductive variant."""
        if not self.uses_graph:
            return tf.math.l2_normalize(self.encode(modality, raw), -1)
        graph = (raw[None], gcn_filter(knn_adjacency(raw, self.neighbours))[None])
        return tf.math.l2_normalize(self.keras_model.common_representation(modality, raw, graph, node=None), -1)

    # -- raw inputs

    def preprocess(self, raw: Any, modality: str = "sheet") -> np.ndarray:
        """A file or bytes → the network input of one snippet or excerpt."""
        if modality == "sheet":
            data = read_bytes(raw, ImageInputError)
            try:
                return snippets.snippet_bytes_to_input(tf.constant(data)).numpy()
            except tf.errors.InvalidArgumentError as exc:
                raise ImageInputError(plain_message(exc)) from None
        data = read_bytes(raw, AudioInputError)
        try:
            return snippets.audio_bytes_to_input(tf.constant(data)).numpy()
        except tf.errors.InvalidArgumentError as exc:
            raise AudioInputError(plain_message(exc)) from None

    def embed(self, modality: str, items: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """Snippet images or audio excerpts (paths or bytes) → embeddings [N, D]; inputs are checked one by one,
        so the error names the problem."""
        if modality not in MODALITIES:
            raise ValueError(f"modality {modality!r}: choose {' or '.join(MODALITIES)}")
        inputs = np.stack([self.preprocess(x, modality) for x in items]) if len(items) else None
        return self.embed_array(modality, inputs, batch_size)

    def embed_array(self, modality: str, inputs: np.ndarray | None, batch_size: int = 64) -> np.ndarray:
        if inputs is None or len(inputs) == 0:
            return np.zeros((0, self.config["embed_dim"]), np.float32)
        return np.concatenate([self.embed_inputs(modality, tf.constant(inputs[i:i + batch_size])).numpy()
                               for i in range(0, len(inputs), batch_size)])

    def embed_chunks(self, modality: str, inputs: tf.Tensor) -> tf.Tensor:
        """Embeddings [N, D] of network inputs [N, ...], :data:`audio.WINDOW_BATCH` at a time, so that a long
        recording's memory stays bounded (graph code, for the serving signatures)."""
        count = tf.shape(inputs)[0]
        chunks = (count + audio.WINDOW_BATCH - 1) // audio.WINDOW_BATCH
        out = tf.TensorArray(tf.float32, size=chunks, infer_shape=False,
                             element_shape=tf.TensorShape([None, self.config["embed_dim"]]))

        def step(i: tf.Tensor, out: tf.TensorArray) -> tuple[tf.Tensor, tf.TensorArray]:
            chunk = inputs[i * audio.WINDOW_BATCH:(i + 1) * audio.WINDOW_BATCH]
            return i + 1, out.write(i, self.embed_inputs(modality, chunk))

        _, out = tf.while_loop(lambda i, _: i < chunks, step, (tf.constant(0), out))
        return tf.reshape(out.concat(), [-1, self.config["embed_dim"]])

    def serving_signatures(self, formats: Sequence[str] = ("wav",)) -> dict[str, Any]:
        """``embed_audio(audio: string[B])`` → every 2-s excerpt (every 0.5 s) of each recording, and
        ``embed_sheet(image: string[B])`` → every window of each snippet or staff image: ``vectors`` [N, D]
        (L2-normalised), ``input`` [N] (which input each came from), and ``seconds`` or ``x`` [N] (the window centre).
        The windows are the library's (:func:`snippets.recording_inputs`, :func:`snippets.staff_inputs`); a page
        is split into staves by the client, as for recognition. WAV only by default (stock TF Serving)."""
        mel_spec = tf.RaggedTensorSpec([None, *snippets.AUDIO_SHAPE], tf.float32, 0)
        sheet_spec = tf.RaggedTensorSpec([None, *snippets.SHEET_SHAPE], tf.float32, 0)
        where_spec = tf.RaggedTensorSpec([None], tf.float32, 0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="audio")])
        def embed_audio(audio_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
            windows, seconds = tf.map_fn(lambda d: snippets.recording_inputs(*audio.decode_audio(d, formats)),
                                         audio_bytes, fn_output_signature=(mel_spec, where_spec))
            return {"vectors": self.embed_chunks("audio", windows.flat_values), "seconds": seconds.flat_values,
                    "input": tf.cast(windows.value_rowids(), tf.int32)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
        def embed_sheet(images: tf.Tensor) -> dict[str, tf.Tensor]:
            windows, xs = tf.map_fn(lambda d: snippets.staff_inputs(image.decode_image(d)), images,
                                    fn_output_signature=(sheet_spec, where_spec))
            return {"vectors": self.embed_chunks("sheet", windows.flat_values), "x": xs.flat_values,
                    "input": tf.cast(windows.value_rowids(), tf.int32)}

        return {"embed_audio": embed_audio.get_concrete_function(),
                "embed_sheet": embed_sheet.get_concrete_function(),
                "serving_default": embed_audio.get_concrete_function()}

    def predict(self, inputs: Any) -> Any:
        """Embeddings of audio excerpts ({"audio": [...]}) or sheet snippets ({"sheet": [...]})."""
        if not isinstance(inputs, dict) or set(inputs) - set(MODALITIES):
            raise ValueError("retrieval models take {'sheet': [images...]} or {'audio': [recordings...]}")
        return {m: self.embed(m, list(v)) for m, v in inputs.items()}


def _build(name: str, filters: Sequence[int], raw_dim: int, hidden_dim: int, embed_dim: int, neighbours: int,
           graph_weight: float, dropout: float) -> RetrievalModel:
    network = RetrievalNetwork(filters, raw_dim, hidden_dim, embed_dim, neighbours > 0, graph_weight, dropout,
                               name=name.replace("-", "_"))
    config = {"filters": list(filters), "raw_dim": raw_dim, "hidden_dim": hidden_dim, "embed_dim": embed_dim,
              "neighbours": neighbours, "graph_weight": graph_weight, "dropout": dropout}
    model = RetrievalModel(name, network, config)
    zeros = {"sheet": tf.zeros((1, *snippets.SHEET_SHAPE)), "audio": tf.zeros((1, *snippets.AUDIO_SHAPE))}
    network(zeros)  # create the trunk, FC and shared variables
    if neighbours > 0:  # and the graph layers, on a neighbourhood of zeros
        for m in MODALITIES:
            raw = tf.zeros((1, raw_dim))
            network.encoders[m](raw, neighbourhood(raw, tf.ones((neighbours + 1, raw_dim)), neighbours))
    return model


@register_model(task="audio-sheet-retrieval", input_spec=INPUT_SPEC, default_config=DEFAULT_CONFIG)
def retrieval_gcn(filters: Sequence[int] = (16, 32, 64, 96), raw_dim: int = 256, hidden_dim: int = 256,
                  embed_dim: int = 128, neighbours: int = 10, graph_weight: float = 0.5,
                  dropout: float = 0.3) -> RetrievalModel:
    """Audio ↔ sheet embeddings: CNN raw features, kNN-graph GCN + FC encoders, shared common layer (the seed's)."""
    return _build("retrieval-gcn", filters, raw_dim, hidden_dim, embed_dim, neighbours, graph_weight, dropout)


@register_model(task="audio-sheet-retrieval", input_spec=INPUT_SPEC, default_config={**DEFAULT_CONFIG,
                                                                                     "neighbours": 0})
def retrieval_dual(filters: Sequence[int] = (16, 32, 64, 96), raw_dim: int = 256, hidden_dim: int = 256,
                   embed_dim: int = 128, neighbours: int = 0, graph_weight: float = 0.0,
                   dropout: float = 0.3) -> RetrievalModel:
    """Audio ↔ sheet embeddings without the graph branch: CNN raw features, FC encoders, shared common layer."""
    if neighbours:
        raise ValueError("retrieval-dual has no graph branch: neighbours must be 0 (use retrieval-gcn)")
    return _build("retrieval-dual", filters, raw_dim, hidden_dim, embed_dim, 0, graph_weight, dropout)


def bank_path(directory: Path) -> Path:
    return directory / "bank.npz"
