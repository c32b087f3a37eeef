from .baseline_embeddings import (BASELINE_TYPES, DEFAULT_SIZES, LowRankEmbedding, MorphTEEmbedding,
                                  TiedTableProjection, TTEmbedding, Word2KetEmbedding, Word2KetXSEmbedding, build_baseline,
                                  pick_size, see_count, sizes_from_args, valid_orders)
from .sememe_entanglement import (RebuiltTableEmbedding, SememeEntanglementEmbedding, check_see_dimensions, entangle,
                                  outer_product, placeholder_index, unit_size)

__all__ = ["BASELINE_TYPES", "DEFAULT_SIZES", "LowRankEmbedding", "MorphTEEmbedding", "RebuiltTableEmbedding",
           "SememeEntanglementEmbedding", "TTEmbedding", "TiedTableProjection", "Word2KetEmbedding", "Word2KetXSEmbedding", "build_baseline",
           "check_see_dimensions", "entangle", "outer_product", "pick_size", "placeholder_index", "see_count",
           "sizes_from_args", "unit_size", "valid_orders"]
