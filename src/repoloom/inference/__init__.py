"""Model access for evaluate and serve: one interface (:mod:`.base`), a local Hugging Face
engine (:mod:`.local`) and an OpenAI-compatible HTTP client (:mod:`.openai_client`,
:mod:`.upstream`)."""
