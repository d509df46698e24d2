"""Storage behind the domain's ports, picked by URL scheme.

- metadata: `sqlite:///path`, `sqlite://` (in memory), `postgresql://user@host/db`
- artifacts: `file:///dir`, `s3://bucket/optional/prefix`
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.domain.errors import InvalidArgument

if TYPE_CHECKING:
    from service.domain.ports import ArtifactStore, MetadataStore
    from service.settings import Settings


def open_metadata_store(url: str) -> MetadataStore:
    """Open (and migrate to the newest schema) the metadata store at `url`."""
    from service.stores.sql import SqlMetadataStore

    return SqlMetadataStore(url)


def open_artifact_store(url: str, settings: Settings | None = None) -> ArtifactStore:
    """Open the artifact store at `url`; S3 endpoint and credentials come from `settings`."""
    if url.startswith("file://"):
        from service.stores.artifacts import LocalArtifactStore

        return LocalArtifactStore.from_url(url)
    if url.startswith("s3://"):
        from service.settings import Settings
        from service.stores.s3 import S3ArtifactStore

        return S3ArtifactStore.from_url(url, settings or Settings())
    raise InvalidArgument(
        "unsupported artifacts URL: use file:///dir or s3://bucket/prefix",
        details={"artifacts_url": url},
    )
