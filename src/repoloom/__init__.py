"""repoloom: the DeepSeek-Coder system (arXiv 2401.14196) as software.

Parts: corpus, tokenize, train, evaluate, serve. Each part registers its own CLI subcommands
in ``repoloom.<part>.cli`` so that the parts stay independent of each other.
"""

__version__ = "0.1.0"
