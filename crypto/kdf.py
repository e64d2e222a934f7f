"""argon2id parameters, shared by password hashing, key unlocking and token derivation."""

from __future__ import annotations

from dataclasses import dataclass

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw

from .errors import CryptoError

# Bounds on parameters read back from storage: a tampered blob must not hang or exhaust the
# server (2**31 passes, terabytes of memory) before the AEAD tag could reject it.
_MAX_TIME_COST = 16
_MAX_MEMORY_KIB = 1024 * 1024
_MAX_PARALLELISM = 16


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int

    def check(self) -> Argon2Params:
        """Reject parameters argon2 would refuse or that would take unbounded time or memory."""
        if not (
            1 <= self.time_cost <= _MAX_TIME_COST
            and 1 <= self.parallelism <= _MAX_PARALLELISM
            and 8 * self.parallelism <= self.memory_kib <= _MAX_MEMORY_KIB
        ):
            raise CryptoError(f"argon2id parameters out of range: {self}")
        return self

    def encode(self) -> str:
        return f"{self.time_cost},{self.memory_kib},{self.parallelism}"

    @classmethod
    def decode(cls, text: str) -> Argon2Params:
        try:
            t, m, p = (int(part) for part in text.split(","))
        except ValueError:
            raise CryptoError(f"malformed argon2id parameters {text!r}") from None
        return cls(t, m, p).check()

    def derive(self, secret: bytes, salt: bytes, length: int = 32) -> bytes:
        self.check()
        try:
            return self._derive(secret, salt, length)
        except HashingError as exc:
            raise CryptoError(f"argon2id failed: {exc}") from exc

    def _derive(self, secret: bytes, salt: bytes, length: int) -> bytes:
        return hash_secret_raw(
            secret=secret,
            salt=salt,
            time_cost=self.time_cost,
            memory_cost=self.memory_kib,
            parallelism=self.parallelism,
            hash_len=length,
            type=Type.ID,
        )


#: RFC 9106 section 4, second recommended option (t=3, 64 MiB, p=4): the production floor.
PRODUCTION = Argon2Params(time_cost=3, memory_kib=64 * 1024, parallelism=4)
#: For the test suite only: the same code path, cheap enough to run thousands of times.
TESTING = Argon2Params(time_cost=1, memory_kib=256, parallelism=1)
