"""Files that outlive a run: baselines with their history, and the model registry. Every write is
atomic, and the files that several writers share are changed under a lock."""
