import os

# Most tests run eager (no torch.compile warm-up); test_compiled_matches_eager turns it on.
os.environ.setdefault("COMPSWEEP_COMPILE", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
