"""Moved to :mod:`repoloom.benchdata.hub`. This old path is the same module object (not a
copy), so patching ``repoloom.evaluate.hub.hub_records`` still reaches every loader."""

import sys

from repoloom.benchdata import hub as _hub

sys.modules[__name__] = _hub
