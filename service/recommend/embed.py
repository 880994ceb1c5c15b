"""The optional sentence-embedding view: WordLlama's token embeddings, shipped inside its wheel (``pip install
-e '.[embed]'``; nothing is downloaded, ever). Without the package the view is simply absent.

The hybrid stores one vector per word of its TF-IDF vocabulary (the word embedded as WordLlama embeds any text:
the mean of its tokens' vectors), so a paper's vector is its TF-IDF row times that matrix, and scoring needs no
WordLlama at all: only training does.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

import numpy as np

CONFIG = "l2_supercat"  # the model the wheel carries: weights/l2_supercat_256.safetensors
DIM = 256
BATCH = 4096


def available() -> bool:
    """Whether WordLlama (the ``embed`` extra) is installed."""
    return find_spec("wordllama") is not None


@lru_cache(maxsize=1)
def _model():  # noqa: ANN202 - wordllama's inference object, typed by the optional package
    """WordLlama from the files inside its wheel; ``FileNotFoundError`` names a file that is missing (never a
    download: its own ``load`` looks for the tokenizer in a folder the wheel does not have and then fetches it)."""
    import wordllama
    from safetensors import safe_open
    from wordllama import WordLlama
    from wordllama.inference import WordLlamaInference

    root = Path(wordllama.__file__).parent
    weights = root / "weights" / f"{CONFIG}_{DIM}.safetensors"
    tokenizer = root / "tokenizers" / f"{CONFIG}_tokenizer_config.json"
    for path in (weights, tokenizer):
        if not path.is_file():
            raise FileNotFoundError(f"WordLlama file {path} is missing: reinstall the embed extra")
    with safe_open(str(weights), framework="np", device="cpu") as fh:
        embedding = fh.get_tensor("embedding.weight")
    return WordLlamaInference(embedding, WordLlama.load_tokenizer(tokenizer, use_local_if_exists=True))


def word_vectors(vocabulary: np.ndarray) -> np.ndarray:
    """(d, DIM) float32: each word of ``vocabulary`` embedded (l2-normalised); (d, 0) without WordLlama."""
    words = [str(w) for w in np.asarray(vocabulary).tolist()]
    if not available() or not words:
        return np.zeros((len(words), 0), np.float32)
    model = _model()
    out = np.vstack([model.embed(words[i : i + BATCH], norm=True) for i in range(0, len(words), BATCH)])
    return np.ascontiguousarray(out, dtype=np.float32)


def l2_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix, dtype=np.float32), where=norms > 0).astype(np.float32)
