"""Python client for a model server speaking TF Serving's gRPC API (``tensorflow/serving`` or ``scorezoo serve``).

    from serving.client import ServingClient
    with ServingClient("127.0.0.1:8500") as client:
        client.genre(["clip.wav"])        # [{'genre': 'fiddle', 'scores': {...}, 'model_version': 3}]
        client.recognize(["staff.png"])   # [{'tokens': [...], 'semantic': '...', 'confidence': 0.93, ...}]

Errors come back as :class:`ServingError` carrying the server's gRPC status code and message.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

GENRE_MODEL = "genre-cnn"
OMR_MODEL = "omr-resnet-bisru"
RETRIEVAL_MODEL = "retrieval-gcn"
GENERATION_MODEL = "gen-lstm"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class ServingError(RuntimeError):
    """A failed call: ``code`` is the server's ``grpc.StatusCode``, ``message`` its explanation."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code, self.message = code, message


def _read(item: bytes | str | Path) -> bytes:
    if isinstance(item, (bytes, bytearray)):
        return bytes(item)
    return Path(item).read_bytes()


def genre_labels(model: str = GENRE_MODEL) -> list[str]:
    """The class order of the served ``scores`` (the shipped manifest's labels, else the family default)."""
    import zoo
    from zoo.models.genre_cnn import GENRES

    try:
        manifest = zoo.get_spec(model).pretrained
    except KeyError:
        manifest = None
    return list(manifest.labels) if manifest is not None and manifest.labels else list(GENRES)


