from . import see_distillation  # noqa: F401
