"""The learned lettering detector: synthetic lettering composited onto a dataset's own tiles (composite), a
small fully-convolutional network (model), and its self-supervised training and inference (train)."""
from tilescan.detect.composite import (
    DISTRACTOR_KINDS,
    LETTERING_KINDS,
    composite_distractor,
    composite_lettering,
    font_files,
    make_example,
)
from tilescan.detect.model import build_core, build_detector
from tilescan.detect.train import DetectorConfig, make_training_set, predict_stream, train_detector

__all__ = ["DISTRACTOR_KINDS", "LETTERING_KINDS", "DetectorConfig", "build_core", "build_detector",
           "composite_distractor", "composite_lettering", "font_files", "make_example", "make_training_set",
           "predict_stream", "train_detector"]
