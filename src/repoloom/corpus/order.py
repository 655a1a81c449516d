"""Moved to `repoloom.codebase.order`; this name stays for one release."""

from repoloom.codebase.order import *  # noqa: F403
from repoloom.codebase.order import _Graph, _order_paper, _order_scc  # noqa: F401
