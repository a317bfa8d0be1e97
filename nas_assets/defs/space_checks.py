"""Asset checks of the space stage, each one SQL query over the store."""


from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from nas_assets.core.cells.space import CUMULATIVE_UNIQUE_COUNTS, SPACE_SIZE
from nas_assets.core.store import space as space_sql
from nas_assets.defs.partitions import ARCHITECTURE_PARTITION_SET
from nas_assets.defs.resources import StoreResource
from nas_assets.defs.space_assets import architecture_space, sampled_architectures


@asset_check(asset=architecture_space,
             description=f"Exactly {SPACE_SIZE:,} architectures, with NB101's count per vertex number.")
def space_has_exact_counts(store: StoreResource) -> AssetCheckResult:
    with store.connect(read_only=True) as conn:
        total, got = space_sql.space_counts(conn)
    cumulative, expected = 0, {}
    for v in sorted(CUMULATIVE_UNIQUE_COUNTS):
        expected[v] = CUMULATIVE_UNIQUE_COUNTS[v] - cumulative
        cumulative = CUMULATIVE_UNIQUE_COUNTS[v]
    return AssetCheckResult(
        passed=bool(total == SPACE_SIZE and got == expected),
        metadata={"total": int(total), "per_vertex": str(got), "expected_per_vertex": str(expected)},
    )


@asset_check(asset=architecture_space, description="No architecture hash appears twice.")
def space_hashes_unique(store: StoreResource) -> AssetCheckResult:
    with store.connect(read_only=True) as conn:
        dupes = space_sql.duplicated_hashes(conn)
    return AssetCheckResult(passed=dupes == 0, metadata={"duplicated_hashes": int(dupes)})


@asset_check(asset=sampled_architectures, description="Every sampled hash exists in the architecture space.")
def sampled_hashes_in_space(store: StoreResource) -> AssetCheckResult:
    with store.connect(read_only=True) as conn:
        n, unknown = space_sql.design_visits(conn)
    return AssetCheckResult(passed=unknown == 0 and n > 0,
                            metadata={"unknown_hashes": int(unknown), "visits": int(n)})


@asset_check(
    asset=sampled_architectures,
    description="The 'architectures' partition set equals the distinct sampled hashes.",
)
def partitions_match_design(context: AssetCheckExecutionContext, store: StoreResource) -> AssetCheckResult:
    with store.connect(read_only=True) as conn:
        design = space_sql.design_hashes(conn)
    partitions = set(context.instance.get_dynamic_partitions(ARCHITECTURE_PARTITION_SET))
    return AssetCheckResult(
        passed=design == partitions,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "design_hashes": len(design),
            "partitions": len(partitions),
            "missing_partitions": len(design - partitions),
            "extra_partitions": len(partitions - design),
        },
    )
