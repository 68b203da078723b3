#!/usr/bin/env python3
"""Reference streams for elm::Rng, from an independent Python implementation of the published algorithms:
splitmix64 seeding (Steele, Lea, Flood 2014) and xoshiro256** 1.0 (Blackman and Vigna 2018), uniform doubles as
(x >> 11) * 2^-53, floats as (x >> 40) * 2^-24, bounded integers by rejecting draws below 2^64 mod n, normals by
Marsaglia's polar method (with math.log: the C++ side uses its own portable log, so normals agree to ~1 ulp).

Usage: python3 tools/make_rng_fixture.py [OUT]   (default tests/data/core/rng_streams.json). Python 3.11.
"""
import json
import math
import pathlib
import sys

MASK = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Xoshiro:
    def __init__(self, seed):
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & MASK
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
            self.s.append(z ^ (z >> 31))
        self.spare = None

    def next(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.next() >> 11) * 2.0**-53

    def uniform_float(self):
        return (self.next() >> 40) * 2.0**-24

    def below(self, n):
        threshold = (2**64 - n) % n
        while True:
            x = self.next()
            if x >= threshold:
                return x % n

    def normal(self):
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        f = math.sqrt(-2.0 * math.log(s) / s)
        self.spare = v * f
        return u * f


out = {}
for seed in (0, 42, 2**63 + 5):
    g = Xoshiro(seed)
    entry = {"seed": str(seed), "u64": [str(g.next()) for _ in range(8)]}
    entry["uniform"] = [g.uniform() for _ in range(8)]
    entry["uniform_float"] = [g.uniform_float() for _ in range(8)]
    entry["below_1000003"] = [g.below(1000003) for _ in range(8)]
    entry["normal"] = [g.normal() for _ in range(9)]
    out[str(seed)] = entry

path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/core/rng_streams.json")
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps(out, indent=1) + "\n")
print("wrote", path)
