"""Request and response shapes of the embedding APIs embedproof can bench over HTTP.

Each provider says how to turn (texts, side) into a JSON body and how to read vectors back; the HTTP client
(retries, batching, cache) lives in `remote.py`. Shapes were checked against the providers' documentation
(searched 2026-11-26, see docs/remote-encoders.md):

- OpenAI (platform.openai.com/docs/api-reference/embeddings, and the openapi.yaml `CreateEmbeddingRequest`):
  POST {base}/embeddings {"model", "input": [..] (≤ 2048 items), "encoding_format": "float"|"base64",
  "dimensions"?}; response {"data": [{"index", "embedding"}], "usage"}; base64 is little-endian float32.
- Voyage (docs.voyageai.com/reference/embeddings-api): POST https://api.voyageai.com/v1/embeddings
  {"input", "model", "input_type": "query"|"document"|null, "truncation", "output_dimension"?,
  "output_dtype": "float"|"int8"|"uint8"|"binary"|"ubinary"}; response {"data": [{"index", "embedding"}]};
  binary/ubinary are bit-packed (dim/8 bytes), "binary" in offset binary (signed = unsigned − 128).
- Cohere v2 (docs.cohere.com/reference/embed): POST https://api.cohere.com/v2/embed {"model", "texts" (≤ 96),
  "input_type": "search_query"|"search_document", "embedding_types": [..], "output_dimension"?, "truncate"};
  response {"embeddings": {"float": [[..]], "int8": [[..]], "binary": [[..]], ...}}, packed like Voyage's.

Only the standard library and numpy here: `card.py` imports `split_remote_name` to find a remote model's card.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from embedproof.errors import EmbedproofError, InvalidInputError

if TYPE_CHECKING:
    import numpy as np

DTYPES = ("float", "int8", "uint8", "binary", "ubinary")
SCHEMES = ("openai-compatible", "openai", "voyage", "cohere", "embedproof")
_NAME = re.compile(
    r"^(?P<scheme>openai-compatible|openai|voyage|cohere|embedproof):(?P<model>.+?)(?:@(?P<url>https?://[^\[\]]+))?(?:\[(?P<opts>[^\]]*)\])?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RemoteName:
    """`SCHEME:MODEL[@BASE_URL][[key=value,...]]`, e.g. `openai-compatible:minilm@http://127.0.0.1:8000/v1`."""

    scheme: str
    model: str
    base_url: str | None = None
    options: dict = field(default_factory=dict)


def split_remote_name(name: str) -> RemoteName | None:
    """Parse a remote model name; None when `name` is not one (a hub id, a folder, a card alias)."""
    match = _NAME.match(str(name).strip())
    if match is None:
        return None
    options = {}
    for part in filter(None, (p.strip() for p in (match["opts"] or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise InvalidInputError(
                f"{name}: option {part!r} is not key=value (e.g. [dimensions=512,output_dtype=int8])"
            )
        options[key.strip()] = value.strip()
    return RemoteName(match["scheme"].lower(), match["model"], match["url"], options)


def display_name(model: str) -> str:
    """A short label for tables and plots: `openai-compatible:minilm@http://…/v1` → `openai-compatible:minilm`,
    a hub id → its last path component (what tables showed before remote names existed)."""
    remote = split_remote_name(model)
    return f"{remote.scheme}:{remote.model.split('/')[-1]}" if remote else model.split("/")[-1]


def unpack_bits(rows, signed: bool) -> np.ndarray:
    """Bit-packed rows (8 dimensions per byte, first dimension in the high bit) → ±1 float32 rows.

    "binary" outputs are signed bytes in offset binary (unsigned − 128), "ubinary" plain unsigned bytes.
    """
    import numpy as np

    packed = np.asarray(rows, dtype=np.int16)
    if signed:
        packed = packed + 128
    bits = np.unpackbits(packed.astype(np.uint8), axis=1)
    return np.where(bits == 1, 1.0, -1.0).astype(np.float32)


def decode_vectors(rows: list, dtype: str) -> np.ndarray:
    """Rows as returned (floats, base64 float32 strings, int8/uint8 values, packed bits) → float32 matrix.

    Integer outputs are kept as their integer values (the provider's own quantisation, not rescaled); packed
    bits become ±1 per dimension, so a dot product ranks exactly as the Hamming distance would.
    """
    import numpy as np

    if dtype in ("binary", "ubinary"):
        return unpack_bits(rows, signed=dtype == "binary")
    if rows and isinstance(rows[0], str):  # base64: little-endian float32, what the openai client decodes
        return np.stack([np.frombuffer(base64.b64decode(r), dtype="<f4") for r in rows]).astype(np.float32)
    return np.asarray(rows, dtype=np.float32)


def _env_key(names: tuple[str, ...], required: bool, what: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    if required:
        raise EmbedproofError(
            f"{what} is a hosted API model: set ${' or $'.join(names)} to call it "
            "(the key is read from the environment and never logged)"
        )
    return None


@dataclass
class Provider:
    """One API: where to POST, how many texts fit in one request, how to build the body and read the answer."""

    name: str
    model: str
    base_url: str
    key_env: tuple[str, ...]
    key_required: bool
    max_inputs: int
    max_chars: int
    has_input_type: bool = False
    dimensions: int | None = None
    output_dtype: str = "float"

    def __post_init__(self):
        if self.output_dtype not in DTYPES:
            raise InvalidInputError(f"output_dtype {self.output_dtype!r}: expected one of {', '.join(DTYPES)}")
        self.base_url = self.base_url.rstrip("/")

    @property
    def url(self) -> str:
        return self.base_url + "/embeddings"

    def api_key(self) -> str | None:
        return _env_key(self.key_env, self.key_required, f"{self.name} model {self.model!r}")

    def body(self, texts: list[str], side: str) -> dict:
        raise NotImplementedError

    def parse(self, answer: dict, n: int) -> np.ndarray:
        raise NotImplementedError


def data_embeddings(answer: dict, n: int, url: str) -> list:
    """The `data[i].embedding` lists of an OpenAI- or Voyage-shaped answer, in input order (both order by `index`)."""
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != n:
        raise EmbedproofError(
            f"{url}: expected {n} embeddings in 'data', "
            f"got {type(data).__name__} of {len(data) if isinstance(data, list) else '?'}"
        )
    return [r["embedding"] for r in sorted(data, key=lambda d: d.get("index", 0))]


class OpenAIProvider(Provider):
    """OpenAI's API and every server that copies it (TEI, vLLM, Ollama, LiteLLM, `embedproof serve`)."""

    def body(self, texts: list[str], side: str) -> dict:
        if self.output_dtype != "float":
            raise InvalidInputError(
                f"{self.name}: the OpenAI embeddings API returns floats only (output_dtype {self.output_dtype!r})"
            )
        # base64 carries float32 exactly in ~1/3 of the JSON size; servers that ignore it send floats, read too.
        body = {"model": self.model, "input": texts, "encoding_format": "base64"}
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def parse(self, answer: dict, n: int) -> np.ndarray:
        return decode_vectors(data_embeddings(answer, n, self.url), "float")


class EmbedproofServeProvider(OpenAIProvider):
    """`embedproof serve`: the OpenAI shape plus `input_type`, so the server applies its own card's query or
    document prefix (a plain OpenAI-compatible call would get the document prefix on queries too)."""

    def body(self, texts: list[str], side: str) -> dict:
        return {**super().body(texts, side), "input_type": side}


class VoyageProvider(Provider):
    """Voyage AI: `input_type` query/document (Voyage adds its own prompt), Matryoshka and int8/binary outputs."""

    def body(self, texts: list[str], side: str) -> dict:
        body = {
            "input": texts,
            "model": self.model,
            "input_type": side,
            "truncation": True,
            "output_dtype": self.output_dtype,
        }
        if self.dimensions is not None:
            body["output_dimension"] = self.dimensions
        return body

    def parse(self, answer: dict, n: int) -> np.ndarray:
        return decode_vectors(data_embeddings(answer, n, self.url), self.output_dtype)


class CohereProvider(Provider):
    """Cohere Embed v2: `input_type` search_query/search_document, `embedding_types`, `output_dimension`."""

    INPUT_TYPES = {"query": "search_query", "document": "search_document"}

    @property
    def url(self) -> str:
        return self.base_url + "/embed"

    def body(self, texts: list[str], side: str) -> dict:
        body = {
            "model": self.model,
            "texts": texts,
            "input_type": self.INPUT_TYPES[side],
            "embedding_types": [self.output_dtype],
            "truncate": "END",
        }
        if self.dimensions is not None:
            body["output_dimension"] = self.dimensions
        return body

    def parse(self, answer: dict, n: int) -> np.ndarray:
        rows = (answer.get("embeddings") or {}).get(self.output_dtype)
        if not isinstance(rows, list) or len(rows) != n:
            raise EmbedproofError(f"{self.url}: expected {n} {self.output_dtype!r} embeddings under 'embeddings'")
        return decode_vectors(rows, self.output_dtype)


def make_provider(
    scheme: str,
    model: str,
    base_url: str | None = None,
    dimensions: int | None = None,
    output_dtype: str = "float",
    api_key_env: str | None = None,
    max_chars: int | None = None,
) -> Provider:
    """The provider for a scheme (`openai`, `openai-compatible`, `voyage`, `cohere`) with its documented limits.

    `openai-compatible` reads its key from $OPENAI_COMPATIBLE_API_KEY (or `api_key_env`) and sends none when it is
    unset, so an OpenAI key is never sent to a server other than the one it was issued for.
    """
    common = {
        "model": model,
        "dimensions": None if dimensions is None else int(dimensions),
        "output_dtype": output_dtype,
    }
    keys = (api_key_env,) if api_key_env else None
    if scheme == "openai":
        url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return OpenAIProvider(
            "openai",
            base_url=url,
            key_env=keys or ("OPENAI_API_KEY",),
            key_required=True,
            max_inputs=2048,
            max_chars=max_chars or 800_000,
            **common,
        )
    if scheme == "openai-compatible":
        url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise InvalidInputError(
                f"openai-compatible:{model} needs a base URL: "
                f"openai-compatible:{model}@http://HOST:PORT/v1 (or $OPENAI_BASE_URL)"
            )
        # servers cap batches differently (TEI 32 by default, embedproof serve 256); a 413 halves the batch
        return OpenAIProvider(
            "openai-compatible",
            base_url=url,
            key_env=keys or ("OPENAI_COMPATIBLE_API_KEY",),
            key_required=bool(api_key_env),
            max_inputs=256,
            max_chars=max_chars or 400_000,
            **common,
        )
    if scheme == "embedproof":
        if not base_url:
            raise InvalidInputError(
                f"embedproof:{model} needs the server's URL: embedproof:{model}@http://HOST:PORT/v1"
            )
        return EmbedproofServeProvider(
            "embedproof",
            base_url=base_url,
            key_env=keys or ("EMBEDPROOF_API_KEY",),
            key_required=bool(api_key_env),
            max_inputs=256,
            max_chars=max_chars or 400_000,
            has_input_type=True,
            **common,
        )
    if scheme == "voyage":
        # 1,000 inputs per request; the token cap (120K–1M by model) is approximated by characters.
        return VoyageProvider(
            "voyage",
            base_url=base_url or "https://api.voyageai.com/v1",
            key_env=keys or ("VOYAGE_API_KEY",),
            key_required=True,
            max_inputs=1000,
            max_chars=max_chars or 320_000,
            has_input_type=True,
            **common,
        )
    if scheme == "cohere":
        return CohereProvider(
            "cohere",
            base_url=base_url or "https://api.cohere.com/v2",
            key_env=keys or ("CO_API_KEY", "COHERE_API_KEY"),
            key_required=True,
            max_inputs=96,
            max_chars=max_chars or 500_000,
            has_input_type=True,
            **common,
        )
    raise InvalidInputError(f"unknown remote scheme {scheme!r} (known: {', '.join(SCHEMES)})")
