"""MLflow queries -> mean ± std tables over seeds, plots, and the summary run."""
