"""Collating and sampling batches (n2r/batch.py)."""
import pytest
import torch

from n2r.batch import BucketBatchSampler, collate_text, shard_batches


def test_collate_pads_to_the_batch_maximum_and_checks_alignment():
    batch = collate_text([{"input_ids": [5, 6, 7], "label": 1, "rationale": [0, 1, 0]},
                          {"input_ids": [8], "label": 0, "rationale": [1]}], pad_id=9)
    assert batch.input_ids.tolist() == [[5, 6, 7], [8, 9, 9]]
    assert batch.attention_mask.tolist() == [[True, True, True], [True, False, False]]
    assert batch.rationale.tolist() == [[0, 1, 0], [1, 0, 0]]
    assert torch.equal(batch.unit_mask, batch.attention_mask)
    partial = collate_text([{"input_ids": [5], "label": 1, "rationale": [1]}, {"input_ids": [6], "label": 0}])
    assert partial.rationale is None  # a batch is annotated only when every example is
    with pytest.raises(ValueError, match="example 0 has 2 rationale bits for 1 ids"):
        collate_text([{"input_ids": [5], "label": 1, "rationale": [1, 0]}])
    with pytest.raises(ValueError, match="an example has no tokens"):
        collate_text([{"input_ids": [], "label": 1}])


@pytest.mark.parametrize("count,world", [(12, 2), (13, 2), (13, 3), (5, 4)])
def test_shards_are_disjoint_whole_batches_and_step_together(count, world):
    batches = [[10 * b + i for i in range(4)] for b in range(count)]        # 4 examples per batch
    shards = [shard_batches(batches, r, world) for r in range(world)]
    seen = sorted(i for shard in shards for batch in shard for i in batch)
    assert seen == sorted(i for batch in batches for i in batch)            # every example exactly once
    assert len({len(shard) for shard in shards}) == 1                       # ranks take the same number of steps
    full = count - count % world
    for r, shard in enumerate(shards):
        assert shard[:full // world] == batches[r:full:world]               # whole batches, as one worker has them
    if count % world:                                                       # the last round pooled and dealt out
        sizes = [len(shard[-1]) for shard in shards]
        assert sum(sizes) == 4 * (count % world) and max(sizes) - min(sizes) <= 1
    assert shard_batches(batches, 0, 1) == batches
    with pytest.raises(ValueError, match="rank 2 outside a world of 2"):
        shard_batches(batches, 2, 2)


def test_too_few_examples_for_the_last_round_are_refused():
    with pytest.raises(ValueError, match="3 examples cannot give each of 4 ranks a batch"):
        shard_batches([[0, 1], [2]], 0, 4)


@pytest.mark.parametrize("window", [0, 4])
def test_ranks_deal_out_one_epoch_order(window):
    lengths = torch.randint(1, 50, (203,)).tolist()

    def epoch(rank, world):
        sampler = BucketBatchSampler(lengths, 16, window, torch.Generator().manual_seed(7), rank, world)
        return list(sampler), len(sampler)

    (whole, n_whole), (first, n_first), (second, n_second) = epoch(0, 1), epoch(0, 2), epoch(1, 2)
    assert n_whole == len(whole) == 13 and n_first == len(first) == n_second == len(second) == 7
    assert first[:6] == whole[0:12:2] and second[:6] == whole[1:12:2]      # the same batches, dealt out
    assert sorted(first[6] + second[6]) == sorted(whole[12])
    if window:                                                              # bucketed: similar lengths per batch
        spread = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in whole]
        assert sum(spread) / len(spread) < 15


def test_a_plain_shuffle_is_dataloader_shuffle():
    """Window 0 gives exactly ``DataLoader(shuffle=True)``'s batches for the same seed, and leaves
    the global random stream where it left it (runs made before the sampler was shared replay)."""
    generator = torch.Generator().manual_seed(11)
    torch.manual_seed(0)
    plain = [b.tolist() for b in torch.utils.data.DataLoader(range(50), batch_size=8, shuffle=True,
                                                              generator=generator)]
    after_plain = torch.rand(1)
    generator = torch.Generator().manual_seed(11)
    torch.manual_seed(0)
    ours = [list(map(int, b)) for b in torch.utils.data.DataLoader(
        range(50), batch_sampler=BucketBatchSampler([1] * 50, 8, 0, generator), generator=generator)]
    assert ours == plain and torch.equal(torch.rand(1), after_plain)
