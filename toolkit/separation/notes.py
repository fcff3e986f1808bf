"""Notes in seconds: what the corpus renderer reads from a score and what the synthesised singer sings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Note:
    start: float  # seconds
    end: float  # seconds
    pitch: int  # MIDI number
    velocity: int  # 1-127
