"""The suites, shipped with the plugin so that any project runs them without copying files.

In a project, one line in a test file brings a suite in (``speechlab init`` writes it)::

    from pytest_speechlab.suites.test_asr import *  # noqa: F403

or run them as they are: ``pytest --pyargs pytest_speechlab.suites``. Each is parametrised by the
selected models, devices and the project's manifest (``[tool.speechlab]``): ``test_asr``
(accuracy and latency against the baselines), ``test_tts`` (synthesis health and the judge's
intelligibility round trip), ``test_robustness`` (perturbed audio) and ``test_speed``
(pytest-benchmark timings).
"""
