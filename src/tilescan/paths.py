"""Where each stage reads and writes, relative to the repository root. dvc.yaml lists the same paths."""
from pathlib import Path

PREPARED = Path("data/prepared")                 # train.npy, val.npy (uint8 N x S x S), index.csv
PREPARED_INDEX = PREPARED / "index.csv"
PREPARED_DROPPED = PREPARED / "dropped.csv"     # tiles prepare left out: id, filename, split, reason
MODEL_WEIGHTS = Path("models/autoencoder.weights.h5")
TRAIN_LIVE = Path("dvclive/train")               # dvclive loss curves
ENCODED = Path("data/encoded")                   # latents.npy (float32 N x latent), recon_error.npy
SCALED = Path("data/scaled")                     # latents.npy (standardised), scaler.json
FEATURES = Path("data/features")                 # features.npy (image statistics), names.json
CLUSTERS = Path("data/clusters")                 # labels.npy (DBSCAN label per tile), k_distance.csv
REPORTS = Path("reports")
FLAGGED = REPORTS / "flagged.csv"
METRICS = Path("metrics")


def split_file(split: str) -> Path:
    """The prepared uint8 array of one split."""
    return PREPARED / f"{split}.npy"
