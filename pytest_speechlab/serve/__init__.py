"""``speechlab serve``: the models the registry allows, behind an OpenAI-compatible HTTP API.

The top layer beside the pytest plugin: it reads the registry (``store``), loads each model with
its engine adapter (``engines``) and decodes uploads with ``io.audio``; nothing below imports it.
"""
