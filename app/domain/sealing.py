"""The cryptographic seal of bids, with maintained libraries only (PyNaCl / libsodium, PyCryptodome).

- A call has an X25519 key pair; bid contents are sealed to its public key (`nacl.public.SealedBox`): anyone may
  seal, only the private key opens.
- With an opening committee, the private key is never stored: it is split two-of-three with Shamir's scheme
  (`Crypto.Protocol.SecretSharing.Shamir`, which works on 16-byte blocks: the 32-byte key is two blocks) and each
  member's share is sealed to that member's own key pair, whose private half is kept encrypted under a key derived
  from the member's passphrase with Argon2id (`nacl.pwhash.argon2id`, memory-hard).
- Without a committee, the private key is kept encrypted under the server's master key (`nacl.secret.SecretBox`).

Pure functions on bytes: no Flask, no database. Nothing here logs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from Crypto.Protocol.SecretSharing import Shamir
from nacl import pwhash
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox

KEY_BYTES = 32
BLOCK_BYTES = 16  # Shamir in PyCryptodome shares 16-byte secrets
SALT_BYTES = pwhash.argon2id.SALTBYTES
MIN_PASSPHRASE_LENGTH = 12

# Argon2id cost: libsodium's "moderate" limits in production (256 MiB, 3 passes); tests use the minimum.
KDF_LIMITS = {
    "moderate": (pwhash.argon2id.OPSLIMIT_MODERATE, pwhash.argon2id.MEMLIMIT_MODERATE),
    "interactive": (pwhash.argon2id.OPSLIMIT_INTERACTIVE, pwhash.argon2id.MEMLIMIT_INTERACTIVE),
    "minimum": (pwhash.argon2id.OPSLIMIT_MIN, pwhash.argon2id.MEMLIMIT_MIN),
}


class SealError(Exception):
    """A key, share or ciphertext that does not open: a wrong passphrase or key, or altered data. It says nothing
    more, on purpose."""


@dataclass(frozen=True)
class KeyPair:
    public: bytes
    private: bytes


@dataclass(frozen=True)
class MemberKey:
    """What is stored for a committee member after enrolment: a public key, and its private half encrypted under the
    passphrase-derived key, with the KDF's salt and cost."""

    public: bytes
    wrapped_private: bytes
    salt: bytes
    opslimit: int
    memlimit: int


def new_key_pair() -> KeyPair:
    key = PrivateKey.generate()
    return KeyPair(bytes(key.public_key), bytes(key))


def seal(public_key: bytes, data: bytes) -> bytes:
    return SealedBox(PublicKey(public_key)).encrypt(data)


def unseal(private_key: bytes, data: bytes) -> bytes:
    try:
        return SealedBox(PrivateKey(private_key)).decrypt(data)
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealError() from exc


def secret_wrap(key: bytes, data: bytes) -> bytes:
    return bytes(SecretBox(key).encrypt(data))


def secret_unwrap(key: bytes, data: bytes) -> bytes:
    try:
        return SecretBox(key).decrypt(data)
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealError() from exc


def passphrase_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return pwhash.argon2id.kdf(KEY_BYTES, passphrase.encode("utf-8"), salt, opslimit=opslimit, memlimit=memlimit)


def enrol_member(passphrase: str, strength: str = "moderate") -> MemberKey:
    """A new key pair for a committee member, its private half encrypted under the passphrase's Argon2id key."""
    opslimit, memlimit = KDF_LIMITS[strength]
    salt = secrets.token_bytes(SALT_BYTES)
    pair = new_key_pair()
    wrapped = secret_wrap(passphrase_key(passphrase, salt, opslimit, memlimit), pair.private)
    return MemberKey(pair.public, wrapped, salt, opslimit, memlimit)


def member_private_key(member: MemberKey, passphrase: str) -> bytes:
    """The member's private key; SealError for a wrong passphrase (authenticated encryption: no partial answer)."""
    key = passphrase_key(passphrase, member.salt, member.opslimit, member.memlimit)
    return secret_unwrap(key, member.wrapped_private)


def split_key(private_key: bytes, shares: int = 3, quorum: int = 2) -> list[tuple[int, bytes]]:
    """Shamir shares (index, 32 bytes) of a 32-byte key: each 16-byte block is split on its own, and a member's share
    is the concatenation of its two block shares (same index)."""
    if len(private_key) != KEY_BYTES:
        raise ValueError("a 32-byte key is expected")
    blocks = [private_key[:BLOCK_BYTES], private_key[BLOCK_BYTES:]]
    split = [Shamir.split(quorum, shares, block) for block in blocks]
    out = []
    for position in range(shares):
        index = split[0][position][0]
        out.append((index, b"".join(parts[position][1] for parts in split)))
    return out


def combine_key(shares: list[tuple[int, bytes]], public_key: bytes) -> bytes:
    """The private key from a quorum of shares, checked against the call's public key (a wrong or altered share
    gives another key: SealError)."""
    blocks = []
    for block in range(2):
        part = [(index, share[block * BLOCK_BYTES : (block + 1) * BLOCK_BYTES]) for index, share in shares]
        blocks.append(Shamir.combine(part))
    private_key = b"".join(blocks)
    if bytes(PrivateKey(private_key).public_key) != public_key:
        raise SealError()
    return private_key
