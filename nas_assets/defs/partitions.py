"""Partition sets shared by the assets."""

from dagster import DynamicPartitionsDefinition

#: One partition per sampled architecture hash; kept equal to the current design by
#: ``sampled_architectures``.
#: Name of the dynamic partition set of architecture hashes.
ARCHITECTURE_PARTITION_SET = "architectures"
ARCHITECTURE_PARTITIONS = DynamicPartitionsDefinition(name=ARCHITECTURE_PARTITION_SET)
