"""Constants of the TFX pipeline (the penguin template's ``configs.py``): names, default folders, step counts.

What differs between model families (data, schema, metric, thresholds) lives in ``tfx_pipeline.families``.
"""
from __future__ import annotations

from pathlib import Path

from zoo import paths

PIPELINE_NAME_PREFIX = "scorezoo"  # pipeline name = "scorezoo-<family>"; also the MLMD context (and cache) key

# Local layout: everything the pipeline writes goes under one work dir (git-ignored ``workdir/`` in a checkout).
DEFAULT_WORKDIR = (paths.source_checkout() or paths.home()) / "workdir" / "tfx"
PIPELINE_ROOT_DIR = "pipelines"  # <workdir>/pipelines/<pipeline name>/<component>/<output>/<execution id>
METADATA_DIR = "metadata"  # <workdir>/metadata/<pipeline name>/metadata.db (SQLite ML Metadata)
# Pushed models: TF Serving's layout serving/models/<model-name>/<numeric version>/saved_model.pb
DEFAULT_SERVING_ROOT = (paths.source_checkout() or paths.home()) / "serving" / "models"

EVAL_STEPS = 20  # validation batches Keras reports during training (TFMA in Evaluator always sees the whole split)
BATCH_SIZE = 32
LEARNING_RATE = 1e-3

# Beam: DirectRunner in this process. in_memory runs every component without spawning workers, which is the
# fastest on a small machine; pass --direct_running_mode=multi_processing --direct_num_workers=N to use N cores,
# or --runner=DataflowRunner/FlinkRunner/SparkRunner ... (see README "TFX pipeline").
DEFAULT_BEAM_PIPELINE_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

# Kubeflow Pipelines (KubeflowV2DagRunner): the image built from Dockerfile.pipeline.
DEFAULT_IMAGE = "scorezoo-pipeline:latest"


def pipeline_name(family: str) -> str:
    return f"{PIPELINE_NAME_PREFIX}-{family}"


def pipeline_root(workdir: str | Path, family: str) -> Path:
    return Path(workdir) / PIPELINE_ROOT_DIR / pipeline_name(family)


def metadata_path(workdir: str | Path, family: str) -> Path:
    return Path(workdir) / METADATA_DIR / pipeline_name(family) / "metadata.db"


def serving_model_dir(model_name: str, serving_root: str | Path = DEFAULT_SERVING_ROOT) -> Path:
    """Where Pusher writes ``<numeric version>/`` folders for one model (TF Serving's base_path)."""
    return Path(serving_root) / model_name
