"""planner.plan.Shard: `--shard I/N` read and checked, and every affected
environment assigned to exactly one shard, the same one whichever shard asks."""

from __future__ import annotations

import pytest

from gitops_bot.errors import ConfigError
from gitops_bot.planner.plan import Shard


@pytest.mark.parametrize("text", ["", "2", "0/4", "5/4", "a/b", "1/0", "-1/4", "1/4/2"])
def test_a_shard_that_is_not_i_of_n_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="shard"):
        Shard.parse(text)


def test_each_environment_is_exactly_one_shards_whatever_the_order_it_is_listed_in() -> None:
    names = [f"env-{i:03d}" for i in range(100)]
    shards = [Shard.parse(f"{i}/8") for i in range(1, 9)]

    owners = {n: [s.index for s in shards if s.of(n, names) == s.index] for n in names}
    again = {n: shards[0].of(n, list(reversed(names))) for n in names}

    assert all(len(o) == 1 for o in owners.values())
    assert {n: o[0] for n, o in owners.items()} == again
    sizes = [sum(1 for o in owners.values() if o == [s.index]) for s in shards]
    assert sizes == [13, 13, 13, 13, 12, 12, 12, 12]
    assert str(shards[1]) == "2/8"
