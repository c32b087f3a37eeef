from . import translation_sememe  # noqa: F401
