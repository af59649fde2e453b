"""The error types a user sees.

Every failure slicer can explain is a `SlicerError` whose message is one
sentence naming the file, line, slice, path or URL at fault; the CLI prints it
as `error: <message>` and exits 1. Anything else reaching the CLI is a bug.
"""


class SlicerError(Exception):
    """A failure the user can act on."""


class ReleaseError(SlicerError):
    """A release or slice definition is malformed or inconsistent."""


class SelectionError(SlicerError):
    """The requested slices cannot be selected (unknown, missing, looping)."""


class ArchiveError(SlicerError):
    """An archive could not be reached, or did not offer what was needed."""


class VerificationError(ArchiveError):
    """Downloaded data failed a signature or hash check; nothing was used."""


class MirrorError(ArchiveError):
    """No mirror URL could be found for an archive."""


class OfflineError(ArchiveError):
    """An offline run needed something the cache does not hold."""


class DebError(SlicerError):
    """A .deb file is malformed or holds something slicer refuses to write."""


class ElfError(SlicerError):
    """An ELF file (a user's own, or one inside a package) cannot be read."""


class ManifestError(SlicerError):
    """A manifest could not be built, read or extended."""


class UsageError(SlicerError):
    """Bad command-line usage found after parsing; exits 2."""


class RootError(SlicerError):
    """A write under the root was refused (escape, conflict, unsupported type)."""


class ExtractError(SlicerError):
    """A package did not provide what its slices promised."""


class ScriptError(SlicerError):
    """A slice's mutate script failed."""


class CacheError(SlicerError):
    """The cache cannot be used safely (a folder others can write, a damaged key) or at all."""


class KeystoreError(SlicerError):
    """A certificate that cannot go into a generated trust store."""


class ImageError(SlicerError):
    """An image could not be built, written or pushed."""


class RegistryError(ImageError):
    """A registry refused or failed a request of a push."""
