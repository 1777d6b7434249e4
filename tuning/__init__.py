"""Ray Tune and MLflow at the edge: the adapter that makes ``trainables.train`` a Tune
trainable, the driver-side MLflow callback, and the Tuner set-up (run, resume, rerun)."""
