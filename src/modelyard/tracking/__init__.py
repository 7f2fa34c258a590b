"""Experiment tracking: experiments, runs, params, metrics, tags, datasets and artifacts.

The module-level SDK lives in :mod:`modelyard.tracking.fluent` and is re-exported by
``modelyard``; :class:`~modelyard.tracking.client.TrackingClient` offers the same verbs with
explicit run ids. Runs record their code and environment automatically
(:mod:`~modelyard.tracking.code`, :mod:`~modelyard.tracking.environment`).
"""

from __future__ import annotations
