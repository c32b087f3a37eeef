from . import see_transformer  # noqa: F401
