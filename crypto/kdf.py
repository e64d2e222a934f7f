"""argon2id parameters, shared by password hashing, key unlocking and token derivation."""

from __future__ import annotations

from dataclasses import dataclass

from argon2.low_level import Type, hash_secret_raw


@dataclass(frozen=True)
class Argon2Params:
    time_cost: int
    memory_kib: int
    parallelism: int

    def derive(self, secret: bytes, salt: bytes, length: int = 32) -> bytes:
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
