"""The synthetic DDSM-like tile dataset: tissue, lesions and film (tiles) with burned-in lettering (lettering),
tags, margin digits, lettering beside film edges and metal markers (marks)."""
from tilescan.synth.lettering import STYLES, TEXT_KINDS, LetteringStyle, lettering_style
from tilescan.synth.tiles import (
    ANNOTATION_KINDS,
    MARKER,
    NOTEBOOK_QUERY_KINDS,
    TilePlan,
    check_replaceable,
    feeds_pipeline,
    plan_tile,
    render_tile,
    synthesize,
    write_skip_note,
)

__all__ = ["ANNOTATION_KINDS", "MARKER", "NOTEBOOK_QUERY_KINDS", "STYLES", "TEXT_KINDS", "LetteringStyle", "TilePlan",
           "check_replaceable", "feeds_pipeline", "lettering_style", "plan_tile", "render_tile", "synthesize",
           "write_skip_note"]
