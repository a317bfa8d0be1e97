"""nas_assets: NAS-Bench-101 benchmarks on Earth-observation data, as Dagster assets.

``from nas_assets import Benchmark`` gives the query API (imported lazily, so that
``python -m nas_assets.train`` does not pay for pandas and DuckDB it does not need).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Benchmark":
        from nas_assets.query_api import Benchmark

        return Benchmark
    raise AttributeError(f"module 'nas_assets' has no attribute {name!r}")
