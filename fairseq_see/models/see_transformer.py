"""``see_transformer``: fairseq's Transformer whose token embeddings are Sememe Entanglement Encodings."""

import logging
import os

from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import (DEFAULT_MAX_SOURCE_POSITIONS, DEFAULT_MAX_TARGET_POSITIONS, TransformerModel,
                                        base_architecture)

from ..errors import UserInputError
from ..modules.embedding_factory import EMBEDDING_TYPES, Dictionary, build_embedding
from ..modules.embedding_sizes import DEFAULT_SIZES, sizes_from_args, split_budget
from ..modules.embedding_stats import format_stats
from ..modules.sememe_entanglement_embedding import DEFAULT_INIT, INITS, NORMS
from .see_transformer_decoder import SEETransformerDecoder

logger = logging.getLogger(__name__)
DEFAULT_SEE_ORDER = 3

@register_model("see_transformer")
class SEETransformerModel(TransformerModel):
    """Transformer with SEE token embeddings; each side can be switched back to a full table."""

    @staticmethod
    def add_args(parser):
        TransformerModel.add_args(parser)
        parser.add_argument("--encoder-embedding-type", choices=EMBEDDING_TYPES,
                            help="source token embeddings: see (rebuilt from sememes), full (nn.Embedding), "
                                 "see_random (SEE with random sememes, an ablation), or a baseline: low_rank, "
                                 "word2ket, word2ketxs, tt, morphte")
        parser.add_argument("--decoder-embedding-type", choices=EMBEDDING_TYPES,
                            help="target token embeddings (tied to the output projection)")
        parser.add_argument("--embedding-compression-ratio", type=float, metavar="X",
                            help="pick each compressed embedding's size for |V|*d/params ~= X, a finite X >= 1 "
                                 "(low_rank: e; word2ket/word2ketxs/tt: rank, order if needed; morphte: rank; see: "
                                 "order, slots and tables); the achieved ratio is logged, as a warning when X is "
                                 "out of the type's reach")
        for prefix, side in (("encoder", "source"), ("decoder", "target")):
            parser.add_argument(f"--{prefix}-embedding-compression-ratio", type=float, metavar="X",
                                help=f"the {side} side's ratio, instead of --embedding-compression-ratio there (the "
                                     "output projection shares the target table, so the target side may deserve "
                                     "more of the budget)")
        parser.add_argument("--target-budget-share", type=float, metavar="F",
                            help="with --embedding-compression-ratio X: spend the budget of X over both tables, "
                                 "(|V_src|*d + |V_tgt|*d)/X parameters, F of it on the target table (which the tied "
                                 "output projection also reads) and the rest on the source; default: each side at X")
        parser.add_argument("--low-rank-dim", type=int, metavar="E",
                            help=f"low_rank: inner dimension e (default {DEFAULT_SIZES['low_rank_dim']})")
        for kind in ("word2ket", "word2ketxs", "tt", "morphte"):
            parser.add_argument(f"--{kind}-order", type=int, metavar="N",
                                help=f"{kind}: factors per tensor product (default {DEFAULT_SIZES[kind + '_order']})")
            parser.add_argument(f"--{kind}-rank", type=int, metavar="R",
                                help=f"{kind}: rank (default {DEFAULT_SIZES[kind + '_rank']})")
        parser.add_argument("--see-random-seed", type=int, metavar="S",
                            help="see_random: seed of the random sememe assignment (default 1)")
        parser.add_argument("--see-order", type=int, metavar="O",
                            help="unit vectors entangled per sense; unit size is ceil(d^(1/O)) (default 3; with "
                                 "--embedding-compression-ratio the picker chooses it unless given)")
        parser.add_argument("--see-rank", type=int, metavar="R",
                            help="slots per token (>= 2): R-I semantic slots (up to R-I-1 senses, the morphemes), "
                                 "then I identity ranks (--see-identity-ranks)")
        parser.add_argument("--see-identity-ranks", type=int, metavar="I",
                            help="slots per token holding identity units, the per-token capacity (1 <= I <= R, "
                                 "default 1; the ratio picker chooses it)")
        parser.add_argument("--see-min-readers", type=int, metavar="K",
                            help="a sememe or morpheme read by fewer than K tokens becomes a pad unit (default 2; "
                                 "the ratio picker raises it for small budgets: fewer, more widely shared units)")
        parser.add_argument("--see-max-slots", type=int, metavar="N",
                            help="with --embedding-compression-ratio: the most slots the picker gives a token "
                                 "(default 16: each slot costs a product in every training step's table rebuild; "
                                 "more buys identity ranks where the cap leaves the budget to shared units)")
        parser.add_argument("--see-tables", type=int, metavar="M",
                            help="unit tables; slot k reads table k mod M (a table holds only the units its slots read)")
        parser.add_argument("--see-norm", choices=NORMS,
                            help="what a token's summed products go through: layernorm (default: the method's) "
                                 "or affine (its gain and bias, no normalisation: row norms stay free)")
        parser.add_argument("--see-init", choices=INITS,
                            help="the unit vectors' starting scale: sum (default; word2ketXS's: the sum of a "
                                 "token's products starts with components of std d^-1/2, so Adam turns the "
                                 "smaller units faster) or unit (norm ~1 each; the default before 2026-12-07)")
        parser.add_argument("--tied-output-bias", action="store_true",
                            help="a per-token bias on the tied output logits of a compressed target table (|V| "
                                 "parameters, counted; with a ratio the compressor is sized so both reach it): "
                                 "layer-normalised rows cannot express frequency by norm")
        parser.add_argument("--dense-rows", type=int, metavar="K",
                            help="the K most frequent tokens of each compressed side also get a full row of their "
                                 "own, added to the rebuilt one (K*d parameters, counted; with "
                                 "--embedding-compression-ratio the compressor is sized so both reach it; default 0)")
        parser.add_argument("--dense-rows-offset", type=int, metavar="N",
                            help="the dense rows go to the K tokens after the N most frequent (default 0), e.g. "
                                 "the middle of the vocabulary, where a compressed table loses most")
        for prefix, side in (("encoder", "source"), ("decoder", "target")):
            parser.add_argument(f"--{prefix}-dense-rows", type=int, metavar="K",
                                help=f"the {side} side's dense rows, instead of --dense-rows there (the target "
                                     "table is also the output projection)")

    @classmethod
    def from_pretrained(cls, model_name_or_path, checkpoint_file="model.pt", data_name_or_path=".", **kwargs):
        """fairseq's hub loader with this plugin's defaults: jieba segmentation, then sentencepiece.

        A directory written by fairseq-see-export holds model.pt, the dictionaries, the source
        sentencepiece model as ``sentencepiece.bpe.model`` and, when the training source was segmented
        with a lexicon's words kept whole (as the recipes do), those words as ``jieba_lexicon.txt``:
        jieba here keeps the same words whole, so
        ``SEETransformerModel.from_pretrained(dir).translate("今天天气很好。")`` segments as training did.
        """
        from ..export import JIEBA_LEXICON_FILE, SENTENCEPIECE_FILE
        kwargs.setdefault("tokenizer", "jieba")
        kwargs.setdefault("bpe", "sentencepiece")
        if os.path.isdir(model_name_or_path):
            if (kwargs["bpe"] == "sentencepiece" and "sentencepiece_model" not in kwargs
                    and not os.path.isfile(os.path.join(model_name_or_path, SENTENCEPIECE_FILE))):
                raise UserInputError(f"{model_name_or_path}: no {SENTENCEPIECE_FILE}; export the model with "
                                     "fairseq-see-export --sentencepiece-model SRC.model, or pass "
                                     "sentencepiece_model=... (or another bpe=)")
            if kwargs["tokenizer"] == "jieba":
                # always set: the export records the file by its name inside the directory
                words = os.path.join(os.path.abspath(model_name_or_path), JIEBA_LEXICON_FILE)
                kwargs.setdefault("jieba_lexicon", words if os.path.isfile(words) else None)
        return super().from_pretrained(model_name_or_path, checkpoint_file, data_name_or_path, **kwargs)

    @classmethod
    def build_model(cls, args, task):
        see_base_architecture(args)
        if not hasattr(task, "side_indexes"):
            raise UserInputError("see_transformer needs --task translation_sememe (it provides the sememe index)")
        if args.encoder_layers_to_keep:
            args.encoder_layers = len(args.encoder_layers_to_keep.split(","))
        if args.decoder_layers_to_keep:
            args.decoder_layers = len(args.decoder_layers_to_keep.split(","))
        if getattr(args, "max_source_positions", None) is None:
            args.max_source_positions = DEFAULT_MAX_SOURCE_POSITIONS
        if getattr(args, "max_target_positions", None) is None:
            args.max_target_positions = DEFAULT_MAX_TARGET_POSITIONS
        if args.share_all_embeddings:
            raise UserInputError("see_transformer builds one table per language; drop --share-all-embeddings "
                                 "(use --share-decoder-input-output-embed)")
        ratios = side_ratios(args, len(task.source_dictionary), len(task.target_dictionary))
        (encoder_embed, source_stats), (decoder_embed, target_stats) = (
            cls.build_side_embedding(args, task, side, ratios) for side in ("source", "target"))
        encoder = cls.build_encoder(args, task.source_dictionary, encoder_embed)
        decoder = cls.build_decoder(args, task.target_dictionary, decoder_embed)
        model = cls(args, encoder, decoder)
        model.embedding_stats = {"source": source_stats, "target": target_stats}  # data, see embedding_stats.py
        return model

    @classmethod
    def build_side_embedding(cls, args, task, side, ratios):
        """The token embedding of one side at ``ratios[prefix]`` (``side_ratios``), and its stats (both logged)."""
        prefix = "encoder" if side == "source" else "decoder"
        fairseq_dictionary = task.source_dictionary if side == "source" else task.target_dictionary
        dictionary = Dictionary(fairseq_dictionary.symbols, fairseq_dictionary.count, fairseq_dictionary.pad(),
                                task.dictionary_path(task.language(side)))
        dense_rows, dense_option = side_option(args, prefix, "dense_rows")
        see = {"order": DEFAULT_SEE_ORDER if args.see_order is None else args.see_order, "rank": args.see_rank, "tables": args.see_tables,
               "identity_ranks": args.see_identity_ranks, "min_readers": args.see_min_readers,
               "fixed_order": args.see_order, "max_slots": getattr(args, "see_max_slots", None),
               "random_seed": getattr(args, "see_random_seed", None), "norm": args.see_norm,
               "init": getattr(args, "see_init", None) or DEFAULT_INIT}
        embedding, stats, notes = build_embedding(
            getattr(args, f"{prefix}_embedding_type"), side, dictionary, getattr(args, f"{prefix}_embed_dim"),
            sizes=sizes_from_args(args), ratio=ratios[prefix], see=see,
            indexes=task.side_indexes(side), output_bias=side == "target" and args.tied_output_bias,
            dense_rows=dense_rows, dense_option=dense_option,
            dense_offset=getattr(args, "dense_rows_offset", None) or 0)
        if getattr(embedding, "placeholder", False):
            stats = None  # the checkpoint's index decides the sizes
        for line in notes + ([format_stats(stats)] if stats else []):
            logger.info(line)
        return embedding, stats

    @classmethod
    def build_decoder(cls, args, tgt_dict, embed_tokens):
        return SEETransformerDecoder(args, tgt_dict, embed_tokens,
                                     no_encoder_attn=getattr(args, "no_cross_attention", False))


