"""NAS-Bench-101 cells: the space, its hashing and enumeration, encodings and neighbourhoods, cost, the
design."""
