"""The pure core: manifests, audio, text normalisation, scoring, statistics, perturbations and
the health of synthesised audio. Nothing here knows of pytest, engines or files it writes."""
