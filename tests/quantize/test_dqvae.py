"""DQ-VAE invariants: L_R = L_C, decode(encode(z)) is the forward reconstruction, IDs survive a checkpoint and
a rerun, dead codes come back to life, and training ends no worse than closed-form k-means."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dqrec.quantize.compare import choose_n_codes, compare_quantisers
from dqrec.quantize.diagnostics import utilisation
from dqrec.quantize.dqvae import DQVAE, DQVAEConfig, fit_dqvae
from dqrec.quantize.svd import balanced_blocks, block_bases, fit_svd


def basis_of(z: np.ndarray, n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    basis = fit_svd(z)
    return basis.mean, block_bases(basis, balanced_blocks(basis.singular_values, n_blocks))


def quick(**overrides) -> DQVAEConfig:
    return DQVAEConfig(**{"n_codes": 32, "max_epochs": 3, "init_iterations": 5, "progress": False, **overrides})


def test_reconstruction_loss_equals_commitment_loss_on_real_data(ml100k_user_representations: np.ndarray) -> None:
    z = ml100k_user_representations
    model = DQVAE.from_basis(*basis_of(z, 4), n_codes=64)
    model.initialise_codebooks(torch.from_numpy(z), iterations=5)
    batch = torch.from_numpy(z)
    losses = model.losses(batch, model(batch))

    assert losses.reconstruction.item() > 0
    assert losses.reconstruction.item() == pytest.approx(losses.commitment.item(), rel=1e-4)


@pytest.mark.parametrize("n_blocks", [1, 2, 4, 8])
def test_decode_of_encode_is_the_forward_reconstruction(clustered: np.ndarray, n_blocks: int) -> None:
    model = DQVAE.from_basis(*basis_of(clustered, n_blocks), n_codes=16)
    model.initialise_codebooks(torch.from_numpy(clustered), iterations=3)
    z = torch.from_numpy(clustered[:500])

    output = model(z)
    assert output.codes.shape == (500, n_blocks)
    torch.testing.assert_close(model.decode(model.encode(z)), output.reconstruction)


def test_semantic_ids_survive_a_checkpoint_round_trip(clustered: np.ndarray, tmp_path: Path) -> None:
    mean, bases = basis_of(clustered, 4)
    fitted = fit_dqvae(clustered, mean, bases, quick(), checkpoint=tmp_path / "dqvae.ckpt")
    reloaded = DQVAE.load_from_checkpoint(tmp_path / "dqvae.ckpt")
    z = torch.from_numpy(clustered)

    torch.testing.assert_close(reloaded.encode(z), fitted.model.encode(z), rtol=0, atol=0)


def test_same_seed_same_ids_and_another_seed_other_codebooks(clustered: np.ndarray) -> None:
    mean, bases = basis_of(clustered, 4)
    z = torch.from_numpy(clustered)
    first = fit_dqvae(clustered, mean, bases, quick(seed=3)).model
    again = fit_dqvae(clustered, mean, bases, quick(seed=3)).model
    other = fit_dqvae(clustered, mean, bases, quick(seed=4)).model

    assert torch.equal(first.encode(z), again.encode(z))
    assert torch.equal(first.codebooks, again.codebooks)
    assert not torch.equal(first.codebooks, other.codebooks)


def test_dead_codes_are_moved_onto_the_data(clustered: np.ndarray) -> None:
    mean, bases = basis_of(clustered, 2)
    model = DQVAE.from_basis(mean, bases, n_codes=32, lr=0.0)  # lr 0: only the reset can move codes
    z = torch.from_numpy(clustered)
    model.initialise_codebooks(z, iterations=5)
    model.codebooks.data[0, :16] = 1e6  # half of level 1 can never be chosen
    before = utilisation(model.encode(z).numpy(), 32)

    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, DataLoader(TensorDataset(z), batch_size=len(z)))

    after = utilisation(model.encode(z).numpy(), 32)
    assert before[0] <= 0.5 and after[0] > 0.9
    assert (model.codebooks[0].abs() < 1e5).all()


@pytest.mark.parametrize("entity", ["user", "item"])
def test_training_ends_no_worse_than_closed_form_kmeans(ml100k_representations: dict[str, np.ndarray],
                                                        entity: str) -> None:
    z = ml100k_representations[entity]
    basis = fit_svd(z)
    blocks = balanced_blocks(basis.singular_values, 4)
    config = DQVAEConfig(n_codes=choose_n_codes(len(z), "auto"), progress=False)  # what the pipeline uses
    metrics = compare_quantisers(z, basis, blocks, config).metrics

    # Both trained on the same rows, both scored on every entity and on the held-out ones.
    assert metrics["dqvae_over_pq_error"] <= 1.01
    assert metrics["dqvae"]["held_out_relative_error"] <= 1.01 * metrics["pq_same_blocks"]["held_out_relative_error"]
    assert metrics["dqvae"]["utilisation_min"] == 1.0
