"""The HTTP API of ``repoloom serve``: request models (:mod:`.protocol`), OpenAI's error shape
(:mod:`.errors`), the state the endpoints share (:mod:`.state`), the streaming bridge
(:mod:`.streaming`) and one router per endpoint (:mod:`.completions`, :mod:`.chat`,
:mod:`.infill`, :mod:`.tokens` (``/tokenize``), :mod:`.models` for ``/health`` and ``/v1/models``)."""
