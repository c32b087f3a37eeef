from . import jieba_tokenizer  # noqa: F401
