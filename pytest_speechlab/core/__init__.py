"""The pure core: manifests, audio, text normalisation, scoring, statistics, perturbations, the
health and quality of synthesised audio, and the analysis of errors (confusions, slices,
hallucinations, word timestamps). Nothing here knows of pytest, engines or files it writes."""
