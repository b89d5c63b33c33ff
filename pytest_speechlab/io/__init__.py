"""Reading and probing the world: manifests and dataset formats, audio files, the devices and
threads, and what produced a run (provenance, calibration). ``core`` below it stays pure."""
