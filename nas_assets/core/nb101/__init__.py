"""NAS-Bench-101's published data and protocol: the CIFAR-10 readers (JSON, TFRecord), the shipped cells,
budgets."""
