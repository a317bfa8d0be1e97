"""Running training jobs: a SLURM client and a local process runner (no Dagster imports)."""
