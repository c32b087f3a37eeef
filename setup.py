from setuptools import find_packages, setup

setup(
    name="fairseq-see",
    version="0.1.0",
    description="Sememe Entanglement Encoding (SEE) embedding compression for fairseq translation models",
    packages=find_packages(include=["fairseq_see", "fairseq_see.*"]),
    python_requires=">=3.10",
    # the pinned set (torch, fairseq-fixed built without isolation, ...) is installed by `make install`;
    # see requirements.txt for why it cannot be expressed here
    install_requires=[],
    entry_points={
        "console_scripts": [
            "fairseq-see-index = fairseq_see.cli.index:main",
            "fairseq-see-recipe = fairseq_see.cli.recipe:main",
            "fairseq-see-export = fairseq_see.cli.export:main",
            "fairseq-see-extend = fairseq_see.cli.extend:main",
        ],
    },
)