class ServingClient:
    """gRPC client with the official stubs; ``timeout`` (seconds) applies to every call."""

    def __init__(self, host_port: str = "127.0.0.1:8500", timeout: float = 30.0,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):
        options = [("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.max_receive_message_length", max_message_bytes)]
        self.channel = grpc.insecure_channel(host_port, options=options)
        self.predictions = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.timeout = timeout
        self._labels: dict[str, list[str]] = {}

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _call(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise ServingError(exc.code(), exc.details() or "") from None

    def predict(self, model: str, inputs: dict[str, Any], signature: str = "serving_default",
                version: int | None = None, output_filter: Sequence[str] = ()) -> dict[str, Any]:
        """Raw Predict: numpy-convertible ``inputs`` by signature input name → numpy outputs (+ ``model_version``)."""
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model
        request.model_spec.signature_name = signature
        if version is not None:
            request.model_spec.version.value = version
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(value if hasattr(value, "tensor_shape") else tf.make_tensor_proto(value))
        request.output_filter.extend(output_filter)
        response = self._call(self.predictions.Predict, request)
        out = {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}
        out["model_version"] = response.model_spec.version.value
        return out

    def genre(self, clips: Iterable[bytes | str | Path], model: str = GENRE_MODEL,
              version: int | None = None) -> list[dict[str, Any]]:
        """One batched request: WAV bytes or paths → ``[{genre, scores: {label: p}, model_version}]``."""
        data = [_read(c) for c in clips]
        if not data:
            return []
        out = self.predict(model, {"audio": data}, version=version)
        labels = self._labels.setdefault(model, genre_labels(model))
        return [{"genre": g.decode(), "scores": {lab: round(float(p), 6) for lab, p in zip(labels, row)},
                 "model_version": out["model_version"]} for g, row in zip(out["genre"], out["scores"])]

    def recognize(self, images: Iterable[bytes | str | Path], model: str = OMR_MODEL,
                  version: int | None = None) -> list[dict[str, Any]]:
        """One batched request: staff PNG bytes or paths → ``[{tokens, semantic, confidence, token_confidences,
        model_version}]``."""
        data = [_read(i) for i in images]
        if not data:
            return []
        out = self.predict(model, {"image": data}, version=version)
        results = []
        per_token = out.get("token_confidences")  # a model exported before it had them gives none
        for i, (row, n, conf) in enumerate(zip(out["tokens"], out["lengths"], out["confidence"])):
            tokens = [t.decode() for t in row[: int(n)]]
            result = {"tokens": tokens, "semantic": " ".join(tokens), "confidence": round(float(conf), 6)}
            if per_token is not None:
                result["token_confidences"] = [round(float(c), 4) for c in per_token[i][: int(n)]]
            results.append({**result, "model_version": out["model_version"]})
        return results

    def recognize_page(self, image: bytes | str | Path, model: str = OMR_MODEL,
                       version: int | None = None) -> list[dict[str, Any]]:
        """A page of single-staff systems (PNG, JPEG, BMP, WEBP, TIFF or PDF), split into pages and staves here as
        the library splits it (:func:`zoo.preprocessing.pages.input_staves`) and read in one request: one result
        per staff, top to bottom, with its ``page`` when the file has several (an image of one staff: one
        result)."""
        from zoo.preprocessing import pages

        staves = pages.input_staves(_read(image))
        return pages.page_results(self.recognize([s for _, s in staves], model, version), staves)

    def embed_audio(self, recordings: Iterable[bytes | str | Path], model: str = RETRIEVAL_MODEL,
                    version: int | None = None) -> list[dict[str, Any]]:
        """One batched request: WAV bytes or paths → per recording ``{"vectors": [N, D], "seconds": [N],
        "model_version"}``, one vector per 2-s excerpt every 0.5 s."""
        return self._embed("embed_audio", "audio", "seconds", [_read(r) for r in recordings], model, version)

    def embed_sheet(self, images: Iterable[bytes | str | Path], model: str = RETRIEVAL_MODEL,
                    version: int | None = None) -> list[dict[str, Any]]:
        """One batched request: snippet or staff images → per image ``{"vectors", "x", "model_version"}``. For a page,
        :meth:`search` splits it into staves first."""
        return self._embed("embed_sheet", "image", "x", [_read(i) for i in images], model, version)

    def _embed(self, signature: str, name: str, where: str, data: list[bytes], model: str,
               version: int | None) -> list[dict[str, Any]]:
        import numpy as np

        if not data:
            return []
        out = self.predict(model, {name: data}, signature=signature, version=version)
        rows = np.asarray(out["input"])
        return [{"vectors": np.asarray(out["vectors"])[rows == i], where: np.asarray(out[where])[rows == i],
                 "model_version": out["model_version"]} for i in range(len(data))]

    def generate(self, genre: str, count: int = 1, seconds: float = 10.0, temperature: float = 1.0, seed: int = 0,
                 program: int | None = None, model: str = GENERATION_MODEL, version: int | None = None,
                 out_dir: str | Path | None = None) -> list[dict[str, Any]]:
        """``count`` pieces in ``genre`` from the served ``generate`` signature (the sampling loop runs in the
        server): per piece ``{"events", "notes", "midi": bytes, "model_version"}``, the notes cleaned as the
        library cleans them (gen-rbm's rolls become notes as in the library); with ``out_dir``, also
        ``<genre>-seed<seed>-<k>.mid`` there (its path as ``"path"``).
        The same seed gives what ``zoo.load(model).generate(...)`` gives."""
        import numpy as np

        from zoo.datasets import events as ev
        from zoo.models.generation import GENRE_PROGRAMS, notes_of_events, notes_of_roll

        program = GENRE_PROGRAMS.get(genre, 0) if program is None else program
        out = self.predict(model, {"genre": [genre] * count, "seconds": np.float32(seconds),
                                   "temperature": np.float32(temperature), "seed": np.int64(seed),
                                   "program": np.int32(program)}, signature="generate")
        if "rolls" in out:  # gen-rbm answers piano rolls
            notes_sets = [notes_of_roll(roll, seconds, program) for roll in out["rolls"]]
            event_sets = [ev.events_of_notes(notes) for notes in notes_sets]
        else:
            event_sets = [[int(e) for e in row[: int(n)]] for row, n in zip(out["events"], out["lengths"])]
            notes_sets = [notes_of_events(events, seconds, program) for events in event_sets]
        pieces = []
        for k, (events, notes) in enumerate(zip(event_sets, notes_sets)):
            piece = {"events": events, "notes": notes, "midi": ev.notes_to_midi(notes, program),
                     "model_version": out["model_version"]}
            if out_dir is not None:
                path = Path(out_dir) / f"{genre}-seed{seed}-{k:03d}.mid"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(piece["midi"])
                piece["path"] = str(path)
            pieces.append(piece)
        return pieces

    def search(self, index_dir: str | Path, query: bytes | str | Path, top: int = 10,
               model: str = RETRIEVAL_MODEL, version: int | None = None) -> list[dict[str, Any]]:
        """Matches of a query (a recording against a sheet index, or a page/staff/snippet image against a recording
        index) from a local index, embedded by the server: the answer ``scorezoo search`` gives, as
        :func:`zoo.search.index.rank_items` ranks it. The served model must be the one that built the index."""
        import numpy as np

        from zoo.preprocessing import pages
        from zoo.search import index as search_index

        found = search_index.Index.open(Path(index_dir))
        data = _read(query)
        if found.modality == "sheet":
            part = self.embed_audio([data], model, version)[0]
            positions = [{"seconds": round(float(t), 2)} for t in part["seconds"]]
            return search_index.rank_items(found, part["vectors"], positions, top)
        crops = pages.staves_or_page(pages.gray_image(data))
        images = [pages.png_bytes(crop) for crop, _ in crops]
        parts = self.embed_sheet(images, model, version)
        vectors = np.concatenate([p["vectors"] for p in parts])
        positions = [{"page": 1, "system": k, "x": round(float(x) + left, 1)}
                     for k, (p, (_, (left, _))) in enumerate(zip(parts, crops), start=1) for x in p["x"]]
        return search_index.rank_items(found, vectors, positions, top)

    def metadata(self, model: str, version: int | None = None) -> dict[str, Any]:
        """``{"model_spec": ..., "signature_def": {name: SignatureDef as a dict}}``."""
        from google.protobuf import json_format

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        response = self._call(self.predictions.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return {"model_spec": {"name": response.model_spec.name, "version": response.model_spec.version.value},
                "signature_def": json_format.MessageToDict(sig_map)["signatureDef"]}

    def status(self, model: str, version: int | None = None) -> list[dict[str, Any]]:
        """``[{"version": 2, "state": "AVAILABLE", "error": ""}, ...]`` as GetModelStatus reports them."""
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        if version is not None:
            request.model_spec.version.value = version
        response = self._call(self.models.GetModelStatus, request)
        state = get_model_status_pb2.ModelVersionStatus.State
        return [{"version": s.version, "state": state.Name(s.state), "error": s.status.error_message}
                for s in response.model_version_status]
