"""The plugin's one error class for bad user input, and the lexicon's own kind of it.

It lives here, at the bottom of the package, because the lexicon folder must work on its own
(no torch, no fairseq): every other part of the plugin imports it from ``fairseq_see.errors``.
"""


class UserInputError(ValueError):
    """Bad input (a file, an option, a checkpoint): the message is one line naming it and the fix.

    A ``ValueError``, so fairseq's own argument handling treats it as bad input too.
    """


class LexiconError(UserInputError):
    """Bad lexicon, dictionary or index input."""
