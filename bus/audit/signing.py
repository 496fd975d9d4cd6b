"""Ed25519 keys for signed checkpoints: the private key lives in a file outside Redis, never in it.

``INTELBUS_AUDIT_KEY`` names a PEM private key file. With none, the router makes a key pair in its data
folder on first start: ``audit/signing.key`` (mode 0600) and ``audit/signing.pub``. Every public key the
router has signed with is also kept in ``audit/keys/<key id>.pub``: that folder is the keyring verify
trusts by default, so rotating the key (pointing ``INTELBUS_AUDIT_KEY`` at a new file) never breaks the
verification of older checkpoints. A key id is the first 16 hex digits of SHA-256 of the raw public key.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.errors import AuditError

log = logging.getLogger("intelbus.audit")
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw
_PEM_PUBLIC = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes(*_RAW)).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(*_PEM_PUBLIC)


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    key_id: str

    @classmethod
    def of(cls, private: Ed25519PrivateKey) -> Signer:
        return cls(private, key_id(private.public_key()))

    def sign(self, body: bytes) -> bytes:
        return self.private.sign(body)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def audit_dir(data_dir: Path) -> Path:
    return data_dir / "audit"


def keyring_dir(data_dir: Path) -> Path:
    return audit_dir(data_dir) / "keys"


def new_key_file(path: Path) -> Signer:
    """Write a new Ed25519 private key to ``path`` (mode 0600, never over an existing file)."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditError(f"{path} exists: refusing to overwrite a signing key") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return Signer.of(private)


def load_private(path: Path) -> Signer:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read the audit signing key {path}: {exc.strerror}") from None
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditError(f"{path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise AuditError(f"{path} holds a {type(private).__name__}, not an Ed25519 key")
    return Signer.of(private)


def router_signer(key_file: Path | None, data_dir: Path) -> Signer:
    """The router's signing key: ``key_file`` if given, else the data folder's (made on first use).
    Its public key joins the data folder's keyring either way."""
    if key_file is not None:
        signer = load_private(key_file)
    else:
        default = audit_dir(data_dir) / "signing.key"
        if default.exists():
            signer = load_private(default)
        else:
            signer = new_key_file(default)
            (audit_dir(data_dir) / "signing.pub").write_bytes(public_pem(signer.public))
            log.info("made an audit signing key pair: private %s (mode 0600), public %s", default,
                     audit_dir(data_dir) / "signing.pub")
    kept = keyring_dir(data_dir) / f"{signer.key_id}.pub"
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(public_pem(signer.public))
    log.info("audit checkpoints signed with key %s; verify with the public key %s", signer.key_id, kept)
    return signer


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys by key id, from PEM files or folders of ``*.pub``/``*.pem`` files."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        files = sorted([*path.glob("*.pub"), *path.glob("*.pem")]) if path.is_dir() else [path]
        for file in files:
            public = _load_public(file)
            keys[key_id(public)] = public
    return keys


def _load_public(path: Path) -> Ed25519PublicKey:
    try:
        public = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise AuditError(f"cannot read the public key {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise AuditError(f"{path} is not a PEM public key: {exc}") from None
    if not isinstance(public, Ed25519PublicKey):
        raise AuditError(f"{path} holds a {type(public).__name__}, not an Ed25519 public key")
    return public


def signature_ok(public: Ed25519PublicKey, signature: bytes, body: bytes) -> bool:
    try:
        public.verify(signature, body)
    except InvalidSignature:
        return False
    return True
