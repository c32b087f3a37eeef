from .sememe_entanglement import (SememeEntanglementEmbedding, check_see_dimensions, entangle,
                                  outer_product, placeholder_index, unit_size)

__all__ = ["SememeEntanglementEmbedding", "check_see_dimensions", "entangle", "outer_product",
           "placeholder_index", "unit_size"]
