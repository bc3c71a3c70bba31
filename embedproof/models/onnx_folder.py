"""Model folders that ship an ONNX file and a tokenizer, run by onnxruntime + tokenizers (no torch model).

`embedproof models fetch bge-small-en-v1.5` (int8 ONNX) and `paraphrase-minilm-l3-v2` (fp32 ONNX) give such
folders. A shipped file is never quantised again and no export happens: torch, auto and the backend the file is
("onnx-int8" or "onnx") run it as shipped. A fetched dynamic int8 file also has a dequantised form (models/fetch.py
`dequantized`: its int8 weights in float MatMuls, no activation rounded at run time), which `onnx` runs. Pooling,
prefixes and the window come from the model card. Texts are batched by token length (each batch pads only to its
own longest text) and the session uses every core this process may run on, as the fast backends do
(models/onnx_backend.py). An int8 file runs one text at a time (see `OnnxFolderModel`).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np

from embedproof.backends import ENCODER_BACKENDS, UnsupportedBackendError
from embedproof.errors import InvalidInputError, ModelNotAvailableError, require
from embedproof.models.card import get_card
from embedproof.models.dense import CachedDenseEncoding
from embedproof.models.loading import Loaded
from embedproof.models.onnx_backend import PAD_MULTIPLE, TOKEN_BUDGET, cpu_threads, length_batches, pool
from embedproof.models.resolve import onnx_file, resolve_model

CACHE_FORMAT = 2
INT8_OPS = {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul", "QAttention", "DynamicQuantizeMatMul"}


def is_onnx_folder_model(name: str) -> bool:
    """Whether `name` (a local folder, or a fetched packaged model) is an ONNX model folder."""
    from embedproof.models.fetch import wheel_key

    local = Path(name).expanduser()
    if local.is_dir():
        return onnx_file(local) is not None
    if wheel_key(name) is None:
        return False
    try:
        return onnx_file(resolve_model(name).path) is not None
    except ModelNotAvailableError:
        return False  # the dense encoder's own resolve says how to obtain it


def is_int8(path: Path) -> bool:
    """A file that already holds integer kernels (dynamic or static int8)."""
    onnx = require("onnx", "fast")
    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in INT8_OPS for node in graph.node)


class OnnxFolderModel:
    """The session and tokenizer of one folder: token matrices and pooled vectors, batched by length."""

    def __init__(
        self, folder: str | Path, pooling: str, max_tokens: int, threads: int | None = None, path: Path | None = None
    ):
        ort = require("onnxruntime", "fast")
        tokenizers = require("tokenizers", "fast")
        self.folder, self.pooling, self.max_tokens = Path(folder), pooling, int(max_tokens)
        self.path = path or onnx_file(self.folder)
        if self.path is None:
            raise InvalidInputError(f"{folder}: not an ONNX model folder (one *.onnx file beside tokenizer.json)")
        self.int8 = is_int8(self.path)
        # Dynamic int8 quantises each activation tensor with one scale over the whole batch, padding included, so a
        # text's vector would depend on its batch mates: an int8 file encodes one text per run, unpadded (as a
        # query is served). An fp32 file batches by length.
        self.batching = "one text per run" if self.int8 else "by length"
        self._tokenizer = tokenizers.Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self._tokenizer.no_padding()  # a shipped tokenizer.json may pad every text to a fixed width
        self._tokenizer.enable_truncation(self.max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads or cpu_threads(), 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as onnx_backend: shared cores
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        # the token output: the one (batch, tokens, hidden) tensor; exports name it differently
        outputs = [o for o in self.session.get_outputs() if len(o.shape) == 3]
        if not outputs:
            raise InvalidInputError(f"{self.path}: no (batch, tokens, hidden) output to pool")
        self.output = outputs[0].name
        self.dim = int(outputs[0].shape[2]) if isinstance(outputs[0].shape[2], int) else None
        self.runtime_version = f"onnxruntime {ort.__version__}"

    @cached_property
    def tokenizer(self):
        """The same tokenizer as a transformers tokenizer (chunking by tokens calls it with offsets)."""
        transformers = require("transformers", "dense")
        return transformers.PreTrainedTokenizerFast(tokenizer_file=str(self.folder / "tokenizer.json"))

    def _batches(self, texts: list[str]):
        encoded = self._tokenizer.encode_batch(texts)
        budget, multiple = (1, 1) if self.int8 else (TOKEN_BUDGET, PAD_MULTIPLE)
        for batch in length_batches([len(e.ids) for e in encoded], budget):
            width = -(-max(len(encoded[i].ids) for i in batch) // multiple) * multiple
            feed = {name: np.zeros((len(batch), width), np.int64) for name in self.inputs}
            for row, i in enumerate(batch):
                n = len(encoded[i].ids)
                feed["input_ids"][row, :n] = encoded[i].ids
                feed["attention_mask"][row, :n] = 1
                if "token_type_ids" in feed:
                    feed["token_type_ids"][row, :n] = encoded[i].type_ids
            yield batch, feed, np.asarray(self.session.run([self.output], feed)[0], np.float32)

    def token_embeddings(self, texts: list[str]) -> list[np.ndarray]:
        """Per text, the (tokens × hidden) output without padding, in input order."""
        out: list[np.ndarray | None] = [None] * len(texts)
        for batch, feed, hidden in self._batches(list(texts)):
            for row, i in enumerate(batch):
                out[i] = hidden[row, : int(feed["attention_mask"][row].sum())].copy()
        return out  # type: ignore[return-value]

    def encode(self, texts: list[str], normalize: bool = True) -> np.ndarray:
        """Pooled sentence vectors in input order."""
        vectors: np.ndarray | None = None
        for batch, feed, hidden in self._batches(list(texts)):
            pooled = pool(hidden, feed["attention_mask"], self.pooling)
            if vectors is None:
                vectors = np.zeros((len(texts), pooled.shape[1]), np.float32)
            vectors[batch] = pooled
        if vectors is None:
            return np.zeros((0, self.dim or 0), np.float32)
        if normalize:
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


def onnx_files(folder: Path, requested: str) -> dict[str, Path]:
    """The folder's ONNX files by the backend each runs as: its one file, and for `onnx` a fetched dynamic int8
    file's dequantised form (built on first need)."""
    from embedproof.models.fetch import dequantized

    shipped = onnx_file(folder)
    if shipped is None:
        raise InvalidInputError(f"{folder}: not an ONNX model folder (one *.onnx file beside tokenizer.json)")
    files = {"onnx-int8" if is_int8(shipped) else "onnx": shipped}
    if requested == "onnx" and "onnx" not in files:
        float_matmuls = dequantized(folder)
        if float_matmuls is not None:
            files["onnx"] = float_matmuls
    return files


