"""``SEETransformerDecoder``: fairseq's decoder with its output projection tied to a rebuilt table."""

from fairseq.models.transformer import TransformerDecoder

from ..errors import UserInputError
from .tied_table_projection import TiedTableProjection


class SEETransformerDecoder(TransformerDecoder):
    """Ties the output projection to the rebuilt table instead of to an ``nn.Embedding`` weight.

    fairseq always builds ``output_projection`` (unless adaptive softmax is on, which is refused
    here), so the stock ``output_layer`` applies it: no override is needed there.
    """

    def build_output_projection(self, args, dictionary, embed_tokens):
        if callable(getattr(embed_tokens, "table", None)) and self.share_input_output_embed:
            # any compressed embedding (SEE or a baseline): the projection is its rebuilt table
            if args.adaptive_softmax_cutoff is not None:
                raise UserInputError("see_transformer: --adaptive-softmax-cutoff cannot be tied to a rebuilt "
                                     f"({embed_tokens.kind}) table; drop it or use --decoder-embedding-type full")
            self.output_projection = TiedTableProjection(embed_tokens)
        else:
            super().build_output_projection(args, dictionary, embed_tokens)
