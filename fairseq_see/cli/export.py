"""fairseq-see-export: a checkpoint with only what inference needs, in a hub-ready directory."""

import argparse
import sys

from ..export import __doc__ as export_doc
from ..export import export
from . import run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fairseq-see-export", description=export_doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="trained checkpoint (e.g. checkpoint_best.pt)")
    parser.add_argument("--data", required=True, help="data-bin with the dictionaries it was trained on")
    parser.add_argument("--output", required=True, help="directory to write model.pt and dictionaries into")
    parser.add_argument("--fp16", action="store_true", help="store floating weights in half precision")
    parser.add_argument("--sentencepiece-model", help="source sentencepiece model, for the hub interface (needed)")
    parser.add_argument("--jieba-lexicon", metavar="LEXICON",
                        help="lexicon file(s) whose Chinese words jieba kept whole when the training source was "
                             "segmented (fairseq-see-recipe segment --sememe-lexicon), or 'none' for plain jieba; "
                             "default: the checkpoint's --sememe-lexicon, as the recipes segment")
    parser.add_argument("--teacher", help="teacher checkpoint, only to report its size beside the student's")
    return run("fairseq-see-export", export_command, parser.parse_args(argv))


def export_command(args):
    for line in export(args.checkpoint, args.data, args.output, args.fp16, args.sentencepiece_model, args.teacher,
                       args.jieba_lexicon):
        print(line)


if __name__ == "__main__":
    sys.exit(main())
