"""scorezoo: a TensorFlow/Keras model zoo for cross-media music score recognition."""
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
version: dict = {}
exec((ROOT / "zoo" / "_version.py").read_text(), version)

setup(
    name="scorezoo",
    version=version["__version__"],
    description="Keras model zoo, TFX pipeline and TF Serving deployment for music score recognition",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["zoo", "zoo.*", "tfx_pipeline", "tfx_pipeline.*", "serving", "serving.*"]),
    include_package_data=True,
    package_data={
        "zoo": ["pretrained/*.json", "pretrained/*/*", "notation/resources/*/*", "training/recipes/*.json"],
        "tfx_pipeline": ["schemas/*/*"],
        "serving": ["*.config"],
    },
    # Compatible ranges for installing into your own environment; requirements.lock has the exact pins.
    install_requires=[
        "tensorflow>=2.16,<2.17",
        "tf-keras>=2.16,<2.17",
        "tensorflow-io>=0.37,<0.38",
        "tfx[kfp]>=1.16,<1.17",
        "apache-beam[gcp]>=2.59,<2.60",
        "spektral>=1.3,<1.4",
        "tensorflow-serving-api>=2.16,<2.17",
        "numpy>=1.26,<2",
        "protobuf>=3.20.3,<4",
        "music21>=9.1,<10",
        "jsonschema>=4,<5",
        "verovio>=4.3",
        "cairosvg>=2.7",
        "pillow>=10",
        "soundfile>=0.12",
        "mido>=1.3",
        "scipy>=1.11",
        "scikit-learn>=1.3",
        "faiss-cpu>=1.7",
        "matplotlib>=3.7",
        "tqdm>=4.60",
        "click>=8.1",
        "aiohttp>=3.9",
    ],
    extras_require={"dev": ["pytest>=8", "ruff>=0.5"]},
    entry_points={"console_scripts": ["scorezoo=zoo.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
