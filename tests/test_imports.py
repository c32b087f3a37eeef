"""Importing the plugin (issue 14, item 7): the console scripts that need neither torch nor fairseq
import neither; the fairseq components are registered whichever of fairseq and fairseq_see is
imported first; the deprecation warnings of fairseq's dependencies are silenced, others kept."""

import json
import subprocess
import sys

from conftest import REPO


def python(code):
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_light_console_scripts_import_neither_torch_nor_fairseq():
    loaded = python(
        "import json, sys\n"
        "import fairseq_see, fairseq_see.cli.recipe, fairseq_see.cli.index, fairseq_see.recipe.segmentation\n"
        "from fairseq_see.cli.recipe import parse_args\n"
        "parse_args(['check', 'a', 'b'])\n"
        "print(json.dumps(sorted(m for m in ('torch', 'fairseq', 'hydra') if m in sys.modules)))\n")
    assert json.loads(loaded.stdout) == []


REGISTERED = ("from fairseq.tasks import TASK_REGISTRY\n"
              "from fairseq.models import ARCH_MODEL_REGISTRY\n"
              "from fairseq.criterions import CRITERION_REGISTRY\n"
              "from fairseq.data.encoders import registry\n"
              "print('translation_sememe' in TASK_REGISTRY, 'see_transformer_tiny' in ARCH_MODEL_REGISTRY,\n"
              "      'see_distillation' in CRITERION_REGISTRY,\n"
              "      'jieba' in registry.REGISTRIES['tokenizer']['registry'])\n")


def test_components_are_registered_whichever_is_imported_first():
    for first in ("import fairseq_see.lexicon\nimport fairseq\n",  # the plugin first: registered after fairseq
                  "import fairseq\nimport fairseq_see\n",  # fairseq first (--user-dir): registered at once
                  "from fairseq_see import SEETransformerModel\n"):  # the hub
        assert python(first + REGISTERED).stdout.split() == ["True"] * 4, first


def test_stock_user_dir_import_after_the_plugin_was_imported(data_dir):
    # fairseq's import_user_module only logs "already imported" for a module in sys.modules
    out = python("import fairseq_see.lexicon, sys\n"
                 "sys.path.insert(0, 'tests')\n"
                 "from conftest import build\n"
                 "import pathlib\n"
                 f"task, model = build(pathlib.Path({str(data_dir)!r}))\n"
                 "print(type(task).__name__, type(model).__name__)\n").stdout
    assert out.split()[-2:] == ["TranslationSememeTask", "SEETransformerModel"]


def test_dependency_warnings_are_silenced_and_others_kept():
    messages = [("UserWarning", "hydra.experimental.initialize() is no longer experimental. Use hydra.initialize()"),
                ("UserWarning", "\nThe version_base parameter is not specified.\nPlease specify a compatability "
                                "version level, or None.\nWill assume defaults for version 1.1"),
                ("UserWarning", "hydra.experimental.compose() is no longer experimental. Use hydra.compose()"),
                ("UserWarning", "In 'config': Usage of deprecated keyword in package header '# @package _group_'.\n"
                                "See https://hydra.cc/docs/1.2/upgrades/1.0_to_1.1/changes_to_package_header"),
                ("UserWarning", "\n'config' is validated against ConfigStore schema with the same name.\n"
                                "This behavior is deprecated in Hydra 1.1 and will be removed in Hydra 1.2."),
                ("UserWarning", "\nThe strict flag in the compose API is deprecated.\n"),
                ("UserWarning", "'pin_memory' argument is set as true but no accelerator is found, then device "
                                "pinned memory won't be used."),
                ("UserWarning", "Support for mismatched key_padding_mask and attn_mask is deprecated. Use same "
                                "type for both instead."),
                ("FutureWarning", "`torch.cuda.amp.autocast(args...)` is deprecated. Please use "
                                  "`torch.amp.autocast('cuda', args...)` instead."),
                ("DeprecationWarning", "`torch.jit.script` is deprecated. Please switch to `torch.compile` or "
                                       "`torch.export`.")]
    kept = [("UserWarning", "a warning of the user's own"),
            ("DeprecationWarning", "hydra.something_else is deprecated")]
    code = "import warnings, fairseq_see\n" + "".join(
        f"warnings.warn({message!r}, {category})\n" for category, message in messages + kept)
    stderr = python(code).stderr
    assert "a warning of the user's own" in stderr and "hydra.something_else is deprecated" in stderr
    assert stderr.count("Warning:") == 2, stderr
