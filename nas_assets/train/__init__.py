"""Training one architecture on So2Sat LCZ42 (torch + Lightning; no Dagster imports).

``python -m nas_assets.train`` is what a SLURM job or a local process runs.
"""
