"""Named errors: the CLI turns each into a one-line `error: ...` and a non-zero exit."""

from __future__ import annotations


class EtlError(Exception):
    """Base class: every failure the ETL expects is one of these."""


class SourceNotFoundError(EtlError):
    """The --source path does not exist or is not a file."""


class DownloadError(EtlError):
    """The archive could not be downloaded (HTTP error, network, interrupted for good)."""


class ChecksumMismatchError(EtlError):
    """A downloaded archive does not have the checksum it must have."""


class CorruptArchiveError(EtlError):
    """Not a readable gzip'd tar: truncated, corrupt, or another format."""


class MissingMemberError(EtlError):
    """The tar lacks one of the CIFAR-100 members (meta, train, test)."""


class ForbiddenPickleGlobalError(EtlError):
    """A pickle asks for a global outside the CIFAR format's allow-list."""


class InvalidDataError(EtlError):
    """A member has the wrong structure: shape, dtype, lengths, label range, file names."""


class LabelSelectionError(EtlError):
    """The requested label names cannot be used (unknown, duplicated, too few)."""


class EmptySelectionError(EtlError):
    """The selected classes have no images in a split."""


class OutputNotWritableError(EtlError):
    """The output folder cannot be created or written."""


class UploadError(EtlError):
    """The S3 upload failed (bucket missing, access denied, network, credentials)."""
