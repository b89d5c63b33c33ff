"""The one exception type the plugin raises for bad input.

Every message is a single line that names the file and the problem, so that a CI log shows
what to fix without a traceback. The pytest plugin turns these into usage errors.
"""


class SpeechlabError(Exception):
    """Bad input: a manifest, audio file, baseline, option or model name that cannot be used."""


class SpeechlabWarning(UserWarning):
    """Input that can be used but is likely a mistake (a transcript edited beside its audio, a
    clip too short for its words): one line naming the file or case, shown in pytest's warnings."""
