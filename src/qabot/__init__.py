"""qabot: ask questions about Arabic news articles, get the passages that answer them."""

__version__ = "0.1.0"

from .config import Settings  # noqa: E402
from .errors import QabotError  # noqa: E402
from .fusion import FusionWeights, Mode  # noqa: E402
from .index import BuildReport, build_index  # noqa: E402
from .results import Answer, ArticleInfo, Passage  # noqa: E402
from .retriever import Retriever  # noqa: E402

__all__ = [
    "Answer",
    "ArticleInfo",
    "BuildReport",
    "FusionWeights",
    "Mode",
    "Passage",
    "QabotError",
    "Retriever",
    "Settings",
    "__version__",
    "build_index",
]
