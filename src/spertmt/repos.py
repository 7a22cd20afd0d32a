"""A model named by a local folder or by a Hugging Face Hub repo id ("org/name"), resolved to a local
folder: a repo id is downloaded once into the hub's cache by huggingface_hub (or, with
`HF_HUB_OFFLINE=1`, read from it). Nothing here imports torch, so the runtime without torch
(spertmt.inference.portable) reads repo ids too; the model card and pushing are spertmt.model.hub's."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._version import __version__

# owner/name as the hub spells repo ids (a local path with one slash and no such folder looks alike:
# both readings are named when neither exists)
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_repo_id(name: str | Path) -> bool:
    return bool(_REPO_ID.match(str(name))) and not str(name).endswith((".", "-"))


def resolve_model_folder(name: str | Path, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """The local folder of a model: `name` itself when it exists (or is no repo id), else the hub
    repo `name` (owner/name) at `revision`, downloaded into (or, offline, read from) the hub's cache."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"the model must be a folder path or a hub repo id (a str or a Path), not "
                        f"{type(name).__name__}")
    if not str(name).strip():
        raise ValueError("the model is an empty name: give a model folder path or a hub repo id")
    path = Path(name)
    if path.exists() or not looks_like_repo_id(name):
        if revision is not None and not path.exists():
            raise FileNotFoundError(f"{name}: no such model folder (revision {revision!r} is for hub repo ids)")
        return path
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError:  # an install without torch need not have it (the `portable` extra leaves it out)
        raise ImportError(f"{name}: reading a hub repo id needs huggingface_hub (pip install huggingface_hub); "
                          "a local model folder does not") from None
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cache = Path(cache_dir) if cache_dir else Path(constants.HF_HUB_CACHE)
    try:
        return Path(snapshot_download(str(name), revision=revision, cache_dir=cache_dir, library_name="spertmt",
                                      library_version=__version__))
    except GatedRepoError:
        raise PermissionError(f"{name}: the hub repo is gated; accept its terms on the hub and log in "
                              "(`hf auth login` or HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise FileNotFoundError(f"{name}: no such model folder, nor a model repo on the hub (a private repo needs "
                                "a login: `hf auth login` or HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FileNotFoundError(f"{name}: the hub repo has no revision {revision!r}") from None
    except LocalEntryNotFoundError:  # offline (HF_HUB_OFFLINE=1), or the hub cannot be reached
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else " (the hub cannot be reached)"
        raise FileNotFoundError(f"{name}: no such model folder, nor a hub repo in the cache {cache}{offline}; "
                                "download it once with the network, or pass a local folder") from None
