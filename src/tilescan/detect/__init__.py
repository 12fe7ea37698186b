"""The learned lettering detector: synthetic lettering composited onto a dataset's own tiles (composite), a
small fully-convolutional network (model), its self-supervised training and inference (train), and one training
+ scoring pass on a prepared dataset (dataset: the train_detector stage's work)."""
from tilescan.detect.composite import (
    DISTRACTOR_KINDS,
    LETTERING_KINDS,
    composite_distractor,
    composite_lettering,
    font_files,
    make_example,
)
from tilescan.detect.train import DetectorConfig, make_training_set, predict_stream, train_detector

__all__ = ["DISTRACTOR_KINDS", "LETTERING_KINDS", "DetectorConfig", "build_core", "build_detector",
           "composite_distractor", "composite_lettering", "font_files", "make_example", "make_training_set",
           "predict_stream", "train_detector"]


def __getattr__(name: str):
    """The network's builders load Keras (about 600 MB per process) only when asked for: the compositing workers,
    which import this package, never are."""
    if name in ("build_core", "build_detector"):
        from tilescan.detect import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
