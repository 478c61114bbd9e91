"""Quantiser speed and quality, from one run on one representation matrix (default: the users of the
current workspace's pretrain stage; run the pipeline on lightgcn-gowalla first for the reference figures).

    python benchmarks/quantize.py [--representations data/pretrain/user.npy] [--n-codes 256] [--blocks 4]

Prints: SVD + balanced regrouping time; DQ-VAE training time (default settings: Newton steps) against per-block
faiss k-means PQ on the same blocks and rows (target: ratio <= 3, relative error <= 1.01 x PQ); the same with
Adam for contrast; and the SVD route on a 1,000,000 x 64 matrix (target <= 2 s) against Householder QR.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from dqrec.quantize.compare import compare_quantisers
from dqrec.quantize.dqvae import DQVAEConfig, Optimiser
from dqrec.quantize.svd import balanced_blocks, fit_svd
from dqrec.training import quiet_lightning

TARGET_TIME_RATIO = 3.0
TARGET_ERROR_RATIO = 1.01
TARGET_SVD_SECONDS = 2.0


def svd_of_a_million_rows(blocks: int, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((1_000_000, 64)) @ rng.standard_normal((64, 64))).astype(np.float32)
    start = time.perf_counter()
    basis = fit_svd(z)
    balanced_blocks(basis.singular_values, blocks)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    r = np.linalg.qr(z.astype(np.float64) - z.mean(axis=0, dtype=np.float64), mode="r")
    np.linalg.svd(r)
    return ours, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--representations", type=Path, default=Path("data/pretrain/user.npy"))
    parser.add_argument("--n-codes", type=int, default=256)
    parser.add_argument("--blocks", type=int, default=4)
    args = parser.parse_args()
    quiet_lightning()
    source = Path("data/ingest/source.json")
    dataset = json.loads(source.read_text())["dataset"] if source.exists() else "unknown"
    z = np.load(args.representations)
    print(f"representations: {args.representations} ({dataset}), {z.shape[0]} x {z.shape[1]}, "
          f"L = {args.blocks}, J = {args.n_codes}")

    start = time.perf_counter()
    basis = fit_svd(z)
    blocks = balanced_blocks(basis.singular_values, args.blocks)
    print(f"SVD + regrouping: {time.perf_counter() - start:.3f} s; block balance max/min {blocks.balance:.4f}")

    for label, config in (
        ("DQ-VAE (Newton steps, default)", DQVAEConfig(n_codes=args.n_codes, progress=False)),
        ("DQ-VAE (Adam, lr 0.03 x RMS, batch 512)", DQVAEConfig(n_codes=args.n_codes, optimiser=Optimiser.ADAM,
                                                                lr=0.03, batch_size=512, progress=False)),
    ):
        m = compare_quantisers(z, basis, blocks, config).metrics
        dq, pq = m["dqvae"], m["pq_same_blocks"]
        print(f"{label}: {dq['seconds']:.2f} s over {dq['epochs']} epochs; faiss PQ: {pq['seconds']:.2f} s; "
              f"time ratio {m['dqvae_over_pq_seconds']:.2f} (target <= {TARGET_TIME_RATIO:g}: "
              f"{'met' if m['dqvae_over_pq_seconds'] <= TARGET_TIME_RATIO else 'MISSED'}); "
              f"relative error {dq['relative_error']:.4f} vs {pq['relative_error']:.4f} = "
              f"{m['dqvae_over_pq_error']:.4f} x (target <= {TARGET_ERROR_RATIO}: "
              f"{'met' if m['dqvae_over_pq_error'] <= TARGET_ERROR_RATIO else 'MISSED'})")

    ours, qr = svd_of_a_million_rows(args.blocks)
    print(f"SVD + regrouping of 1,000,000 x 64: {ours:.2f} s (target <= {TARGET_SVD_SECONDS:g} s: "
          f"{'met' if ours <= TARGET_SVD_SECONDS else 'MISSED'}); Householder QR + SVD of R: {qr:.2f} s "
          f"(ratio {ours / qr:.2f})")


if __name__ == "__main__":
    main()