def shipped_backend(requested: str, files: dict[str, Path], name: str) -> str:
    """The backend a shipped ONNX folder runs as, for the backend asked for (`files`: see `onnx_files`): the file
    as shipped, unless `onnx` or `onnx-int8` names another file the folder has."""
    if requested not in ENCODER_BACKENDS:
        raise InvalidInputError(f"backend {requested!r}: choose from {', '.join(ENCODER_BACKENDS)}")
    if requested.startswith("openvino"):
        raise UnsupportedBackendError(f"{name}: a shipped ONNX model runs on onnxruntime, not {requested!r}")
    if requested == "onnx-int8" and "onnx-int8" not in files:
        raise UnsupportedBackendError(f"{name}: ships an fp32 ONNX file; run it as shipped with --backend onnx")
    return requested if requested in files else next(iter(files))


REASONS = {
    ("onnx-int8", True): "shipped int8 ONNX, not quantised again",
    ("onnx", True): "shipped int8 weights in float MatMuls: no activation quantised at run time",
    ("onnx", False): "shipped fp32 ONNX, run as shipped",
}


def load_onnx_folder(name: str, max_tokens: int | None, backend: str) -> tuple[Loaded, str, dict]:
    """(loaded model, the backend it runs as, what `auto`'s record says about it) for an ONNX model folder."""
    card = get_card(name)
    resolved = resolve_model(name)
    warnings = [w for w in [card.assumption_warning] if w]
    pooling = card.pooling if card.pooling in {"mean", "cls", "max"} else "mean"
    if pooling != card.pooling:
        warnings.append(f"{name}: pooling not on a model card; mean pooling assumed")
    window = int(max_tokens or card.max_tokens or 512)
    config = Path(resolved.path) / "config.json"
    if config.is_file():  # never past the position embeddings
        window = min(window, int(json.loads(config.read_text()).get("max_position_embeddings", window)))
    files = onnx_files(Path(resolved.path), backend)
    runs_as = shipped_backend(backend, files, name)
    model = OnnxFolderModel(resolved.path, pooling, window, path=files[runs_as])
    record = {
        "backend": runs_as,
        "ratio": None,
        "measured": {},
        "rule": "a shipped ONNX file runs as shipped; --backend onnx runs a fetched dynamic int8 file dequantised",
        "cached": False,
        "shipped": True,
        "reason": REASONS[runs_as, "onnx-int8" in files],
    }
    return Loaded(card, warnings, resolved, model, window), runs_as, record


class OnnxFolderEncoder(CachedDenseEncoding):
    """One vector per text from an ONNX model folder; the card's prefixes; cached on disk by content."""

    def __init__(
        self,
        name: str,
        *,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_tokens: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        cache_dir: str | None = None,
        use_cache: bool = True,
        backend: str = "torch",
    ):
        self.name = name
        loaded, self.backend, self.auto_backend = load_onnx_folder(name, max_tokens, backend)
        loaded.attach(self)
        self.query_prefix = self._prefix("query", query_prefix, self.card.query_prefix)
        self.document_prefix = self._prefix("document", document_prefix, self.card.document_prefix)
        self.dim = self.model.dim or int(self.model.encode(["a"]).shape[1])
        self.batch_size, self.normalize = batch_size, self.card.normalize
        self.cache_dir, self.use_cache = cache_dir, use_cache
        self.fast = None

    def cache_key(self, prefix: str) -> dict:
        return {
            "format": CACHE_FORMAT,
            "kind": "dense-onnx-folder",
            "model": self.card.name if self.card.known else self.name,
            "revision": self.resolved.revision,
            "prefix": prefix,
            "max_tokens": self.max_tokens,
            "normalize": self.normalize,
            "pooling": self.model.pooling,
            "batching": self.model.batching,
            "file": self.model.path.relative_to(self.model.folder).as_posix(),
            "runtime_version": self.model.runtime_version,
        }

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        return self.model.encode([prefix + t for t in texts], self.normalize).reshape(len(texts), self.dim)
