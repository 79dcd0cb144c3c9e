"""Packaging for tb-stuckplugin: the library, the TensorBoard plugin entry point and `tb-stuck`."""

import pathlib

import setuptools

setuptools.setup(
    name="tb-stuckplugin",
    version="0.1.0",
    description="A TensorBoard plugin that tells you when training is stuck, where, since when, and why",
    long_description=pathlib.Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tb_stuckplugin", "tb_stuckplugin.*"]),
    package_data={"tb_stuckplugin": ["static/*"]},
    python_requires=">=3.10",
    # TensorFlow is needed to write summaries, not to read them: TensorBoard and `tb-stuck` run
    # without it. Install the "tensorflow" extra (or your own TensorFlow build) where you train.
    install_requires=["tensorboard>=2.21,<3", "numpy>=1.24"],
    extras_require={
        "tensorflow": ["tensorflow>=2.21,<3"],
        # What the test suite needs besides TensorFlow (tests/run.sh installs tensorflow-cpu).
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "hypothesis>=6.100",
            "playwright>=1.50",
            "psutil>=5.9",
            "ruff==0.17.6",
        ],
    },
    entry_points={
        "tensorboard_plugins": ["stuck = tb_stuckplugin.plugin:StuckPlugin"],
        "console_scripts": ["tb-stuck = tb_stuckplugin.cli:main"],
    },
    classifiers=[
        "Framework :: TensorFlow",
        "Programming Language :: Python :: 3",
    ],
    license="Apache-2.0",
)
