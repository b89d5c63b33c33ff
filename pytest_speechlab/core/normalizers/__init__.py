"""Whisper's English text normaliser, vendored so that scoring needs neither torch nor openai-whisper.

``basic.py``, ``english.py`` and ``english.json`` are openai-whisper 20250625's
``whisper/normalizers`` files, byte for byte (MIT licence, in ``LICENSE`` beside them). They are
kept unedited so that they can be compared with the package's own, and
``tests/e2e/test_normalizer.py`` checks they normalise every manifest text and a few thousand varied
strings exactly as openai-whisper does wherever it is installed. Update them together with
``metrics.NORMALIZER_RELEASE``: another release is another normaliser, and baselines recorded
under one are not compared with figures of the other.
"""
