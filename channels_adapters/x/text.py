"""How X counts a post's characters, with X's own counting rules (twitter-text v3).

A URL counts as 23 whatever its length, CJK and most emoji count as 2, and the weighted
total may not exceed 280. The composer refuses what X would refuse before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from twitter_text import parse_tweet

POST_MAX_WEIGHTED_LENGTH = 280
DM_MAX_LENGTH = 10_000


@dataclass(frozen=True)
class Count:
    weighted_length: int
    valid: bool


def post_count(text: str) -> Count:
    result = parse_tweet(text)
    return Count(weighted_length=result.weightedLength, valid=bool(result.valid))
