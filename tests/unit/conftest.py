"""Hypothesis profiles for the codec property tests (applied per test, not globally).

``codec-ci`` (the default) bounds each codec property test to a fixed number of examples,
derandomized and with no deadline, so it stays fast and deterministic on 2 cores;
``FASTPHX_HYPOTHESIS_PROFILE=codec-dev`` runs many more examples for a local hunt.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "codec-ci", max_examples=300, deadline=None, derandomize=True, suppress_health_check=_SUPPRESS
)
settings.register_profile(
    "codec-dev", max_examples=5000, deadline=None, suppress_health_check=_SUPPRESS
)
