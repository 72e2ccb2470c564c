"""dive: the small library behind the "Dive into Deep Learning" notebooks.

Data flows one way: ``dive.data`` (uint8 tensors) -> ``dive.batches`` (device-side
conversion, resizing, augmentation, normalisation) -> ``dive.models`` -> ``dive.train.fit``
-> ``dive.metrics`` / ``dive.plots`` -> ``dive.outputs`` (figures, tables, metrics.json).
"""

__version__ = "0.1.0"
