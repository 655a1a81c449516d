"""The ground floor: what a repository is, used by corpus, tokenize, evaluate and serve.

- `languages`: the language table (one row per release language) and language identification;
- `files`, `sources`, `archives`, `tables`: repository sources and reading their files safely;
- `repo`: one local repository loaded as text; `deps/`: intra-repository dependency parsing;
- `order`: dependency order of a repository's files; `render`: files rendered into samples;
- `context`: repository-aware FIM prompts (the files the current file depends on, first);
- `config`: the read limits and order/render settings (sections of the corpus configuration).

Nothing here imports `repoloom.corpus`, `tokenize`, `train`, `evaluate` or `serve`.
"""
