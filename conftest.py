"""Project-wide pytest settings for this repository.

The plugin itself arrives through its ``pytest11`` entry point; this file only sets the
hypothesis profiles: ``ci`` (the default: few, derandomised examples, so CI is repeatable)
and ``dev`` (more examples, for local runs: ``HYPOTHESIS_PROFILE=dev pytest tests``).
"""

import os

try:
    from hypothesis import settings
except ImportError:  # the suite runs without the test extra
    settings = None

if settings is not None:
    settings.register_profile("ci", max_examples=30, derandomize=True, deadline=None)
    settings.register_profile("dev", max_examples=300, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
