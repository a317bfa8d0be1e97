"""The fitness landscape footprint: metric functions, landscapes, intervals, vocabulary, the CIFAR-10
reference."""
