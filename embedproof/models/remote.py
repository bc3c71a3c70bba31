"""Encoders that call an embeddings API over HTTP, so hosted models are benched like local ones.

`RemoteEncoder` has the same interface as `DenseEncoder` (`encode_queries` / `encode_documents` → `Embeddings`,
cached by content) and sends texts in batches bounded by count and by characters, in order. `HttpClient` retries
429, 5xx and connection errors with exponential back-off and jitter, honours `Retry-After` (seconds or an HTTP
date), can space requests to a requests-per-minute budget, and gives up with an `EmbedproofError` naming the
endpoint and the last status. The API key is read from the environment, sent only as a header, and kept out of
every message and repr (errors are scrubbed of it in case a server echoes it back).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from embedproof.errors import EmbedproofError, InvalidInputError, require
from embedproof.models.cache import EmbeddingCache
from embedproof.models.card import get_card
from embedproof.models.remote_providers import Provider, make_provider, split_remote_name
from embedproof.types import Embeddings

CACHE_FORMAT = 1
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class PayloadTooLarge(EmbedproofError):
    """HTTP 413: the server caps inputs per request below what was sent; the encoder halves the batch."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass
class RetryPolicy:
    """Exponential back-off with jitter: attempt k waits uniformly in [d/2, d], d = min(cap, base · 2^k).

    A server's `Retry-After` replaces the computed wait (up to `max_retry_after`, so a huge value fails fast
    instead of hanging a bench).
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return cap / 2 + rng.uniform(0, cap / 2)


class HttpClient:
    """POST JSON with retries and an optional requests-per-minute pace; counts requests and retries."""

    def __init__(
        self,
        provider: Provider,
        retry: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
        timeout: float = 60.0,
        transport=None,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
    ):
        httpx = require("httpx", "remote")
        self.provider = provider
        self.retry = retry or RetryPolicy()
        self.min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._api_key = provider.api_key()
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._last_start = 0.0
        self.requests = 0
        self.retries = 0

    def __repr__(self) -> str:
        auth = f"key from ${'/$'.join(self.provider.key_env)}" if self._api_key else "no key"
        return f"HttpClient({self.provider.url}, {auth})"

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _pace(self) -> None:
        if self.min_interval:
            wait = self._last_start + self.min_interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_start = time.monotonic()

    def post(self, body: dict) -> dict:
        """The decoded JSON answer; retries what a retry can fix, raises at once on other 4xx."""
        import httpx

        headers = {"content-type": "application/json", "user-agent": "embedproof"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        url, last = self.provider.url, ""
        for attempt in range(self.retry.max_retries + 1):
            self._pace()
            self.requests += 1
            wait = None
            try:
                response = self._client.post(url, json=body, headers=headers)
            except httpx.TransportError as exc:  # refused, reset, timed out: worth another try
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    try:
                        return response.json()
                    except ValueError as exc:
                        raise EmbedproofError(
                            self._scrub(f"POST {url}: HTTP {response.status_code} but the body is not JSON ({exc})")
                        ) from None
                # scrub first: a cut could split the key
                last = f"HTTP {response.status_code}: {self._scrub(response.text)[:300]}"
                if response.status_code == 413:
                    raise PayloadTooLarge(self._scrub(f"POST {url} failed: {last}"))
                if response.status_code not in RETRY_STATUS and response.status_code < 500:
                    hint = f" (check ${'/$'.join(self.provider.key_env)})" if response.status_code in (401, 403) else ""
                    raise EmbedproofError(self._scrub(f"POST {url} failed: {last}{hint}"))
                wait = parse_retry_after(response.headers.get("retry-after"))
            if attempt == self.retry.max_retries:
                break
            if wait is not None and wait > self.retry.max_retry_after:
                raise EmbedproofError(
                    self._scrub(
                        f"POST {url}: the server asks to retry after {wait:.0f} s "
                        f"(over {self.retry.max_retry_after:.0f} s); {last}"
                    )
                )
            self.retries += 1
            self._sleep(wait if wait is not None else self.retry.delay(attempt, self._rng))
        raise EmbedproofError(
            self._scrub(f"POST {url} failed after {self.retry.max_retries + 1} attempts; last: {last}")
        )

    def close(self) -> None:
        self._client.close()


def plan_batches(texts: Sequence[str], max_inputs: int, max_chars: int) -> list[tuple[int, int]]:
    """(start, end) slices in order, each at most `max_inputs` texts and `max_chars` characters (a longer
    single text goes alone: the provider truncates it)."""
    batches, start, chars = [], 0, 0
    for i, text in enumerate(texts):
        if i > start and (i - start >= max_inputs or chars + len(text) > max_chars):
            batches.append((start, i))
            start, chars = i, 0
        chars += len(text)
    if start < len(texts):
        batches.append((start, len(texts)))
    return batches


class RemoteEncoder:
    """Dense vectors from an embeddings API, cached on disk by content, with the card's prefixes where the API
    has no query/document `input_type` of its own."""

    mode = "dense"

    def __init__(
        self,
        name: str,
        provider: Provider,
        *,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        max_tokens: int | None = None,
        batch_size: int | None = None,
        cache_dir: str | None = None,
        use_cache: bool = True,
        card_name: str | None = None,
        retry: RetryPolicy | None = None,
        requests_per_minute: float | None = None,
        timeout: float = 60.0,
        transport=None,
        **ignored,
    ):
        self.name = name
        self.provider = provider
        self.model_id = provider.model
        self.card = get_card(card_name or provider.model)
        self.warnings: list[str] = [w for w in [self.card.assumption_warning] if w]
        self.max_tokens = max_tokens or self.card.max_tokens
        if provider.has_input_type:
            if query_prefix or document_prefix:
                self.warnings.append(
                    f"{provider.name} takes input_type query/document instead of text prefixes; "
                    "the given prefixes are ignored"
                )
            self.query_prefix = self.document_prefix = ""
        else:
            self.query_prefix = self._prefix("query", query_prefix, self.card.query_prefix)
            self.document_prefix = self._prefix("document", document_prefix, self.card.document_prefix)
        self.batch_size = min(batch_size or provider.max_inputs, provider.max_inputs)
        self.dim = provider.dimensions or (self.card.dim if self.card.known else None)
        self.cache_dir, self.use_cache = cache_dir, use_cache
        self.client = HttpClient(provider, retry, requests_per_minute, timeout, transport)

    def __repr__(self) -> str:
        return f"RemoteEncoder({self.name!r}, {self.client!r})"

    def _prefix(self, side: str, given: str | None, from_card: str) -> str:
        if given is None:
            return from_card
        if self.card.known and given != from_card:
            self.warnings.append(
                f"{side} prefix {given!r} differs from the model card's {from_card!r}; "
                "expect lower recall unless deliberate"
            )
        return given

    def cache_key(self, side: str, prefix: str) -> dict:
        p = self.provider
        return {
            "format": CACHE_FORMAT,
            "kind": "remote",
            "provider": p.name,
            "model": p.model,
            "base_url": p.base_url,
            "dimensions": p.dimensions,
            "output_dtype": p.output_dtype,
            "input_type": side if p.has_input_type else None,
            "prefix": prefix,
        }

    def _embed(self, texts: list[str], side: str, prefix: str) -> np.ndarray:
        sent = [prefix + t for t in texts] if prefix else list(texts)
        # The APIs refuse empty strings (OpenAI: "cannot be an empty string"); an empty text gets a zero vector,
        # which ranks it last for every query, as it would be with nothing to match.
        keep = (
            [i for i, t in enumerate(sent) if t.strip()]
            if self.dim or any(t.strip() for t in sent)
            else list(range(len(sent)))
        )
        todo = [sent[i] for i in keep]
        parts = [
            self._post(todo[start:end], side)
            for start, end in plan_batches(todo, self.batch_size, self.provider.max_chars)
        ]
        got = np.vstack(parts) if parts else np.zeros((0, self.dim or 0), np.float32)
        self.dim = int(got.shape[1]) if len(got) else self.dim
        if len(keep) == len(sent):
            return got
        if not any("empty text" in w for w in self.warnings):
            self.warnings.append(
                f"{len(sent) - len(keep)} empty text(s) not sent to {self.provider.url}: zero vectors instead"
            )
        vectors = np.zeros((len(sent), self.dim or 0), np.float32)
        vectors[keep] = got
        return vectors

    def _post(self, texts: list[str], side: str) -> np.ndarray:
        """One batch; on 413 split it in two and remember the smaller size for the batches after it."""
        try:
            return self.provider.parse(self.client.post(self.provider.body(texts, side)), len(texts))
        except PayloadTooLarge:
            if len(texts) == 1:
                raise
            half = len(texts) // 2
            self.batch_size = min(self.batch_size, half)
            self.warnings.append(
                f"{self.provider.url} refused {len(texts)} texts per request (413); now sending at most {half}"
            )
            return np.vstack([self._post(texts[:half], side), self._post(texts[half:], side)])

    def _encode(self, texts, ids, side: str, on_progress) -> Embeddings:
        texts = list(texts)
        ids = list(ids) if ids is not None else [str(i) for i in range(len(texts))]
        prefix = self.query_prefix if side == "query" else self.document_prefix
        fn = lambda batch: self._embed(batch, side, prefix)  # noqa: E731
        hits, folder = 0, None
        requests, retries = self.client.requests, self.client.retries
        if self.use_cache and texts:
            cache = EmbeddingCache(self.cache_key(side, prefix), self.cache_dir)
            # commit every few requests, so an interrupted encode of a large corpus resumes where it stopped
            vectors, hits = cache.encode(texts, fn, chunk_size=max(self.batch_size * 4, 64), on_progress=on_progress)
            folder = str(cache.folder)
        else:
            vectors = fn(texts)
            if on_progress:
                on_progress(len(texts))
        p = self.provider
        info = {
            "provider": p.name,
            "remote_model": p.model,
            "base_url": p.base_url,
            "dimensions": p.dimensions,
            "output_dtype": p.output_dtype,
            "precision": "float32" if p.output_dtype == "float" else f"{p.output_dtype} (from the API)",
            "input_type": side if p.has_input_type else None,
            "prefix": prefix,
            "max_tokens": self.max_tokens,
            "cache_hits": hits,
            "cache_folder": folder,
            "revision": None,
            "requests": self.client.requests - requests,
            "retries": self.client.retries - retries,
        }
        dense = (
            np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
            if texts
            else np.zeros((0, self.dim or 0), np.float32)
        )
        return Embeddings(ids, side, self.name, dense=dense, info=info)

    def encode_queries(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "query", on_progress)

    def encode_documents(
        self, texts: Sequence[str], ids: Sequence[str] | None = None, on_progress: Callable[[int], None] | None = None
    ) -> Embeddings:
        return self._encode(texts, ids, "document", on_progress)


_PROVIDER_OPTIONS = {"dimensions", "output_dtype", "api_key_env", "max_chars"}
_CLIENT_OPTIONS = {"requests_per_minute": float, "timeout": float, "max_retries": int, "batch_size": int}


def remote_encoder(name: str, **options) -> RemoteEncoder:
    """The encoder for `SCHEME:MODEL[@URL][[k=v,...]]` or a hosted card (`text-embedding-3-small`, `voyage-3`,
    `embed-v4.0`); options in brackets (dimensions, output_dtype, api_key_env, requests_per_minute, max_retries,
    batch_size, timeout, max_chars) override keyword options, since bench passes its defaults (batch_size=32)
    for every model."""
    parsed = split_remote_name(name)
    if parsed is not None:
        scheme, model, base_url, card_name = parsed.scheme, parsed.model, parsed.base_url, parsed.model
        for key, value in parsed.options.items():
            if key not in _PROVIDER_OPTIONS | set(_CLIENT_OPTIONS):
                raise InvalidInputError(
                    f"{name}: unknown option {key!r} "
                    f"(known: {', '.join(sorted(_PROVIDER_OPTIONS | set(_CLIENT_OPTIONS)))})"
                )
            options[key] = _CLIENT_OPTIONS.get(key, str)(value)  # the name is the most specific place: it wins
    else:
        card = get_card(name)
        if not card.hosted or card.provider not in ("openai", "voyage", "cohere"):
            raise InvalidInputError(
                f"{name}: no remote API for this model (provider {card.provider!r}); "
                "embedproof calls OpenAI-compatible, Voyage and Cohere APIs"
            )
        scheme, model, base_url, card_name = card.provider, card.name.split("/")[-1], None, card.name
    provider_kwargs = {k: options.pop(k) for k in list(options) if k in _PROVIDER_OPTIONS and options[k] is not None}
    if "dimensions" in provider_kwargs:
        provider_kwargs["dimensions"] = int(provider_kwargs["dimensions"])
    if "max_chars" in provider_kwargs:
        provider_kwargs["max_chars"] = int(provider_kwargs["max_chars"])
    provider = make_provider(scheme, model, base_url, **provider_kwargs)
    max_retries = options.pop("max_retries", None)
    retry = options.pop("retry", None) or RetryPolicy(
        **({} if max_retries is None else {"max_retries": int(max_retries)})
    )
    return RemoteEncoder(name, provider, card_name=card_name, retry=retry, **options)