def side_option(args, prefix, name):
    """One side's value of a shared option ``name`` (e.g. ``dense_rows``): its own --PREFIX-NAME when given,
    else the shared --NAME; returns (value, the name of the option it came from, for refusals)."""
    own = getattr(args, f"{prefix}_{name}", None)
    if own is not None:
        return own, f"--{prefix}-{name}".replace("_", "-")
    return getattr(args, name, None), f"--{name}".replace("_", "-")


def side_ratio(args, prefix):
    """The compression ratio asked for one side: its own option, else the shared one (None: sizes given)."""
    return side_option(args, prefix, "embedding_compression_ratio")[0]


def side_ratios(args, source_vocab, target_vocab):
    """{"encoder": ratio, "decoder": ratio} (None: sizes given): each side's ``side_ratio``, or with
    --target-budget-share the shared ratio's budget split between the two tables (one line logs it)."""
    share = getattr(args, "target_budget_share", None)
    if share is None:
        return {prefix: side_ratio(args, prefix) for prefix in ("encoder", "decoder")}
    own = [f"--{p}-embedding-compression-ratio" for p in ("encoder", "decoder")
           if getattr(args, f"{p}_embedding_compression_ratio", None) is not None]
    if getattr(args, "embedding_compression_ratio", None) is None or own:
        raise UserInputError("--target-budget-share splits --embedding-compression-ratio's budget: give that "
                             "ratio" + (f", without {' and '.join(own)}" if own else ""))
    full = [side for side in ("encoder", "decoder") if getattr(args, f"{side}_embedding_type") == "full"]
    if full:
        raise UserInputError(f"--target-budget-share needs both sides compressed; --{full[0]}-embedding-type is full")
    source, target = split_budget(source_vocab * args.encoder_embed_dim, target_vocab * args.decoder_embed_dim,
                                  args.embedding_compression_ratio, share)
    logger.info(f"embedding budget: --embedding-compression-ratio {args.embedding_compression_ratio:g} over both "
                f"tables, {share:g} of it to the target: source {source:.2f}x, target {target:.2f}x")
    return {"encoder": source, "decoder": target}


