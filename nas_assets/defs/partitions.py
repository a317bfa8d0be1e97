"""Partition sets shared by the assets."""

from dagster import DynamicPartitionsDefinition

#: One partition per sampled architecture hash; kept equal to the current design by
#: ``sampled_architectures``.
ARCHITECTURE_PARTITIONS = DynamicPartitionsDefinition(name="architectures")
