"""Contrastive losses across processes: two gloo processes, each holding half of a global batch,
give the single-process loss and (after DDP's averaging) the single-process gradients; sampled
triplets, unevenly many on each process, their mean over the global batch's triplets."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mnistmax.losses.contrastive import (
    gather_with_grad,
    info_nce_loss,
    nt_xent_loss,
    sampled_triplet_loss,
    supcon_loss,
    triplet_loss,
    two_view_loss,
)

WORLD, PAIRS, D_IN, D = 2, 6, 5, 4  # PAIRS images (two views each) per process
CASES = {
    "ntxent": dict(temperature=0.2),
    "infonce": dict(temperature=0.2),
    "supcon": dict(temperature=0.1),
    "triplet_all": dict(margin=0.5, mining="batch_all"),
    "triplet_hard": dict(margin=0.5, mining="batch_hard"),
    "triplet_semi": dict(margin=0.5, mining="semi_hard"),
}


def loss_name(case: str) -> str:
    return case.split("_")[0]


def global_batch():
    """Two views x1, x2 (WORLD·PAIRS, D_IN) and labels; process r holds rows r·PAIRS .. (r+1)·PAIRS."""
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(2, WORLD * PAIRS, D_IN, generator=g)
    return x1, x2, torch.randint(0, 3, (WORLD * PAIRS,), generator=g)


def network() -> torch.nn.Linear:
    """The encoder + projector of the task, shrunk to one layer; the same weights everywhere."""
    torch.manual_seed(1)
    return torch.nn.Linear(D_IN, D)


def step(x1, x2, labels, case: str, gather: bool):
    """One forward and backward; (loss, gradient w.r.t. the embeddings cat([z1, z2]), weight
    gradient, bias gradient)."""
    net = network()
    z = net(torch.cat([x1, x2]))  # (2B, D)
    z.retain_grad()
    z1, z2 = z.chunk(2)
    loss = two_view_loss(loss_name(case), z1, z2, labels, gather=gather, **CASES[case])
    loss.backward()
    return loss.detach(), z.grad, net.weight.grad, net.bias.grad


TRIPLETS = (5, 3)  # sampled triplets on process 0 and 1: not the same number


def triplet_rows():
    """Anchor, positive and negative inputs (sum(TRIPLETS), D_IN); process r holds its TRIPLETS[r] rows."""
    g = torch.Generator().manual_seed(2)
    return torch.randn(3, sum(TRIPLETS), D_IN, generator=g).unbind(0)


def sampled_step(anchor, positive, negative, gather: bool):
    """One forward and backward of sampled triplets: (loss, weight gradient, bias gradient)."""
    net = network()
    za, zp, zn = net(torch.cat([anchor, positive, negative])).chunk(3)
    loss = sampled_triplet_loss(za, zp, zn, margin=0.5, gather=gather)
    loss.backward()
    return loss.detach(), net.weight.grad, net.bias.grad


def ddp_mean(grads) -> None:
    """What DDP does to every parameter gradient: the mean over processes."""
    for grad in grads:
        dist.all_reduce(grad)
        grad /= WORLD


def worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD,
                            timeout=timedelta(seconds=60))  # a collective one process skips fails, not hangs
    x1, x2, labels = global_batch()
    mine = slice(rank * PAIRS, (rank + 1) * PAIRS)
    results = {}
    for case in CASES:
        loss, z_grad, *param_grads = step(x1[mine], x2[mine], labels[mine], case, gather=True)
        ddp_mean(param_grads)
        results[case] = (loss, z_grad, *param_grads)
    rows = slice(sum(TRIPLETS[:rank]), sum(TRIPLETS[: rank + 1]))
    loss, *param_grads = sampled_step(*(x[rows] for x in triplet_rows()), gather=True)
    ddp_mean(param_grads)
    results["sampled"] = (loss, *param_grads)
    dist.destroy_process_group()
    torch.save(results, f"{out}/rank{rank}.pt")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("gather")
    # fork where there is one: spawned children spend ~10 s importing torch again on a 2-core machine
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(worker, args=(free_port(), str(out)), nprocs=WORLD, join=True, start_method=method)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no torch.distributed gloo backend")
@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process_on_the_global_batch(two_processes, case):
    x1, x2, labels = global_batch()
    loss, z_grad, weight_grad, bias_grad = step(x1, x2, labels, case, gather=False)
    z1_grad, z2_grad = z_grad.chunk(2)  # single process: (W·B, D) per view
    for rank, results in enumerate(two_processes):
        _, local_grad, w_grad, b_grad = results[case]
        mine = slice(rank * PAIRS, (rank + 1) * PAIRS)
        # each process's loss is W × its anchors' share, so the gather's backward hands it W × the global
        # loss's gradient for its rows; DDP's mean over processes divides that by W
        torch.testing.assert_close(local_grad / WORLD, torch.cat([z1_grad[mine], z2_grad[mine]]), rtol=1e-5, atol=1e-6)
        # after DDP's all-reduce every process holds the single-process parameter gradient
        torch.testing.assert_close(w_grad, weight_grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(b_grad, bias_grad, rtol=1e-5, atol=1e-6)
    # what `sync_dist` logs, the mean over processes, is the global-batch loss
    mean_loss = torch.stack([results[case][0] for results in two_processes]).mean()
    torch.testing.assert_close(mean_loss, loss, rtol=1e-5, atol=1e-6)
    assert weight_grad.abs().sum() > 0  # a loss that had nothing to compare would pass the checks above


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no torch.distributed gloo backend")
def test_sampled_triplets_on_two_processes_are_the_mean_over_all_triplets(two_processes):
    loss, weight_grad, bias_grad = sampled_step(*triplet_rows(), gather=False)
    for results in two_processes:
        torch.testing.assert_close(results["sampled"][1], weight_grad, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(results["sampled"][2], bias_grad, rtol=1e-5, atol=1e-6)
    mean_loss = torch.stack([results["sampled"][0] for results in two_processes]).mean()
    torch.testing.assert_close(mean_loss, loss, rtol=1e-5, atol=1e-6)
    assert weight_grad.abs().sum() > 0
    # the mean of each process's own mean, which DDP gave before, is another number: 5 and 3 triplets
    local = [sampled_step(*(x[rows] for x in triplet_rows()), gather=False)[0] for rows in (slice(0, 5), slice(5, 8))]
    assert not torch.allclose(torch.stack(local).mean(), loss)


def test_sampled_triplets_divide_by_the_global_count(monkeypatch):
    import mnistmax.losses.contrastive as contrastive

    a, p, n = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(3)).unbind(0)
    plain = sampled_triplet_loss(a, p, n, margin=1.0)
    assert torch.equal(sampled_triplet_loss(a, p, n, margin=1.0, gather=True), plain)  # no process group: as it was
    reduced = []

    def another_process_with_six(tensor):  # all_reduce of the triplet count: 4 here, 6 on the other process
        reduced.append(int(tensor))
        tensor += 6

    monkeypatch.setattr(contrastive, "_world_size", lambda: 2)
    monkeypatch.setattr(torch.distributed, "all_reduce", another_process_with_six)
    gathered = sampled_triplet_loss(a, p, n, margin=1.0, gather=True)
    assert reduced == [4]
    torch.testing.assert_close(gathered, 2 * plain * 4 / 10)  # W × (its sum) / (the global count)
    assert torch.equal(sampled_triplet_loss(a, p, n, margin=1.0, gather=False), plain)  # validation stays local


def test_without_a_process_group_nothing_is_gathered():
    assert not (dist.is_available() and dist.is_initialized())
    x = torch.randn(4, 3, requires_grad=True)
    assert gather_with_grad(x) is x
    torch.manual_seed(0)
    z1, z2, labels = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 3, (8,))
    z, both = torch.cat([z1, z2]), torch.cat([labels, labels])
    plain = {
        "ntxent": nt_xent_loss(z1, z2, 0.2), "infonce": info_nce_loss(z1, z2, 0.2), "supcon": supcon_loss(z, both, 0.1),
        "triplet_all": triplet_loss(z, both, 0.5, "batch_all"),
        "triplet_hard": triplet_loss(z, both, 0.5, "batch_hard"),
        "triplet_semi": triplet_loss(z, both, 0.5, "semi_hard"),
    }
    for case, expected in plain.items():  # gather=True is what training asks for; on one device it changes nothing
        assert torch.equal(two_view_loss(loss_name(case), z1, z2, labels, gather=True, **CASES[case]), expected), case
