"""Packaging for hf-challenger (import name ``hf_challenger``)."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent

# Ranges, never pins: an installed torch (CPU or CUDA build) inside the range is kept.
# The lower bounds are the lowest versions the test suite ran on (torch 2.14.1 with
# torchvision 0.29.1); the newest tested is torch 2.15.0 with torchvision 0.29.2. No upper
# bound: no release is known to break the package.
TORCH = "torch>=2.14.1"
TORCHVISION = "torchvision>=0.29.1"
CORE = [
    TORCH,
    "numpy>=1.24",
    "transformers>=4.56,<6",
    "accelerate>=1.0,<2",
    "datasets>=3.0,<6",
    "evaluate>=0.4.3,<0.5",
    "safetensors>=0.4",
    "pyyaml>=6.0",
    "tqdm>=4.66",
    "matplotlib>=3.8",
    "scikit-learn>=1.4",
]
EXTRAS = {
    "vision": [TORCHVISION, "mlxtend>=0.23"],
    "text": ["gensim>=4.3,<5"],
    "ecg": ["wfdb>=4.1,<5", "pandas>=2.0"],
}
EXTRAS["test"] = [
    TORCHVISION,
    "pytest>=8.0",
    "hypothesis>=6.100",
    "zennit==0.5.1",
    "captum>=0.8",
    "deepspeed>=0.17",
    "peft>=0.17",
    "scikit-learn>=1.4",
    "mlxtend>=0.23",
    "matplotlib>=3.8",
]
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})

setup(
    name="hf-challenger",
    version="0.1.0.dev0",
    description="Attribution-guided training (Challenger) for the Hugging Face Trainer",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["hf_challenger", "hf_challenger.*"]),
    include_package_data=True,
    package_data={"hf_challenger": ["py.typed", "**/*.py", "**/*.yaml", "**/*.json"]},
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["hf-challenger=hf_challenger.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