def see_base_architecture(args):
    args.encoder_embedding_type = getattr(args, "encoder_embedding_type", None) or "see"
    args.decoder_embedding_type = getattr(args, "decoder_embedding_type", None) or "see"
    # 'is None', not 'or': an explicit 0 must reach check_see_dimensions, not become the default.
    # With a ratio and no --see-order, the order stays None: the picker chooses it.
    ratio = side_ratio(args, "encoder") or side_ratio(args, "decoder")
    for name, default in (("see_order", None if ratio else DEFAULT_SEE_ORDER), ("see_rank", 4), ("see_tables", 1),
                          ("see_identity_ranks", 1), ("see_min_readers", 2), ("see_norm", "layernorm"),
                          ("see_init", DEFAULT_INIT)):
        if getattr(args, name, None) is None:
            setattr(args, name, default)
    args.share_decoder_input_output_embed = getattr(args, "share_decoder_input_output_embed", True)
    args.tied_output_bias = getattr(args, "tied_output_bias", False)
    args.dense_rows = getattr(args, "dense_rows", None) or 0
    base_architecture(args)


@register_model_architecture("see_transformer", "see_transformer")
def see_transformer(args):
    see_base_architecture(args)


@register_model_architecture("see_transformer", "see_transformer_tiny")
def see_transformer_tiny(args):
    """fairseq's transformer_tiny sizes (so a stock teacher distils into it): 2+2 layers, d 64, FFN 64."""
    args.encoder_embed_dim = getattr(args, "encoder_embed_dim", 64)
    args.encoder_ffn_embed_dim = getattr(args, "encoder_ffn_embed_dim", 64)
    args.encoder_layers = getattr(args, "encoder_layers", 2)
    args.encoder_attention_heads = getattr(args, "encoder_attention_heads", 2)
    args.decoder_layers = getattr(args, "decoder_layers", 2)
    args.decoder_attention_heads = getattr(args, "decoder_attention_heads", 2)
    see_base_architecture(args)


@register_model_architecture("see_transformer", "see_transformer_iwslt_zh_en")
def see_transformer_iwslt_zh_en(args):
    """fairseq's transformer_iwslt_de_en sizes: 6+6 layers, d 512, FFN 1024, 4 heads."""
    args.encoder_embed_dim = getattr(args, "encoder_embed_dim", 512)
    args.encoder_ffn_embed_dim = getattr(args, "encoder_ffn_embed_dim", 1024)
    args.encoder_attention_heads = getattr(args, "encoder_attention_heads", 4)
    args.encoder_layers = getattr(args, "encoder_layers", 6)
    args.decoder_embed_dim = getattr(args, "decoder_embed_dim", 512)
    args.decoder_ffn_embed_dim = getattr(args, "decoder_ffn_embed_dim", 1024)
    args.decoder_attention_heads = getattr(args, "decoder_attention_heads", 4)
    args.decoder_layers = getattr(args, "decoder_layers", 6)
    see_base_architecture(args)


@register_model_architecture("see_transformer", "see_transformer_wmt_zh_en")
def see_transformer_wmt_zh_en(args):
    """Transformer-base sizes: 6+6 layers, d 512, FFN 2048, 8 heads (fairseq's defaults)."""
    see_base_architecture(args)
