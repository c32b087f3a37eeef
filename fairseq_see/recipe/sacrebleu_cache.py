"""Seed sacrebleu's own ``iwslt17`` test-set cache from the official archives, so scoring runs offline.

sacrebleu has no public call to add a test set from local files; this uses its dataset class's
processing of the very archives it would download (its ``_rawdir``/``_outdir`` folders), which
is what ``sacrebleu -t iwslt17 -l zh-en`` then finds.
"""

import os
import tarfile

from ..errors import RecipeError

IWSLT17_ZH_EN = ("2017-01-ted-test.texts.zh.en.zh-en.tgz", "2017-01-ted-test.texts.en.zh.en-zh.tgz")


def iwslt17_cache(archives):
    """Let `sacrebleu -t iwslt17 -l zh-en` run offline: sacrebleu's own XML processing of the archives."""
    from sacrebleu.dataset import DATASETS
    from sacrebleu.dataset.iwslt_xml import IWSLTXMLDataset
    official = DATASETS["iwslt17"]
    dataset = IWSLTXMLDataset("iwslt17", data=[], langpairs={"zh-en": official.langpairs["zh-en"]})
    os.makedirs(dataset._rawdir, exist_ok=True)
    for name in IWSLT17_ZH_EN:
        path = os.path.join(archives, name)
        if not os.path.isfile(path):
            raise RecipeError(f"{path}: IWSLT17 test archive not found; pass the folder holding {name}")
        with tarfile.open(path) as archive:
            archive.extractall(dataset._rawdir, filter="data")
    dataset.process_to_text("zh-en")
    return dataset._outdir, len(list(dataset.source("zh-en")))
