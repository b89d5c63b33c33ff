"""The one exception type the plugin raises for bad input.

Every message is a single line that names the file and the problem, so that a CI log shows
what to fix without a traceback. The pytest plugin turns these into usage errors.
"""


class SpeechlabError(Exception):
    """Bad input: a manifest, audio file, baseline, option or model name that cannot be used."""
