"""Chinese segmentation with jieba (the lexicon's words kept whole) and sentencepiece on both sides."""

from ..lexicon import load_lexicons
from ..lexicon.text import has_chinese
from ..tokenizers.jieba_tokenizer import jieba_with_lexicon
from .corpus import read_lines, write_atomic


def segment(pairs, sememe_lexicon=None, sememe_names=None, wordnet=None, lexicon_words=True):
    """Segment each (input, output) file; with a lexicon, yields a coverage line per output."""
    lexicon = load_lexicons(sememe_lexicon, sememe_names=sememe_names, wordnet=wordnet) if sememe_lexicon else None
    tokenizer = jieba_with_lexicon(lexicon if lexicon_words else None)
    for source, output in pairs:
        lines = [" ".join(w for w in tokenizer.cut(line.strip()) if w.strip()) for line in read_lines(source)]
        write_atomic(output, lines)
        if lexicon is None:
            continue
        words = [w for line in lines for w in line.split() if has_chinese(w)]
        types = set(words)
        kind = "with" if lexicon_words else "without"
        yield (f"{output}: {len(lines):,} lines; jieba {kind} lexicon words: Chinese word types in lexicon "
               f"{100 * sum(w in lexicon for w in types) / max(len(types), 1):.1f}%, "
               f"tokens {100 * sum(w in lexicon for w in words) / max(len(words), 1):.1f}%")


def spm_train(input_path, prefix, vocab_size, character_coverage=1.0):
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(input=input_path, model_prefix=prefix, vocab_size=vocab_size,
                                   character_coverage=character_coverage, input_sentence_size=2_000_000,
                                   shuffle_input_sentence=True, minloglevel=2)


def spm_encode(model, input_path, output):
    import sentencepiece as spm
    processor = spm.SentencePieceProcessor(model_file=model)
    write_atomic(output, (" ".join(processor.encode(line, out_type=str)) for line in read_lines(input_path)))
