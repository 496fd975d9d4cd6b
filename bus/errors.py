"""The one exception tree of intelbus.

::

    BusError
    ├── ConfigError                 settings or a command line that cannot work
    │   ├── RulesetError            a ruleset file that does not load or validate (names the line)
    │   ├── ReferenceDataError      an OCG register export that does not load (names the row)
    │   └── RetentionError          a retention file that does not load or validate (names the key)
    ├── SubmissionRejected          a submission the bus will not route (schema, admission); carries
    │                               the reason a partner can act on and the submission_id if readable
    ├── EmbeddedRedisError          the private redis-server could not be found, started or stopped
    ├── AuditError                  an audit key, checkpoint file or export that cannot be read or used
    ├── LoginRefused                a console login that is not the operator's, or too many failures
    ├── ArchiveError                the retention archive's folder, manifest or a segment cannot be read or
    │                               written, or is not the archive Redis says it has (names the file)
    ├── ReceiptsMissing             a partner waited for receipts that did not come in time (carries
    │                               those that did, and the entry ids still without one)
    └── TransportError              Redis refused or lost a connection (translated at one boundary,
        │                           ``bus.transport``, by the error's code); callers retry with backoff
        ├── UnreachableError        no connection, or it broke or timed out (nothing was refused)
        ├── GroupMissingError       a consumer group vanished (stream deleted, Redis restarted empty)
        ├── GroupExistsError        creating a group that exists (the normal case: callers ignore it)
        ├── PermissionDeniedError   the Redis user may not run that command or touch that key (NOPERM)
        ├── UnknownCommandError     this Redis has no such command (FCALL on Redis 6.2)
        ├── ConsultationError       a team client could not write its consultation record (DPA s.62):
        │                           the deliveries it read are withheld, left pending, reclaimed later
        └── LibraryMissingError     the intelbus Function library of this release is not loaded

Everything raised on purpose by the packages derives from ``BusError``; redis-py errors never escape
the transport boundary untranslated. ``BusError`` and ``SubmissionRejected`` are defined in
``schemas.errors`` (so partner code needs nothing but ``schemas``) and re-exported here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from schemas.errors import BusError, SubmissionRejected

if TYPE_CHECKING:
    from bus.receipts import Receipt

__all__ = [
    "ArchiveError", "AuditError", "BusError", "ConfigError", "ConsultationError", "EmbeddedRedisError",
    "GroupExistsError", "GroupMissingError", "LibraryMissingError", "LoginRefused", "PermissionDeniedError",
    "ReceiptsMissing", "ReferenceDataError", "RetentionError", "RulesetError", "SubmissionRejected", "TransportError",
    "UnknownCommandError", "UnreachableError",
]


class ConfigError(BusError):
    """Settings, command-line arguments or files that cannot work."""


class RulesetError(ConfigError):
    """A ruleset file that does not parse or validate. The message names the file, line and key."""


class ReferenceDataError(ConfigError):
    """Reference data (the OCG register export) that does not load. The message names file and row."""


class RetentionError(ConfigError):
    """A retention file that does not parse or validate. The message names the file and key."""


class EmbeddedRedisError(BusError):
    """The private redis-server could not be found, started or stopped."""


class AuditError(BusError):
    """An audit signing key, public key, checkpoint file or export that cannot be read or used."""


class LoginRefused(BusError):
    """A console login refused: not the operator user, a wrong password, or too many failed attempts."""


class ArchiveError(BusError):
    """The retention archive cannot be read or written, or is not the one Redis says it has: names the file."""


class ReceiptsMissing(BusError):
    """Receipts waited for (``PartnerClient.wait_for_receipts``) that did not all come in time: the router is
    not running, is behind, or the entries were never written. ``received`` maps entry id to the receipts
    that came; ``missing`` lists the entry ids still without one, in the order asked."""

    def __init__(self, message: str, received: dict[str, Receipt], missing: list[str]) -> None:
        super().__init__(message)
        self.received = received
        self.missing = missing


class TransportError(BusError):
    """Redis refused, dropped or timed out a connection; safe to retry with backoff."""


class GroupMissingError(TransportError):
    """A consumer group (or its stream) no longer exists."""


class GroupExistsError(TransportError):
    """XGROUP CREATE of a group that already exists (BUSYGROUP)."""


class PermissionDeniedError(TransportError):
    """The Redis user is not allowed the command or the key (NOPERM)."""


class UnknownCommandError(TransportError):
    """The server does not know the command (e.g. FCALL before Redis 7)."""


class ConsultationError(TransportError):
    """A team client could not write its consultation record (``bus.audit.consult``) to ``<prefix>:consult:<team>``.

    The message names the stream and what to do; ``__cause__`` is the ``TransportError`` Redis gave (a
    ``PermissionDeniedError`` when the team's ACL predates consultation records). A read that fails so
    hands out nothing: its entries stay pending in the group and a later read reclaims them."""


class LibraryMissingError(TransportError):
    """FCALL of a function this Redis does not have: the intelbus library of this release is not loaded."""


class UnreachableError(TransportError):
    """Redis could not be reached, or the connection broke or timed out: retry the whole operation."""


class NotReplicatedError(TransportError):
    """Writes Redis stored on its master but that did not reach the replicas asked for (``WAIT``) in time: a
    failover now could lose them. ``entry_ids`` are the entries written; publishing them again is safe (the
    bus deduplicates by ``submission_id``), which is what retrying does."""

    def __init__(self, message: str, entry_ids: list[str]) -> None:
        super().__init__(message)
        self.entry_ids = entry_ids
